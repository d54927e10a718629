//! Parallel execution controls, on tokio's paused clock so timings are exact and instant:
//! concurrency caps, retries, timeouts, error handlers, fail-fast and cancellation.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use graph_core::prelude::*;
use graph_core::{Input, NodeError, NodeOptions, RetryPolicy};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(State, Clone, Debug, Default, PartialEq)]
struct Work {
    #[reducer(append)]
    done: Vec<u32>,
    #[reducer(append)]
    failures: Vec<String>,
}

const MS: Duration = Duration::from_millis(1);

/// Counts how many tasks run at once and the peak.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    async fn hold(&self, duration: Duration) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(duration).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// `plan` sends `tasks` payloads to `io`, which waits 50 ms each.
fn io_fan_out(tasks: u32, gauge: Arc<Gauge>, options: NodeOptions<Work>) -> CompiledGraph<Work> {
    StateGraph::<Work>::new()
        .add_node("plan", |_: Arc<Work>| async {})
        .add_node_with(
            "io",
            move |Input(i): Input<u32>| {
                let gauge = Arc::clone(&gauge);
                async move {
                    gauge.hold(50 * MS).await;
                    Work::update().done(vec![i])
                }
            },
            options,
        )
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            move |_: &Work| (0..tasks).map(|i| graph_core::Send::new("io", i)).collect::<Vec<_>>(),
            ["io"],
        )
        .compile()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn unlimited_io_tasks_take_one_wait() {
    let gauge = Arc::new(Gauge::default());
    let graph = io_fan_out(200, Arc::clone(&gauge), NodeOptions::new());
    let started = Instant::now();
    let out = graph.invoke(Work::default(), RunConfig::default()).await.unwrap().into_state();
    assert_eq!(started.elapsed(), 50 * MS);
    assert_eq!(gauge.peak(), 200);
    assert!(out.done.iter().copied().eq(0..200));
}

#[tokio::test(start_paused = true)]
async fn max_concurrency_runs_io_tasks_in_waves() {
    let gauge = Arc::new(Gauge::default());
    let graph = io_fan_out(200, Arc::clone(&gauge), NodeOptions::new());
    let started = Instant::now();
    let out = graph
        .invoke(Work::default(), RunConfig::default().max_concurrency(20))
        .await
        .unwrap()
        .into_state();
    assert_eq!(started.elapsed(), 10 * 50 * MS); // ceil(200 / 20) waves
    assert_eq!(gauge.peak(), 20);
    assert!(out.done.iter().copied().eq(0..200));
}

#[tokio::test(start_paused = true)]
async fn a_node_concurrency_cap_holds_across_concurrent_runs() {
    let gauge = Arc::new(Gauge::default());
    let graph = io_fan_out(50, Arc::clone(&gauge), NodeOptions::new().concurrency(5));
    let started = Instant::now();
    let (a, b) = tokio::join!(
        graph.invoke(Work::default(), RunConfig::default()),
        graph.invoke(Work::default(), RunConfig::default()),
    );
    assert_eq!(a.unwrap().into_state().done.len(), 50);
    assert_eq!(b.unwrap().into_state().done.len(), 50);
    assert_eq!(gauge.peak(), 5);
    assert_eq!(started.elapsed(), 20 * 50 * MS); // 100 tasks, 5 at a time
}

#[tokio::test(start_paused = true)]
async fn a_task_alone_in_its_step_still_waits_for_its_nodes_permit() {
    // Each run's step is one task of `io`, run in place; the cap is shared by the runs.
    let gauge = Arc::new(Gauge::default());
    let held = Arc::clone(&gauge);
    let graph = StateGraph::<Work>::new()
        .add_node_with(
            "io",
            move |_: Arc<Work>| {
                let gauge = Arc::clone(&held);
                async move {
                    gauge.hold(50 * MS).await;
                    Work::update().done(vec![1])
                }
            },
            NodeOptions::new().concurrency(1),
        )
        .add_edge(START, "io")
        .compile()
        .unwrap();
    let started = Instant::now();
    let runs = (0..3).map(|_| graph.invoke(Work::default(), RunConfig::default()));
    for out in futures::future::join_all(runs).await {
        assert_eq!(out.unwrap().into_state().done, [1]);
    }
    assert_eq!(gauge.peak(), 1);
    assert_eq!(started.elapsed(), 3 * 50 * MS); // one at a time
}

/// A node failing its first `failures` attempts, recording when each attempt started.
fn flaky(
    failures: u32,
    attempts: Arc<Mutex<Vec<(u32, Duration)>>>,
    options: NodeOptions<Work>,
) -> CompiledGraph<Work> {
    let started = Instant::now();
    StateGraph::<Work>::new()
        .add_node_with(
            "flaky",
            move |_: Arc<Work>, ctx: NodeContext| {
                attempts.lock().unwrap().push((ctx.attempt(), started.elapsed()));
                async move {
                    if ctx.attempt() <= failures {
                        Err(format!("attempt {} failed", ctx.attempt()))
                    } else {
                        Ok(Work::update().done(vec![ctx.attempt()]))
                    }
                }
            },
            options,
        )
        .add_edge(START, "flaky")
        .compile()
        .unwrap()
}

fn exact_backoff(max_attempts: u32) -> RetryPolicy {
    RetryPolicy::new(max_attempts).initial_interval(100 * MS).backoff_factor(2.0).jitter(false)
}

#[tokio::test(start_paused = true)]
async fn retries_follow_the_policy_exactly() {
    let attempts = Arc::default();
    let graph = flaky(3, Arc::clone(&attempts), NodeOptions::new().retry(exact_backoff(4)));
    let out = graph.invoke(Work::default(), RunConfig::default()).await.unwrap().into_state();
    assert_eq!(out.done, [4]);
    assert_eq!(
        *attempts.lock().unwrap(),
        [(1, Duration::ZERO), (2, 100 * MS), (3, 300 * MS), (4, 700 * MS)]
    );
}

#[tokio::test(start_paused = true)]
async fn the_max_interval_caps_the_backoff() {
    let attempts = Arc::default();
    let policy = exact_backoff(4).max_interval(150 * MS);
    let graph = flaky(3, Arc::clone(&attempts), NodeOptions::new().retry(policy));
    graph.invoke(Work::default(), RunConfig::default()).await.unwrap().into_state();
    assert_eq!(
        *attempts.lock().unwrap(),
        [(1, Duration::ZERO), (2, 100 * MS), (3, 250 * MS), (4, 400 * MS)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_hint_replaces_the_backoff_for_the_failures_it_knows() {
    let attempts = Arc::default();
    // The hint asks for 1 s after every failure; max_interval caps it at 800 ms.
    let policy = exact_backoff(3)
        .max_interval(800 * MS)
        .wait_hint(|error| matches!(error, NodeError::Failed(_)).then_some(Duration::from_secs(1)));
    let graph = flaky(2, Arc::clone(&attempts), NodeOptions::new().retry(policy));
    graph.invoke(Work::default(), RunConfig::default()).await.unwrap().into_state();
    assert_eq!(*attempts.lock().unwrap(), [(1, Duration::ZERO), (2, 800 * MS), (3, 1600 * MS)]);
}

#[tokio::test(start_paused = true)]
async fn jittered_waits_stay_within_the_upper_half_of_the_backoff() {
    let attempts = Arc::default();
    let policy = exact_backoff(3).jitter(true);
    let graph = flaky(2, Arc::clone(&attempts), NodeOptions::new().retry(policy));
    graph.invoke(Work::default(), RunConfig::default()).await.unwrap().into_state();
    let times: Vec<Duration> = attempts.lock().unwrap().iter().map(|a| a.1).collect();
    let first_wait = times[1] - times[0];
    let second_wait = times[2] - times[1];
    assert!((50 * MS..=100 * MS).contains(&first_wait), "{first_wait:?}");
    assert!((100 * MS..=200 * MS).contains(&second_wait), "{second_wait:?}");
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_fail_with_the_last_attempt_and_error() {
    let attempts = Arc::default();
    let graph = flaky(5, Arc::clone(&attempts), NodeOptions::new().retry(exact_backoff(3)));
    let err = graph.invoke(Work::default(), RunConfig::default()).await.unwrap_err();
    assert_eq!(err.to_string(), "node `flaky` failed in step 0 (attempt 3): attempt 3 failed");
    assert_eq!(attempts.lock().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn errors_the_predicate_rejects_are_not_retried() {
    let attempts = Arc::default();
    let policy = exact_backoff(5).retry_if(|error| matches!(error, NodeError::TimedOut(_)));
    let graph = flaky(1, Arc::clone(&attempts), NodeOptions::new().retry(policy));
    let err = graph.invoke(Work::default(), RunConfig::default()).await.unwrap_err();
    assert!(matches!(err, GraphError::NodeFailed { attempt: 1, .. }));
    assert_eq!(attempts.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_retried_send_task_gets_its_payload_again() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = Arc::clone(&seen);
    let graph = StateGraph::<Work>::new()
        .add_node("plan", |_: Arc<Work>| async {})
        .add_node_with(
            "w",
            move |Input(i): Input<u32>, ctx: NodeContext| {
                recorder.lock().unwrap().push((i, ctx.attempt()));
                async move {
                    if ctx.attempt() == 1 {
                        return Err("first attempt fails");
                    }
                    Ok(Work::update().done(vec![i]))
                }
            },
            NodeOptions::new().retry(exact_backoff(2)),
        )
        .add_edge(START, "plan")
        .add_conditional_edges("plan", |_: &Work| graph_core::Send::new("w", 7_u32), ["w"])
        .compile()
        .unwrap();
    let out = graph.invoke(Work::default(), RunConfig::default()).await.unwrap().into_state();
    assert_eq!(out.done, [7]);
    assert_eq!(*seen.lock().unwrap(), [(7, 1), (7, 2)]);
}

/// Three reviewers in parallel; `slow` sleeps 10 s and `bad` fails.
fn reviewers(options: impl Fn() -> NodeOptions<Work>) -> CompiledGraph<Work> {
    StateGraph::<Work>::new()
        .add_node_with("fast", |_: Arc<Work>| async { Work::update().done(vec![1]) }, options())
        .add_node_with(
            "slow",
            |_: Arc<Work>| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Work::update().done(vec![2])
            },
            options(),
        )
        .add_node_with(
            "bad",
            |_: Arc<Work>| async {
                tokio::time::sleep(5 * MS).await;
                Err::<WorkUpdate, _>("no answer")
            },
            options(),
        )
        .add_edge(START, "fast")
        .add_edge(START, "slow")
        .add_edge(START, "bad")
        .compile()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_timeout_fails_the_task_and_names_the_node() {
    let graph = reviewers(|| NodeOptions::new().timeout(Duration::from_secs(1)));
    let started = Instant::now();
    let err = graph.invoke(Work::default(), RunConfig::default()).await.unwrap_err();
    // `bad` fails first, at 5 ms.
    assert_eq!(err.to_string(), "node `bad` failed in step 0 (attempt 1): no answer");
    assert_eq!(started.elapsed(), 5 * MS);

    let only_slow = StateGraph::<Work>::new()
        .add_node_with(
            "slow",
            |_: Arc<Work>| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
            },
            NodeOptions::new().timeout(Duration::from_secs(1)),
        )
        .add_edge(START, "slow")
        .compile()
        .unwrap();
    let err = only_slow.invoke(Work::default(), RunConfig::default()).await.unwrap_err();
    assert!(matches!(
        &err,
        GraphError::NodeTimedOut { node, step: 0, attempt: 1, timeout } if node == "slow" && *timeout == Duration::from_secs(1)
    ));
    assert_eq!(err.to_string(), "node `slow` timed out after 1s in step 0 (attempt 1)");
}

#[tokio::test(start_paused = true)]
async fn error_handlers_keep_partial_results_and_record_failures() {
    let best_effort = || {
        NodeOptions::new()
            .timeout(Duration::from_secs(1))
            .on_error(|failure| Work::update().failures(vec![failure.to_string()]))
    };
    let graph = reviewers(best_effort);
    let started = Instant::now();
    let out = graph.invoke(Work::default(), RunConfig::default()).await.unwrap().into_state();
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(out.done, [1]);
    assert_eq!(
        out.failures,
        [
            "`bad` failed: no answer (task 0:bad, attempt 1)",
            "`slow` failed: timed out after 1s (task 0:slow, attempt 1)"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_error_handler_also_catches_panics() {
    let graph = StateGraph::<Work>::new()
        .add_node_with(
            "boom",
            |_: Arc<Work>| async {
                if true {
                    panic!("kaput");
                }
            },
            NodeOptions::new().on_error(|f| Work::update().failures(vec![f.error.to_string()])),
        )
        .add_edge(START, "boom")
        .compile()
        .unwrap();
    let out = graph.invoke(Work::default(), RunConfig::default()).await.unwrap().into_state();
    assert_eq!(out.failures, ["panicked: kaput"]);
}

/// Counts tasks that were dropped before finishing.
struct DropGuard {
    finished: bool,
    dropped: Arc<AtomicUsize>,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// `count` parallel workers sleeping 10 s each; worker 3 fails after 10 ms if `fail` is set.
/// A thousand are spawned in batches, ten one by one.
fn workers(
    count: u32,
    fail: bool,
    dropped: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
) -> CompiledGraph<Work> {
    StateGraph::<Work>::new()
        .add_node("plan", |_: Arc<Work>| async {})
        .add_node("w", move |Input(i): Input<u32>| {
            let guard = DropGuard { finished: false, dropped: Arc::clone(&dropped) };
            let finished = Arc::clone(&finished);
            async move {
                let mut guard = guard;
                if fail && i == 3 {
                    tokio::time::sleep(10 * MS).await;
                    guard.finished = true;
                    return Err("worker 3 failed");
                }
                tokio::time::sleep(Duration::from_secs(10)).await;
                guard.finished = true;
                finished.fetch_add(1, Ordering::SeqCst);
                Ok(Work::update().done(vec![i]))
            }
        })
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            move |_: &Work| (0..count).map(|i| graph_core::Send::new("w", i)).collect::<Vec<_>>(),
            ["w"],
        )
        .compile()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn fail_fast_cancels_the_siblings_without_waiting_for_them() {
    for count in [10, 1_000] {
        let (dropped, finished) = (Arc::default(), Arc::default());
        let graph = workers(count, true, Arc::clone(&dropped), Arc::clone(&finished));
        let started = Instant::now();
        let err = graph.invoke(Work::default(), RunConfig::default()).await.unwrap_err();
        assert_eq!(started.elapsed(), 10 * MS);
        assert!(matches!(&err, GraphError::NodeFailed { node, step: 1, .. } if node == "w"));
        tokio::task::yield_now().await; // let the aborted tasks be dropped
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(dropped.load(Ordering::SeqCst), count as usize - 1);
        assert_eq!(finished.load(Ordering::SeqCst), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn dropping_an_invoke_stops_its_tasks() {
    for count in [10, 1_000] {
        let (dropped, finished) = (Arc::default(), Arc::default());
        let graph = workers(count, false, Arc::clone(&dropped), Arc::clone(&finished));
        let run =
            tokio::spawn(async move { graph.invoke(Work::default(), RunConfig::default()).await });
        tokio::time::sleep(100 * MS).await;
        run.abort();
        assert!(run.await.unwrap_err().is_cancelled());
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(dropped.load(Ordering::SeqCst), count as usize);
        assert_eq!(finished.load(Ordering::SeqCst), 0);
    }
}

/// Sends spawned in batches still spread over the worker threads: tasks that block their
/// thread run on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_fan_out_of_blocking_tasks_runs_on_every_worker_thread() {
    let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let seen = Arc::clone(&threads);
    let graph = StateGraph::<Work>::new()
        .add_node("plan", |_: Arc<Work>| async {})
        .add_node("w", move |Input(i): Input<u32>| {
            let seen = Arc::clone(&seen);
            async move {
                std::thread::sleep(5 * MS);
                seen.lock().unwrap().insert(std::thread::current().id());
                Work::update().done(vec![i])
            }
        })
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            |_: &Work| (0..64_u32).map(|i| graph_core::Send::new("w", i)).collect::<Vec<_>>(),
            ["w"],
        )
        .compile()
        .unwrap();
    let out = graph.invoke(Work::default(), RunConfig::default()).await.unwrap();
    assert_eq!(out.into_state().done, (0..64).collect::<Vec<_>>());
    assert_eq!(threads.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_cancellation_token_stops_the_run_with_a_distinct_error() {
    let (dropped, finished) = (Arc::default(), Arc::default());
    let graph = workers(10, false, Arc::clone(&dropped), Arc::clone(&finished));
    let token = CancellationToken::new();
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(100 * MS).await;
        canceller.cancel();
    });
    let started = Instant::now();
    let err = graph
        .invoke(Work::default(), RunConfig::default().cancellation_token(token))
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::Cancelled));
    assert_eq!(err.to_string(), "the run was cancelled");
    assert_eq!(started.elapsed(), 100 * MS);
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(dropped.load(Ordering::SeqCst), 10);
    assert_eq!(finished.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn nodes_see_the_run_cancelled_through_their_context() {
    let observed = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&observed);
    let graph = StateGraph::<Work>::new()
        .add_node("watch", move |_: Arc<Work>, ctx: NodeContext| {
            let seen = Arc::clone(&seen);
            // A detached child task that only stops through the token.
            tokio::spawn(async move {
                ctx.cancellation_token().cancelled().await;
                seen.fetch_add(1, Ordering::SeqCst);
            });
            async { tokio::time::sleep(Duration::from_secs(10)).await }
        })
        .add_node("bad", |_: Arc<Work>| async {
            tokio::time::sleep(MS).await;
            Err::<(), _>("boom")
        })
        .add_edge(START, "watch")
        .add_edge(START, "bad")
        .compile()
        .unwrap();
    graph.invoke(Work::default(), RunConfig::default()).await.unwrap_err();
    tokio::time::sleep(MS).await;
    assert_eq!(observed.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_step_timeout_bounds_a_whole_superstep() {
    let (dropped, finished) = (Arc::default(), Arc::default());
    let graph = workers(10, false, Arc::clone(&dropped), Arc::clone(&finished));
    let config = RunConfig::default().step_timeout(Duration::from_secs(1));
    let started = Instant::now();
    let err = graph.invoke(Work::default(), config).await.unwrap_err();
    assert!(
        matches!(err, GraphError::StepTimedOut { step: 1, timeout } if timeout == Duration::from_secs(1))
    );
    assert_eq!(err.to_string(), "step 1 timed out after 1s");
    assert_eq!(started.elapsed(), Duration::from_secs(1));
}
