//! Running a model's tool calls with `ToolNode`: one task per call, error policies,
//! LangGraph's `tools_condition` wiring and a tool that returns a `Command`.
//!
//! `cargo run -p graph-agent --example tool_node`

// ANCHOR: uses
use std::time::Duration;

use async_trait::async_trait;
use graph_agent::{
    route_tool_calls, tools_condition, Message, MessagesState, MessagesStateUpdate, Tool, ToolCall,
    ToolContext, ToolErrorPolicy, ToolNode, Toolbox,
};
use graph_core::prelude::*;
use graph_core::{BoxError, BuildError};
use serde_json::json;
// ANCHOR_END: uses

// ANCHOR: tool
/// Looks up a service that answers after `latency`.
struct Lookup {
    name: &'static str,
    latency: Duration,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct City {
    /// The city to look up.
    city: String,
}

#[async_trait]
impl Tool for Lookup {
    type Args = City;
    type Output = String;

    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        "Looks the city up."
    }

    async fn call(&self, args: City, _: &ToolContext) -> Result<String, BoxError> {
        tokio::time::sleep(self.latency).await;
        Ok(format!("{} for {}: ok", self.name, args.city))
    }
}

fn trip_tools() -> Toolbox<MessagesState> {
    let lookup = |name, ms| Lookup { name, latency: Duration::from_millis(ms) };
    Toolbox::new()
        .with(lookup("flights", 150))
        .with(lookup("hotels", 50))
        .with(lookup("weather", 100))
}
// ANCHOR_END: tool

// ANCHOR: per_call
/// One task per pending call, at most two at a time, each retried and timed out alone.
fn per_call_graph() -> Result<CompiledGraph<MessagesState>, BuildError> {
    let options = NodeOptions::new().concurrency(2).timeout(Duration::from_secs(10));
    StateGraph::<MessagesState>::new()
        .add_node_with("tools", ToolNode::new(trip_tools()).per_call(), options)
        .add_conditional_edges(START, route_tool_calls("tools", END), ["tools", END])
        .compile()
}
// ANCHOR_END: per_call

// ANCHOR: classic
/// LangGraph's classic wiring: `tools_condition`, then one task for the whole message; the
/// model's mistakes are answered instead of failing the run.
fn classic_graph() -> Result<CompiledGraph<MessagesState>, BuildError> {
    let tools = ToolNode::new(trip_tools()).handle_errors(ToolErrorPolicy::catch_all());
    StateGraph::<MessagesState>::new()
        .add_node("tools", tools.whole_message())
        .add_conditional_edges(START, tools_condition, ["tools", END])
        .compile()
}
// ANCHOR_END: classic

// ANCHOR: command
/// Hands the conversation to a person: answers its call, notes why, and routes to `human`.
struct Escalate;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Reason {
    /// Why a person is needed.
    reason: String,
}

#[async_trait]
impl Tool for Escalate {
    type Args = Reason;
    type Output = Command<MessagesState>;

    fn name(&self) -> &str {
        "escalate"
    }

    fn description(&self) -> &str {
        "Hands the conversation to a person."
    }

    async fn call(&self, args: Reason, ctx: &ToolContext) -> Result<Self::Output, BoxError> {
        let answer = Message::tool(ctx.call_id(), format!("A person takes over: {}.", args.reason))
            .with_name(self.name());
        let update = MessagesState::update().messages(answer.into());
        Ok(Command::new().update(update).goto("human"))
    }
}

fn escalation_graph() -> Result<CompiledGraph<MessagesState>, BuildError> {
    let tools = ToolNode::new(Toolbox::new().with(Escalate));
    StateGraph::<MessagesState>::new()
        .add_node_with("tools", tools.per_call(), NodeOptions::new().destinations(["human"]))
        .add_node("human", |_: std::sync::Arc<MessagesState>| async {
            MessagesState::update().messages(Message::user("Hello, Ana here.").into())
        })
        .add_conditional_edges(START, route_tool_calls("tools", END), ["tools", END])
        .compile()
}
// ANCHOR_END: command

/// The model's answer calling `calls`.
fn asking(calls: Vec<ToolCall>) -> MessagesStateUpdate {
    MessagesState::update().messages(Message::assistant("").with_tool_calls(calls).into())
}

/// The contents of the messages after the model's answer.
fn answers(state: &MessagesState) -> Vec<&str> {
    state.messages[1..].iter().map(|m| m.content()).collect()
}

// The simulated clock, so the timing below is exact.
#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // ANCHOR: run
    let calls = vec![
        ToolCall::new("c1", "flights", json!({"city": "Lisbon"})),
        ToolCall::new("c2", "hotels", json!({"city": "Lisbon"})),
        ToolCall::new("c3", "weather", json!({"city": "Lisbon"})),
    ];
    let start = tokio::time::Instant::now();
    let out = per_call_graph()?.invoke(asking(calls), RunConfig::default()).await?;
    let state = out.finished()?;
    // Two at a time: flights and hotels start; weather starts when hotels ends (50 ms)
    // and ends at 150 ms, with flights. The answers keep the calls' order.
    assert_eq!(start.elapsed(), Duration::from_millis(150));
    assert_eq!(
        answers(&state),
        ["flights for Lisbon: ok", "hotels for Lisbon: ok", "weather for Lisbon: ok"]
    );
    // ANCHOR_END: run

    // ANCHOR: mistakes
    let calls = vec![
        ToolCall::new("c1", "trains", json!({"city": "Porto"})),
        ToolCall::new("c2", "weather", json!({"town": "Porto"})),
    ];
    let state = classic_graph()?.invoke(asking(calls), RunConfig::default()).await?.finished()?;
    assert_eq!(
        answers(&state),
        [
            "Error: trains is not a valid tool, try one of [flights, hotels, weather].",
            "Error: Error invoking tool 'weather' with kwargs {'town': 'Porto'} with error:\n missing field `city`\n Please fix the error and try again.\n Please fix your mistakes.",
        ]
    );
    // ANCHOR_END: mistakes

    let calls = vec![ToolCall::new("c1", "escalate", json!({"reason": "a refund"}))];
    let state =
        escalation_graph()?.invoke(asking(calls), RunConfig::default()).await?.finished()?;
    assert_eq!(answers(&state), ["A person takes over: a refund.", "Hello, Ana here."]);
    println!("{}", serde_json::to_string_pretty(&state)?);
    Ok(())
}
