//! The prebuilt agent against a provider over real HTTP: a fake OpenAI-compatible server on
//! loopback, driven by the scripted model, reached through `ModelSpec` and the real adapter.
//! Parallel tool calls streamed in pieces, token streaming, and an approval pause.

#![cfg(feature = "openai")]

mod support;

use std::sync::Arc;

use futures::StreamExt;
use graph_agent::testing::{ScriptedModel, Turn};
use graph_agent::{
    create_agent, tool, AgentState, AssistantMessage, Message, ModelSpec, StreamedMessage,
    StreamedPayload, ToolCall, ToolDecision,
};
use graph_core::checkpoint::MemorySaver;
use graph_core::prelude::*;
use graph_core::{GraphInput, StreamEvent, StreamMode};
use serde_json::json;
use support::fake_provider::FakeProvider;

/// Today's weather in a city.
#[tool]
async fn weather(
    /// The city.
    city: String,
) -> String {
    format!("{city}: sunny, 24°C")
}

/// Flights to a city.
#[tool]
async fn flights(
    /// Where to.
    to: String,
) -> String {
    format!("TP1351 to {to}, €142")
}

/// Books a room; a person approves each call.
#[tool]
async fn book(
    /// The hotel.
    hotel: String,
) -> String {
    format!("Booked {hotel}.")
}

fn script() -> ScriptedModel {
    let lookups = [
        ToolCall::new("call_w", "weather", json!({"city": "Lisbon"})),
        ToolCall::new("call_f", "flights", json!({"to": "Lisbon"})),
    ];
    let booking = AssistantMessage {
        content: "Casa do Rio it is.".into(),
        tool_calls: vec![ToolCall::new("call_b", "book", json!({"hotel": "Casa do Rio"}))],
        ..Default::default()
    };
    ScriptedModel::new()
        .turn(Turn::tool_calls(lookups).args_in_pieces_of(4))
        .turn(Turn::message(booking).words())
        .streamed_words("Sunny Lisbon, TP1351, and Casa do Rio: all set.")
}

/// Streams one run, writing each streamed message and pause as a line.
async fn run(
    agent: &CompiledGraph<AgentState>,
    input: impl GraphInput<AgentState>,
    lines: &mut Vec<String>,
) {
    let config = RunConfig::default().thread_id("trip").stream_mode(StreamMode::Messages);
    let mut events = agent.stream(input, config);
    while let Some(event) = events.next().await {
        let event = event.unwrap();
        if let StreamEvent::Paused { interrupts, .. } = &event {
            lines.push(format!("paused: {}", interrupts[0].value));
        }
        let Some(streamed) = StreamedMessage::from_event(&event).unwrap() else { continue };
        let line = match &streamed.payload {
            StreamedPayload::Chunk(chunk) => {
                let calls: Vec<String> = chunk
                    .tool_calls
                    .iter()
                    .map(|c| format!("[{} {:?} {:?} {:?}]", c.index, c.id, c.name, c.args))
                    .collect();
                let mut line =
                    format!("{} chunk {:?} {}", streamed.node, chunk.content, calls.join(" "));
                if let Some(reason) = &chunk.stop_reason {
                    line.push_str(&format!(" stop {reason:?}"));
                }
                if let Some(usage) = chunk.usage {
                    line.push_str(&format!(
                        " usage {}/{}",
                        usage.input_tokens, usage.output_tokens
                    ));
                }
                line
            }
            StreamedPayload::Message(message) => {
                format!("{} message {}", streamed.node, serde_json::to_string(message).unwrap())
            }
        };
        lines.push(line.trim_end().to_owned());
    }
}

#[tokio::test]
async fn the_agent_runs_over_http_with_parallel_calls_streaming_and_an_approval() {
    let script = Arc::new(script());
    let provider = FakeProvider::start(Arc::clone(&script)).await;
    let model = "openai:travel-model"
        .parse::<ModelSpec>()
        .unwrap()
        .base_url(&provider.url)
        .api_key("test-key")
        .connect()
        .unwrap();
    let agent = create_agent(model)
        .system_prompt("You plan trips.")
        .tool(weather)
        .tool(flights)
        .tool(book)
        .approve(["book"])
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new());

    let mut lines = Vec::new();
    run(&agent, Message::user("A weekend in Lisbon?"), &mut lines).await;
    run(&agent, Command::resume(vec![ToolDecision::Approve]), &mut lines).await;
    insta::assert_snapshot!(lines.join("\n"));

    let state = agent.get_state(&RunConfig::default().thread_id("trip")).await.unwrap().unwrap();
    assert_eq!(state.values.answer(), Some("Sunny Lisbon, TP1351, and Casa do Rio: all set."));

    // The model saw, through the wire and back, exactly the conversation the agent kept.
    let seen = script.requests();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].system.as_deref(), Some("You plan trips."));
    assert_eq!(seen[2].tools, ["weather", "flights", "book"]);
    let kept: Vec<(String, String)> =
        state.values.messages.iter().map(|m| (role(m), m.content().to_owned())).collect();
    let sent: Vec<(String, String)> =
        seen[2].messages.iter().map(|m| (role(m), m.content().to_owned())).collect();
    assert_eq!(sent, kept[..sent.len()]);

    // What went over the wire the second time: the parallel calls and their results.
    let body = &provider.bodies()[1];
    assert_eq!(body["model"], "travel-model");
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["messages"][2]["tool_calls"],
        json!([
            {"id": "call_w", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Lisbon\"}"}},
            {"id": "call_f", "type": "function", "function": {"name": "flights", "arguments": "{\"to\":\"Lisbon\"}"}},
        ])
    );
    assert_eq!(
        body["messages"][3],
        json!({"role": "tool", "tool_call_id": "call_w", "content": "Lisbon: sunny, 24°C"})
    );
    assert_eq!(
        body["messages"][4],
        json!({"role": "tool", "tool_call_id": "call_f", "content": "TP1351 to Lisbon, €142"})
    );
}

fn role(message: &Message) -> String {
    match message {
        Message::System(_) => "system",
        Message::User(_) => "user",
        Message::Assistant(_) => "assistant",
        Message::Tool(_) => "tool",
        Message::Remove(_) => "remove",
    }
    .to_owned()
}
