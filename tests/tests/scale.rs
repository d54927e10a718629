//! Scale: a 100,000-task Send map-reduce finishes and keeps emission order.

use std::sync::Arc;

use graph_core::prelude::*;
use graph_core::Input;

#[derive(State, Clone, Debug, Default)]
struct Sums {
    #[reducer(append)]
    items: Vec<u32>,
    #[reducer(add)]
    total: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_sends_map_and_reduce() {
    const TASKS: u32 = 100_000;
    let graph = StateGraph::<Sums>::new()
        .add_node("plan", |_: Arc<Sums>| async {})
        .add_node("map", |Input(i): Input<u32>| async move {
            Sums::update().items(vec![i]).total(u64::from(i))
        })
        .add_node(
            "reduce",
            |s: Arc<Sums>| async move { Sums::update().total(s.items.len() as u64) },
        )
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            |_: &Sums| (0..TASKS).map(|i| graph_core::Send::new("map", i)).collect::<Vec<_>>(),
            ["map"],
        )
        .add_edge("map", "reduce")
        .compile()
        .unwrap();
    let out = graph.invoke(Sums::default(), RunConfig::default()).await.unwrap().into_state();
    assert_eq!(out.items.len(), TASKS as usize);
    assert!(out.items.iter().copied().eq(0..TASKS));
    let n = u64::from(TASKS);
    assert_eq!(out.total, n * (n - 1) / 2 + n);
}
