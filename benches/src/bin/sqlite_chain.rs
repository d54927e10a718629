//! Times the SQLite chain of 100 nodes with each durability, and bare rusqlite writing one
//! checkpoint-sized row per step on the calling thread (the storage floor), and prints the
//! median time per step, in microseconds, over `runs` runs (the first argument, default 21).
//! Build in release mode.

use std::time::Instant;

use graph_benches::{bare::SqliteRows, runtime, sqlite_chain, Counter};
use graph_core::{Durability, RunConfig};

const NODES: usize = 100;

fn main() {
    let runs: usize = std::env::args().nth(1).map_or(21, |n| n.parse().expect("a run count"));
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("graph-sqlite-chain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let graph = sqlite_chain(NODES, &dir.join("chain.sqlite"));
    for (name, durability) in [("sync", Durability::Sync), ("async", Durability::Async)] {
        let times = time(runs, |i| {
            let config =
                RunConfig::default().durability(durability).thread_id(format!("{name}{i}"));
            let out = rt.block_on(graph.invoke(Counter::default(), config));
            assert_eq!(out.expect("the run succeeds").into_state().n, NODES as u64);
        });
        report(name, &times);
    }
    let rows = SqliteRows::open(&dir.join("bare.sqlite"));
    let times = time(runs, |i| {
        assert_eq!(rows.chain(NODES as u64, &format!("bare{i}")), NODES as u64);
    });
    report("bare", &times);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Microseconds per step of `runs` runs of `run`, sorted, after one warm-up run.
fn time(runs: usize, mut run: impl FnMut(usize)) -> Vec<f64> {
    let mut times: Vec<f64> = (0..=runs)
        .map(|i| {
            let started = Instant::now();
            run(i);
            started.elapsed().as_secs_f64() * 1e6 / NODES as f64
        })
        .skip(1)
        .collect();
    times.sort_by(f64::total_cmp);
    times
}

fn report(name: &str, times: &[f64]) {
    let (low, median, high) = (times[0], times[times.len() / 2], times[times.len() - 1]);
    println!("{name:<5} per step: median {median:.1} us (fastest {low:.1}, slowest {high:.1})");
}
