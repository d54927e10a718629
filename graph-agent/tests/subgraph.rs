//! Agents as subgraphs: a prebuilt agent inside a parent graph over the same conversation,
//! its messages reaching the parent once, a removal crossing the boundary, and the child's
//! model tokens streamed with their namespace.

use std::sync::Arc;

use futures::StreamExt;
use graph_agent::testing::{FakeTool, ScriptedModel};
use graph_agent::{create_agent, AgentState, HasMessages, Message, StreamedMessage, ToolCall};
use graph_core::prelude::*;
use graph_core::StreamMode;
use serde_json::json;

fn agent() -> CompiledGraph<AgentState> {
    let model = ScriptedModel::new()
        .tool_calls([ToolCall::new("c1", "weather", json!({ "city": "Oslo" }))])
        .streamed_words("Snow in Oslo.");
    create_agent(model).tool(FakeTool::new("weather").output("snow")).compile().unwrap()
}

/// The parent: the agent, then a node that notes how many messages it saw.
fn parent(child: CompiledGraph<AgentState>) -> CompiledGraph<AgentState> {
    StateGraph::<AgentState>::new()
        .add_subgraph("agent", child)
        .add_node("note", |s: Arc<AgentState>| async move {
            AgentState::add(vec![Message::system(format!("{} messages", s.messages().len()))])
        })
        .add_edge(START, "agent")
        .add_edge("agent", "note")
        .compile()
        .unwrap()
}

fn contents(state: &AgentState) -> Vec<String> {
    let role = |m: &Message| match serde_json::to_value(m).unwrap()["role"].as_str() {
        Some(role) => role.to_owned(),
        None => "?".to_owned(),
    };
    state.messages().iter().map(|m| format!("{}: {}", role(m), m.content())).collect()
}

#[tokio::test]
async fn an_agent_subgraph_adds_its_messages_to_the_parent_once() {
    let question = Message::user("Weather in Oslo?").with_id("q1");
    let out = parent(agent()).invoke(question, RunConfig::default()).await.unwrap();
    let out = out.finished().unwrap();
    assert_eq!(
        contents(&out),
        [
            "user: Weather in Oslo?",
            "assistant: ",
            "tool: snow",
            "assistant: Snow in Oslo.",
            "system: 4 messages",
        ]
    );
}

#[tokio::test]
async fn a_message_removed_inside_the_child_is_removed_in_the_parent() {
    let child = StateGraph::<AgentState>::new()
        .add_node("forget", |_: Arc<AgentState>| async {
            AgentState::add(vec![Message::remove("old"), Message::assistant("forgotten")])
        })
        .add_edge(START, "forget")
        .compile()
        .unwrap();
    let start = AgentState {
        messages: vec![Message::user("secret").with_id("old"), Message::user("kept").with_id("k")]
            .into(),
        ..AgentState::default()
    };
    let out = parent(child).invoke(start, RunConfig::default()).await.unwrap();
    assert_eq!(
        contents(&out.finished().unwrap()),
        ["user: kept", "assistant: forgotten", "system: 2 messages"]
    );
}

#[tokio::test]
async fn the_childs_model_tokens_stream_with_its_namespace() {
    let config = RunConfig::default().stream_mode(StreamMode::Messages);
    let question = Message::user("Weather in Oslo?").with_id("q1");
    let events: Vec<_> = parent(agent()).stream(question, config).collect().await;
    let mut tokens = String::new();
    let mut namespaces = Vec::new();
    for event in events {
        // The same reader as for the root run's messages; the namespace says where from.
        let Some(message) = StreamedMessage::from_event(&event.unwrap()).unwrap() else {
            continue;
        };
        namespaces.push(format!("{} {}", message.namespace, message.node));
        if message.node.as_ref() == "model" {
            tokens.push_str(message.text());
        }
    }
    assert!(tokens.ends_with("Snow in Oslo."), "{tokens:?}");
    namespaces.dedup();
    assert_eq!(namespaces, ["agent:0:agent model", "agent:0:agent tools", "agent:0:agent model"]);
}
