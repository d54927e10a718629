//! A travel agent that remembers a user across conversations and caches a slow service:
//! `cargo run -p graph-examples --example memory`.

use std::sync::Arc;

use futures::StreamExt;
use graph_agent::Message;
use graph_core::cache::MemoryCache;
use graph_core::prelude::*;
use graph_core::store::{MemoryStore, SearchQuery, Store};
use graph_core::{StreamEvent, StreamMode, Timeline};
use graph_examples::memory::{self, User};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = MemoryStore::new();
    let model = Arc::new(memory::scripted_model());
    let agent = memory::graph(model, store.clone(), MemoryCache::new())
        .with_context(User { id: "ada".into() });

    for (thread, question) in
        [("trip-1", memory::first_question()), ("trip-2", memory::second_question())]
    {
        let config = RunConfig::default()
            .thread_id(thread)
            .stream_mode(StreamMode::Values)
            .stream_mode(StreamMode::Tasks);
        let events: Vec<_> = agent.stream(question, config).collect::<Vec<_>>().await;
        let events = events.into_iter().collect::<Result<Vec<_>, _>>()?;
        let Some(StreamEvent::Done { state }) = events.last() else {
            return Err("the run did not finish".into());
        };
        println!("== thread {thread}, user ada");
        println!("remembered: {}", or_none(&state.preferences));
        for message in state.messages.iter() {
            match message {
                Message::User(m) => println!("user:  {}", m.content),
                Message::Assistant(m) if !m.tool_calls.is_empty() => {
                    let calls: Vec<String> =
                        m.tool_calls.iter().map(|c| format!("{}({})", c.name, c.args)).collect();
                    println!("model: calls {}", calls.join(", "));
                }
                Message::Tool(m) => println!("tool:  {}", m.content),
                other => println!("model: {}", other.content()),
            }
        }
        println!("{}", Timeline::from_events(&events).to_table());
    }

    let preferences = store.search(&memory::preferences_of("ada")?, &SearchQuery::new()).await?;
    let texts: Vec<String> =
        preferences.iter().map(|item| item.value["text"].to_string()).collect();
    println!("the store keeps, under users.ada.preferences: {}", texts.join(", "));
    Ok(())
}

fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "nothing yet".into()
    } else {
        items.join(", ")
    }
}
