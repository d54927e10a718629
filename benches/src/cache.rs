//! The node cache workloads: a map-reduce whose worker is cached by its payload, and a
//! count of the worker's runs, so a timed run can prove it was all hits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use graph_core::cache::CachePolicy;
use graph_core::prelude::*;
use graph_core::{Input, Send};

use crate::Items;

/// How many times the cached worker ran, across every run of a graph.
#[derive(Clone, Debug, Default)]
pub struct WorkerRuns(Arc<AtomicU64>);

impl WorkerRuns {
    /// A count at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The worker's runs so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// [`map_reduce`](crate::map_reduce) with its worker cached by payload (the item index):
/// a planner sends `tasks` payloads to `map`, which counts its runs in `runs`. The graph has
/// no cache backend yet; give it one with [`CompiledGraph::with_cache`].
pub fn cached_map_reduce(tasks: u32, runs: &WorkerRuns) -> CompiledGraph<Items> {
    let runs = runs.clone();
    StateGraph::<Items>::new()
        .add_node("plan", |_: Arc<Items>| async {})
        .add_node_with(
            "map",
            move |Input(i): Input<u32>| {
                runs.count();
                async move { Items::update().items(vec![i]) }
            },
            NodeOptions::new().cache(CachePolicy::new()),
        )
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            move |_: &Items| (0..tasks).map(|i| Send::new("map", i)).collect::<Vec<_>>(),
            ["map"],
        )
        .compile()
        .expect("a cached map-reduce is valid")
}

#[cfg(test)]
mod tests {
    use graph_core::cache::MemoryCache;

    use super::*;

    #[tokio::test]
    async fn a_second_run_is_all_hits_with_the_same_result() {
        let runs = WorkerRuns::new();
        let graph = cached_map_reduce(100, &runs).with_cache(MemoryCache::new());
        let expected: Vec<u32> = (0..100).collect();
        for _ in 0..2 {
            let out = graph.invoke(Items::default(), RunConfig::default()).await.unwrap();
            assert_eq!(out.into_state().items, expected);
            assert_eq!(runs.get(), 100, "the worker ran in the first run only");
        }
    }
}
