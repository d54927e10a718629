//! Report: orchestrator-worker. A planner splits a topic into sections at run time, one
//! worker per section is started with `Send`, and a synthesizer joins the drafts in order.

// ANCHOR: uses
use std::sync::Arc;
use std::time::Duration;

use graph_core::prelude::*;
use graph_core::{BoxError, Input};
use serde::{Deserialize, Serialize};

use graph_agent::testing::ScriptedModel;
use graph_agent::ChatModelExt;
// ANCHOR_END: uses

/// A section the planner asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// Its place in the report.
    pub index: usize,
    /// Its title.
    pub title: String,
}

/// A written section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// The section's place in the report.
    pub index: usize,
    /// The text.
    pub text: String,
}

/// The report being written.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What the report is about.
    pub topic: String,
    /// The planned sections.
    pub sections: Vec<Section>,
    /// Drafts, merged in emission order whatever order the workers finish in.
    #[reducer(append)]
    pub drafts: Vec<Draft>,
    /// The final text.
    pub text: String,
}

// ANCHOR: graph
/// The report graph: plan, one worker per section, synthesize.
pub fn graph() -> CompiledGraph<Report> {
    let planner = Arc::new(
        ScriptedModel::new()
            .latency(Duration::from_millis(50))
            .on("sections", "Why supersteps\nReducers at fan-in\nWhen not to parallelise"),
    );
    let writer = Arc::new(ScriptedModel::new().text("").cycling());
    StateGraph::<Report>::new()
        .add_node("plan", move |s: Arc<Report>| {
            let planner = Arc::clone(&planner);
            async move {
                let outline =
                    planner.ask(&format!("List the sections of a report on {}", s.topic)).await?;
                let sections = outline
                    .lines()
                    .enumerate()
                    .map(|(index, title)| Section { index, title: title.to_owned() })
                    .collect();
                Ok::<_, BoxError>(Report::update().sections(sections))
            }
        })
        .add_node("write_section", move |Input(section): Input<Section>| {
            let writer = Arc::clone(&writer);
            async move {
                // Later sections are shorter, so workers finish in reverse order.
                tokio::time::sleep(Duration::from_millis(300 - 100 * section.index as u64)).await;
                let _ = writer.ask(&section.title).await?;
                let text =
                    format!("## {}\n{} explained in a paragraph.", section.title, section.title);
                Ok::<_, BoxError>(
                    Report::update().drafts(vec![Draft { index: section.index, text }]),
                )
            }
        })
        .add_node("synthesize", |s: Arc<Report>| async move {
            let body = s.drafts.iter().map(|d| d.text.as_str()).collect::<Vec<_>>().join("\n\n");
            Report::update().text(format!("# {}\n\n{body}", s.topic))
        })
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            |s: &Report| {
                s.sections
                    .iter()
                    .map(|section| graph_core::Send::new("write_section", section.clone()))
                    .collect::<Vec<_>>()
            },
            ["write_section"],
        )
        .add_edge("write_section", "synthesize")
        .add_edge("synthesize", END)
        .compile()
        .expect("the report graph is valid")
}
// ANCHOR_END: graph
