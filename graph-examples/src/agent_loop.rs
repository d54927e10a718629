//! Agent loop: a model calls tools (two at once) and reads their results, looping until it
//! answers; the recursion limit stops a model that never does. The loop is built by hand from
//! the agent layer's parts: `create_agent` builds the same loop, with a step budget.

// ANCHOR: uses
use std::sync::Arc;
use std::time::Duration;

use graph_agent::testing::ScriptedModel;
use graph_agent::{
    route_tool_calls, tool, ChatModel, ChatModelExt, ChatRequest, Message, MessagesState,
    MessagesStateUpdate, ToolCall, ToolNode, Toolbox,
};
use graph_core::prelude::*;
use graph_core::BoxError;
use serde_json::json;
// ANCHOR_END: uses

/// The driving distance between two cities.
#[tool]
async fn distance(
    /// Where from.
    from: String,
    /// Where to.
    to: String,
) -> String {
    tokio::time::sleep(Duration::from_millis(30)).await;
    format!("{from} to {to}: 344 km")
}

/// Today's weather in a city.
#[tool]
async fn weather(
    /// The city.
    city: String,
) -> String {
    tokio::time::sleep(Duration::from_millis(30)).await;
    format!("{city}: sunny")
}

fn distance_call(id: &str) -> ToolCall {
    ToolCall::new(id, "distance", json!({"from": "London", "to": "Paris"}))
}

fn weather_call(id: &str) -> ToolCall {
    ToolCall::new(id, "weather", json!({"city": "Paris"}))
}

/// A model that looks up two facts at once, then answers.
pub fn decisive_model() -> ScriptedModel {
    ScriptedModel::new()
        .latency(Duration::from_millis(20))
        .tool_calls([distance_call("call_1"), weather_call("call_2")])
        .text("Paris is 344 km from London, and it is sunny there.")
}

/// A model that never stops calling tools.
pub fn stubborn_model() -> ScriptedModel {
    ScriptedModel::new()
        .latency(Duration::from_millis(20))
        .tool_calls([weather_call("again")])
        .cycling()
}

// ANCHOR: graph
/// The agent graph: `agent` asks the model, `tools` runs each call it makes, until it answers.
pub fn graph(model: impl ChatModel + 'static) -> CompiledGraph<MessagesState> {
    let tools = Toolbox::<MessagesState>::new().with(distance).with(weather);
    let specs = tools.specs();
    let model = Arc::new(model);
    let agent = move |s: Arc<MessagesState>, ctx: NodeContext| {
        let (model, specs) = (Arc::clone(&model), specs.clone());
        async move {
            let answer = model.respond(&ctx, ChatRequest::new(&s.messages).tools(&specs)).await?;
            Ok::<MessagesStateUpdate, BoxError>(MessagesState::update().message(answer))
        }
    };
    StateGraph::<MessagesState>::new()
        .add_node("agent", agent)
        .add_node("tools", ToolNode::new(tools).per_call())
        .add_edge(START, "agent")
        // One task per pending call, or the end once the model answers without calls.
        .add_conditional_edges("agent", route_tool_calls("tools", END), ["tools", END])
        .add_edge("tools", "agent")
        .compile()
        .expect("the agent graph is valid")
}
// ANCHOR_END: graph

/// The question the examples ask.
pub fn question() -> Message {
    Message::user("How far is Paris from London, and is it sunny?")
}
