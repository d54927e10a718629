//! `tracing` spans for model and tool calls, named and shaped by OpenTelemetry's GenAI
//! conventions, so a `tracing-opentelemetry` layer exports them as GenAI spans with no glue.
//!
//! A model call is a client span `chat {model}` with `gen_ai.operation.name`,
//! `gen_ai.provider.name`, `gen_ai.request.model`, and, once answered, `gen_ai.response.id`,
//! `gen_ai.response.finish_reasons`, `gen_ai.usage.input_tokens` and
//! `gen_ai.usage.output_tokens`; a tool call is a span `execute_tool {name}` with
//! `gen_ai.tool.name` and `gen_ai.tool.call.id`. A failure sets `error.type` and
//! `otel.status_code = "ERROR"`.

use graph_core::BoxError;
use tracing::field::Empty;
use tracing::Span;

use crate::message::{AssistantMessage, StopReason};
use crate::model::ModelInfo;

/// The span of one model call, its answer fields left empty until [`record_answer`].
pub(crate) fn chat_span(info: ModelInfo<'_>) -> Span {
    tracing::info_span!(
        "chat",
        otel.name = format_args!("chat {}", info.model),
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = info.provider,
        gen_ai.request.model = info.model,
        gen_ai.response.id = Empty,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        error.type = Empty,
    )
}

/// Records what a model call gave on its span.
pub(crate) fn record_answer(span: &Span, answer: &Result<AssistantMessage, BoxError>) {
    match answer {
        Ok(answer) => {
            if let Some(id) = &answer.id {
                span.record("gen_ai.response.id", id.as_str());
            }
            if let Some(reason) = &answer.stop_reason {
                span.record("gen_ai.response.finish_reasons", finish_reason(reason));
            }
            if let Some(usage) = answer.usage {
                span.record("gen_ai.usage.input_tokens", usage.input_tokens);
                span.record("gen_ai.usage.output_tokens", usage.output_tokens);
            }
        }
        Err(error) => record_error(span, error_type(error.as_ref())),
    }
}

/// The span of one tool call.
pub(crate) fn tool_span(name: &str, call_id: &str) -> Span {
    tracing::info_span!(
        "execute_tool",
        otel.name = format_args!("execute_tool {name}"),
        otel.kind = "internal",
        otel.status_code = Empty,
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.type = "function",
        gen_ai.tool.name = name,
        gen_ai.tool.call.id = call_id,
        error.type = Empty,
    )
}

/// Marks `span` as failed with `kind` as its `error.type`.
pub(crate) fn record_error(span: &Span, kind: &str) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", kind);
}

/// OpenTelemetry's names for finish reasons.
fn finish_reason(reason: &StopReason) -> &str {
    match reason {
        StopReason::EndTurn => "stop",
        StopReason::ToolCalls => "tool_calls",
        StopReason::MaxTokens => "length",
        StopReason::ContentFilter => "content_filter",
        StopReason::Other(other) => other,
    }
}

/// A low-cardinality name for a failed model call.
fn error_type(_error: &(dyn std::error::Error + 'static)) -> &'static str {
    "_OTHER"
}
