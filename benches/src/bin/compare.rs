//! Times the comparison workloads and prints their medians in seconds as JSON, for
//! `bench/compare/run.sh` to set beside LangGraph's. Each workload `X` with a bare-tokio
//! floor is also timed as `bare_tokio_X`: the same work with no framework, in the same
//! process, in rounds of a block of the workload's runs then a block of its floor's. `compare rust` prints a table of the two instead of JSON. Build in release mode.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use graph_benches::cache::{cached_map_reduce, WorkerRuns};
use graph_benches::{
    agent, bare, chain, fan_out, io_fan_out, loop_config, looping, map_reduce, plain_calls,
    runtime, sqlite_chain, subgraph_calls, Counter, Items, Steps,
};
use graph_core::cache::{MemoryCache, NodeCache, RedisCache, SqliteCache};
use graph_core::{CompiledGraph, Durability, RunConfig};

/// How long `run` took, its result checked.
fn timed<T, E: std::fmt::Debug>(
    rt: &tokio::runtime::Runtime,
    run: impl Future<Output = Result<T, E>>,
) -> Duration {
    let started = Instant::now();
    rt.block_on(run).expect("the run succeeds");
    started.elapsed()
}

/// The middle of `times`.
fn middle(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64()
}

/// The median of `runs` timings of `run` (after one warm-up).
fn median<F, Fut, T, E>(rt: &tokio::runtime::Runtime, runs: usize, mut run: F) -> f64
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Debug,
{
    timed(rt, run(usize::MAX));
    middle((0..runs).map(|i| timed(rt, run(i))).collect())
}

/// The rounds in which [`paired`] times a workload and its floor.
const ROUNDS: usize = 3;

/// Times workload `name` and its floor, the same work on bare tokio, as `name` and
/// `bare_tokio_name`, with about `runs` timings of each: in [`ROUNDS`] rounds, each a block
/// of the workload's runs then a block of the floor's, each block after a warm-up. Within a
/// block each is timed warm, as a service running one graph again and again (alternated
/// run by run, each would find the caches and the allocator as the other left them); over
/// the rounds, a slow stretch of this shared machine falls on both alike.
fn paired<A, FutA, B, FutB, T, E, U, F>(
    rt: &tokio::runtime::Runtime,
    results: &mut BTreeMap<String, f64>,
    name: &str,
    runs: usize,
    mut ours: A,
    mut bare: B,
) where
    A: FnMut(usize) -> FutA,
    FutA: Future<Output = Result<T, E>>,
    B: FnMut(usize) -> FutB,
    FutB: Future<Output = Result<U, F>>,
    E: std::fmt::Debug,
    F: std::fmt::Debug,
{
    let block = runs.div_ceil(ROUNDS);
    let (mut mine, mut floor) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Warm-ups count down from the top, so that a run's index is never used twice.
        let (warm_up, first) = (usize::MAX - round, round * block);
        timed(rt, ours(warm_up));
        mine.extend((first..first + block).map(|i| timed(rt, ours(i))));
        timed(rt, bare(warm_up));
        floor.extend((first..first + block).map(|i| timed(rt, bare(i))));
    }
    results.insert(name.to_owned(), middle(mine));
    results.insert(format!("bare_tokio_{name}"), middle(floor));
}

fn main() {
    let rt = runtime();
    let mut results = BTreeMap::new();
    // `compare agent` times only the agent loop; `compare cache` only the node cache and
    // its uncached baseline, `send_1000`; `compare rust` all but the cache, as a table.
    let mode = std::env::args().nth(1);
    let table = mode.as_deref() == Some("rust");
    match mode.as_deref() {
        Some("agent") => {
            agent_workloads(&rt, &mut results);
            println!("{}", serde_json::to_string_pretty(&results).expect("numbers serialize"));
            return;
        }
        Some("cache") => {
            let g = map_reduce(1_000);
            let c = RunConfig::default;
            let time = median(&rt, 21, |_| g.invoke(Items::default(), c()));
            results.insert("send_1000".into(), time);
            cache_workloads(&rt, &mut results);
            println!("{}", serde_json::to_string_pretty(&results).expect("numbers serialize"));
            return;
        }
        _ => {}
    }
    step_workloads(&rt, &mut results);
    send_workloads(&rt, &mut results);
    agent_workloads(&rt, &mut results);
    call_workloads(&rt, &mut results);
    if !table {
        cache_workloads(&rt, &mut results);
    }
    sqlite_workloads(&rt, &mut results);

    if table {
        print_table(&results);
    } else {
        println!("{}", serde_json::to_string_pretty(&results).expect("numbers serialize"));
    }
}

/// A chain, a loop and static fan-outs, each beside the same work on bare tokio.
fn step_workloads(rt: &tokio::runtime::Runtime, results: &mut BTreeMap<String, f64>) {
    let (g, c) = (chain(1_000), RunConfig::default);
    paired(rt, results, "chain_1000", 21, |_| g.invoke(Counter::default(), c()), |_| inline(1_000));
    let g = looping(10_000);
    let config = || loop_config(10_000);
    paired(
        rt,
        results,
        "loop_10000",
        11,
        |_| g.invoke(Counter::default(), config()),
        |_| inline(10_000),
    );
    for (name, branches) in [("fan_out_100", 100), ("fan_out_1000", 1_000)] {
        let g = fan_out(branches);
        paired(
            rt,
            results,
            name,
            21,
            |_| g.invoke(Counter::default(), c()),
            |_| async move {
                assert_eq!(bare::fan_out(branches).await.n, branches as u64 + 1);
                Ok::<_, ()>(())
            },
        );
    }
}

/// The inline limit of `steps` steps, checked.
async fn inline(steps: u64) -> Result<(), ()> {
    assert_eq!(bare::steps(steps).await.n, steps);
    Ok(())
}

/// Map-reduces of `Send`s from 1,000 to a million, and I/O-bound fan-outs with and
/// without a concurrency limit, each beside the same work on bare tokio.
fn send_workloads(rt: &tokio::runtime::Runtime, results: &mut BTreeMap<String, f64>) {
    let c = RunConfig::default;
    for (name, tasks, runs) in [
        ("send_1000", 1_000, 21),
        ("send_10000", 10_000, 11),
        ("send_100000", 100_000, 5),
        ("send_1000000", 1_000_000, 3),
    ] {
        let g = map_reduce(tasks);
        paired(
            rt,
            results,
            name,
            runs,
            |_| g.invoke(Items::default(), c()),
            |_| async move {
                let items = bare::map_reduce(tasks).await;
                assert!(items.iter().copied().eq(0..tasks), "every item, in order");
                Ok::<_, ()>(())
            },
        );
    }
    let g = io_fan_out(200, Duration::from_millis(50));
    let wait = Duration::from_millis(50);
    for (name, limit) in [("io_200_unlimited", None), ("io_200_max20", Some(20))] {
        let config = || match limit {
            Some(limit) => c().max_concurrency(limit),
            None => c(),
        };
        paired(
            rt,
            results,
            name,
            5,
            |_| g.invoke(Items::default(), config()),
            |_| async move {
                assert_eq!(bare::io_fan_out(200, wait, limit).await.len(), 200);
                Ok::<_, ()>(())
            },
        );
    }
}

/// A chain saved to SQLite at every step, with `Sync` and `Async` durability, and the
/// same rows written by bare SQLite: the floor of both.
fn sqlite_workloads(rt: &tokio::runtime::Runtime, results: &mut BTreeMap<String, f64>) {
    let dir = std::env::temp_dir().join(format!("graph-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let (g, c) = (sqlite_chain(100, &dir.join("compare.sqlite")), RunConfig::default);
    let rows = &bare::SqliteRows::open(&dir.join("bare.sqlite"));
    paired(
        rt,
        results,
        "sqlite_chain_100",
        5,
        |i| g.invoke(Counter::default(), c().thread_id(format!("t{i}"))),
        |i| async move {
            assert_eq!(rows.chain(100, &format!("t{i}")), 100, "one row per step");
            Ok::<_, ()>(())
        },
    );
    let background = || c().durability(Durability::Async);
    results.insert(
        "sqlite_chain_100_async".into(),
        median(rt, 5, |i| g.invoke(Counter::default(), background().thread_id(format!("a{i}")))),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The bare-tokio time for `workload`: `bare_tokio_X` where `X` is the workload's name or
/// the start of it up to an underscore (`sqlite_chain_100` for `sqlite_chain_100_async`).
fn bare_time(results: &BTreeMap<String, f64>, workload: &str) -> Option<f64> {
    results
        .iter()
        .filter_map(|(name, &time)| Some((name.strip_prefix("bare_tokio_")?, time)))
        .filter(|(floor, _)| {
            workload
                .strip_prefix(floor)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('_'))
        })
        .max_by_key(|(floor, _)| floor.len())
        .map(|(_, time)| time)
}

/// What a workload counts, and how many: the first number in its name.
fn units(workload: &str) -> Option<(f64, &'static str)> {
    let count = workload.split('_').find_map(|part| part.parse::<u32>().ok())?;
    let unit = match workload.split('_').next()? {
        "fan" => "branch",
        "send" | "io" | "cache" => "task",
        "agent" => "turn",
        "subgraph" | "plain" => "call",
        _ => "step",
    };
    Some((f64::from(count), unit))
}

/// Prints every workload beside its bare-tokio floor, with the ratio and per-unit costs.
fn print_table(results: &BTreeMap<String, f64>) {
    println!(
        "{:<24} {:>12} {:>12} {:>9} {:>20} {:>16}",
        "workload", "graph-core", "bare tokio", "ratio", "graph-core per unit", "bare per unit"
    );
    for (name, &ours) in results.iter().filter(|(name, _)| !name.starts_with("bare_tokio_")) {
        let bare = bare_time(results, name);
        let (count, unit) = units(name).unwrap_or((1.0, "run"));
        let per_unit = |time: f64| format!("{:.3} us/{unit}", time * 1e6 / count);
        println!(
            "{name:<24} {:>10.3}ms {:>12} {:>9} {:>20} {:>16}",
            ours * 1e3,
            bare.map_or("-".into(), |bare| format!("{:.3}ms", bare * 1e3)),
            bare.map_or("-".into(), |bare| format!("{:.1}x", ours / bare)),
            per_unit(ours),
            bare.map_or("-".into(), per_unit),
        );
    }
}

/// The agent loop with the prebuilt agent, and the same loop on bare tokio.
fn agent_workloads(rt: &tokio::runtime::Runtime, results: &mut BTreeMap<String, f64>) {
    for (name, turns) in [("agent_turns_1", 1), ("agent_turns_10", 10)] {
        let g = agent::agent(turns);
        let config = || RunConfig::default().recursion_limit(4 * turns + 10);
        paired(
            rt,
            results,
            name,
            21,
            |_| async {
                let out = g.invoke(agent::question(), config()).await?;
                agent::check(&out.state().messages, turns);
                Ok::<_, graph_core::GraphError>(())
            },
            |_| async move {
                agent::check(&agent::bare_agent(turns).await, turns);
                Ok::<_, ()>(())
            },
        );
    }
}

/// Parent steps that each run a one-node subgraph, and the same with a plain node: the
/// difference between 100 and 1 calls, divided by 99, is the cost of one call. Both have
/// one floor: the node function called inline.
fn call_workloads(rt: &tokio::runtime::Runtime, results: &mut BTreeMap<String, f64>) {
    let workloads = [
        ("subgraph_calls_1", subgraph_calls(1), 1),
        ("subgraph_calls_100", subgraph_calls(100), 100),
        ("plain_calls_1", plain_calls(1), 1),
        ("plain_calls_100", plain_calls(100), 100),
    ];
    for (name, g, calls) in workloads {
        paired(
            rt,
            results,
            name,
            101,
            |_| async {
                let out = g.invoke(Steps::default(), loop_config(calls)).await?;
                assert_eq!(out.state().n, calls, "one step per call");
                Ok::<_, graph_core::GraphError>(())
            },
            |_| async move {
                assert_eq!(bare::calls(calls).await.n, calls);
                Ok::<_, ()>(())
            },
        );
    }
}

/// The number of `Send`s in each cache workload.
const CACHED_TASKS: u32 = 1_000;
/// The timed runs of each cache workload, after its warm-up.
const CACHE_RUNS: usize = 21;

/// A map-reduce of 1,000 `Send`s to a cached worker on each backend: the warm-up run fills
/// the cache, so every timed run is all hits (checked: the worker runs in the warm-up
/// only). `cache_misses_1000_memory` gives each run a fresh cache: every task runs and is
/// stored. SQLite is a file in a temporary directory; Redis is `REDIS_URL`, else the local
/// server, under a key prefix of this process's own, cleared at the end.
fn cache_workloads(rt: &tokio::runtime::Runtime, results: &mut BTreeMap<String, f64>) {
    results.insert("cache_hits_1000_memory".into(), all_hits(rt, MemoryCache::new()));

    let dir = std::env::temp_dir().join(format!("graph-compare-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let sqlite = SqliteCache::open(dir.join("cache.sqlite")).expect("the SQLite cache opens");
    results.insert("cache_hits_1000_sqlite".into(), all_hits(rt, sqlite));
    let _ = std::fs::remove_dir_all(&dir);

    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("graph-compare-{}", std::process::id());
    let redis = rt
        .block_on(RedisCache::connect(&url))
        .unwrap_or_else(|e| panic!("Redis at {url} (run scripts/ensure-redis): {e}"))
        .with_prefix(prefix);
    results.insert("cache_hits_1000_redis".into(), all_hits(rt, redis));

    let runs = WorkerRuns::new();
    let g = cached_map_reduce(CACHED_TASKS, &runs);
    results.insert(
        "cache_misses_1000_memory".into(),
        median(rt, CACHE_RUNS, |_| {
            let g = g.clone().with_cache(MemoryCache::new());
            async move { check(g.invoke(Items::default(), RunConfig::default()).await?) }
        }),
    );
    let expected = u64::from(CACHED_TASKS) * (CACHE_RUNS as u64 + 1);
    assert_eq!(runs.get(), expected, "with a fresh cache, every run misses");
}

/// The median of the all-hit runs on `cache`, filled by the warm-up; clears it after.
fn all_hits(rt: &tokio::runtime::Runtime, cache: impl NodeCache) -> f64 {
    let runs = WorkerRuns::new();
    let g: CompiledGraph<Items> = cached_map_reduce(CACHED_TASKS, &runs).with_cache(cache);
    rt.block_on(g.clear_cache(["map"])).expect("the cache clears");
    let time = median(rt, CACHE_RUNS, |_| async {
        check(g.invoke(Items::default(), RunConfig::default()).await?)
    });
    assert_eq!(runs.get(), u64::from(CACHED_TASKS), "the worker ran in the warm-up only");
    rt.block_on(g.clear_cache(["map"])).expect("the cache clears");
    time
}

/// Every task's item came back, in order.
fn check(out: graph_core::RunOutcome<Items>) -> Result<(), graph_core::GraphError> {
    let items = &out.state().items;
    assert!(
        items.len() == CACHED_TASKS as usize && items.iter().copied().eq(0..CACHED_TASKS),
        "1,000 items in order"
    );
    Ok(())
}
