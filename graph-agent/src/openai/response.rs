//! A whole (non-streamed) chat-completions answer as an [`AssistantMessage`].
//!
//! The wire types here are ours, not async-openai's: theirs refuse a `finish_reason` outside
//! OpenAI's list and require fields (`created`, `object`) that compatible servers may leave
//! out, so they would turn a readable answer into an error. Ours read only what we use.

use serde::Deserialize;

use crate::message::{AssistantMessage, StopReason, ToolCall, Usage};
use crate::model_error::ModelError;

#[derive(Debug, Deserialize)]
struct WireCompletion {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct WireChoice {
    message: WireMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunction,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

/// Token counts as every compatible server reports them.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl From<WireUsage> for Usage {
    fn from(usage: WireUsage) -> Self {
        Usage { input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens }
    }
}

/// Our reason for a wire `finish_reason`.
pub(crate) fn stop_reason(finish_reason: &str) -> StopReason {
    match finish_reason {
        "stop" => StopReason::EndTurn,
        "tool_calls" => StopReason::ToolCalls,
        "length" => StopReason::MaxTokens,
        "content_filter" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_owned()),
    }
}

/// The assistant message in a chat-completions response body. A refusal (structured outputs)
/// becomes the content when there is no other.
pub(crate) fn decode_completion(
    provider: &str,
    body: &[u8],
) -> Result<AssistantMessage, ModelError> {
    let invalid =
        |message: String| ModelError::InvalidResponse { provider: provider.into(), message };
    let completion: WireCompletion =
        serde_json::from_slice(body).map_err(|e| invalid(format!("{e} in {}", excerpt(body))))?;
    let Some(choice) = completion.choices.into_iter().next() else {
        return Err(invalid("the response has no choices".into()));
    };
    let mut tool_calls = Vec::new();
    for call in choice.message.tool_calls.unwrap_or_default() {
        let args = if call.function.arguments.trim().is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_str(&call.function.arguments).map_err(|e| {
                invalid(format!(
                    "the arguments of tool call `{}` ({}) are not JSON: {e}",
                    call.id, call.function.name
                ))
            })?
        };
        tool_calls.push(ToolCall { id: call.id, name: call.function.name, args });
    }
    Ok(AssistantMessage {
        id: completion.id,
        content: choice.message.content.or(choice.message.refusal).unwrap_or_default(),
        tool_calls,
        usage: completion.usage.map(Usage::from),
        stop_reason: choice.finish_reason.as_deref().filter(|r| !r.is_empty()).map(stop_reason),
        ..Default::default()
    })
}

/// The start of a body, for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    const LIMIT: usize = 200;
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("`{}...`", &text[..cut]),
        None => format!("`{text}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finish_reasons_map_to_stop_reasons() {
        assert_eq!(stop_reason("stop"), StopReason::EndTurn);
        assert_eq!(stop_reason("tool_calls"), StopReason::ToolCalls);
        assert_eq!(stop_reason("length"), StopReason::MaxTokens);
        assert_eq!(stop_reason("content_filter"), StopReason::ContentFilter);
        assert_eq!(stop_reason("eos"), StopReason::Other("eos".into()));
    }

    #[test]
    fn a_minimal_answer_from_a_compatible_server_is_read() {
        // No `object`, `created` or usage, an unknown finish reason, null tool calls.
        let body = br#"{"id":"x1","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","tool_calls":null},"finish_reason":"eos"}]}"#;
        assert_eq!(
            decode_completion("llama.cpp", body).unwrap(),
            AssistantMessage {
                id: Some("x1".into()),
                content: "Hi".into(),
                stop_reason: Some(StopReason::Other("eos".into())),
                ..Default::default()
            }
        );
    }

    #[test]
    fn arguments_that_are_not_json_are_an_invalid_response() {
        let body = json!({"id": "x", "choices": [{"message": {"content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":"}}
        ]}, "finish_reason": "tool_calls"}]});
        assert_eq!(
            decode_completion("openai", body.to_string().as_bytes()).unwrap_err(),
            ModelError::InvalidResponse {
                provider: "openai".into(),
                message: "the arguments of tool call `c1` (f) are not JSON: EOF while parsing a value at line 1 column 5".into()
            }
        );
    }

    #[test]
    fn a_body_that_is_not_a_completion_is_an_invalid_response() {
        assert_eq!(
            decode_completion("openai", b"<html>busy</html>").unwrap_err(),
            ModelError::InvalidResponse {
                provider: "openai".into(),
                message: "expected value at line 1 column 1 in `<html>busy</html>`".into()
            }
        );
        assert_eq!(
            decode_completion("openai", br#"{"id":"x","choices":[]}"#).unwrap_err().to_string(),
            "openai sent an answer that cannot be read: the response has no choices"
        );
    }
}
