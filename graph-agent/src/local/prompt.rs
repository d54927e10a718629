//! The conversation as chat-template turns: tools are listed in the system turn, tool calls
//! are written as the JSON the tool grammar produces, tool results are `tool` turns.

use serde_json::json;

use crate::message::{Message, ToolCall};
use crate::model::ChatRequest;
use crate::tool::ToolSpec;

/// One turn for the chat template: a role and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Turn {
    pub(crate) role: &'static str,
    pub(crate) content: String,
}

impl Turn {
    fn new(role: &'static str, content: impl Into<String>) -> Self {
        Self { role, content: content.into() }
    }
}

/// The turns of `request`, oldest first.
pub(crate) fn turns(request: &ChatRequest<'_>) -> Vec<Turn> {
    let mut turns = Vec::with_capacity(request.messages.len() + 1);
    let system = system_text(request.system, request.tools);
    if !system.is_empty() {
        turns.push(Turn::new("system", system));
    }
    for message in request.messages {
        match message {
            Message::System(m) => turns.push(Turn::new("system", m.content.clone())),
            Message::User(m) => turns.push(Turn::new("user", m.content.clone())),
            Message::Assistant(m) => {
                let mut content = m.content.clone();
                if !m.tool_calls.is_empty() {
                    if !content.is_empty() {
                        content.push('\n');
                    }
                    content.push_str(&calls_json(&m.tool_calls));
                }
                turns.push(Turn::new("assistant", content));
            }
            Message::Tool(m) => turns.push(Turn::new("tool", m.content.clone())),
            Message::Remove(_) => {}
        }
    }
    turns
}

/// The system prompt followed by the tool list and how to call them.
fn system_text(system: Option<&str>, tools: &[ToolSpec]) -> String {
    let mut text = system.unwrap_or_default().to_owned();
    if tools.is_empty() {
        return text;
    }
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(
        "You can call these tools. To call a tool, answer with JSON only: \
         {\"name\": <tool name>, \"arguments\": <arguments object>}; \
         to call several, a JSON array of such objects.\n<tools>\n",
    );
    for tool in tools {
        let spec = json!({"name": tool.name, "description": tool.description, "parameters": tool.parameters});
        text.push_str(&spec.to_string());
        text.push('\n');
    }
    text.push_str("</tools>");
    text
}

/// Calls as the grammar writes them (name first): one object, or an array of several.
fn calls_json(calls: &[ToolCall]) -> String {
    let objects: Vec<_> = calls
        .iter()
        .map(|call| format!("{{\"name\":{},\"arguments\":{}}}", json!(call.name), call.args))
        .collect();
    match objects.as_slice() {
        [one] => one.clone(),
        _ => format!("[{}]", objects.join(",")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::AssistantMessage;

    #[test]
    fn tools_join_the_system_prompt_and_calls_and_results_become_turns() {
        let tools = [ToolSpec {
            name: "weather".into(),
            description: "Weather in a city.".into(),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        }];
        let messages = [
            Message::user("Paris and Oslo?"),
            Message::Assistant(AssistantMessage {
                tool_calls: vec![
                    ToolCall::new("c1", "weather", json!({"city": "Paris"})),
                    ToolCall::new("c2", "weather", json!({"city": "Oslo"})),
                ],
                ..Default::default()
            }),
            Message::tool("c1", "sunny"),
            Message::tool("c2", "rain"),
        ];
        let request = ChatRequest::new(&messages).system("Be brief.").tools(&tools);
        assert_eq!(
            turns(&request),
            vec![
                Turn::new(
                    "system",
                    "Be brief.\n\nYou can call these tools. To call a tool, answer with JSON only: \
                     {\"name\": <tool name>, \"arguments\": <arguments object>}; to call several, \
                     a JSON array of such objects.\n<tools>\n\
                     {\"description\":\"Weather in a city.\",\"name\":\"weather\",\"parameters\":\
                     {\"properties\":{\"city\":{\"type\":\"string\"}},\"type\":\"object\"}}\n</tools>"
                ),
                Turn::new("user", "Paris and Oslo?"),
                Turn::new(
                    "assistant",
                    "[{\"name\":\"weather\",\"arguments\":{\"city\":\"Paris\"}},\
                     {\"name\":\"weather\",\"arguments\":{\"city\":\"Oslo\"}}]"
                ),
                Turn::new("tool", "sunny"),
                Turn::new("tool", "rain"),
            ]
        );
    }

    #[test]
    fn without_system_prompt_or_tools_there_is_no_system_turn() {
        let messages = [Message::user("Hi")];
        assert_eq!(turns(&ChatRequest::new(&messages)), vec![Turn::new("user", "Hi")]);
    }
}
