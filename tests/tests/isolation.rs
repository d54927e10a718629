//! Determinism and isolation: timing never changes a result, and concurrent runs of one
//! compiled graph never see each other's state.

mod support;

use std::sync::Arc;
use std::time::Duration;

use graph_core::prelude::*;
use graph_core::Input;
use support::Log;

/// A fan-out of four nodes with random latencies, a map-reduce over random latencies, and a
/// join: every timing-dependent path of the runtime.
fn jittery_graph() -> CompiledGraph<Log> {
    async fn jitter(seed: u64) {
        let ms = (seed.wrapping_mul(2_654_435_761) >> 7) % 4 + rand_ms();
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    fn rand_ms() -> u64 {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(0_u8) % 3
    }
    let branch = |name: &'static str| {
        move |s: Arc<Log>| async move {
            jitter(s.n).await;
            Log::update().visited(vec![format!("{name}:{}", s.n)]).n(1)
        }
    };
    StateGraph::<Log>::new()
        .add_node("a", branch("a"))
        .add_node("b", branch("b"))
        .add_node("c", branch("c"))
        .add_node("d", branch("d"))
        .add_node("work", |Input(i): Input<u64>| async move {
            jitter(i).await;
            Log::update().visited(vec![format!("work:{i}")]).n(i)
        })
        .add_node("done", branch("done"))
        .add_edge(START, "a")
        .add_edge(START, "b")
        .add_edge(START, "c")
        .add_edge(START, "d")
        .add_conditional_edges(
            "b",
            |s: &Log| (0..8).map(|i| graph_core::Send::new("work", s.n + i)).collect::<Vec<_>>(),
            ["work"],
        )
        .add_join(["work", "d"], "done")
        .compile()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_latencies_never_change_the_final_state() {
    let graph = jittery_graph();
    let first = graph.invoke_with_report(Log::default(), RunConfig::default()).await.unwrap();
    for _ in 0..30 {
        let again = graph.invoke_with_report(Log::default(), RunConfig::default()).await.unwrap();
        assert_eq!(again.state(), first.state());
        assert_eq!(again.steps, first.steps);
    }
    assert_eq!(
        first.state().visited,
        [
            "a:0", "b:0", "c:0", "d:0", "work:1", "work:2", "work:3", "work:4", "work:5", "work:6",
            "work:7", "work:8", "done:40"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_runs_of_one_graph_stay_isolated() {
    let graph = StateGraph::<Log>::new()
        .add_node("double", |s: Arc<Log>| async move {
            tokio::time::sleep(Duration::from_millis(s.n % 5)).await;
            Log::update().visited(vec![format!("run {}", s.n)]).n(s.n)
        })
        .add_node("check", |s: Arc<Log>| async move {
            Log::update().last(Some(format!("{} after {}", s.n, s.visited.join(","))))
        })
        .add_edge(START, "double")
        .add_edge("double", "check")
        .compile()
        .unwrap();
    let runs = (0..100u64).map(|i| {
        let graph = graph.clone();
        tokio::spawn(
            async move { (i, graph.invoke(Log::update().n(i), RunConfig::default()).await) },
        )
    });
    for run in futures::future::join_all(runs).await {
        let (i, out) = run.unwrap();
        let out = out.unwrap().into_state();
        assert_eq!(out.n, 2 * i);
        assert_eq!(out.visited, [format!("run {i}")]);
        assert_eq!(out.last, Some(format!("{} after run {i}", 2 * i)));
    }
}
