//! A travel agent built with `create_agent`: the model looks up the weather, flights and
//! hotels at once, proposes a booking that waits for a person's approval, and streams its
//! answer word by word.
//!
//! The model is scripted (`graph_agent::testing::ScriptedModel`), so the example runs
//! offline and its tests are exact; swap in any `ChatModel` to talk to a real one.

// ANCHOR: uses
use std::collections::HashMap;
use std::time::Duration;

use graph_agent::testing::{ScriptedModel, Turn};
use graph_agent::{
    create_agent, tool, AgentBuilder, AgentState, ApprovalRequest, AssistantMessage, ChatModel,
    Message, StreamedMessage, StreamedPayload, ToolCall, ToolDecision,
};
use graph_core::prelude::*;
use graph_core::{StreamEvent, TaskId, TaskPath};
use serde_json::json;
// ANCHOR_END: uses

/// How long the weather service takes to answer.
pub const WEATHER_LATENCY: Duration = Duration::from_millis(120);
/// How long the flight search takes to answer: the slowest tool.
pub const FLIGHTS_LATENCY: Duration = Duration::from_millis(300);
/// How long the hotel search takes to answer.
pub const HOTELS_LATENCY: Duration = Duration::from_millis(200);
/// How long a booking takes.
pub const BOOKING_LATENCY: Duration = Duration::from_millis(150);
/// How long the model thinks before its first chunk.
pub const MODEL_LATENCY: Duration = Duration::from_millis(400);
/// How long the model takes for each chunk (a word, or a tool call) it streams.
pub const CHUNK_LATENCY: Duration = Duration::from_millis(40);

// ANCHOR: tools
/// The weather forecast for a city on a given day.
#[tool]
pub async fn weather(
    /// The city's English name.
    city: String,
    /// The day, like "Saturday".
    day: String,
) -> String {
    tokio::time::sleep(WEATHER_LATENCY).await;
    format!("{city} on {day}: sunny, 24°C, a light breeze from the river")
}

/// Flights between two cities on a given day, cheapest first.
#[tool]
pub async fn flights(
    /// Where the flight leaves from.
    from: String,
    /// Where it lands.
    to: String,
    /// The day, like "Friday".
    day: String,
) -> String {
    tokio::time::sleep(FLIGHTS_LATENCY).await;
    format!("{from} to {to} on {day}: TP1351 18:05-20:40 €142; BA500 19:20-22:00 €168")
}

/// Hotels in a city with rooms free for a number of nights, best rated first.
#[tool]
pub async fn hotels(
    /// The city's English name.
    city: String,
    /// How many nights.
    nights: u32,
) -> String {
    tokio::time::sleep(HOTELS_LATENCY).await;
    format!(
        "{city}, {}: Casa do Rio (Alfama, 9.1/10, €95 a night); \
         Hotel Lumen (Baixa, 8.4/10, €120 a night)",
        count_nights(nights)
    )
}

/// Books a room. It spends the traveller's money, so a person approves each call.
#[tool]
pub async fn book_hotel(
    /// The hotel's name, as `hotels` gave it.
    hotel: String,
    /// How many nights.
    nights: u32,
) -> String {
    tokio::time::sleep(BOOKING_LATENCY).await;
    format!("Booked {hotel} for {}, from Friday.", count_nights(nights))
}

/// "1 night", "2 nights".
fn count_nights(nights: u32) -> String {
    format!("{nights} night{}", if nights == 1 { "" } else { "s" })
}
// ANCHOR_END: tools

/// What the traveller asks.
pub const QUESTION: &str =
    "Plan me a weekend in Lisbon: I fly from London on Friday and I want a nice hotel.";

/// What the model says before it proposes the booking.
pub const PROPOSAL: &str = "Casa do Rio has the best reviews and costs €95 a night. \
     I will book it for two nights.";

/// The model's final answer.
pub const ANSWER: &str = "Your Lisbon weekend is ready. Saturday will be sunny and 24°C. \
     Take TP1351 on Friday at 18:05 (€142): it lands at 20:40. \
     Your room at Casa do Rio, in Alfama, is booked. Enjoy the pastéis de nata!";

// ANCHOR: model
/// The scripted model: three lookups at once, a booking to approve, then the answer, each
/// streamed chunk by chunk after `MODEL_LATENCY`, one chunk every `CHUNK_LATENCY`.
pub fn model() -> ScriptedModel {
    scripted(lookups(), PROPOSAL, ANSWER)
}

/// The weather, flights and hotels lookups the scripted model asks for.
pub fn lookups() -> Vec<ToolCall> {
    vec![
        ToolCall::new("call_weather", "weather", json!({"city": "Lisbon", "day": "Saturday"})),
        ToolCall::new(
            "call_flights",
            "flights",
            json!({"from": "London", "to": "Lisbon", "day": "Friday"}),
        ),
        ToolCall::new("call_hotels", "hotels", json!({"city": "Lisbon", "nights": 2})),
    ]
}

/// A scripted model at the example's pace: `lookups` at once, then `proposal` with a
/// two-night booking of Casa do Rio, then `answer`, streamed word by word.
pub fn scripted(lookups: Vec<ToolCall>, proposal: &str, answer: &str) -> ScriptedModel {
    let booking = AssistantMessage {
        content: proposal.into(),
        tool_calls: vec![ToolCall::new(
            "call_booking",
            "book_hotel",
            json!({"hotel": "Casa do Rio", "nights": 2}),
        )],
        ..Default::default()
    };
    ScriptedModel::new()
        .latency(MODEL_LATENCY)
        .chunk_latency(CHUNK_LATENCY)
        .tool_calls(lookups)
        .turn(Turn::message(booking).words())
        .streamed_words(answer)
}
// ANCHOR_END: model

// ANCHOR: agent
/// The travel agent around `model`: four tools, and bookings wait for a person.
pub fn agent(model: impl ChatModel + 'static) -> AgentBuilder {
    create_agent(model)
        .system_prompt("You are a travel agent. Look things up before you book anything.")
        .tool(weather)
        .tool(flights)
        .tool(hotels)
        .tool(book_hotel)
        .approve(["book_hotel"])
}

/// The compiled agent; add a checkpointer before running it, since approvals pause the run.
pub fn graph(model: impl ChatModel + 'static) -> CompiledGraph<AgentState> {
    agent(model).compile().expect("the travel agent is valid")
}
// ANCHOR_END: agent

/// The traveller's question as the message that starts a run.
pub fn question() -> Message {
    Message::user(QUESTION)
}

/// Reads the approval request out of a paused run.
pub fn approval_request(outcome: &RunOutcome<AgentState>) -> Option<ApprovalRequest> {
    let interrupt = outcome.interrupts().iter().find(|i| i.node == "approval")?;
    serde_json::from_value(interrupt.value.clone()).ok()
}

// ANCHOR: decision
/// A person's reply to an approval prompt, as a decision on a `book_hotel` call: empty or
/// `y` approves, a number books that many nights instead.
pub fn decision(call: &ToolCall, reply: &str) -> Result<ToolDecision, String> {
    let reply = reply.trim();
    if reply.is_empty() || reply.eq_ignore_ascii_case("y") || reply.eq_ignore_ascii_case("yes") {
        return Ok(ToolDecision::Approve);
    }
    let nights: u32 =
        reply.parse().map_err(|_| format!("`{reply}` is neither yes nor a number of nights"))?;
    let mut args = call.args.clone();
    args["nights"] = json!(nights);
    Ok(ToolDecision::Edit { args })
}
// ANCHOR_END: decision

/// A call of the model's last answer, as far as its chunks told.
#[derive(Debug, Clone, Default)]
struct Asked {
    id: String,
    name: String,
    args: String,
}

/// Turns a streamed run into text for a terminal: the model's words as they arrive, each
/// tool call as it starts and finishes with its timing, and what parallel calls saved.
///
/// Feed it every event with the time since the run started; it returns what to print
/// (often a part of a line: streamed words come without newlines).
#[derive(Debug, Default)]
pub struct Narrator {
    /// The calls of the model's last answer, in order: the `i`-th `Send` of the next tools
    /// step runs the `i`-th call still pending.
    asked: Vec<Asked>,
    /// The id of the answer the model is streaming (or streamed last).
    answer: Option<String>,
    /// Whether a line of streamed words is open.
    speaking: bool,
    /// The tool each running task runs, and its result once it came.
    running: HashMap<TaskId, (String, Option<String>)>,
    /// The durations of the current tools step's calls.
    work: Vec<Duration>,
    /// When the current tools step's first call started and its last one ended.
    span: (Option<Duration>, Duration),
}

impl Narrator {
    /// A narrator for a new run.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a person's decisions on the calls of `request` into account: an edited call
    /// runs with its new arguments, a rejected one does not run.
    pub fn decided(&mut self, request: &ApprovalRequest, decisions: &[ToolDecision]) {
        for (call, decision) in request.calls.iter().zip(decisions) {
            match decision {
                ToolDecision::Approve => {}
                ToolDecision::Edit { args } => {
                    for asked in self.asked.iter_mut().filter(|a| a.id == call.id) {
                        asked.args = args.to_string();
                    }
                }
                ToolDecision::Reject { .. } => self.asked.retain(|a| a.id != call.id),
            }
        }
    }

    /// What to print for `event`, which arrived `at` after the run started.
    pub fn narrate(&mut self, at: Duration, event: &StreamEvent<AgentState>) -> String {
        let stamp = format!("{:>5} ms  ", at.as_millis());
        match event {
            StreamEvent::TaskStart { node, .. } if &**node == "model" => {
                let mut out = self.tools_summary();
                out.push_str(&format!("{stamp}model       thinking…\n"));
                out
            }
            StreamEvent::TaskStart { node, task_id, .. } if &**node == "tools" => {
                let Asked { name, args, .. } = match task_id.path() {
                    TaskPath::Push(index) => self.asked.get(*index).cloned(),
                    TaskPath::Pull(_) => None,
                }
                .unwrap_or_else(|| Asked { name: "a tool".into(), ..Default::default() });
                self.span.0.get_or_insert(at);
                let line = format!("{stamp}▶ {name:<11} {args}\n");
                self.running.insert(task_id.clone(), (name, None));
                line
            }
            StreamEvent::Message { .. } => self.message(&stamp, event),
            StreamEvent::TaskEnd { node, task_id, duration, error, .. } => match &**node {
                "model" => {
                    let mut out = String::new();
                    if std::mem::take(&mut self.speaking) {
                        out.push('\n');
                    }
                    if let Some(error) = error {
                        out.push_str(&format!("{stamp}model failed: {error}\n"));
                    } else if !self.asked.is_empty() {
                        let names: Vec<&str> = self.asked.iter().map(|a| a.name.as_str()).collect();
                        let how = if names.len() > 1 { " at once" } else { "" };
                        out.push_str(&format!(
                            "{stamp}model       calls {}{how}\n",
                            names.join(", ")
                        ));
                    }
                    out
                }
                "tools" => {
                    let (name, result) = self.running.remove(task_id).unwrap_or_default();
                    self.work.push(*duration);
                    self.span.1 = at;
                    let result = match (error, result) {
                        (Some(error), _) => format!("failed: {error}"),
                        (None, result) => result.unwrap_or_default(),
                    };
                    format!("{stamp}✓ {name:<11} {:>4} ms  {result}\n", duration.as_millis())
                }
                _ => String::new(),
            },
            StreamEvent::Paused { .. } | StreamEvent::Done { .. } => {
                let mut out = self.tools_summary();
                if std::mem::take(&mut self.speaking) {
                    out.insert(0, '\n');
                }
                out
            }
            _ => String::new(),
        }
    }

    /// A model's chunk, or a tool's result.
    fn message(&mut self, stamp: &str, event: &StreamEvent<AgentState>) -> String {
        let Ok(Some(streamed)) = StreamedMessage::from_event(event) else { return String::new() };
        match &streamed.payload {
            StreamedPayload::Chunk(chunk) => {
                if self.answer != chunk.id {
                    // A new answer: its calls replace the last one's.
                    self.answer.clone_from(&chunk.id);
                    self.asked.clear();
                }
                let mut out = String::new();
                if !self.speaking && !chunk.content.is_empty() {
                    out.push_str(&format!("{stamp}model       "));
                    self.speaking = true;
                }
                out.push_str(&chunk.content);
                for call in &chunk.tool_calls {
                    if self.asked.len() <= call.index {
                        self.asked.resize(call.index + 1, Default::default());
                    }
                    let slot = &mut self.asked[call.index];
                    if let Some(id) = &call.id {
                        slot.id.clone_from(id);
                    }
                    if let Some(name) = &call.name {
                        slot.name.clone_from(name);
                    }
                    slot.args.push_str(&call.args);
                }
                out
            }
            StreamedPayload::Message(Message::Tool(result)) => {
                if let Some(running) = self.running.get_mut(&streamed.task_id) {
                    running.1 = Some(result.content.clone());
                }
                String::new()
            }
            StreamedPayload::Message(_) => String::new(),
        }
    }

    /// After a tools step: how long the calls took together, against their sum.
    fn tools_summary(&mut self) -> String {
        let (Some(start), end) = self.span else { return String::new() };
        let work: Duration = std::mem::take(&mut self.work).iter().sum();
        self.span = (None, Duration::ZERO);
        let wall = end.saturating_sub(start);
        let blank = " ".repeat(10);
        if work > wall {
            format!(
                "{blank}{} ms of tool work done in {} ms: the calls ran at once\n",
                work.as_millis(),
                wall.as_millis()
            )
        } else {
            String::new()
        }
    }
}
