//! The memory example: the store carries a preference from one thread to the next, for one
//! user only, and the slow forecast runs once per city.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use graph_agent::testing::ScriptedModel;
use graph_core::cache::MemoryCache;
use graph_core::prelude::*;
use graph_core::store::{MemoryStore, SearchQuery, Store};
use graph_core::{StreamEvent, StreamMode};
use graph_examples::memory::{self, Trip, TripUpdate, User};
use tokio::time::Instant;

/// Runs one conversation; returns its final state, `(node, cached)` per update, and how long
/// it took on tokio's clock.
async fn converse(
    agent: &CompiledGraph<Trip, User>,
    thread: &str,
    question: TripUpdate,
) -> (Trip, Vec<(String, bool)>, Duration) {
    let config = RunConfig::default().thread_id(thread).stream_mode(StreamMode::Updates);
    let started = Instant::now();
    let events: Vec<_> = agent.stream(question, config).collect().await;
    let elapsed = started.elapsed();
    let mut updates = Vec::new();
    let mut state = None;
    for event in events {
        match event.unwrap() {
            StreamEvent::Update { node, cached, .. } => updates.push((node.to_string(), cached)),
            StreamEvent::Done { state: done } => state = Some(done),
            _ => {}
        }
    }
    (state.expect("the run finished"), updates, elapsed)
}

fn updates(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    list.iter().map(|(node, cached)| (node.to_string(), *cached)).collect()
}

#[tokio::test(start_paused = true)]
async fn a_preference_stated_in_one_thread_shapes_the_next_and_the_forecast_is_cached() {
    let store = MemoryStore::new();
    let model = Arc::new(memory::scripted_model());
    let shared: Arc<dyn graph_agent::ChatModel> = model.clone();
    let agent = memory::graph(shared, store.clone(), MemoryCache::new())
        .with_context(User { id: "ada".into() });

    let (first, first_updates, first_took) =
        converse(&agent, "trip-1", memory::first_question()).await;
    assert_eq!(first.preferences, Vec::<String>::new());
    assert_eq!(first.forecast, "Lyon: sunny, 24°C");
    assert_eq!(first.messages.len(), 4);
    assert_eq!(first.messages[2].content(), "noted: vegetarian");
    assert_eq!(
        first_updates,
        // Updates stream as tasks finish: the recall first, the slow forecast after it.
        updates(&[
            ("recall", false),
            ("forecast", false),
            ("agent", false),
            ("tools", false),
            ("agent", false)
        ])
    );
    // The forecast and the recall run side by side, then two model calls of 20 ms.
    assert_eq!(first_took, memory::FORECAST_LATENCY + Duration::from_millis(40));

    let (second, second_updates, second_took) =
        converse(&agent, "trip-2", memory::second_question()).await;
    assert_eq!(second.preferences, ["vegetarian"]);
    assert_eq!(second.forecast, "Lyon: sunny, 24°C");
    assert_eq!(
        second.messages.last().unwrap().content(),
        "Welcome back! Sunny in Lyon again: a vegetarian dinner at Les Halles?"
    );
    assert_eq!(second_updates, updates(&[("forecast", true), ("recall", false), ("agent", false)]));
    assert_eq!(second_took, Duration::from_millis(20), "the forecast came from the cache");

    insta::assert_json_snapshot!("memory_second_thread", second);
    let system = model.requests()[2].system.clone().unwrap();
    assert_eq!(
        system,
        "You plan trips. Forecast: Lyon: sunny, 24°C. Known preferences: vegetarian."
    );
    let ada = memory::preferences_of("ada").unwrap();
    let stored = store.search(&ada, &SearchQuery::new()).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].key, "vegetarian");
    assert_eq!(stored[0].value, serde_json::json!({ "text": "vegetarian" }));
}

#[tokio::test(start_paused = true)]
async fn another_user_does_not_see_ada_s_preferences() {
    let store = MemoryStore::new();
    let agent =
        memory::graph(Arc::new(memory::scripted_model()), store.clone(), MemoryCache::new());
    let ada = agent.with_context(User { id: "ada".into() });
    converse(&ada, "ada-1", memory::first_question()).await;

    let model = ScriptedModel::new().text("Lyon is sunny. Any food preferences?");
    let grace = memory::graph(Arc::new(model), store, MemoryCache::new())
        .with_context(User { id: "grace".into() });
    let (state, _, _) = converse(&grace, "grace-1", memory::second_question()).await;
    assert_eq!(state.preferences, Vec::<String>::new());
}
