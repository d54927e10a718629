//! Parallel tool calls in one agent turn: the model asks for five calls at once, they run
//! two at a time under a concurrency cap, their results come back in call order, and the
//! dependent steps (summarize, then translate) wait for their input.

// ANCHOR: uses
use std::sync::Arc;
use std::time::Duration;

use graph_agent::testing::ScriptedModel;
use graph_agent::{
    add_messages, route_tool_calls, tool, ChatModelExt, ChatRequest, HasMessages, Message,
    Messages, ToolCall, ToolNode, Toolbox,
};
use graph_core::prelude::*;
use graph_core::BoxError;
use serde::{Deserialize, Serialize};
use serde_json::json;
// ANCHOR_END: uses

// ANCHOR: state
/// One agent turn: the conversation, then what is made of the tools' results.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trip {
    /// The request, the model's calls and the tools' results, in call order.
    #[reducer(with = add_messages)]
    pub messages: Messages,
    /// The results, summarized.
    pub summary: String,
    /// The summary, translated.
    pub translation: String,
}

/// How the agent layer reads and writes the conversation of a `Trip`.
impl HasMessages for Trip {
    fn messages(&self) -> &[Message] {
        &self.messages
    }

    fn add(messages: Vec<Message>) -> TripUpdate {
        Trip::update().messages(messages.into())
    }

    fn messages_in(update: &TripUpdate) -> &[Message] {
        update.messages.as_deref().unwrap_or_default()
    }
}
// ANCHOR_END: state

/// At most this many tool calls run at once (a rate-limited API).
pub const MAX_PARALLEL_CALLS: usize = 2;

// ANCHOR: tools
/// Today's weather in a city.
#[tool]
async fn weather(city: String) -> String {
    tokio::time::sleep(Duration::from_millis(100)).await;
    format!("{city}: 18°C, light rain")
}

/// Direct flights on a route such as `Paris-Lisbon`.
#[tool]
async fn flights(route: String) -> String {
    tokio::time::sleep(Duration::from_millis(100)).await;
    format!("{route}: 3 direct flights")
}

/// Hotels in a city.
#[tool]
async fn hotels(city: String) -> String {
    tokio::time::sleep(Duration::from_millis(100)).await;
    format!("{city}: 12 hotels under 150 EUR")
}
// ANCHOR_END: tools

/// Summarizes `text` (50 ms).
async fn summarize(text: &str) -> String {
    tokio::time::sleep(Duration::from_millis(50)).await;
    format!("In short: {text}")
}

/// Translates `text` to French (50 ms).
async fn translate(text: &str) -> String {
    tokio::time::sleep(Duration::from_millis(50)).await;
    format!("[fr] {text}")
}

/// The user's request, as a run's input.
pub fn request() -> TripUpdate {
    Trip::add(vec![Message::user("Plan a trip to Lisbon")])
}

/// A model that asks for the five calls of a trip to Lisbon at once.
pub fn model() -> ScriptedModel {
    let call = |id: &str, name: &str, args| ToolCall::new(id, name, args);
    ScriptedModel::new().tool_calls([
        call("call_0", "weather", json!({"city": "Lisbon"})),
        call("call_1", "flights", json!({"route": "Paris-Lisbon"})),
        call("call_2", "hotels", json!({"city": "Lisbon"})),
        call("call_3", "weather", json!({"city": "Paris"})),
        call("call_4", "flights", json!({"route": "Lisbon-Paris"})),
    ])
}

// ANCHOR: graph
/// The turn graph: the model asks, the calls run (two at a time), then summarize, translate.
pub fn graph(model: ScriptedModel) -> CompiledGraph<Trip> {
    let tools = Toolbox::<Trip>::new().with(weather).with(flights).with(hotels);
    let specs = tools.specs();
    let model = Arc::new(model);
    StateGraph::<Trip>::new()
        .add_node("agent", move |s: Arc<Trip>, ctx: NodeContext| {
            let (model, specs) = (Arc::clone(&model), specs.clone());
            async move {
                let asked =
                    model.respond(&ctx, ChatRequest::new(&s.messages).tools(&specs)).await?;
                Ok::<_, BoxError>(Trip::add(vec![asked.into()]))
            }
        })
        .add_node_with(
            "tools",
            ToolNode::new(tools).per_call(),
            NodeOptions::new().concurrency(MAX_PARALLEL_CALLS),
        )
        .add_node("summarize", |s: Arc<Trip>| async move {
            let results: Vec<&str> =
                s.messages.iter().filter(|m| m.as_tool().is_some()).map(Message::content).collect();
            Trip::update().summary(summarize(&results.join("; ")).await)
        })
        .add_node("translate", |s: Arc<Trip>| async move {
            Trip::update().translation(translate(&s.summary).await)
        })
        .add_edge(START, "agent")
        // One task per call, in call order.
        .add_conditional_edges("agent", route_tool_calls("tools", END), ["tools", END])
        .add_edge("tools", "summarize")
        .add_edge("summarize", "translate")
        .add_edge("translate", END)
        .compile()
        .expect("the tool-call graph is valid")
}
// ANCHOR_END: graph
