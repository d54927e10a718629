//! Merging streamed chunks back into one assistant message: [`ChunkAccumulator`].

use std::collections::BTreeMap;

use crate::message::{AssistantMessage, StopReason, ToolCall, Usage};
use crate::model::MessageChunk;

/// Merges the chunks of one streamed answer into the whole message: text deltas are
/// concatenated, tool-call pieces are grouped by their index (the id and name come from the
/// first piece that has them, the argument text is concatenated and read as JSON at the end),
/// usage is summed, and the last stop reason given wins.
///
/// ```
/// use graph_agent::{ChunkAccumulator, MessageChunk, ToolCallChunk};
/// use serde_json::json;
///
/// let mut answer = ChunkAccumulator::new();
/// answer.push(&MessageChunk { content: "Let me ".into(), ..Default::default() });
/// answer.push(&MessageChunk { content: "check.".into(), ..Default::default() });
/// answer.push(&MessageChunk {
///     tool_calls: vec![ToolCallChunk {
///         index: 0,
///         id: Some("c1".into()),
///         name: Some("weather".into()),
///         args: "{\"city\":".into(),
///     }],
///     ..Default::default()
/// });
/// answer.push(&MessageChunk {
///     tool_calls: vec![ToolCallChunk { index: 0, args: "\"Paris\"}".into(), ..Default::default() }],
///     ..Default::default()
/// });
/// let message = answer.finish().unwrap();
/// assert_eq!(message.content, "Let me check.");
/// assert_eq!(message.tool_calls[0].args, json!({"city": "Paris"}));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ChunkAccumulator {
    id: Option<String>,
    content: String,
    calls: BTreeMap<usize, PartialCall>,
    usage: Option<Usage>,
    stop_reason: Option<StopReason>,
}

#[derive(Debug, Clone, Default)]
struct PartialCall {
    id: Option<String>,
    name: Option<String>,
    args: String,
}

/// Why streamed chunks do not make a message: a tool call is incomplete or its arguments are
/// not JSON.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// No piece of tool call `index` gave its id.
    #[error("streamed tool call {index} has no id")]
    MissingCallId {
        /// The call's index.
        index: usize,
    },
    /// No piece of tool call `index` gave the tool's name.
    #[error("streamed tool call {index} (`{id}`) has no tool name")]
    MissingToolName {
        /// The call's index.
        index: usize,
        /// The call's id.
        id: String,
    },
    /// The arguments of a tool call are not JSON.
    #[error("the arguments of streamed tool call {index} (`{id}`, tool `{name}`) are not valid JSON: {source}")]
    InvalidArgs {
        /// The call's index.
        index: usize,
        /// The call's id.
        id: String,
        /// The tool's name.
        name: String,
        /// The arguments' text as streamed.
        args: String,
        /// Why they do not parse.
        source: serde_json::Error,
    },
}

impl ChunkAccumulator {
    /// An empty answer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one chunk.
    pub fn push(&mut self, chunk: &MessageChunk) {
        if self.id.is_none() {
            self.id.clone_from(&chunk.id);
        }
        self.content.push_str(&chunk.content);
        for piece in &chunk.tool_calls {
            let call = self.calls.entry(piece.index).or_default();
            if call.id.is_none() {
                call.id.clone_from(&piece.id);
            }
            if call.name.is_none() {
                call.name.clone_from(&piece.name);
            }
            call.args.push_str(&piece.args);
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(self.usage.map_or(usage, |sum| sum + usage));
        }
        if chunk.stop_reason.is_some() {
            self.stop_reason.clone_from(&chunk.stop_reason);
        }
    }

    /// The text so far.
    pub fn content(&self) -> &str {
        &self.content
    }

    /// The whole message: tool calls in index order, empty arguments read as `{}`.
    pub fn finish(self) -> Result<AssistantMessage, ChunkError> {
        let mut tool_calls = Vec::with_capacity(self.calls.len());
        for (index, call) in self.calls {
            let id = call.id.ok_or(ChunkError::MissingCallId { index })?;
            let Some(name) = call.name else {
                return Err(ChunkError::MissingToolName { index, id });
            };
            let args = if call.args.trim().is_empty() {
                serde_json::Value::Object(Default::default())
            } else {
                match serde_json::from_str(&call.args) {
                    Ok(args) => args,
                    Err(source) => {
                        return Err(ChunkError::InvalidArgs {
                            index,
                            id,
                            name,
                            args: call.args,
                            source,
                        })
                    }
                }
            };
            tool_calls.push(ToolCall { id, name, args });
        }
        Ok(AssistantMessage {
            id: self.id,
            name: None,
            content: self.content,
            tool_calls,
            usage: self.usage,
            stop_reason: self.stop_reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ToolCallChunk;
    use serde_json::json;

    fn call(index: usize, id: Option<&str>, name: Option<&str>, args: &str) -> MessageChunk {
        MessageChunk {
            tool_calls: vec![ToolCallChunk {
                index,
                id: id.map(Into::into),
                name: name.map(Into::into),
                args: args.into(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn interleaved_calls_are_grouped_by_index_usage_is_summed_and_the_stop_reason_kept() {
        let mut acc = ChunkAccumulator::new();
        acc.push(&MessageChunk {
            id: Some("m".into()),
            content: "Hi".into(),
            usage: Some(Usage { input_tokens: 10, output_tokens: 0 }),
            ..Default::default()
        });
        acc.push(&call(1, Some("c2"), Some("time"), ""));
        acc.push(&call(0, Some("c1"), Some("weather"), "{\"city\""));
        acc.push(&call(0, None, None, ":\"Oslo\"}"));
        acc.push(&MessageChunk {
            id: Some("ignored".into()),
            content: "!".into(),
            usage: Some(Usage { input_tokens: 0, output_tokens: 7 }),
            stop_reason: Some(StopReason::ToolCalls),
            ..Default::default()
        });
        let message = acc.finish().unwrap();
        assert_eq!(
            message,
            AssistantMessage {
                id: Some("m".into()),
                name: None,
                content: "Hi!".into(),
                tool_calls: vec![
                    ToolCall::new("c1", "weather", json!({"city": "Oslo"})),
                    ToolCall::new("c2", "time", json!({})),
                ],
                usage: Some(Usage { input_tokens: 10, output_tokens: 7 }),
                stop_reason: Some(StopReason::ToolCalls),
            }
        );
    }

    #[test]
    fn invalid_arguments_name_the_call() {
        let mut acc = ChunkAccumulator::new();
        acc.push(&call(0, Some("c1"), Some("weather"), "{\"city\":"));
        let error = acc.finish().unwrap_err();
        assert!(matches!(
            &error,
            ChunkError::InvalidArgs { index: 0, id, name, args, .. }
                if id == "c1" && name == "weather" && args == "{\"city\":"
        ));
        assert!(error.to_string().starts_with(
            "the arguments of streamed tool call 0 (`c1`, tool `weather`) are not valid JSON: "
        ));
    }

    #[test]
    fn a_call_without_id_or_name_is_refused() {
        let mut acc = ChunkAccumulator::new();
        acc.push(&call(0, None, Some("weather"), "{}"));
        assert_eq!(acc.finish().unwrap_err().to_string(), "streamed tool call 0 has no id");
        let mut acc = ChunkAccumulator::new();
        acc.push(&call(2, Some("c3"), None, "{}"));
        assert_eq!(
            acc.finish().unwrap_err().to_string(),
            "streamed tool call 2 (`c3`) has no tool name"
        );
    }

    #[test]
    fn no_chunks_make_an_empty_message() {
        assert_eq!(ChunkAccumulator::new().finish().unwrap(), AssistantMessage::default());
    }
}
