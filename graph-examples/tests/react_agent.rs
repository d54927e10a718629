//! The travel agent of the `react_agent` example, on tokio's paused clock: the run as a
//! person sees it, its ordered stream of events, the final conversation, the drawing, and
//! what parallel tool calls, approval edits and a concurrency cap cost.

// ANCHOR: uses
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use graph_agent::{AgentState, ApprovalRequest, Message, StreamedPayload, ToolCall, ToolDecision};
use graph_core::checkpoint::MemorySaver;
use graph_core::prelude::*;
use graph_core::{GraphInput, StreamEvent, StreamMode};
use graph_examples::react_agent::{self, Narrator};
use serde_json::json;
use tokio::time::Instant;
// ANCHOR_END: uses

/// Gives each message id a short label, in order of first appearance, so snapshots read
/// `answer-1` instead of a UUID (the ids are deterministic; the labels are for people).
#[derive(Default)]
struct Labels(HashMap<String, String>);

impl Labels {
    fn of(&mut self, id: Option<&str>) -> String {
        let Some(id) = id else { return "no id".to_owned() };
        let next = self.0.len() + 1;
        self.0.entry(id.to_owned()).or_insert_with(|| format!("answer-{next}")).clone()
    }
}

/// One line per event: when it came, its task and node, and what it carries.
fn record(at: Duration, event: &StreamEvent<AgentState>, labels: &mut Labels) -> String {
    let at = format!("{:>5} ms", at.as_millis());
    match event {
        StreamEvent::TaskStart { node, task_id, attempt, .. } => {
            format!("{at}  {:<10} {node:<8} start (attempt {attempt})", task_id.to_string())
        }
        StreamEvent::TaskEnd { node, task_id, started_at, duration, error, .. } => {
            let error = error.as_deref().map(|e| format!(", {e}")).unwrap_or_default();
            format!(
                "{at}  {:<10} {node:<8} end (ran {} ms from {} ms{error})",
                task_id.to_string(),
                duration.as_millis(),
                started_at.as_millis()
            )
        }
        StreamEvent::Message { node, task_id, .. } => {
            let streamed = graph_agent::StreamedMessage::from_event(event).unwrap().unwrap();
            let what = match &streamed.payload {
                StreamedPayload::Chunk(chunk) => {
                    let calls: Vec<String> = chunk
                        .tool_calls
                        .iter()
                        .map(|c| {
                            let id = c.id.as_deref().unwrap_or("-");
                            let name = c.name.as_deref().unwrap_or("-");
                            format!(" + call {} {id} {name} {}", c.index, c.args)
                        })
                        .collect();
                    let label = labels.of(chunk.id.as_deref());
                    format!("chunk {label} {:?}{}", chunk.content, calls.join(""))
                }
                StreamedPayload::Message(Message::Tool(tool)) => format!(
                    "tool message {} ({}): {:?}",
                    tool.name.as_deref().unwrap_or("?"),
                    tool.tool_call_id,
                    tool.content
                ),
                StreamedPayload::Message(other) => format!("message {other:?}"),
            };
            format!("{at}  {:<10} {node:<8} {what}", task_id.to_string())
        }
        StreamEvent::Paused { interrupts, .. } => {
            let asked: Vec<String> =
                interrupts.iter().map(|i| format!("{} {} {}", i.id, i.node, i.value)).collect();
            format!("{at}  paused: {}", asked.join("; "))
        }
        StreamEvent::Done { .. } => format!("{at}  done"),
        other => format!("{at}  unexpected {other:?}"),
    }
}

/// The conversation, one block per message, with the assistant's ids labelled.
fn transcript(state: &AgentState, labels: &mut Labels) -> String {
    let mut out = String::new();
    for message in state.messages.iter() {
        match message {
            Message::System(m) => out.push_str(&format!("system: {}\n", m.content)),
            Message::User(m) => out.push_str(&format!("user: {}\n", m.content)),
            Message::Assistant(m) => {
                let text = if m.content.is_empty() { "(no text)" } else { &m.content };
                out.push_str(&format!("assistant [{}]: {text}\n", labels.of(m.id.as_deref())));
                for call in &m.tool_calls {
                    out.push_str(&format!("  -> {} {} {}\n", call.id, call.name, call.args));
                }
            }
            Message::Tool(m) => out.push_str(&format!(
                "tool {} ({}, {:?}): {}\n",
                m.name.as_deref().unwrap_or("?"),
                m.tool_call_id,
                m.status,
                m.content
            )),
            Message::Remove(m) => out.push_str(&format!("remove {}\n", m.id)),
        }
    }
    out
}

/// Everything one streamed run showed.
struct Run {
    narration: String,
    events: Vec<String>,
    /// When each tool call started and how long it ran.
    tool_spans: Vec<(Duration, Duration)>,
    last: StreamEvent<AgentState>,
    elapsed: Duration,
}

/// Streams a run with messages and task events, as the example does.
async fn stream(
    agent: &CompiledGraph<AgentState>,
    input: impl GraphInput<AgentState>,
    narrator: &mut Narrator,
    labels: &mut Labels,
) -> Run {
    let config = RunConfig::default()
        .thread_id("trip")
        .stream_mode(StreamMode::Messages)
        .stream_mode(StreamMode::Tasks);
    let started = Instant::now();
    let mut events = agent.stream(input, config);
    let (mut narration, mut lines, mut spans, mut last) = (String::new(), vec![], vec![], None);
    while let Some(event) = events.next().await {
        let event = event.unwrap();
        let at = started.elapsed();
        narration.push_str(&narrator.narrate(at, &event));
        lines.push(record(at, &event, labels));
        if let StreamEvent::TaskEnd { node, started_at, duration, .. } = &event {
            if &**node == "tools" {
                spans.push((*started_at, *duration));
            }
        }
        last = Some(event);
    }
    Run {
        narration,
        events: lines,
        tool_spans: spans,
        last: last.unwrap(),
        elapsed: started.elapsed(),
    }
}

fn booking(nights: u32) -> ToolCall {
    ToolCall::new("call_booking", "book_hotel", json!({"hotel": "Casa do Rio", "nights": nights}))
}

/// Streamed chunks of an answer: one per word, plus one per tool call.
fn chunks(text: &str, calls: u32) -> u32 {
    text.split_whitespace().count() as u32 + calls
}

#[tokio::test(start_paused = true)]
async fn the_trip_looks_up_in_parallel_pauses_for_the_booking_and_streams_the_answer() {
    let model = Arc::new(react_agent::model());
    let agent = react_agent::graph(Arc::clone(&model)).with_checkpointer(MemorySaver::new());
    let (mut narrator, mut labels) = (Narrator::new(), Labels::default());

    let first = stream(&agent, react_agent::question(), &mut narrator, &mut labels).await;
    let StreamEvent::Paused { interrupts, .. } = &first.last else { panic!("{:?}", first.last) };
    let request: ApprovalRequest = serde_json::from_value(interrupts[0].value.clone()).unwrap();
    assert_eq!(request, ApprovalRequest { calls: vec![booking(2)] });
    // The lookups started together and took the slowest one's time (300 ms), not the sum.
    let ms = Duration::from_millis;
    let lookups = ms(440);
    assert_eq!(first.tool_spans, [(lookups, ms(120)), (lookups, ms(200)), (lookups, ms(300))]);
    // Model (one chunk), lookups, model (the proposal's words and the booking call).
    let model_time = |chunks| react_agent::MODEL_LATENCY + react_agent::CHUNK_LATENCY * chunks;
    assert_eq!(
        first.elapsed,
        model_time(1) + react_agent::FLIGHTS_LATENCY + model_time(chunks(react_agent::PROPOSAL, 1))
    );

    narrator.decided(&request, &[ToolDecision::Approve]);
    let second =
        stream(&agent, Command::resume(vec![ToolDecision::Approve]), &mut narrator, &mut labels)
            .await;
    let StreamEvent::Done { state } = &second.last else { panic!("{:?}", second.last) };
    assert_eq!(state.answer(), Some(react_agent::ANSWER));
    assert_eq!(
        second.elapsed,
        react_agent::BOOKING_LATENCY + model_time(chunks(react_agent::ANSWER, 0))
    );
    let requests = model.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].tools, ["weather", "flights", "hotels", "book_hotel"]);
    assert_eq!(
        requests[0].system.as_deref(),
        Some("You are a travel agent. Look things up before you book anything.")
    );

    insta::assert_snapshot!(
        "react_agent_narration",
        first.narration + "--- resumed\n" + &second.narration
    );
    insta::assert_snapshot!(
        "react_agent_events",
        [first.events, second.events].concat().join("\n")
    );
    insta::assert_snapshot!("react_agent_transcript", transcript(state, &mut labels));
}

#[tokio::test(start_paused = true)]
async fn an_edited_booking_replaces_the_call_in_place_and_runs_with_the_new_arguments() {
    let agent = react_agent::graph(react_agent::model()).with_checkpointer(MemorySaver::new());
    let config = || RunConfig::default().thread_id("edit");
    let paused = agent.invoke(react_agent::question(), config()).await.unwrap();
    let request = react_agent::approval_request(&paused).unwrap();
    let proposal = paused.state().messages[5].clone();
    assert_eq!(proposal.tool_calls(), [booking(2)]);

    let edit = react_agent::decision(&request.calls[0], "3").unwrap();
    assert_eq!(edit, ToolDecision::Edit { args: json!({"hotel": "Casa do Rio", "nights": 3}) });
    let state =
        agent.invoke(Command::resume(vec![edit]), config()).await.unwrap().finished().unwrap();
    // The proposal keeps its id and its place; only its call's arguments changed.
    let edited = &state.messages[5];
    assert_eq!(edited.id(), proposal.id());
    assert_eq!(edited.content(), react_agent::PROPOSAL);
    assert_eq!(edited.tool_calls(), [booking(3)]);
    let contents: Vec<&str> = state.messages[6..].iter().map(Message::content).collect();
    assert_eq!(contents, ["Booked Casa do Rio for 3 nights, from Friday.", react_agent::ANSWER]);
}

#[tokio::test(start_paused = true)]
async fn three_lookups_cost_the_slowest_not_the_sum() {
    // ANCHOR: timing
    let agent = react_agent::graph(react_agent::model()).with_checkpointer(MemorySaver::new());
    let started = Instant::now();
    let config = RunConfig::default().thread_id("timing");
    let paused = agent.invoke(react_agent::question(), config).await.unwrap();
    assert!(paused.is_paused());
    // Without a token stream the model answers in one piece: two model calls and the
    // slowest lookup.
    assert_eq!(started.elapsed(), react_agent::MODEL_LATENCY * 2 + react_agent::FLIGHTS_LATENCY);
    // ANCHOR_END: timing
}

#[tokio::test(start_paused = true)]
async fn a_concurrency_cap_of_one_makes_the_lookups_cost_the_sum() {
    // ANCHOR: cap
    let options = NodeOptions::new().concurrency(1).timeout(Duration::from_secs(5));
    let agent = react_agent::agent(react_agent::model())
        .tool_options(options)
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new());
    // ANCHOR_END: cap
    let started = Instant::now();
    let config = RunConfig::default().thread_id("capped");
    let paused = agent.invoke(react_agent::question(), config).await.unwrap();
    assert!(paused.is_paused());
    let lookups =
        react_agent::WEATHER_LATENCY + react_agent::FLIGHTS_LATENCY + react_agent::HOTELS_LATENCY;
    assert_eq!(started.elapsed(), react_agent::MODEL_LATENCY * 2 + lookups);
}

#[test]
fn the_agent_is_drawn_with_its_approval_step() {
    let agent = react_agent::graph(react_agent::model());
    insta::assert_snapshot!("react_agent_mermaid", agent.draw_mermaid());
}

#[test]
fn a_reply_to_the_prompt_approves_or_changes_the_nights() {
    let call = booking(2);
    assert_eq!(react_agent::decision(&call, "\n"), Ok(ToolDecision::Approve));
    assert_eq!(react_agent::decision(&call, "Y"), Ok(ToolDecision::Approve));
    assert_eq!(
        react_agent::decision(&call, " 4 "),
        Ok(ToolDecision::Edit { args: json!({"hotel": "Casa do Rio", "nights": 4}) })
    );
    assert_eq!(
        react_agent::decision(&call, "maybe"),
        Err("`maybe` is neither yes nor a number of nights".to_owned())
    );
}

#[test]
fn decisions_read_as_json_for_a_user_interface() {
    let decisions = vec![
        ToolDecision::Approve,
        ToolDecision::Edit { args: json!({"nights": 3}) },
        ToolDecision::Reject { message: Some("Not this one.".into()) },
        ToolDecision::Reject { message: None },
    ];
    let as_json = json!([
        {"type": "approve"},
        {"type": "edit", "args": {"nights": 3}},
        {"type": "reject", "message": "Not this one."},
        {"type": "reject"},
    ]);
    assert_eq!(serde_json::to_value(&decisions).unwrap(), as_json);
    assert_eq!(serde_json::from_value::<Vec<ToolDecision>>(as_json).unwrap(), decisions);
}

#[tokio::test(start_paused = true)]
async fn the_narrator_puts_together_calls_streamed_in_pieces() {
    use graph_agent::testing::{ScriptedModel, Turn};
    let calls = [
        ToolCall::new("c1", "weather", json!({"city": "Porto", "day": "Sunday"})),
        ToolCall::new("c2", "hotels", json!({"city": "Porto", "nights": 1})),
    ];
    let model = ScriptedModel::new()
        .turn(Turn::tool_calls(calls).args_in_pieces_of(7))
        .streamed_words("Sunny, and two hotels.");
    let agent = react_agent::graph(model).with_checkpointer(MemorySaver::new());
    let (mut narrator, mut labels) = (Narrator::new(), Labels::default());
    let run = stream(&agent, Message::user("Porto?"), &mut narrator, &mut labels).await;
    assert!(matches!(run.last, StreamEvent::Done { .. }));
    assert_eq!(
        run.narration,
        [
            "    0 ms  model       thinking…",
            "    0 ms  model       calls weather, hotels at once",
            r#"    0 ms  ▶ weather     {"city":"Porto","day":"Sunday"}"#,
            r#"    0 ms  ▶ hotels      {"city":"Porto","nights":1}"#,
            "  120 ms  ✓ weather      120 ms  Porto on Sunday: sunny, 24°C, a light breeze from the river",
            "  200 ms  ✓ hotels       200 ms  Porto, 1 night: Casa do Rio (Alfama, 9.1/10, €95 a night); \
             Hotel Lumen (Baixa, 8.4/10, €120 a night)",
            "          320 ms of tool work done in 200 ms: the calls ran at once",
            "  200 ms  model       thinking…",
            "  200 ms  model       Sunny, and two hotels.",
            "",
        ]
        .join("\n")
    );
}
