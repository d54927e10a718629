//! Where we differ from LangGraph 1.2.22 on purpose, one test per difference (the book's
//! "Coming from LangGraph" chapter explains each choice): the default recursion limit, how
//! the limit counts supersteps, and when a deferred node runs while `Send` tasks are pending.

mod support;

use std::sync::Arc;

use graph_core::prelude::*;
use graph_core::NodeOptions;
use support::{visit, visited, Log};

/// A loop that needs exactly `steps` supersteps: `tick` runs once per step and stops after
/// its `steps`-th run.
fn loop_of(steps: u64) -> CompiledGraph<Log> {
    StateGraph::<Log>::new()
        .add_node("tick", visit("tick"))
        .add_edge(START, "tick")
        .add_conditional_edges(
            "tick",
            move |s: &Log| if s.n < steps { "tick" } else { END },
            ["tick", END],
        )
        .compile()
        .unwrap()
}

/// LangGraph's default is 10,007; ours stays the round 10,000 it documents.
#[tokio::test]
async fn the_default_recursion_limit_is_ten_thousand_supersteps() {
    assert_eq!(RunConfig::DEFAULT_RECURSION_LIMIT, 10_000);
    assert_eq!(RunConfig::default().recursion_limit, 10_000);

    let out =
        loop_of(10_000).invoke(Log::default(), RunConfig::default()).await.unwrap().into_state();
    assert_eq!(out.n, 10_000);
    let err = loop_of(10_001).invoke(Log::default(), RunConfig::default()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "recursion limit of 10000 supersteps reached; nodes still pending: tick"
    );
}

/// In LangGraph a run that needs exactly k supersteps needs a limit of k + 1; here a limit
/// of k allows exactly k supersteps.
#[tokio::test]
async fn a_run_of_k_supersteps_fits_a_limit_of_k() {
    let graph = loop_of(5);
    let report =
        graph.invoke_with_report(Log::default(), RunConfig::default().recursion_limit(5)).await;
    let report = report.unwrap();
    assert_eq!(report.nodes_per_step(), vec![vec!["tick"]; 5]);
    assert_eq!(report.state().n, 5);

    let err = graph.invoke(Log::default(), RunConfig::default().recursion_limit(4)).await;
    let err = err.unwrap_err();
    assert!(
        matches!(&err, GraphError::RecursionLimit { limit: 4, pending } if pending == &["tick"]),
        "{err:?}"
    );
}

/// In LangGraph a deferred node triggered together with pending `Send`s runs in the same
/// superstep as them, so it misses their results; here it waits until they have run.
#[tokio::test]
async fn a_deferred_node_waits_for_pending_sends() {
    let graph = StateGraph::<Log>::new()
        .add_node("plan", visit("plan"))
        .add_node("work", |Input(item): Input<String>| async move {
            Log::update().visited(vec![format!("work on {item}")]).n(1)
        })
        .add_node_with(
            "collect",
            |s: Arc<Log>| async move { Log::update().last(Some(format!("collected {}", s.n))) },
            NodeOptions::new().defer(),
        )
        .add_edge(START, "plan")
        .add_edge("plan", "collect") // triggers `collect` in the same step as the Sends
        .add_conditional_edges(
            "plan",
            |_: &Log| {
                ["a", "b"]
                    .into_iter()
                    .map(|item| graph_core::Send::new("work", item.to_owned()))
                    .collect::<Vec<_>>()
            },
            ["work"],
        )
        .compile()
        .unwrap();
    let report = graph.invoke_with_report(Log::default(), RunConfig::default()).await.unwrap();
    assert_eq!(report.nodes_per_step(), vec![vec!["plan"], vec!["work", "work"], vec!["collect"]]);
    assert_eq!(report.state().visited, visited(&["plan", "work on a", "work on b"]));
    // `collect` saw `plan` and both workers: 3, not the 1 it would see beside the Sends.
    assert_eq!(report.state().last.as_deref(), Some("collected 3"));
}
