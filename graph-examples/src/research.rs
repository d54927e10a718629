//! Research agents: each topic is researched by its own sub-agent, a compiled graph with a
//! state of its own, added to the parent as a subgraph; all of them run in parallel, and a
//! model combines their summaries into one answer. Ten one-second jobs take about one second.

// ANCHOR: uses
use std::sync::Arc;
use std::time::Duration;

use graph_core::prelude::*;
use graph_core::{BoxError, Subgraph};
use serde::{Deserialize, Serialize};

use graph_agent::testing::ScriptedModel;
use graph_agent::ChatModelExt;
// ANCHOR_END: uses

// ANCHOR: sub_agent
/// A sub-agent's state: one topic, searched then summarized.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Inquiry {
    /// The topic.
    pub topic: String,
    /// What the search found.
    pub findings: String,
    /// The summary.
    pub summary: String,
}

/// The research as a whole.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Research {
    /// Topics to research.
    pub topics: Vec<String>,
    /// One summary per topic, in topic order.
    #[reducer(append)]
    pub summaries: Vec<String>,
    /// The combined answer.
    pub answer: String,
}

/// Each sub-agent's search takes this long.
pub const SEARCH_TIME: Duration = Duration::from_secs(1);

/// The sub-agent: search (one second), then summarize.
pub fn sub_agent() -> CompiledGraph<Inquiry> {
    let model = Arc::new(ScriptedModel::new().text("a short summary").cycling());
    StateGraph::<Inquiry>::new()
        .add_node("search", |s: Arc<Inquiry>| async move {
            tokio::time::sleep(SEARCH_TIME).await;
            Inquiry::update().findings(format!("three sources on {}", s.topic))
        })
        .add_node("summarize", move |s: Arc<Inquiry>| {
            let model = Arc::clone(&model);
            async move {
                let _ = model.ask(&s.findings).await?;
                Ok::<_, BoxError>(Inquiry::update().summary(format!("{}: {}", s.topic, s.findings)))
            }
        })
        .add_edge(START, "search")
        .add_edge("search", "summarize")
        .compile()
        .expect("the sub-agent graph is valid")
}
// ANCHOR_END: sub_agent

// ANCHOR: graph
/// The research graph: a planner sends one topic to each sub-agent, all in parallel; a model
/// combines their summaries.
pub fn graph() -> CompiledGraph<Research> {
    // One run of the sub-agent per `Send`: the topic in, the summary out to the parent,
    // whose `append` reducer keeps the summaries in topic order.
    let researcher = Subgraph::for_each(
        sub_agent(),
        |topic: String| Inquiry::update().topic(topic),
        |inquiry: Inquiry| Research::update().summaries(vec![inquiry.summary]),
    );
    let editor = Arc::new(
        ScriptedModel::new().text("Across ten topics, three sources each agree: ship it."),
    );
    StateGraph::<Research>::new()
        .add_node("plan", |_: Arc<Research>| async {})
        .add_subgraph("research", researcher)
        .add_node("combine", move |s: Arc<Research>| {
            let editor = Arc::clone(&editor);
            async move {
                let parts: Vec<(&str, &str)> = s
                    .topics
                    .iter()
                    .map(String::as_str)
                    .zip(s.summaries.iter().map(String::as_str))
                    .collect();
                let answer = editor.synthesize("Answer in one sentence.", &parts).await?;
                Ok::<_, BoxError>(Research::update().answer(answer))
            }
        })
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            |s: &Research| {
                s.topics
                    .iter()
                    .map(|topic| graph_core::Send::new("research", topic.clone()))
                    .collect::<Vec<_>>()
            },
            ["research"],
        )
        .add_edge("research", "combine")
        .compile()
        .expect("the research graph is valid")
}
// ANCHOR_END: graph
