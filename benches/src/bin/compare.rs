//! Times the comparison workloads and prints their medians in seconds as JSON, for
//! `bench/compare/run.sh` to set beside LangGraph's. Build in release mode.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use graph_benches::{
    agent, chain, fan_out, io_fan_out, loop_config, looping, map_reduce, plain_calls, runtime,
    sqlite_chain, subgraph_calls, Counter, Items, Steps,
};
use graph_core::RunConfig;

/// The median of `runs` timings of `run` (after one warm-up).
fn median<F, Fut, T, E>(rt: &tokio::runtime::Runtime, runs: usize, mut run: F) -> f64
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Debug,
{
    rt.block_on(run(usize::MAX)).expect("the warm-up run succeeds");
    let mut times: Vec<Duration> = (0..runs)
        .map(|i| {
            let started = Instant::now();
            rt.block_on(run(i)).expect("the run succeeds");
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2].as_secs_f64()
}

fn main() {
    let rt = runtime();
    let mut results = BTreeMap::new();
    // `compare agent` times only the agent loop.
    if std::env::args().nth(1).as_deref() == Some("agent") {
        agent_workloads(&rt, &mut results);
        println!("{}", serde_json::to_string_pretty(&results).expect("numbers serialize"));
        return;
    }
    let (g, c) = (chain(1_000), RunConfig::default);
    results.insert("chain_1000", median(&rt, 21, |_| g.invoke(Counter::default(), c())));
    let g = looping(10_000);
    results.insert(
        "loop_10000",
        median(&rt, 11, |_| g.invoke(Counter::default(), loop_config(10_000))),
    );
    for (name, branches) in [("fan_out_100", 100), ("fan_out_1000", 1_000)] {
        let g = fan_out(branches);
        results.insert(name, median(&rt, 21, |_| g.invoke(Counter::default(), c())));
    }
    for (name, tasks, runs) in [
        ("send_1000", 1_000, 21),
        ("send_10000", 10_000, 11),
        ("send_100000", 100_000, 5),
        ("send_1000000", 1_000_000, 3),
    ] {
        let g = map_reduce(tasks);
        results.insert(name, median(&rt, runs, |_| g.invoke(Items::default(), c())));
    }
    let g = io_fan_out(200, Duration::from_millis(50));
    results.insert("io_200_unlimited", median(&rt, 5, |_| g.invoke(Items::default(), c())));
    results.insert(
        "io_200_max20",
        median(&rt, 5, |_| g.invoke(Items::default(), c().max_concurrency(20))),
    );

    agent_workloads(&rt, &mut results);
    call_workloads(&rt, &mut results);

    let dir = std::env::temp_dir().join(format!("graph-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let g = sqlite_chain(100, &dir.join("compare.sqlite"));
    results.insert(
        "sqlite_chain_100",
        median(&rt, 5, |i| g.invoke(Counter::default(), c().thread_id(format!("t{i}")))),
    );
    let _ = std::fs::remove_dir_all(&dir);

    println!("{}", serde_json::to_string_pretty(&results).expect("numbers serialize"));
}

/// The agent loop with the prebuilt agent, and the same loop on bare tokio.
fn agent_workloads(rt: &tokio::runtime::Runtime, results: &mut BTreeMap<&'static str, f64>) {
    for (name, turns) in [("agent_turns_1", 1), ("agent_turns_10", 10)] {
        let g = agent::agent(turns);
        results.insert(
            name,
            median(rt, 21, |_| async {
                let out = g
                    .invoke(agent::question(), RunConfig::default().recursion_limit(4 * turns + 10))
                    .await?;
                agent::check(&out.state().messages, turns);
                Ok::<_, graph_core::GraphError>(())
            }),
        );
    }
    for (name, turns) in [("bare_tokio_agent_turns_1", 1), ("bare_tokio_agent_turns_10", 10)] {
        results.insert(
            name,
            median(rt, 21, |_| async move {
                agent::check(&agent::bare_agent(turns).await, turns);
                Ok::<_, ()>(())
            }),
        );
    }
}

/// Parent steps that each run a one-node subgraph, and the same with a plain node: the
/// difference between 100 and 1 calls, divided by 99, is the cost of one call.
fn call_workloads(rt: &tokio::runtime::Runtime, results: &mut BTreeMap<&'static str, f64>) {
    let workloads = [
        ("subgraph_calls_1", subgraph_calls(1), 1),
        ("subgraph_calls_100", subgraph_calls(100), 100),
        ("plain_calls_1", plain_calls(1), 1),
        ("plain_calls_100", plain_calls(100), 100),
    ];
    for (name, g, calls) in workloads {
        results.insert(
            name,
            median(rt, 101, |_| async {
                let out = g.invoke(Steps::default(), loop_config(calls)).await?;
                assert_eq!(out.state().n, calls, "one step per call");
                Ok::<_, graph_core::GraphError>(())
            }),
        );
    }
}
