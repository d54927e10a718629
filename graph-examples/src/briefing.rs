//! Briefing: sectioning with a static fan-out and fan-in.
//!
//! Weather, news and calendar are fetched at once; a join waits for all three before the
//! summary is written. Sequentially the fetches would cost the sum of their latencies; in
//! parallel they cost the slowest.

// ANCHOR: uses
use std::sync::Arc;
use std::time::Duration;

use graph_core::prelude::*;
// ANCHOR_END: uses

// ANCHOR: graph
/// The briefing being assembled.
#[derive(
    State,
    Clone,
    Debug,
    Default,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub struct Briefing {
    /// The city the briefing is for.
    pub city: String,
    /// One section per source, merged in source-name order.
    #[reducer(append)]
    pub sections: Vec<String>,
    /// The simulated latency of every fetch, summed: what a sequential run would wait.
    #[reducer(add)]
    pub sequential_ms: u64,
    /// The final text.
    pub summary: String,
}

/// A simulated tool: answers after `latency`.
async fn fetch(source: &str, latency_ms: u64, answer: String) -> BriefingUpdate {
    tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    Briefing::update().sections(vec![format!("{source}: {answer}")]).sequential_ms(latency_ms)
}

/// Weather for the city (120 ms).
pub async fn weather(s: Arc<Briefing>) -> BriefingUpdate {
    fetch("weather", 120, format!("sunny and 21°C in {}", s.city)).await
}

/// Headlines (200 ms, the slowest source).
pub async fn news(s: Arc<Briefing>) -> BriefingUpdate {
    fetch("news", 200, format!("{} opens its new riverside park", s.city)).await
}

/// Today's calendar (80 ms).
pub async fn calendar(_: Arc<Briefing>) -> BriefingUpdate {
    fetch("calendar", 80, "standup at 9:30, design review at 14:00".into()).await
}

/// Joins the sections into one text.
pub async fn summarize(s: Arc<Briefing>) -> BriefingUpdate {
    Briefing::update().summary(format!("Briefing for {}:\n- {}", s.city, s.sections.join("\n- ")))
}

/// The briefing graph: three parallel fetches joined into a summary.
pub fn graph() -> CompiledGraph<Briefing> {
    StateGraph::<Briefing>::new()
        .add_node("weather", weather)
        .add_node("news", news)
        .add_node("calendar", calendar)
        .add_node("summarize", summarize)
        .add_edge(START, "weather")
        .add_edge(START, "news")
        .add_edge(START, "calendar")
        .add_join(["weather", "news", "calendar"], "summarize")
        .add_edge("summarize", END)
        .compile()
        .expect("the briefing graph is valid")
}
// ANCHOR_END: graph

// ANCHOR: invoke
/// Runs the briefing for one city and returns the final state.
pub async fn brief(city: &str) -> Result<Briefing, GraphError> {
    let graph = graph();
    graph.invoke(Briefing::update().city(city), RunConfig::default()).await?.finished()
}
// ANCHOR_END: invoke
