//! The book's snippets (`src/tour.rs`) do what the book says.

use std::time::Duration;

use graph_core::prelude::*;
use graph_examples::tour::{self, Desk, Draft};

#[tokio::test(start_paused = true)]
async fn parallel_writers_merge_through_their_reducers() {
    let out = tour::writers()
        .invoke(Desk::update().topic("supersteps"), RunConfig::default())
        .await
        .unwrap()
        .into_state();
    // `careful` sorts before `fast`: updates apply in node-name order, not finishing order.
    assert_eq!(out.notes, ["deep dive into supersteps", "quick take on supersteps"]);
    assert_eq!(out.tokens, 1_020);
    assert_eq!(out.best, Some(Draft { text: "thorough".into(), score: 9 }));
    insta::assert_snapshot!("writers", format!("{out:#?}"));
}

#[tokio::test]
async fn a_command_routes_at_run_time() {
    let out = tour::triage()
        .invoke(Desk::update().topic("urgent: disk full"), RunConfig::default())
        .await
        .unwrap()
        .into_state();
    assert_eq!(out.notes, ["triaged to escalate", "paged the on-call"]);
    let urgent = format!("{:?}", out.notes);
    let out = tour::triage()
        .invoke(Desk::update().topic("newsletter"), RunConfig::default())
        .await
        .unwrap()
        .into_state();
    assert_eq!(out.notes, ["triaged to file", "filed"]);
    insta::assert_snapshot!(
        "command",
        format!("\"urgent: disk full\": {urgent}\n\"newsletter\":        {:?}", out.notes)
    );
}

#[tokio::test(start_paused = true)]
async fn policies_retry_then_fall_back_to_a_note() {
    let out = tour::resilient_search(2)
        .invoke(Desk::default(), RunConfig::default())
        .await
        .unwrap()
        .into_state();
    assert_eq!(out.notes, ["found it on attempt 3"]);
    let recovered = out.notes.join("\n");
    let out = tour::resilient_search(5)
        .invoke(Desk::default(), RunConfig::default())
        .await
        .unwrap()
        .into_state();
    assert_eq!(
        out.notes,
        ["gave up: `search` failed: the search API is down (task 0:search, attempt 3)"]
    );
    insta::assert_snapshot!(
        "policies",
        format!("two failures, then: {recovered}\nfive failures, then: {}", out.notes.join("\n"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_token_cancels_a_run() {
    let err = tour::cancel_after(Duration::from_millis(10)).await.unwrap_err();
    assert!(matches!(err, GraphError::Cancelled));
    insta::assert_snapshot!("cancel", err.to_string());
}

#[tokio::test(start_paused = true)]
async fn a_stream_shows_progress() {
    let lines = tour::watch().await.unwrap();
    assert_eq!(
        lines,
        [
            "careful started",
            "fast started",
            "fast wrote Some([\"quick take on supersteps\"])",
            "fast took 0ns",
            "careful wrote Some([\"deep dive into supersteps\"])",
            "careful took 50ms",
            "done: 1020 tokens",
        ]
    );
    insta::assert_snapshot!("stream", lines.join("\n"));
}

#[tokio::test]
async fn a_person_answers_a_paused_node() {
    let out = tour::ask_a_person().await.unwrap();
    assert_eq!(out.notes, ["publish: yes, go"]);
}

#[tokio::test]
async fn send_starts_one_task_per_item() {
    let out = tour::word_lengths()
        .invoke(Desk::update().topic("one three eleven"), RunConfig::default())
        .await
        .unwrap()
        .into_state();
    assert_eq!(out.tokens, 3 + 5 + 6);
    insta::assert_snapshot!("send", format!("tokens: {}", out.tokens));
}

#[tokio::test]
async fn separate_edges_run_the_target_after_each_source_and_a_join_once() {
    let edges = tour::edges_versus_join(false);
    insta::assert_snapshot!("joins_edges_mermaid", edges.draw_mermaid());
    let report = edges.invoke_with_report(Desk::default(), RunConfig::default()).await.unwrap();
    assert_eq!(
        report.nodes_per_step(),
        vec![vec!["quick", "slow"], vec!["merge", "slower"], vec!["merge"]]
    );
    let by_edges = format!("{:?}", report.nodes_per_step());
    let join = tour::edges_versus_join(true);
    insta::assert_snapshot!("joins_join_mermaid", join.draw_mermaid());
    let report = join.invoke_with_report(Desk::default(), RunConfig::default()).await.unwrap();
    assert_eq!(report.nodes_per_step(), vec![vec!["quick", "slow"], vec!["slower"], vec!["merge"]]);
    insta::assert_snapshot!(
        "joins",
        format!("separate edges: {by_edges}\njoin:           {:?}", report.nodes_per_step())
    );
}

#[tokio::test]
async fn a_router_sends_flagged_content_to_a_person() {
    let graph = tour::moderation();
    insta::assert_snapshot!("conditional_mermaid", graph.draw_mermaid());
    let out = graph
        .invoke(Desk::update().topic("buy spam now"), RunConfig::default())
        .await
        .unwrap()
        .into_state();
    assert_eq!(out.notes, ["flagged", "sent to a person"]);
    let spam = format!("{:?}", out.notes);
    let out = graph
        .invoke(Desk::update().topic("release notes"), RunConfig::default())
        .await
        .unwrap()
        .into_state();
    assert_eq!(out.notes, ["clean"]);
    insta::assert_snapshot!(
        "conditional",
        format!("\"buy spam now\":  {spam}\n\"release notes\": {:?}", out.notes)
    );
}
