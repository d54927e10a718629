//! Drawing subgraphs: each subgraph node as a nested Mermaid block holding the subgraph's own
//! drawing (to any depth), or as one subroutine-shaped node when collapsed.

use std::collections::HashSet;

use graph_core::Subgraph;
// ANCHOR: uses
use std::sync::Arc;

use graph_core::prelude::*;
use graph_core::{BuildError, MermaidOptions};
// ANCHOR_END: uses

// ANCHOR: state
/// A document, one line per step that worked on it.
#[derive(State, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Doc {
    #[reducer(append)]
    lines: Vec<String>,
}

/// A node that appends `line` to the document.
fn note(line: &'static str) -> impl Fn(Arc<Doc>) -> std::future::Ready<DocUpdate> + Send + Sync {
    move |_| std::future::ready(Doc::update().lines(vec![line.to_owned()]))
}
// ANCHOR_END: state

// ANCHOR: shared
/// A writer subgraph, over the parent's own state, between two of the parent's edges.
fn shared_state() -> Result<CompiledGraph<Doc>, BuildError> {
    let writer = StateGraph::<Doc>::new()
        .add_node("draft", note("draft"))
        .add_node("polish", note("polished"))
        .add_edge(START, "draft")
        .add_edge("draft", "polish")
        .add_edge("polish", END)
        .compile()?;
    StateGraph::<Doc>::new()
        .add_subgraph("writer", writer)
        .add_node("publish", note("published"))
        .add_edge(START, "writer")
        .add_edge("writer", "publish")
        .add_edge("publish", END)
        .compile()
}
// ANCHOR_END: shared

// ANCHOR: collapsed
/// The graph with each subgraph drawn as one node, its insides left out.
fn collapsed<S: State>(graph: &CompiledGraph<S>) -> String {
    graph.draw_mermaid_with(MermaidOptions::new().collapse_subgraphs(true))
}
// ANCHOR_END: collapsed

/// Three levels, with a node named `draft` on two of them and a name Mermaid must not read
/// as syntax on the deepest; the middle level loops back through a conditional edge.
fn nested() -> Result<CompiledGraph<Doc>, BuildError> {
    let proofread = StateGraph::<Doc>::new()
        .add_node("check \"spelling\" <fast>", note("checked"))
        .add_edge(START, "check \"spelling\" <fast>")
        .add_edge("check \"spelling\" <fast>", END)
        .compile()?;
    let editor = StateGraph::<Doc>::new()
        .add_node("draft", note("draft"))
        .add_subgraph("proofread", proofread)
        .add_edge(START, "draft")
        .add_edge("draft", "proofread")
        .add_conditional_edges(
            "proofread",
            |doc: &Doc| if doc.lines.len() < 4 { "draft" } else { END },
            ["draft", END],
        )
        .compile()?;
    StateGraph::<Doc>::new()
        .add_node("draft", note("outline"))
        .add_subgraph("editor", editor)
        .add_edge(START, "draft")
        .add_edge("draft", "editor")
        .add_edge("editor", END)
        .compile()
}

/// A report whose sections are written by one subgraph call per topic.
#[derive(State, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Report {
    topics: Vec<String>,
    #[reducer(append)]
    sections: Vec<String>,
}

/// The state of one section's subgraph.
#[derive(State, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Section {
    topic: String,
    text: String,
}

/// A router sends each topic to a `Subgraph::for_each`; a deferred node assembles the report.
fn per_topic() -> Result<CompiledGraph<Report>, BuildError> {
    let section = StateGraph::<Section>::new()
        .add_node("research", |s: Arc<Section>| async move {
            Section::update().text(format!("notes on {}", s.topic))
        })
        .add_node("write", |s: Arc<Section>| async move {
            Section::update().text(format!("{} (written)", s.text))
        })
        .add_edge(START, "research")
        .add_edge("research", "write")
        .add_edge("write", END)
        .compile()?;
    let sections = Subgraph::for_each(
        section,
        |topic: String| Section { topic, ..Section::default() },
        |section: Section| Report::update().sections(vec![section.text]),
    );
    StateGraph::<Report>::new()
        .add_node("plan", |_: Arc<Report>| async {
            Report::update().topics(vec!["rust".into(), "graphs".into()])
        })
        .add_subgraph("section", sections)
        .add_node_with(
            "assemble",
            |_: Arc<Report>| async { ReportUpdate::default() },
            NodeOptions::new().defer(),
        )
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            |report: &Report| {
                let topic = |t: &String| graph_core::Send::new("section", t.clone());
                report.topics.iter().map(topic).collect::<Vec<_>>()
            },
            ["section"],
        )
        .add_edge("section", "assemble")
        .add_edge("assemble", END)
        .compile()
}

/// The ids a chart declares, in order: its nodes' (`id[...]`, `id(...)`) and its subgraph
/// blocks' (`subgraph id[...]`). Edge lines name ids without brackets.
fn declared_ids(chart: &str) -> Vec<&str> {
    chart
        .lines()
        .map(str::trim)
        .map(|line| line.strip_prefix("subgraph ").unwrap_or(line))
        .filter_map(|line| line.find(['[', '(']).map(|shape| &line[..shape]))
        .filter(|id| !id.contains(' '))
        .collect()
}

#[test]
fn a_shared_state_subgraph_is_a_block_between_the_parents_edges() -> Result<(), BuildError> {
    insta::assert_snapshot!(shared_state()?.draw_mermaid());
    Ok(())
}

#[test]
fn a_subgraph_of_a_subgraph_nests_its_block_with_prefixed_ids() -> Result<(), BuildError> {
    insta::assert_snapshot!(nested()?.draw_mermaid());
    Ok(())
}

#[test]
fn a_for_each_subgraph_is_a_send_target_labelled_with_its_payload() -> Result<(), BuildError> {
    insta::assert_snapshot!(per_topic()?.draw_mermaid());
    Ok(())
}

#[test]
fn collapsed_subgraphs_are_single_subroutine_nodes() -> Result<(), BuildError> {
    insta::assert_snapshot!("collapsed_nested", collapsed(&nested()?));
    insta::assert_snapshot!("collapsed_per_topic", collapsed(&per_topic()?));
    Ok(())
}

#[test]
fn every_id_is_declared_once_across_levels() -> Result<(), BuildError> {
    let charts =
        [shared_state()?.draw_mermaid(), nested()?.draw_mermaid(), per_topic()?.draw_mermaid()];
    for chart in &charts {
        let ids = declared_ids(chart);
        let unique: HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "an id is declared twice in:\n{chart}");
    }
    // The deepest level: a node inside `proofread` (n1_n1) inside `editor` (n1).
    assert_eq!(
        declared_ids(&charts[1]),
        [
            "__start__",
            "n0",
            "n1",
            "n1_start",
            "n1_n0",
            "n1_n1",
            "n1_n1_start",
            "n1_n1_n0",
            "n1_n1_end",
            "n1_end",
            "__end__"
        ]
    );
    Ok(())
}

#[test]
fn without_subgraphs_collapsing_changes_nothing() -> Result<(), BuildError> {
    let graph = StateGraph::<Doc>::new()
        .add_node("draft", note("draft"))
        .add_edge(START, "draft")
        .compile()?;
    assert_eq!(collapsed(&graph), graph.draw_mermaid());
    assert_eq!(
        graph.draw_mermaid(),
        "flowchart TD\n    __start__([START])\n    n0[\"draft\"]\n    __end__([END])\n    __start__ --> n0\n"
    );
    Ok(())
}
