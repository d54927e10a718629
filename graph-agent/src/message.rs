//! One message of a conversation: what a system prompt, a user, a model and a tool say, and
//! the marker that removes messages from a list.
//!
//! The JSON form is stable, since checkpoints keep it for as long as threads live: a `role`
//! tag, then the fields of that role; empty optional fields are left out.
//!
//! ```
//! use graph_agent::{Message, ToolCall};
//! use serde_json::json;
//!
//! let answer = Message::assistant("")
//!     .with_tool_calls([ToolCall::new("call-1", "weather", json!({"city": "Paris"}))]);
//! assert_eq!(
//!     serde_json::to_value(&answer).unwrap(),
//!     json!({
//!         "role": "assistant",
//!         "content": "",
//!         "tool_calls": [{"id": "call-1", "name": "weather", "args": {"city": "Paris"}}]
//!     })
//! );
//! ```

use serde::{Deserialize, Serialize};

/// The id of a [`Message::remove_all`] marker, as LangGraph spells it.
pub const REMOVE_ALL_MESSAGES: &str = "__remove_all__";

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    /// Instructions for the model.
    System(SystemMessage),
    /// What a person said.
    User(UserMessage),
    /// What a model answered: text, tool calls, or both.
    Assistant(AssistantMessage),
    /// A tool's result, answering one tool call.
    Tool(ToolMessage),
    /// Not a message: in an update, removes the message with this id (or all of them, for
    /// [`Message::remove_all`]). Never part of a merged list.
    Remove(RemoveMessage),
}

/// Instructions for the model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemMessage {
    /// The message's id; assigned when the message enters a list, if it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// An optional name of the author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The text.
    pub content: String,
}

/// What a person said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserMessage {
    /// The message's id; assigned when the message enters a list, if it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// An optional name of the author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The text.
    pub content: String,
}

/// What a model answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    /// The message's id; assigned when the message enters a list, if it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// An optional name of the author (an agent's name, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The text; empty when the model only calls tools.
    pub content: String,
    /// The tools the model asks to run, in its order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Tokens the call used, when the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Why the model stopped, when the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopReason>,
}

/// Why a model stopped writing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// It finished its answer (or hit a stop sequence).
    EndTurn,
    /// It asks for tool calls.
    ToolCalls,
    /// It ran out of output tokens: the answer is cut.
    MaxTokens,
    /// The provider's content filter cut the answer.
    ContentFilter,
    /// A reason this crate does not know, as the provider named it.
    Other(String),
}

/// A tool's result, answering the tool call with id `tool_call_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolMessage {
    /// The message's id; assigned when the message enters a list, if it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The tool's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The result as the model reads it.
    pub content: String,
    /// The call it answers.
    pub tool_call_id: String,
    /// Whether the tool succeeded.
    #[serde(default, skip_serializing_if = "ToolStatus::is_success")]
    pub status: ToolStatus,
    /// Data for the program that the model does not see (full records behind a summary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<serde_json::Value>,
}

/// Removes the message with `id` from a list; see [`Message::remove`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveMessage {
    /// The message to remove, or [`REMOVE_ALL_MESSAGES`].
    pub id: String,
}

/// Whether a tool call succeeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    /// The tool ran and returned its result.
    #[default]
    Success,
    /// The call failed; the content says why.
    Error,
}

impl ToolStatus {
    pub(crate) fn is_success(&self) -> bool {
        *self == ToolStatus::Success
    }
}

/// A model's request to run one tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id, which its [`ToolMessage`] repeats.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, a JSON object.
    pub args: serde_json::Value,
}

impl ToolCall {
    /// A call of tool `name` with `args`.
    pub fn new(id: impl Into<String>, name: impl Into<String>, args: serde_json::Value) -> Self {
        Self { id: id.into(), name: name.into(), args }
    }
}

/// Tokens one model call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens read: the prompt, history and tool specs.
    pub input_tokens: u64,
    /// Tokens written.
    pub output_tokens: u64,
}

impl Usage {
    /// Input and output tokens together.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

impl std::ops::Add for Usage {
    type Output = Usage;

    fn add(self, other: Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens + other.input_tokens,
            output_tokens: self.output_tokens + other.output_tokens,
        }
    }
}

impl Message {
    /// A system prompt.
    pub fn system(content: impl Into<String>) -> Self {
        Message::System(SystemMessage { content: content.into(), ..Default::default() })
    }

    /// A person's message.
    pub fn user(content: impl Into<String>) -> Self {
        Message::User(UserMessage { content: content.into(), ..Default::default() })
    }

    /// A model's text answer; add calls with [`with_tool_calls`](Self::with_tool_calls).
    pub fn assistant(content: impl Into<String>) -> Self {
        Message::Assistant(AssistantMessage { content: content.into(), ..Default::default() })
    }

    /// A tool's successful result for the call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message::Tool(ToolMessage {
            content: content.into(),
            tool_call_id: tool_call_id.into(),
            ..Default::default()
        })
    }

    /// A marker that removes the message with `id` when merged by
    /// [`add_messages`](crate::add_messages).
    pub fn remove(id: impl Into<String>) -> Self {
        Message::Remove(RemoveMessage { id: id.into() })
    }

    /// A marker that removes every message before it when merged by
    /// [`add_messages`](crate::add_messages).
    pub fn remove_all() -> Self {
        Message::remove(REMOVE_ALL_MESSAGES)
    }

    /// The same message with `id`.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        match self.id_slot() {
            Some(slot) => *slot = Some(id.into()),
            None => {
                if let Message::Remove(m) = &mut self {
                    m.id = id.into();
                }
            }
        }
        self
    }

    /// The same message with the author's `name` (ignored by a removal).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        let slot = match &mut self {
            Message::System(m) => &mut m.name,
            Message::User(m) => &mut m.name,
            Message::Assistant(m) => &mut m.name,
            Message::Tool(m) => &mut m.name,
            Message::Remove(_) => return self,
        };
        *slot = Some(name.into());
        self
    }

    /// The same assistant message with `calls` added; other messages are returned unchanged.
    pub fn with_tool_calls(mut self, calls: impl IntoIterator<Item = ToolCall>) -> Self {
        if let Message::Assistant(m) = &mut self {
            m.tool_calls.extend(calls);
        }
        self
    }

    /// The message's id, if it has one yet.
    pub fn id(&self) -> Option<&str> {
        match self {
            Message::System(m) => m.id.as_deref(),
            Message::User(m) => m.id.as_deref(),
            Message::Assistant(m) => m.id.as_deref(),
            Message::Tool(m) => m.id.as_deref(),
            Message::Remove(m) => Some(&m.id),
        }
    }

    /// The optional id of a message; `None` for a removal, whose id is never optional.
    pub(crate) fn id_slot(&mut self) -> Option<&mut Option<String>> {
        match self {
            Message::System(m) => Some(&mut m.id),
            Message::User(m) => Some(&mut m.id),
            Message::Assistant(m) => Some(&mut m.id),
            Message::Tool(m) => Some(&mut m.id),
            Message::Remove(_) => None,
        }
    }

    /// The text: empty for a removal.
    pub fn content(&self) -> &str {
        match self {
            Message::System(m) => &m.content,
            Message::User(m) => &m.content,
            Message::Assistant(m) => &m.content,
            Message::Tool(m) => &m.content,
            Message::Remove(_) => "",
        }
    }

    /// The tool calls of an assistant message; empty for any other.
    pub fn tool_calls(&self) -> &[ToolCall] {
        match self {
            Message::Assistant(m) => &m.tool_calls,
            _ => &[],
        }
    }

    /// The assistant message, if this is one.
    pub fn as_assistant(&self) -> Option<&AssistantMessage> {
        match self {
            Message::Assistant(m) => Some(m),
            _ => None,
        }
    }

    /// The tool result, if this is one.
    pub fn as_tool(&self) -> Option<&ToolMessage> {
        match self {
            Message::Tool(m) => Some(m),
            _ => None,
        }
    }
}

/// A message id derived from `parts`: a name-based UUID (version 5), so the same parts give
/// the same id on every run and machine, and different parts practically never collide.
#[allow(dead_code)] // used by the reducer and the model helper
pub(crate) fn derived_id(parts: &[&str]) -> String {
    /// The namespace of every derived message id.
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6d0f_3c1e_8a52_4c7b_9e1d_2f4a_5b6c_7d8e);
    uuid::Uuid::new_v5(&NAMESPACE, parts.join("\u{0}").as_bytes()).to_string()
}

impl From<AssistantMessage> for Message {
    fn from(message: AssistantMessage) -> Self {
        Message::Assistant(message)
    }
}

impl From<ToolMessage> for Message {
    fn from(message: ToolMessage) -> Self {
        Message::Tool(message)
    }
}

impl From<UserMessage> for Message {
    fn from(message: UserMessage) -> Self {
        Message::User(message)
    }
}

impl From<SystemMessage> for Message {
    fn from(message: SystemMessage) -> Self {
        Message::System(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_role_round_trips_through_its_json_form() {
        let messages = vec![
            Message::system("Be brief.").with_id("s"),
            Message::user("Weather in Paris?").with_id("u").with_name("ada"),
            Message::Assistant(AssistantMessage {
                id: Some("a".into()),
                content: String::new(),
                tool_calls: vec![ToolCall::new("c1", "weather", json!({"city": "Paris"}))],
                usage: Some(Usage { input_tokens: 12, output_tokens: 3 }),
                ..Default::default()
            }),
            Message::Tool(ToolMessage {
                id: Some("t".into()),
                name: Some("weather".into()),
                content: "Error: no data".into(),
                tool_call_id: "c1".into(),
                status: ToolStatus::Error,
                artifact: Some(json!({"raw": [1, 2]})),
            }),
            Message::remove("u"),
        ];
        let encoded = serde_json::to_value(&messages).unwrap();
        assert_eq!(
            encoded,
            json!([
                {"role": "system", "id": "s", "content": "Be brief."},
                {"role": "user", "id": "u", "name": "ada", "content": "Weather in Paris?"},
                {"role": "assistant", "id": "a", "content": "",
                 "tool_calls": [{"id": "c1", "name": "weather", "args": {"city": "Paris"}}],
                 "usage": {"input_tokens": 12, "output_tokens": 3}},
                {"role": "tool", "id": "t", "name": "weather", "content": "Error: no data",
                 "tool_call_id": "c1", "status": "error", "artifact": {"raw": [1, 2]}},
                {"role": "remove", "id": "u"}
            ])
        );
        let decoded: Vec<Message> = serde_json::from_value(encoded).unwrap();
        assert_eq!(decoded, messages);
    }

    #[test]
    fn a_successful_tool_result_leaves_its_status_out() {
        let json = serde_json::to_value(Message::tool("c1", "18°C")).unwrap();
        assert_eq!(json, json!({"role": "tool", "content": "18°C", "tool_call_id": "c1"}));
        let back: Message = serde_json::from_value(json).unwrap();
        assert_eq!(back.as_tool().unwrap().status, ToolStatus::Success);
    }
}
