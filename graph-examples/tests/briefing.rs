//! Snapshots of the briefing example: final state, steps and drawing.

use graph_core::prelude::*;
use graph_examples::briefing::{self, Briefing};

#[tokio::test(start_paused = true)]
async fn briefing_runs_its_sources_in_parallel() {
    let started = tokio::time::Instant::now();
    let report = briefing::graph()
        .invoke_with_report(Briefing::update().city("Lyon"), RunConfig::default())
        .await
        .unwrap();
    // The slowest source (news, 200 ms), not the sum of all three (400 ms).
    assert_eq!(started.elapsed().as_millis(), 200);
    assert_eq!(report.state.sequential_ms, 400);
    assert_eq!(
        report.nodes_per_step(),
        vec![vec!["calendar", "news", "weather"], vec!["summarize"]]
    );
    insta::assert_json_snapshot!("briefing_final_state", report.state);
}

#[test]
fn briefing_drawing() {
    insta::assert_snapshot!("briefing_mermaid", briefing::graph().draw_mermaid());
}
