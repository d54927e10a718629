//! Routers in steps of several tasks, on a large state: `cargo bench -p graph-benches --bench
//! routing`. Each router must see the step's snapshot plus its own node's update; this measures
//! what giving it that view costs when the state is large and the update small.
// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use graph_benches::runtime;
use graph_core::prelude::*;
use serde::{Deserialize, Serialize};

/// Supersteps per run.
const STEPS: u64 = 100;

/// About 50 MB that no node writes, beside a small counter every node adds to.
#[derive(State, Clone, Debug, Default, Serialize, Deserialize)]
struct Large {
    corpus: Vec<u8>,
    #[reducer(add)]
    turns: u64,
}

async fn turn(_: Arc<Large>) -> LargeUpdate {
    Large::update().turns(1)
}

/// `a` and `b` run in every step and each routes back to itself, for `STEPS` steps.
fn two_routed_loops() -> CompiledGraph<Large> {
    let again = |node: &'static str| move |s: &Large| if s.turns < 2 * STEPS { node } else { END };
    StateGraph::<Large>::new()
        .add_node("a", turn)
        .add_node("b", turn)
        .add_edge(START, "a")
        .add_edge(START, "b")
        .add_conditional_edges("a", again("a"), ["a", END])
        .add_conditional_edges("b", again("b"), ["b", END])
        .compile()
        .expect("two loops are valid")
}

fn routed_steps(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("routing");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    let graph = two_routed_loops();
    let input = Large { corpus: vec![7; 50 << 20], turns: 0 };
    let config = RunConfig::default().recursion_limit(STEPS as usize + 1);
    group.bench_function("large_state/2_routed_nodes/100_steps", |b| {
        b.to_async(&rt).iter_batched(
            || input.clone(),
            |input| graph.invoke(input, config.clone()),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, routed_steps);
criterion_main!(benches);
