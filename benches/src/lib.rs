//! The benchmark workloads, shared by the criterion benches, the LangGraph comparison
//! binary and the regression guard, so all three measure the same graphs.

pub mod agent;
pub mod bare;
pub mod cache;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use graph_core::checkpoint::SqliteSaver;
use graph_core::prelude::*;
use graph_core::{Input, Send};
use serde::{Deserialize, Serialize};

/// A counter: the smallest useful state.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    /// Incremented by every node.
    #[reducer(add)]
    pub n: u64,
}

/// A list the workers of a map-reduce append to.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Items {
    /// One entry per worker, in emission order.
    #[reducer(append)]
    pub items: Vec<u32>,
}

pub(crate) async fn increment(_: Arc<Counter>) -> CounterUpdate {
    Counter::update().n(1)
}

/// `nodes` nodes in a line.
pub fn chain(nodes: usize) -> CompiledGraph<Counter> {
    let name = |i: usize| format!("n{i:05}");
    let mut graph = StateGraph::<Counter>::new().add_edge(START, name(0));
    for i in 0..nodes {
        graph = graph.add_node(name(i), increment);
        if i + 1 < nodes {
            graph = graph.add_edge(name(i), name(i + 1));
        }
    }
    graph.compile().expect("a chain is valid")
}

/// One node looping on itself for `steps` supersteps.
pub fn looping(steps: u64) -> CompiledGraph<Counter> {
    StateGraph::<Counter>::new()
        .add_node("step", increment)
        .add_edge(START, "step")
        .add_conditional_edges(
            "step",
            move |s: &Counter| if s.n < steps { "step" } else { END },
            ["step", END],
        )
        .compile()
        .expect("a loop is valid")
}

/// The config a loop of `steps` supersteps needs.
pub fn loop_config(steps: u64) -> RunConfig {
    RunConfig::default().recursion_limit(steps as usize + 1)
}

/// `branches` nodes started from START at once, joined into one.
pub fn fan_out(branches: usize) -> CompiledGraph<Counter> {
    let names: Vec<String> = (0..branches).map(|i| format!("b{i:05}")).collect();
    let mut graph = StateGraph::<Counter>::new().add_node("join", increment);
    for name in &names {
        graph = graph.add_node(name, increment).add_edge(START, name);
    }
    graph.add_join(names, "join").compile().expect("a fan-out is valid")
}

/// A planner sending `tasks` payloads to a worker that appends each to a list.
pub fn map_reduce(tasks: u32) -> CompiledGraph<Items> {
    StateGraph::<Items>::new()
        .add_node("plan", |_: Arc<Items>| async {})
        .add_node("map", |Input(i): Input<u32>| async move { Items::update().items(vec![i]) })
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            move |_: &Items| (0..tasks).map(|i| Send::new("map", i)).collect::<Vec<_>>(),
            ["map"],
        )
        .compile()
        .expect("a map-reduce is valid")
}

/// `tasks` Sends to a worker that waits `wait` (an I/O-bound call).
pub fn io_fan_out(tasks: u32, wait: Duration) -> CompiledGraph<Items> {
    StateGraph::<Items>::new()
        .add_node("plan", |_: Arc<Items>| async {})
        .add_node("io", move |Input(i): Input<u32>| async move {
            tokio::time::sleep(wait).await;
            Items::update().items(vec![i])
        })
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            move |_: &Items| (0..tasks).map(|i| Send::new("io", i)).collect::<Vec<_>>(),
            ["io"],
        )
        .compile()
        .expect("an I/O fan-out is valid")
}

/// A step number each node overwrites with the next one. A last-value field, so that a
/// subgraph over the same state hands its parent exactly one step on both frameworks:
/// LangGraph writes a subgraph's whole final state to the parent, so an `add` field would
/// count what the child inherited a second time.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Steps {
    /// The number of steps taken.
    pub n: u64,
}

pub(crate) async fn next_step(steps: Arc<Steps>) -> StepsUpdate {
    Steps::update().n(steps.n + 1)
}

/// A parent that runs its node `call` once per superstep, `calls` times.
fn call_loop(graph: StateGraph<Steps>, calls: u64) -> CompiledGraph<Steps> {
    graph
        .add_edge(START, "call")
        .add_conditional_edges(
            "call",
            move |s: &Steps| if s.n < calls { "call" } else { END },
            ["call", END],
        )
        .compile()
        .expect("a call loop is valid")
}

/// `calls` parent steps, each running a compiled one-node subgraph (over the parent's own
/// state) as its node.
pub fn subgraph_calls(calls: u64) -> CompiledGraph<Steps> {
    let child = StateGraph::<Steps>::new()
        .add_node("step", next_step)
        .add_edge(START, "step")
        .compile()
        .expect("a one-node graph is valid");
    call_loop(StateGraph::new().add_subgraph("call", child), calls)
}

/// `calls` parent steps, each running the subgraph's node as a plain node: the floor that
/// shows what the subgraph itself costs.
pub fn plain_calls(calls: u64) -> CompiledGraph<Steps> {
    call_loop(StateGraph::new().add_node("call", next_step), calls)
}

/// A chain of `nodes` checkpointed after every step in the SQLite file at `path`.
pub fn sqlite_chain(nodes: usize, path: &Path) -> CompiledGraph<Counter> {
    chain(nodes).with_checkpointer(SqliteSaver::open(path).expect("the SQLite file opens"))
}

/// A multi-threaded runtime with two workers, like the machine.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_call_takes_exactly_one_step() {
        for calls in [1, 100] {
            for graph in [subgraph_calls(calls), plain_calls(calls)] {
                let out = graph.invoke(Steps::default(), loop_config(calls)).await.unwrap();
                assert_eq!(out.into_state(), Steps { n: calls });
            }
        }
    }
}
