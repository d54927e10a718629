//! A map-reduce whose tasks the distributed tests run on worker processes: `plan` sends one
//! task per item to `work`, and `reduce` sums the results.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use graph_core::prelude::*;
use graph_core::{NodeOptions, StateSnapshot};
use serde::{Deserialize, Serialize};

/// The map-reduce's settings (set by its input) and results.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Fanout {
    /// How many tasks `plan` sends.
    pub tasks: u32,
    /// How long each task takes, in milliseconds.
    pub task_ms: u64,
    /// Where each task logs its start (a line with its item) and its end (`-` and its
    /// item), if anywhere.
    pub log: String,
    /// The item whose task fails, if any.
    pub fail_at: Option<u32>,
    /// One result per task, in task order.
    #[reducer(append)]
    pub results: Vec<u64>,
    /// The sum of the results, written by `reduce`.
    pub total: u64,
}

/// One task's work.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Item {
    /// Which item.
    pub index: u32,
    /// How long it takes, in milliseconds.
    pub task_ms: u64,
    /// Where it logs its start and end.
    pub log: String,
    /// Whether it fails.
    pub fail: bool,
}

/// The result of item `index`: a mix of its bits, so a wrong or repeated item shows.
pub fn result(index: u32) -> u64 {
    (u64::from(index) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20
}

/// The input of a run of `tasks` tasks of `task_ms` each, logging to `log`.
pub fn input(tasks: u32, task_ms: u64, log: &str) -> <Fanout as State>::Update {
    Fanout::update().tasks(tasks).task_ms(task_ms).log(log.to_owned())
}

/// The map-reduce graph.
pub fn graph() -> CompiledGraph<Fanout> {
    build(NodeOptions::new())
}

/// The map-reduce graph with at most `tasks` tasks of `work` running at once, across every
/// run and, on a queue, every worker.
pub fn capped_graph(tasks: usize) -> CompiledGraph<Fanout> {
    build(NodeOptions::new().concurrency(tasks))
}

/// Appends `line` to the log at `path`, if any. One write per line: appends from many
/// processes never interleave.
fn log_line(path: &str, line: String) -> std::io::Result<()> {
    if !path.is_empty() {
        let mut log = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        log.write_all(format!("{line}\n").as_bytes())?;
    }
    Ok(())
}

fn build(work: NodeOptions<Fanout>) -> CompiledGraph<Fanout> {
    StateGraph::<Fanout>::new()
        .add_node("plan", |_: Arc<Fanout>| async {})
        .add_node_with(
            "work",
            |Input(item): Input<Item>| async move {
                log_line(&item.log, item.index.to_string())?;
                tokio::time::sleep(Duration::from_millis(item.task_ms)).await;
                log_line(&item.log, format!("-{}", item.index))?;
                if item.fail {
                    let error = format!("item {} cannot be done", item.index);
                    return Err(std::io::Error::other(error));
                }
                Ok(Fanout::update().results(vec![result(item.index)]))
            },
            work,
        )
        .add_node("reduce", |s: Arc<Fanout>| async move {
            Fanout::update().total(s.results.iter().sum::<u64>())
        })
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            |s: &Fanout| {
                (0..s.tasks)
                    .map(|index| {
                        let fail = s.fail_at == Some(index);
                        let item = Item { index, task_ms: s.task_ms, log: s.log.clone(), fail };
                        graph_core::Send::new("work", item)
                    })
                    .collect::<Vec<_>>()
            },
            ["work"],
        )
        .add_edge("work", "reduce")
        .compile()
        .expect("the map-reduce graph is valid")
}

/// What a thread's checkpoints hold, newest first: each one's values, next nodes, step,
/// source and writers. Two runs with equal contents saved the same checkpoints.
pub fn contents(history: &[StateSnapshot<Fanout>]) -> String {
    let entries: Vec<_> =
        history.iter().map(|s| serde_json::json!([s.values, s.next, s.metadata])).collect();
    serde_json::to_string(&entries).expect("checkpoint contents are JSON")
}
