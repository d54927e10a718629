//! Whether the model must call a tool: [`ToolChoice`], and the policy that applies it to a
//! request.

use crate::message::Message;
use crate::model::ChatRequest;

/// Whether and which tool the model must call when the request offers tools.
///
/// A forced call is made reliable by a grammar: the model can only write a well-formed call
/// (or a JSON array of calls) to an offered tool, with arguments shaped by its schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolChoice {
    /// Call a tool while the latest user message has no tool results yet; answer in text once
    /// it has. Small models rarely decide well on their own, so the turn decides instead: this
    /// is the agent loop's shape (call, read the results, answer).
    #[default]
    Auto,
    /// Always call one or more of the offered tools.
    Required,
    /// Always call the named tool.
    Named(String),
    /// Never call a tool: answer in text.
    None,
}

/// How one answer is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AnswerMode {
    /// Free text, or JSON when the request has a response format.
    Text,
    /// Tool calls to any offered tool.
    AnyTool,
    /// Tool calls to this tool only.
    Tool(String),
}

impl ToolChoice {
    /// How `request` is answered under this choice.
    pub(crate) fn mode(&self, request: &ChatRequest<'_>) -> AnswerMode {
        if request.tools.is_empty() {
            return match self {
                ToolChoice::Named(name) => AnswerMode::Tool(name.clone()),
                ToolChoice::Required => AnswerMode::AnyTool,
                _ => AnswerMode::Text,
            };
        }
        match self {
            ToolChoice::Auto if has_tool_results(request.messages) => AnswerMode::Text,
            ToolChoice::Auto | ToolChoice::Required => AnswerMode::AnyTool,
            ToolChoice::Named(name) => AnswerMode::Tool(name.clone()),
            ToolChoice::None => AnswerMode::Text,
        }
    }
}

/// Whether tool results came in since the latest user message.
fn has_tool_results(messages: &[Message]) -> bool {
    messages
        .iter()
        .rev()
        .take_while(|message| !matches!(message, Message::User(_)))
        .any(|message| matches!(message, Message::Tool(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::ToolSpec;
    use crate::{AssistantMessage, ToolCall, ToolMessage};
    use serde_json::json;

    fn spec() -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: "weather".into(),
            description: "Weather".into(),
            parameters: json!({"type": "object"}),
        }]
    }

    fn called() -> Vec<Message> {
        vec![
            Message::user("Weather in Paris?"),
            Message::Assistant(AssistantMessage {
                tool_calls: vec![ToolCall::new("c1", "weather", json!({"city": "Paris"}))],
                ..Default::default()
            }),
            Message::Tool(ToolMessage {
                content: "sunny".into(),
                tool_call_id: "c1".into(),
                ..Default::default()
            }),
        ]
    }

    #[test]
    fn auto_calls_until_the_turn_has_tool_results_then_answers() {
        let tools = spec();
        let first = [Message::user("Weather in Paris?")];
        assert_eq!(
            ToolChoice::Auto.mode(&ChatRequest::new(&first).tools(&tools)),
            AnswerMode::AnyTool
        );
        let after = called();
        assert_eq!(
            ToolChoice::Auto.mode(&ChatRequest::new(&after).tools(&tools)),
            AnswerMode::Text
        );
        let mut next_turn = called();
        next_turn.push(Message::user("And in Oslo?"));
        assert_eq!(
            ToolChoice::Auto.mode(&ChatRequest::new(&next_turn).tools(&tools)),
            AnswerMode::AnyTool
        );
    }

    #[test]
    fn forced_choices_call_even_after_tool_results() {
        let tools = spec();
        let after = called();
        let request = ChatRequest::new(&after).tools(&tools);
        assert_eq!(ToolChoice::Required.mode(&request), AnswerMode::AnyTool);
        assert_eq!(
            ToolChoice::Named("weather".into()).mode(&request),
            AnswerMode::Tool("weather".into())
        );
        assert_eq!(ToolChoice::None.mode(&request), AnswerMode::Text);
    }

    #[test]
    fn without_tools_auto_answers_in_text() {
        let messages = [Message::user("Hi")];
        assert_eq!(ToolChoice::Auto.mode(&ChatRequest::new(&messages)), AnswerMode::Text);
    }
}
