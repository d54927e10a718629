//! The agent-loop workload: a zero-latency model asks for three tools at once on each turn,
//! then answers, so what is timed is the framework's own work per turn. The same loop
//! hand-written on bare tokio is the floor.

use async_trait::async_trait;
use graph_agent::{
    create_agent, tool, AgentState, AssistantMessage, ChatModel, ChatRequest, Message, Tool,
    ToolCall, ToolContext,
};
use graph_core::prelude::*;
use graph_core::BoxError;
use serde_json::json;

/// Calls the three tools on each of `turns` turns, then answers "done".
pub struct TripModel {
    turns: usize,
}

#[async_trait]
impl ChatModel for TripModel {
    async fn generate(&self, request: ChatRequest<'_>) -> Result<AssistantMessage, BoxError> {
        let turn = request.messages.iter().filter(|m| m.as_assistant().is_some()).count();
        if turn >= self.turns {
            return Ok(AssistantMessage { content: "done".into(), ..Default::default() });
        }
        let tool_calls = vec![
            ToolCall::new(format!("t{turn}-0"), "weather", json!({"city": "Paris"})),
            ToolCall::new(format!("t{turn}-1"), "flights", json!({"route": "LON-PAR"})),
            ToolCall::new(format!("t{turn}-2"), "hotels", json!({"city": "Paris"})),
        ];
        Ok(AssistantMessage { tool_calls, ..Default::default() })
    }
}

/// The weather in a city.
#[tool]
async fn weather(city: String) -> String {
    format!("sunny in {city}")
}

/// Direct flights on a route.
#[tool]
async fn flights(route: String) -> String {
    format!("3 flights {route}")
}

/// Hotels in a city.
#[tool]
async fn hotels(city: String) -> String {
    format!("12 hotels in {city}")
}

/// The prebuilt agent with the three tools, for `turns` tool-calling turns.
pub fn agent(turns: usize) -> CompiledGraph<AgentState> {
    create_agent(TripModel { turns })
        .tool(weather)
        .tool(flights)
        .tool(hotels)
        .compile()
        .expect("the agent is valid")
}

/// The agent's input: one question.
pub fn question() -> graph_agent::AgentStateUpdate {
    AgentState::update().messages(Message::user("Plan a trip to Paris").into())
}

/// The same loop on bare tokio: ask the model, run its calls as spawned tasks, append the
/// results in call order, until it answers. Returns the conversation.
pub async fn bare_agent(turns: usize) -> Vec<Message> {
    let model = TripModel { turns };
    let mut messages = vec![Message::user("Plan a trip to Paris")];
    loop {
        let answer = model.generate(ChatRequest::new(&messages)).await.expect("the model answers");
        let calls = answer.tool_calls.clone();
        messages.push(Message::Assistant(answer));
        if calls.is_empty() {
            return messages;
        }
        let tasks: Vec<_> = calls
            .into_iter()
            .map(|call| tokio::spawn(async move { (call.id.clone(), run(call).await) }))
            .collect();
        for task in tasks {
            let (id, output) = task.await.expect("the tool task ends");
            messages.push(Message::tool(id, output));
        }
    }
}

async fn run(call: ToolCall) -> String {
    let ctx = ToolContext::new(call.id.clone());
    let args = call.args;
    match call.name.as_str() {
        "weather" => weather.call(serde_json::from_value(args).expect("args"), &ctx).await,
        "flights" => flights.call(serde_json::from_value(args).expect("args"), &ctx).await,
        _ => hotels.call(serde_json::from_value(args).expect("args"), &ctx).await,
    }
    .expect("the tool answers")
}

/// Checks a finished conversation has every turn: the question, then per turn a call message
/// and three results, then the answer.
pub fn check(messages: &[Message], turns: usize) {
    assert_eq!(messages.len(), 2 + 4 * turns);
    assert_eq!(messages.last().map(Message::content), Some("done"));
}
