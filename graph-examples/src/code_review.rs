//! Parallel code review: security, performance and style reviewers at once, each with a
//! timeout. Best-effort keeps the reviews that finished and lists the failure; fail-fast
//! stops at the first error.

// ANCHOR: uses
use std::sync::Arc;
use std::time::Duration;

use graph_core::prelude::*;
use graph_core::NodeOptions;
use serde::{Deserialize, Serialize};
// ANCHOR_END: uses

/// A review in progress.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// The code under review.
    pub code: String,
    /// Findings, in reviewer-name order.
    #[reducer(append)]
    pub findings: Vec<String>,
    /// Reviewers that failed or timed out.
    #[reducer(append)]
    pub failures: Vec<String>,
    /// The final report.
    pub report: String,
}

/// How a failed reviewer affects the review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keep the other reviews and list the failure.
    BestEffort,
    /// Stop at the first failure.
    FailFast,
}

/// Each reviewer may take at most this long.
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// A reviewer that answers `finding` after `latency`.
fn reviewer(
    latency: Duration,
    finding: &'static str,
) -> impl Fn(Arc<Review>) -> futures::future::BoxFuture<'static, ReviewUpdate> + Send + Sync {
    move |_| {
        Box::pin(async move {
            tokio::time::sleep(latency).await;
            Review::update().findings(vec![finding.to_owned()])
        })
    }
}

// ANCHOR: graph
/// The review graph; the style reviewer is too slow and times out.
pub fn graph(mode: Mode) -> CompiledGraph<Review> {
    let options = || {
        let options = NodeOptions::new().timeout(TIMEOUT);
        match mode {
            Mode::BestEffort => {
                options.on_error(|failure| Review::update().failures(vec![failure.to_string()]))
            }
            Mode::FailFast => options,
        }
    };
    StateGraph::<Review>::new()
        .add_node_with(
            "security",
            reviewer(Duration::from_millis(300), "security: input is not validated"),
            options(),
        )
        .add_node_with(
            "performance",
            reviewer(Duration::from_millis(500), "performance: the loop clones a Vec"),
            options(),
        )
        .add_node_with("style", reviewer(Duration::from_secs(3), "style: fine"), options())
        .add_node("report", |s: Arc<Review>| async move {
            let mut report = format!("{} findings", s.findings.len());
            for finding in &s.findings {
                report.push_str(&format!("\n- {finding}"));
            }
            for failure in &s.failures {
                report.push_str(&format!("\n! {failure}"));
            }
            Review::update().report(report)
        })
        .add_edge(START, "security")
        .add_edge(START, "performance")
        .add_edge(START, "style")
        .add_join(["security", "performance", "style"], "report")
        .add_edge("report", END)
        .compile()
        .expect("the review graph is valid")
}
// ANCHOR_END: graph
