//! Repairs dangling tool calls before a model call: a call with no result (its run was
//! cancelled, failed, or the conversation moved on) makes providers reject the whole request.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::message::{Message, ToolMessage};

/// The result given to a call that never got one (LangGraph's wording).
fn cancelled(name: &str, id: &str) -> String {
    format!(
        "Tool call {name} with id {id} was cancelled - another message came in before it could be completed."
    )
}

/// `messages` with a result, right after its assistant message, for every call that has none;
/// borrowed when nothing dangles. The model is called only when no call is left to run, so
/// every unanswered call is dangling by then.
pub(crate) fn repaired(messages: &[Message]) -> Cow<'_, [Message]> {
    let answered: HashSet<&str> =
        messages.iter().filter_map(Message::as_tool).map(|t| t.tool_call_id.as_str()).collect();
    let dangles = |message: &Message| {
        message.tool_calls().iter().any(|call| !answered.contains(call.id.as_str()))
    };
    if !messages.iter().any(dangles) {
        return Cow::Borrowed(messages);
    }
    let mut out = Vec::with_capacity(messages.len() + 1);
    for message in messages {
        out.push(message.clone());
        for call in message.tool_calls().iter().filter(|c| !answered.contains(c.id.as_str())) {
            out.push(Message::Tool(ToolMessage {
                name: Some(call.name.clone()),
                content: cancelled(&call.name, &call.id),
                tool_call_id: call.id.clone(),
                ..Default::default()
            }));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ToolCall;
    use serde_json::json;

    #[test]
    fn nothing_dangling_borrows() {
        let messages = vec![
            Message::user("hi"),
            Message::assistant("").with_tool_calls([ToolCall::new("c1", "t", json!({}))]),
            Message::tool("c1", "done"),
        ];
        assert!(matches!(repaired(&messages), Cow::Borrowed(_)));
    }

    #[test]
    fn each_unanswered_call_gets_a_cancelled_result_after_its_message() {
        let messages = vec![
            Message::user("hi"),
            Message::assistant("").with_tool_calls([
                ToolCall::new("c1", "weather", json!({})),
                ToolCall::new("c2", "news", json!({})),
            ]),
            Message::tool("c2", "calm"),
            Message::user("never mind"),
        ];
        let fixed = repaired(&messages).into_owned();
        assert_eq!(
            fixed,
            vec![
                messages[0].clone(),
                messages[1].clone(),
                Message::tool(
                    "c1",
                    "Tool call weather with id c1 was cancelled - another message came in before it could be completed."
                )
                .with_name("weather"),
                messages[2].clone(),
                messages[3].clone(),
            ]
        );
    }
}
