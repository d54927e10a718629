//! Human approval: a graph drafts an email, pauses for a person before sending it, lets the
//! person edit the draft, and resumes once approved. Checkpoints make the pause durable.

// ANCHOR: uses
use std::sync::Arc;

use graph_core::prelude::*;
use graph_core::InterruptError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
// ANCHOR_END: uses

// ANCHOR: graph
/// An email on its way out.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Outbox {
    /// Who it goes to.
    pub to: String,
    /// The draft.
    pub draft: String,
    /// The person's decision.
    pub decision: String,
    /// What was actually sent (the side effect).
    #[reducer(append)]
    pub sent: Vec<String>,
}

/// The approval graph: draft, review (pauses for a person), send if approved.
pub fn graph() -> CompiledGraph<Outbox> {
    StateGraph::<Outbox>::new()
        .add_node("draft", |s: Arc<Outbox>| async move {
            Outbox::update().draft(format!("Dear {}, the invoice is attached. Pay now!!", s.to))
        })
        .add_node("review", |s: Arc<Outbox>, ctx: NodeContext| async move {
            let decision: String = ctx.interrupt(format!("Send this email?\n{}", s.draft))?;
            Ok::<_, InterruptError>(Outbox::update().decision(decision))
        })
        .add_node("send", |s: Arc<Outbox>| async move {
            Outbox::update().sent(vec![format!("to {}: {}", s.to, s.draft)])
        })
        .add_edge(START, "draft")
        .add_edge("draft", "review")
        .add_conditional_edges(
            "review",
            |s: &Outbox| if s.decision == "approve" { "send" } else { END },
            ["send", END],
        )
        .compile()
        .expect("the approval graph is valid")
}
// ANCHOR_END: graph
