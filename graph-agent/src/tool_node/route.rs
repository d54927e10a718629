//! Routers after a model's turn: which tool calls still wait for their answer, a router that
//! sends each to a per-call [`ToolNode`](super::ToolNode), and LangGraph's `tools_condition`.

use std::collections::HashSet;

use graph_core::{Goto, Send, END};

use crate::message::{Message, ToolCall};
use crate::messages::HasMessages;

/// The calls of the last assistant message that no later tool message answers (same
/// `tool_call_id`), in the model's order; empty without an assistant message.
///
/// ```
/// use graph_agent::{pending_tool_calls, Message, MessagesState, ToolCall};
/// use serde_json::json;
///
/// let state = MessagesState {
///     messages: vec![
///         Message::user("Weather in Paris and Rome?"),
///         Message::assistant("").with_tool_calls([
///             ToolCall::new("c1", "weather", json!({"city": "Paris"})),
///             ToolCall::new("c2", "weather", json!({"city": "Rome"})),
///         ]),
///         Message::tool("c1", "18°C"),
///     ]
///     .into(),
/// };
/// let pending = pending_tool_calls(&state);
/// assert_eq!(pending, [ToolCall::new("c2", "weather", json!({"city": "Rome"}))]);
/// ```
pub fn pending_tool_calls<S: HasMessages>(state: &S) -> Vec<ToolCall> {
    let messages = state.messages();
    let Some(last) = messages.iter().rposition(|m| matches!(m, Message::Assistant(_))) else {
        return Vec::new();
    };
    let answered: HashSet<&str> = messages[last + 1..]
        .iter()
        .filter_map(Message::as_tool)
        .map(|t| t.tool_call_id.as_str())
        .collect();
    messages[last]
        .tool_calls()
        .iter()
        .filter(|call| !answered.contains(call.id.as_str()))
        .cloned()
        .collect()
}

/// A router for the per-call mode: one [`Send`] of the call to `tools` per
/// [pending call](pending_tool_calls), in the model's order (so the answers land in that
/// order); `otherwise` when none is pending (`END`, or back to the model): the model
/// answered without calls, or every call already has its answer.
///
/// Declare both targets: `.add_conditional_edges("agent", route_tool_calls("tools", END),
/// ["tools", END])`.
///
/// ```
/// use graph_agent::{route_tool_calls, Message, MessagesState, ToolCall};
/// use graph_core::END;
/// use serde_json::json;
///
/// let route = route_tool_calls::<MessagesState>("tools", END);
/// let asked = Message::assistant("").with_tool_calls([
///     ToolCall::new("c1", "search", json!({"q": "rust"})),
///     ToolCall::new("c2", "search", json!({"q": "tokio"})),
/// ]);
/// let state = MessagesState { messages: vec![asked].into() };
/// let targets: Vec<String> = route(&state).iter().map(|g| g.target().to_owned()).collect();
/// assert_eq!(targets, ["tools", "tools"]);
///
/// let done = MessagesState { messages: vec![Message::assistant("Done.")].into() };
/// assert_eq!(route(&done)[0].target(), END);
/// ```
pub fn route_tool_calls<S: HasMessages>(
    tools: impl Into<String>,
    otherwise: impl Into<String>,
) -> impl Fn(&S) -> Vec<Goto> + core::marker::Send + Sync + 'static {
    let (tools, otherwise) = (tools.into(), otherwise.into());
    move |state: &S| {
        let pending = pending_tool_calls(state);
        if pending.is_empty() {
            return vec![Goto::from(otherwise.clone())];
        }
        pending.into_iter().map(|call| Goto::Send(Send::new(tools.clone(), call))).collect()
    }
}

/// LangGraph's `tools_condition`: `"tools"` when the last message (not the last assistant
/// message) has tool calls, else [`END`]. For the whole-message mode:
/// `.add_conditional_edges("agent", tools_condition, ["tools", END])`.
///
/// ```
/// use graph_agent::{tools_condition, Message, MessagesState, ToolCall};
/// use graph_core::END;
/// use serde_json::json;
///
/// let call = ToolCall::new("c1", "search", json!({"q": "rust"}));
/// let asked = MessagesState {
///     messages: vec![Message::assistant("").with_tool_calls([call])].into(),
/// };
/// assert_eq!(tools_condition(&asked), "tools");
///
/// let mut answered = asked.clone();
/// answered.messages = vec![answered.messages[0].clone(), Message::tool("c1", "found")].into();
/// assert_eq!(tools_condition(&answered), END);
/// ```
pub fn tools_condition<S: HasMessages>(state: &S) -> &'static str {
    match state.messages().last() {
        Some(message) if !message.tool_calls().is_empty() => "tools",
        _ => END,
    }
}
