//! Times reading back a thread that appended one 100-byte item per step, on SQLite and on
//! `MemorySaver`: loading its latest state, and its whole history, for 1,000 and 10,000
//! steps, and the saver's own reads of the latest checkpoint and of every one. Prints the median of `runs` reads (the first argument, default 5). Build in
//! release mode.

use std::sync::Arc;
use std::time::{Duration, Instant};

use graph_benches::runtime;
use graph_core::checkpoint::{Checkpointer, MemorySaver, SqliteSaver};
use graph_core::prelude::*;

#[derive(State, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Log {
    #[reducer(append)]
    lines: Vec<String>,
}

/// Appends a 100-byte line per step until the log holds `steps` lines.
fn appender(steps: usize, saver: Arc<dyn Checkpointer>) -> CompiledGraph<Log> {
    StateGraph::<Log>::new()
        .add_node("append", |s: Arc<Log>| async move {
            Log::update().lines(vec![format!("{:0100}", s.lines.len())])
        })
        .add_edge(START, "append")
        .add_conditional_edges(
            "append",
            move |s: &Log| if s.lines.len() < steps { "append" } else { END },
            ["append", END],
        )
        .compile()
        .expect("the graph compiles")
        .with_checkpointer(saver)
}

fn main() {
    let runs: usize = std::env::args().nth(1).map_or(5, |n| n.parse().expect("a read count"));
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("graph-checkpoint-loads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    for backend in ["sqlite", "memory"] {
        for steps in [1_000, 10_000] {
            let saver: Arc<dyn Checkpointer> = match backend {
                "sqlite" => Arc::new(
                    SqliteSaver::open(dir.join(format!("{steps}.sqlite"))).expect("the file opens"),
                ),
                _ => Arc::new(MemorySaver::new()),
            };
            let graph = appender(steps, Arc::clone(&saver));
            let config = RunConfig::default().thread_id("log").recursion_limit(steps + 10);
            let started = Instant::now();
            let out = rt.block_on(graph.invoke(Log::default(), config.clone()));
            assert_eq!(out.expect("the run succeeds").into_state().lines.len(), steps);
            let run = started.elapsed() / steps as u32;
            let latest = median(runs, || {
                let state = rt.block_on(graph.get_state(&config)).expect("it loads");
                assert_eq!(state.expect("a state").values.lines.len(), steps);
            });
            let history = median(runs, || {
                let history = rt.block_on(graph.get_state_history(&config)).expect("it loads");
                assert_eq!(history.len(), steps + 1);
            });
            // The saver's own reads: the latest checkpoint (a thousand times), every one.
            let get = median(runs, || {
                for _ in 0..1_000 {
                    let stored = rt.block_on(saver.get("log", None)).expect("it reads");
                    assert!(stored.is_some());
                }
            }) / 1_000;
            let list = median(runs, || {
                let listed = rt.block_on(saver.list("log")).expect("it reads");
                assert_eq!(listed.len(), steps + 1);
            });
            println!(
                "{backend:>6}, {steps:>6} steps: run {run:.1?} per step, latest {latest:.1?}, \
                 history {history:.1?}, saver get {get:.1?}, list {list:.1?}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The median time of `runs` calls of `read`.
fn median(runs: usize, mut read: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            read();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}
