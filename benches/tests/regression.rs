//! A guard against gross performance regressions, run with the test suite. The bounds are
//! 100 times the release-mode times measured on a 2-core machine (see bench/RESULTS.md), so
//! noise and debug builds never trip them; an accidental quadratic step does.

use std::time::{Duration, Instant};

use graph_benches::{loop_config, looping, map_reduce, runtime, Counter, Items};
use graph_core::RunConfig;

fn timed<T>(run: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let out = run();
    (out, started.elapsed())
}

#[test]
fn a_ten_thousand_task_map_reduce_stays_fast() {
    let rt = runtime();
    let graph = map_reduce(10_000);
    // Release mode: about 22 ms.
    let bound = Duration::from_millis(22 * 100);
    let (out, took) = timed(|| rt.block_on(graph.invoke(Items::default(), RunConfig::default())));
    assert_eq!(out.unwrap().into_state().items.len(), 10_000);
    assert!(took < bound, "10,000 Sends took {took:?}, over the {bound:?} guard");
}

#[test]
fn a_thousand_step_loop_stays_fast() {
    let rt = runtime();
    let graph = looping(1_000);
    // Release mode: about 0.75 ms.
    let bound = Duration::from_millis(75);
    let (out, took) = timed(|| rt.block_on(graph.invoke(Counter::default(), loop_config(1_000))));
    assert_eq!(out.unwrap().into_state().n, 1_000);
    assert!(took < bound, "1,000 supersteps took {took:?}, over the {bound:?} guard");
}
