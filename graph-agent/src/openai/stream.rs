//! Streamed chat-completions events (`data:` lines of server-sent events) as
//! [`MessageChunk`]s.

use serde::Deserialize;

use super::response::{excerpt, stop_reason, WireUsage};
use crate::model::{MessageChunk, ToolCallChunk};
use crate::model_error::ModelError;

/// The data of the event that ends a stream.
const DONE: &str = "[DONE]";

#[derive(Debug, Deserialize)]
struct WireChunk {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    choices: Vec<WireChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    /// An error reported inside the stream instead of a chunk.
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct WireChunkChoice {
    #[serde(default)]
    delta: WireDelta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct WireDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCallDelta>>,
}

#[derive(Debug, Deserialize)]
struct WireToolCallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunctionDelta>,
}

#[derive(Debug, Deserialize)]
struct WireFunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// Turns the events of one streamed answer into chunks.
///
/// Usage is held back and sent once, in a last chunk after the stream's end: some servers
/// repeat running totals on several chunks, and [`ChunkAccumulator`](crate::ChunkAccumulator)
/// adds up the usage of every chunk.
#[derive(Debug)]
pub(crate) struct StreamDecoder {
    provider: String,
    id: Option<String>,
    usage: Option<WireUsage>,
    /// The index the next tool call without one gets (some servers leave it out).
    next_call: usize,
    /// The index of the call the last piece belonged to.
    last_call: Option<usize>,
    finished: bool,
    done: bool,
}

impl StreamDecoder {
    pub(crate) fn new(provider: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            id: None,
            usage: None,
            next_call: 0,
            last_call: None,
            finished: false,
            done: false,
        }
    }

    /// Whether the `[DONE]` event came: nothing more is read after it.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// The chunk in one event's data, or `None` for an event with nothing in it.
    pub(crate) fn decode(&mut self, data: &str) -> Result<Option<MessageChunk>, ModelError> {
        if data.trim() == DONE {
            self.done = true;
            return Ok(None);
        }
        let wire: WireChunk =
            serde_json::from_str(data).map_err(|e| ModelError::InvalidResponse {
                provider: self.provider.clone(),
                message: format!("{e} in the streamed event {}", excerpt(data.as_bytes())),
            })?;
        if let Some(error) = wire.error {
            // OpenAI reports a failure after the stream began as an error event.
            let message = error
                .get("message")
                .and_then(|m| m.as_str())
                .map_or_else(|| error.to_string(), str::to_owned);
            return Err(ModelError::Server {
                provider: self.provider.clone(),
                status: 500,
                retry_after: None,
                message,
            });
        }
        if wire.id.is_some() {
            self.id.clone_from(&wire.id);
        }
        if wire.usage.is_some() {
            self.usage = wire.usage;
        }
        let mut chunk = MessageChunk { id: self.id.clone(), ..Default::default() };
        // Only one choice is ever asked for.
        if let Some(choice) = wire.choices.into_iter().next() {
            let delta = choice.delta;
            chunk.content = delta.content.or(delta.refusal).unwrap_or_default();
            for piece in delta.tool_calls.unwrap_or_default() {
                let index = self.call_index(&piece);
                let function = piece.function;
                chunk.tool_calls.push(ToolCallChunk {
                    index,
                    id: piece.id,
                    name: function.as_ref().and_then(|f| f.name.clone()),
                    args: function.and_then(|f| f.arguments).unwrap_or_default(),
                });
            }
            // Some servers send an empty reason on chunks that are not the last.
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.finished = true;
                chunk.stop_reason = Some(stop_reason(&reason));
            }
        }
        let empty =
            chunk.content.is_empty() && chunk.tool_calls.is_empty() && chunk.stop_reason.is_none();
        Ok((!empty).then_some(chunk))
    }

    /// The last chunk, with the usage, once the events ran out; an error when they stopped
    /// before the answer was complete (no `[DONE]` and no finish reason).
    pub(crate) fn finish(&mut self) -> Result<Option<MessageChunk>, ModelError> {
        if !self.done && !self.finished {
            return Err(ModelError::Connection {
                provider: self.provider.clone(),
                mid_answer: true,
                message: "the event stream ended before `data: [DONE]`".into(),
            });
        }
        self.done = true;
        Ok(self.usage.take().map(|usage| MessageChunk {
            id: self.id.clone(),
            usage: Some(usage.into()),
            ..Default::default()
        }))
    }

    fn call_index(&mut self, piece: &WireToolCallDelta) -> usize {
        let index = match (piece.index, &piece.id, self.last_call) {
            (Some(index), _, _) => index,
            (None, Some(_), _) | (None, None, None) => self.next_call,
            (None, None, Some(last)) => last,
        };
        self.next_call = self.next_call.max(index + 1);
        self.last_call = Some(index);
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{StopReason, Usage};

    #[test]
    fn tool_calls_without_indexes_get_them_in_order() {
        // Some compatible servers send each call whole, without `index`.
        let mut decoder = StreamDecoder::new("gemini");
        let data = r#"{"id":"g1","choices":[{"delta":{"tool_calls":[
            {"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},
            {"id":"b","type":"function","function":{"name":"g","arguments":"{\"x\":1}"}}
        ]},"finish_reason":"tool_calls"}]}"#;
        assert_eq!(
            decoder.decode(data).unwrap(),
            Some(MessageChunk {
                id: Some("g1".into()),
                tool_calls: vec![
                    ToolCallChunk {
                        index: 0,
                        id: Some("a".into()),
                        name: Some("f".into()),
                        args: "{}".into()
                    },
                    ToolCallChunk {
                        index: 1,
                        id: Some("b".into()),
                        name: Some("g".into()),
                        args: "{\"x\":1}".into()
                    },
                ],
                stop_reason: Some(StopReason::ToolCalls),
                ..Default::default()
            })
        );
        // No `[DONE]`, but the finish reason came: the answer is whole.
        assert_eq!(decoder.finish().unwrap(), None);
    }

    #[test]
    fn repeated_running_usage_is_sent_once_at_the_end() {
        let mut decoder = StreamDecoder::new("vllm");
        let events = [
            r#"{"id":"v","choices":[{"delta":{"content":"Hi"},"finish_reason":""}],"usage":{"prompt_tokens":5,"completion_tokens":1}}"#,
            r#"{"id":"v","choices":[{"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#,
            "[DONE]",
        ];
        let chunks: Vec<_> = events.iter().filter_map(|e| decoder.decode(e).unwrap()).collect();
        assert_eq!(chunks.len(), 2);
        // An empty finish reason is no reason.
        assert_eq!(chunks[0].stop_reason, None);
        assert_eq!(chunks[1].stop_reason, Some(StopReason::EndTurn));
        assert!(decoder.is_done());
        assert_eq!(
            decoder.finish().unwrap(),
            Some(MessageChunk {
                id: Some("v".into()),
                usage: Some(Usage { input_tokens: 5, output_tokens: 2 }),
                ..Default::default()
            })
        );
    }

    #[test]
    fn an_error_event_is_a_server_error() {
        let mut decoder = StreamDecoder::new("openai");
        assert_eq!(
            decoder
                .decode(r#"{"error":{"message":"The server had an error","type":"server_error"}}"#)
                .unwrap_err(),
            ModelError::Server {
                provider: "openai".into(),
                status: 500,
                retry_after: None,
                message: "The server had an error".into()
            }
        );
    }
}
