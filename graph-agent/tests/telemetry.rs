//! Model and tool calls reach an OpenTelemetry exporter through `tracing-opentelemetry` as
//! GenAI spans: names, kinds and attributes as the conventions spell them.

// ANCHOR: uses
use std::sync::Arc;

use graph_agent::testing::{FakeTool, ScriptedModel, Turn};
use graph_agent::{
    create_agent, AssistantMessage, Message, StopReason, ToolCall, ToolErrorPolicy, Usage,
};
use graph_core::prelude::*;
use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry::Value;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;
// ANCHOR_END: uses

/// A span as the test compares it: name, kind, status and GenAI attributes (sorted).
type Exported = (String, SpanKind, Status, Vec<(String, String)>);

/// The exported spans whose name starts with `chat` or `execute_tool`, in the order they
/// ended.
fn genai_spans(spans: Vec<SpanData>) -> Vec<Exported> {
    spans
        .into_iter()
        .filter(|span| span.name.starts_with("chat") || span.name.starts_with("execute_tool"))
        .map(|span| {
            let mut attributes: Vec<(String, String)> = span
                .attributes
                .iter()
                .filter(|kv| {
                    kv.key.as_str().starts_with("gen_ai.") || kv.key.as_str() == "error.type"
                })
                .map(|kv| {
                    let value = match &kv.value {
                        Value::String(s) => s.to_string(),
                        other => other.to_string(),
                    };
                    (kv.key.to_string(), value)
                })
                .collect();
            attributes.sort();
            (span.name.to_string(), span.span_kind, span.status, attributes)
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[tokio::test]
async fn model_and_tool_calls_are_exported_as_genai_spans() {
    // ANCHOR: exporter
    // Any exporter works the same way; this one keeps the spans for the test to read.
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("travel-agent"));
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    // ANCHOR_END: exporter

    let calls = vec![
        ToolCall::new("c1", "weather", json!({"city": "Oslo"})),
        ToolCall::new("c2", "flights", json!({"to": "Oslo"})),
    ];
    let model = ScriptedModel::new()
        .named("travel-1")
        .turn(Turn::message(AssistantMessage {
            tool_calls: calls,
            usage: Some(Usage { input_tokens: 120, output_tokens: 30 }),
            stop_reason: Some(StopReason::ToolCalls),
            ..Default::default()
        }))
        .error("upstream overloaded");
    let agent = create_agent(Arc::new(model))
        .tool(FakeTool::new("weather").output("3°C"))
        .tool(FakeTool::new("flights").failing("no route"))
        .tool_errors(ToolErrorPolicy::catch_all())
        .compile()
        .unwrap();
    let error = agent.invoke(Message::user("Oslo?"), RunConfig::default()).await.unwrap_err();
    assert!(error.to_string().contains("upstream overloaded"), "{error}");
    provider.force_flush().unwrap();

    let spans = genai_spans(exporter.get_finished_spans().unwrap());
    let chat = |extra: &[(&str, &str)]| {
        let mut attributes = pairs(&[
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.provider.name", "scripted"),
            ("gen_ai.request.model", "travel-1"),
        ]);
        attributes.extend(pairs(extra));
        attributes.sort();
        attributes
    };
    let tool = |name: &str, id: &str, extra: &[(&str, &str)]| {
        let mut attributes = pairs(&[
            ("gen_ai.operation.name", "execute_tool"),
            ("gen_ai.tool.call.id", id),
            ("gen_ai.tool.name", name),
            ("gen_ai.tool.type", "function"),
        ]);
        attributes.extend(pairs(extra));
        attributes.sort();
        attributes
    };
    let first_id = spans[0].3.iter().find(|(k, _)| k == "gen_ai.response.id").unwrap().1.clone();
    assert_eq!(
        spans,
        [
            (
                "chat travel-1".to_owned(),
                SpanKind::Client,
                Status::Unset,
                chat(&[
                    ("gen_ai.response.finish_reasons", "tool_calls"),
                    ("gen_ai.response.id", &first_id),
                    ("gen_ai.usage.input_tokens", "120"),
                    ("gen_ai.usage.output_tokens", "30"),
                ]),
            ),
            (
                "execute_tool weather".to_owned(),
                SpanKind::Internal,
                Status::Unset,
                tool("weather", "c1", &[])
            ),
            (
                "execute_tool flights".to_owned(),
                SpanKind::Internal,
                Status::error(""),
                tool("flights", "c2", &[("error.type", "tool_error")]),
            ),
            (
                "chat travel-1".to_owned(),
                SpanKind::Client,
                Status::error(""),
                chat(&[("error.type", "_OTHER")]),
            ),
        ]
    );
}
