//! Criterion benchmarks of the runtime: `cargo bench -p graph-benches`.
// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use graph_benches::{
    chain, fan_out, io_fan_out, loop_config, looping, map_reduce, plain_calls, runtime,
    sqlite_chain, subgraph_calls, Counter, Items, Steps,
};
use graph_core::RunConfig;

fn supersteps(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("supersteps");
    group.sample_size(20);

    let graph = chain(1_000);
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("chain/1000", |b| {
        b.to_async(&rt).iter(|| graph.invoke(Counter::default(), RunConfig::default()))
    });

    let graph = looping(10_000);
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("loop/10000", |b| {
        b.to_async(&rt).iter(|| graph.invoke(Counter::default(), loop_config(10_000)))
    });
    group.finish();
}

fn fan_outs(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("fan_out");
    group.sample_size(20);
    for branches in [100, 1_000] {
        let graph = fan_out(branches);
        group.throughput(Throughput::Elements(branches as u64));
        group.bench_with_input(BenchmarkId::from_parameter(branches), &graph, |b, graph| {
            b.to_async(&rt).iter(|| graph.invoke(Counter::default(), RunConfig::default()))
        });
    }
    group.finish();
}

fn map_reduces(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("send_map_reduce");
    for tasks in [1_000, 10_000, 100_000, 1_000_000] {
        group.sample_size(if tasks >= 100_000 { 10 } else { 20 });
        group.measurement_time(Duration::from_secs(if tasks >= 1_000_000 { 20 } else { 5 }));
        let graph = map_reduce(tasks);
        group.throughput(Throughput::Elements(u64::from(tasks)));
        group.bench_with_input(BenchmarkId::from_parameter(tasks), &graph, |b, graph| {
            b.to_async(&rt).iter(|| graph.invoke(Items::default(), RunConfig::default()))
        });
    }
    group.finish();
}

fn io_bound(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("io_200x50ms");
    group.sample_size(10);
    let graph = io_fan_out(200, Duration::from_millis(50));
    group.bench_function("unlimited", |b| {
        b.to_async(&rt).iter(|| graph.invoke(Items::default(), RunConfig::default()))
    });
    group.bench_function("max_concurrency_20", |b| {
        b.to_async(&rt)
            .iter(|| graph.invoke(Items::default(), RunConfig::default().max_concurrency(20)))
    });
    group.finish();
}

fn checkpointed(c: &mut Criterion) {
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("graph-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let graph = sqlite_chain(100, &dir.join("bench.sqlite"));
    let mut group = c.benchmark_group("sqlite_chain");
    group.sample_size(10);
    group.throughput(Throughput::Elements(100));
    let mut run = 0_u64;
    group.bench_function("100", |b| {
        b.to_async(&rt).iter(|| {
            run += 1;
            graph.invoke(Counter::default(), RunConfig::default().thread_id(format!("bench-{run}")))
        })
    });
    group.finish();
}

/// Parent steps running a one-node subgraph (`subgraph/call/N`) beside the same steps
/// running its node directly (`subgraph/plain_node/N`): throughput is calls per second.
fn subgraph_calls_bench(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("subgraph");
    for calls in [1, 100] {
        group.throughput(Throughput::Elements(calls));
        for (name, graph) in [("call", subgraph_calls(calls)), ("plain_node", plain_calls(calls))] {
            group.bench_with_input(BenchmarkId::new(name, calls), &graph, |b, graph| {
                b.to_async(&rt).iter(|| graph.invoke(Steps::default(), loop_config(calls)))
            });
        }
    }
    group.finish();
}

criterion_group!(
    benches,
    supersteps,
    fan_outs,
    map_reduces,
    io_bound,
    checkpointed,
    subgraph_calls_bench
);
criterion_main!(benches);
