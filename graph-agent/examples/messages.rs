//! Messages and the `add_messages` reducer: appending, replacing by id, removing, and a
//! conversation as a state field. Run with `cargo run -p graph-agent --example messages`.

// ANCHOR: uses
use std::sync::Arc;

use graph_agent::{add_messages, Message, Messages, MessagesState, MessagesStateUpdate};
use graph_core::prelude::*;
// ANCHOR_END: uses

// ANCHOR: state
/// A support chat: the conversation, and the topic a classifier found.
#[derive(State, Clone, Debug, Default)]
struct Support {
    #[reducer(with = add_messages)]
    messages: Messages,
    topic: Option<String>,
}
// ANCHOR_END: state

fn texts(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(Message::content).collect()
}

fn rules() {
    // ANCHOR: rules
    let mut chat = Messages::from(vec![
        Message::user("Where is my parcel?").with_id("q1"),
        Message::assistant("Let me check.").with_id("a1"),
    ]);
    // A new id is appended; a known id is replaced where it stands.
    let update = vec![
        Message::assistant("Let me check your order.").with_id("a1"),
        Message::assistant("It left the depot today.").with_id("a2"),
    ];
    add_messages(&mut chat, update.into()).unwrap();
    assert_eq!(
        texts(&chat),
        ["Where is my parcel?", "Let me check your order.", "It left the depot today."]
    );

    // Removals apply after the rest of the update; an unknown id is refused.
    add_messages(&mut chat, Message::remove("a1").into()).unwrap();
    assert_eq!(texts(&chat), ["Where is my parcel?", "It left the depot today."]);
    let refused = add_messages(&mut chat, Message::remove("a1").into()).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "Attempting to delete a message with an ID that doesn't exist ('a1')"
    );

    // Everything after the last remove-all marker replaces the list.
    let summary = vec![Message::remove_all(), Message::system("Summary: parcel shipped.")];
    add_messages(&mut chat, summary.into()).unwrap();
    assert_eq!(texts(&chat), ["Summary: parcel shipped."]);
    // ANCHOR_END: rules
}

// ANCHOR: graph
async fn answer(s: Arc<MessagesState>) -> MessagesStateUpdate {
    let question = s.messages.last().map(Message::content).unwrap_or_default();
    MessagesState::update().message(Message::assistant(format!("You asked: {question}")))
}

async fn chat() -> Result<(), Box<dyn std::error::Error>> {
    let graph = StateGraph::<MessagesState>::new()
        .add_node("answer", answer)
        .add_edge(START, "answer")
        .compile()?;
    // A run can start from one message.
    let out = graph.invoke(Message::user("Is it raining?"), RunConfig::default()).await?;
    let state = out.finished()?;
    assert_eq!(texts(&state.messages), ["Is it raining?", "You asked: Is it raining?"]);
    // Messages without an id got one, the same on every run.
    assert!(state.messages.iter().all(|m| m.id().is_some()));
    Ok(())
}
// ANCHOR_END: graph

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    rules();
    chat().await?;
    let support = Support::default();
    assert!(support.messages.is_empty() && support.topic.is_none());
    println!("messages: every rule held");
    Ok(())
}
