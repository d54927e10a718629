//! Distributed supersteps on real worker processes, on loopback PostgreSQL: a map-reduce
//! whose tasks run on three `fanout_worker` processes ends in exactly the state and the
//! checkpoints of a local run, also when a worker is killed or stalled mid-step and when
//! the coordinating process is killed and replaced. Every task's result is applied once,
//! however many times the task started.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use graph_core::distributed::{TaskQueue, Worker};
use graph_core::{CancellationToken, Executor, GraphError, RunConfig};
use graph_tests::fanout::{self, Fanout};
use support::backends::{postgres_url, unique};
use support::process::start_ready;

const PROCESS: &str = env!("CARGO_BIN_EXE_fanout_worker");

/// One test at a time: one restarts the database under the others, and each with worker
/// processes opens several connections.
static PROCESSES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A queue name no other test uses (`pgmq` names are short: letters, digits and `_`).
fn queue_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("t{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A log file for the tasks' starts.
fn log_file() -> PathBuf {
    let dir = std::env::temp_dir().join("graph-distributed");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}.log", unique("starts")))
}

/// The log's complete lines: an item's number when its task starts, `-` and the number
/// when it ends.
fn log_lines(log: &PathBuf) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let complete = text.rsplit_once('\n').map_or("", |(lines, _)| lines);
    complete.lines().map(str::to_owned).collect()
}

/// How many times each item's task started.
fn starts(log: &PathBuf) -> BTreeMap<u32, usize> {
    let mut counts = BTreeMap::new();
    for line in log_lines(log).iter().filter(|line| !line.starts_with('-')) {
        *counts.entry(line.parse().unwrap()).or_default() += 1;
    }
    counts
}

/// The most tasks that ran at once, by the order in which the processes logged starts and
/// ends.
fn most_at_once(log: &PathBuf) -> usize {
    let (mut running, mut most) = (0usize, 0);
    for line in log_lines(log) {
        if line.starts_with('-') {
            running -= 1;
        } else {
            running += 1;
            most = most.max(running);
        }
    }
    most
}

/// Waits until `n` task starts are logged.
async fn wait_for_starts(log: &PathBuf, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while starts(log).values().sum::<usize>() < n {
        assert!(Instant::now() < deadline, "fewer than {n} tasks started in 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A process of the test, killed when dropped.
struct Process {
    child: Child,
    _stdin: Option<ChildStdin>,
}

impl Process {
    fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(signal).arg(self.child.id().to_string()).status();
        assert!(status.unwrap().success(), "kill {signal} failed");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `count` worker processes on `queue`, with leases of `lease` seconds, once each
/// is ready to claim.
fn workers(queue: &str, count: usize, lease: u64) -> Vec<Process> {
    (0..count)
        .map(|i| {
            let mut command = Command::new(PROCESS);
            command.args(["work", &postgres_url(), queue, &format!("w{i}"), &lease.to_string()]);
            let mut child = start_ready(&mut command, &format!("worker w{i}"));
            let stdin = child.stdin.take();
            Process { child, _stdin: stdin }
        })
        .collect()
}

/// The map-reduce run locally on a PostgreSQL thread: its final state and checkpoint
/// contents, the reference every distributed run must equal.
async fn local(tasks: u32, task_ms: u64) -> (Fanout, String) {
    let saver = support::backends::postgres().await;
    let graph = fanout::graph().with_checkpointer(saver);
    let config = support::backends::thread();
    let state = graph
        .invoke(fanout::input(tasks, task_ms, ""), config.clone())
        .await
        .unwrap()
        .finished()
        .unwrap();
    let history = graph.get_state_history(&config).await.unwrap();
    (state, fanout::contents(&history))
}

/// The state and checkpoint contents of a distributed run's thread, with the log path
/// cleared so they compare with a local run's.
async fn stored(queue: &TaskQueue, thread: &str) -> (Fanout, String) {
    let graph = fanout::graph().with_checkpointer(queue.saver());
    let config = RunConfig::default().thread_id(thread);
    let mut history = graph.get_state_history(&config).await.unwrap();
    for snapshot in &mut history {
        snapshot.values.log.clear();
    }
    (history[0].values.clone(), fanout::contents(&history))
}

/// Checks a distributed run against the local one, and that every item's result is in the
/// final state once, in task order.
fn check(tasks: u32, (state, contents): (Fanout, String), reference: &(Fanout, String)) {
    let expected: Vec<u64> = (0..tasks).map(fanout::result).collect();
    assert_eq!(state.results, expected, "each task's result once, in task order");
    assert_eq!(state.total, expected.iter().sum::<u64>());
    assert_eq!(state, reference.0);
    assert_eq!(contents, reference.1, "the checkpoints equal the local run's");
}

/// Runs the map-reduce here with its tasks on the queue's workers.
async fn coordinate(queue: &TaskQueue, thread: &str, tasks: u32, task_ms: u64, log: &str) {
    let graph = fanout::graph().with_checkpointer(queue.saver());
    let config = RunConfig::default().thread_id(thread).executor(Executor::queue(queue, "fanout"));
    graph.invoke(fanout::input(tasks, task_ms, log), config).await.unwrap().finished().unwrap();
}

/// What each test with worker processes sets up: a queue of its own, its workers, a new
/// thread and a start log.
struct Scene {
    queue: TaskQueue,
    name: String,
    workers: Vec<Process>,
    thread: String,
    log: PathBuf,
}

/// A scene of `count` workers with leases of `lease` seconds.
async fn scene(count: usize, lease: u64) -> Scene {
    let name = queue_name();
    let queue = TaskQueue::connect(&postgres_url(), &name).await.unwrap();
    let workers = workers(&name, count, lease);
    Scene { queue, name, workers, thread: unique("thread"), log: log_file() }
}

impl Scene {
    /// Runs `tasks` tasks of `ms` on the workers, sending each `(after, worker, signal)`'s
    /// signal to its worker once `after` tasks started.
    async fn run(&self, tasks: u32, ms: u64, faults: &[(usize, usize, &str)]) {
        let run = coordinate(&self.queue, &self.thread, tasks, ms, self.log.to_str().unwrap());
        let inject = async {
            for &(after, worker, signal) in faults {
                wait_for_starts(&self.log, after).await;
                self.workers[worker].signal(signal);
            }
        };
        tokio::join!(run, inject);
    }

    /// How many times each task started.
    fn starts(&self) -> BTreeMap<u32, usize> {
        starts(&self.log)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_give_the_local_result() {
    let _one = PROCESSES.lock().await;
    let (tasks, scene) = (1_000, scene(3, 30).await);
    scene.run(tasks, 1, &[]).await;
    check(tasks, stored(&scene.queue, &scene.thread).await, &local(tasks, 1).await);
    let starts = scene.starts();
    assert_eq!(starts.len(), tasks as usize);
    assert!(starts.values().all(|&n| n == 1), "without faults every task starts once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_s_tasks_run_again_elsewhere_and_apply_once() {
    let _one = PROCESSES.lock().await;
    let (tasks, scene) = (600, scene(3, 2).await);
    scene.run(tasks, 40, &[(100, 0, "-KILL")]).await;
    check(tasks, stored(&scene.queue, &scene.thread).await, &local(tasks, 40).await);
    let starts = scene.starts();
    assert_eq!(starts.len(), tasks as usize);
    assert!(starts.values().any(|&n| n > 1), "the killed worker's tasks started again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_worker_loses_its_tasks_and_its_late_commit_stores_nothing() {
    let _one = PROCESSES.lock().await;
    let (tasks, scene) = (600, scene(3, 2).await);
    scene.run(tasks, 40, &[(100, 0, "-STOP")]).await;
    let (queue, thread) = (&scene.queue, &scene.thread);
    let finished = stored(queue, thread).await;
    // Woken after its leases lapsed and its tasks ran elsewhere, the worker finishes them
    // and tries to commit: nothing of it may land.
    scene.workers[0].signal("-CONT");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stored(queue, thread).await, finished);
    check(tasks, finished, &local(tasks, 40).await);
    let starts = scene.starts();
    assert!(starts.values().any(|&n| n > 1), "the stalled worker's tasks ran again");
    let client = support::backends::pg_client().await;
    let left = client
        .query_one("SELECT count(*) FROM graph_task_outputs WHERE thread_id = $1", &[thread])
        .await
        .unwrap();
    assert_eq!(left.get::<_, i64>(0), 0, "a late commit stored no output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_killed_mid_step_is_replaced_from_its_checkpoint() {
    let _one = PROCESSES.lock().await;
    let (tasks, scene) = (600, scene(3, 30).await);
    let (queue, thread, log) = (&scene.queue, &scene.thread, &scene.log);
    let coordinator = |stdout| {
        let (tasks, log) = (tasks.to_string(), log.to_str().unwrap().to_owned());
        Command::new(PROCESS)
            .args(["coordinate", &postgres_url(), &scene.name, thread, &tasks, "20", &log])
            .stdout(stdout)
            .spawn()
            .unwrap()
    };
    let first = Process { child: coordinator(Stdio::null()), _stdin: None };
    wait_for_starts(log, 100).await;
    first.signal("-KILL");
    drop(first);
    let second = coordinator(Stdio::piped()).wait_with_output().unwrap();
    assert!(second.status.success());
    let printed: Fanout = serde_json::from_slice(&second.stdout).unwrap();
    let finished = stored(queue, thread).await;
    assert_eq!(printed.results, finished.0.results);
    check(tasks, finished, &local(tasks, 20).await);
    // The replacement waited for the tasks already dispatched: none started twice.
    assert!(scene.starts().values().all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_tasks_survive_one_worker_killed_and_one_stalled() {
    let _one = PROCESSES.lock().await;
    let (tasks, scene) = (10_000, scene(3, 2).await);
    scene.run(tasks, 1, &[(1_000, 0, "-KILL"), (2_000, 1, "-STOP")]).await;
    let finished = stored(&scene.queue, &scene.thread).await;
    scene.workers[1].signal("-CONT");
    check(tasks, finished, &local(tasks, 1).await);
    let starts = scene.starts();
    assert_eq!(starts.len(), tasks as usize);
    assert!(starts.values().any(|&n| n > 1), "the faulty workers' tasks ran again");
}

/// Restarts the local PostgreSQL server (fast shutdown: every connection is cut), or where
/// the tests use another server (`DATABASE_URL`), ends every other connection to it, which
/// its clients see the same way.
async fn restart_postgres() {
    if std::env::var_os("DATABASE_URL").is_some() {
        let client = support::backends::pg_client().await;
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        return;
    }
    let versions = std::fs::read_dir("/etc/postgresql").expect("a Debian PostgreSQL cluster");
    let version = versions.map(|v| v.unwrap().file_name().into_string().unwrap()).max().unwrap();
    let restart = tokio::task::spawn_blocking(move || {
        Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", "restart"])
            .status()
    });
    assert!(restart.await.unwrap().unwrap().success(), "pg_ctlcluster restart failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_goes_on_through_a_postgres_restart_mid_step() {
    let _one = PROCESSES.lock().await;
    // Three workers of 16 slots take about 2 s: longer than the restart.
    let (tasks, scene) = (3_000, scene(3, 30).await);
    let run = async {
        scene.run(tasks, 30, &[]).await;
        Instant::now()
    };
    let restart = async {
        wait_for_starts(&scene.log, 300).await;
        restart_postgres().await;
        (Instant::now(), scene.starts().len())
    };
    let (finished, (restarted, started)) = tokio::join!(run, restart);
    assert!(finished > restarted, "the run went on after the restart");
    assert!(started < tasks as usize, "the restart came mid-step");
    check(tasks, stored(&scene.queue, &scene.thread).await, &local(tasks, 30).await);
    assert_eq!(scene.starts().len(), tasks as usize);
}

/// A worker in this process, stopped when dropped.
struct InProcess(CancellationToken);

impl Drop for InProcess {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

fn in_process(worker: Worker) -> InProcess {
    let stop = CancellationToken::new();
    tokio::spawn(worker.run(stop.clone()));
    InProcess(stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_s_events_and_timeline_name_the_worker_of_each_task() {
    use futures::StreamExt;
    let _one = PROCESSES.lock().await;
    let name = queue_name();
    let queue = TaskQueue::connect(&postgres_url(), &name).await.unwrap();
    let _worker =
        in_process(Worker::new(queue.clone()).id("here").graph("fanout", fanout::graph()));
    let graph = fanout::graph().with_checkpointer(queue.saver());
    let config = RunConfig::default()
        .thread_id(unique("thread"))
        .executor(Executor::queue(&queue, "fanout"))
        .stream_mode(graph_core::StreamMode::Tasks);
    let events: Vec<_> = graph.stream(fanout::input(5, 20, ""), config).collect().await;
    let ends: Vec<(String, Option<String>, Duration)> = events
        .iter()
        .filter_map(|event| match event {
            Ok(graph_core::StreamEvent::TaskEnd { task_id, worker, duration, .. }) => {
                Some((task_id.to_string(), worker.as_deref().map(str::to_owned), *duration))
            }
            _ => None,
        })
        .collect();
    let ids: Vec<&str> = ends.iter().map(|(id, ..)| id.as_str()).collect();
    assert_eq!(
        ids,
        ["0:plan", "1:send#0", "1:send#1", "1:send#2", "1:send#3", "1:send#4", "2:reduce"]
    );
    assert!(ends.iter().all(|(_, worker, _)| worker.as_deref() == Some("here")));
    // Each `work` task slept 20 ms on the worker, and its end says so.
    assert!(ends[1..6].iter().all(|(.., duration)| *duration >= Duration::from_millis(20)));
    let timeline = graph_core::Timeline::from_events(events.iter().flatten());
    assert!(timeline.entries().iter().all(|entry| entry.worker.as_deref() == Some("here")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_task_fails_the_run_naming_its_node_task_and_worker() {
    let _one = PROCESSES.lock().await;
    let name = queue_name();
    let queue = TaskQueue::connect(&postgres_url(), &name).await.unwrap();
    let _worker =
        in_process(Worker::new(queue.clone()).id("here").graph("fanout", fanout::graph()));
    let graph = fanout::graph().with_checkpointer(queue.saver());
    let thread = unique("thread");
    let config =
        RunConfig::default().thread_id(&thread).executor(Executor::queue(&queue, "fanout"));
    let mut input = fanout::input(20, 0, "");
    input = input.fail_at(Some(7));
    let error = graph.invoke(input, config).await.unwrap_err();
    match error {
        GraphError::RemoteTask { node, task_id, worker, message } => {
            assert_eq!(
                (node.as_str(), task_id.as_str(), worker.as_str()),
                ("work", "1:send#7", "here")
            );
            assert!(message.contains("item 7 cannot be done"), "{message}");
        }
        other => panic!("expected a remote task failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_another_version_of_the_graph_refuses_its_tasks() {
    let _one = PROCESSES.lock().await;
    let name = queue_name();
    let queue = TaskQueue::connect(&postgres_url(), &name).await.unwrap();
    // Registered under the run's name, but another graph: it must not run the tasks.
    let other = graph_core::StateGraph::<Fanout>::new()
        .add_node("work", |_: std::sync::Arc<Fanout>| async {})
        .add_edge(graph_core::START, "work")
        .compile()
        .unwrap();
    let _worker = in_process(Worker::new(queue.clone()).id("old").graph("fanout", other));
    let graph = fanout::graph().with_checkpointer(queue.saver());
    let config = RunConfig::default()
        .thread_id(unique("thread"))
        .executor(Executor::queue(&queue, "fanout"));
    let error = graph.invoke(fanout::input(3, 0, ""), config).await.unwrap_err();
    match error {
        GraphError::GraphMismatch { graph, version, found: Some(found), worker } => {
            assert_eq!((graph.as_str(), worker.as_str()), ("fanout", "old"));
            assert_ne!(version, found);
        }
        other => panic!("expected a version mismatch, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_the_queue_needs_saved_checkpoints() {
    let _one = PROCESSES.lock().await;
    let name = queue_name();
    let queue = TaskQueue::connect(&postgres_url(), &name).await.unwrap();
    let config = RunConfig::default().executor(Executor::queue(&queue, "fanout"));
    let error = fanout::graph().invoke(fanout::input(1, 0, ""), config.clone()).await.unwrap_err();
    assert!(matches!(error, GraphError::NoCheckpointer { .. }), "{error:?}");
    let graph = fanout::graph().with_checkpointer(queue.saver());
    let config = config.thread_id(unique("thread")).durability(graph_core::Durability::Exit);
    let error = graph.invoke(fanout::input(1, 0, ""), config).await.unwrap_err();
    assert!(matches!(error, GraphError::Queue { .. }), "{error:?}");
}

/// Runs `tasks` tasks of `ms` on `graph` (registered as `name` by the scene's workers) with
/// `config`, checking the final state against a local run's: the most tasks that ran at once.
async fn most_at_once_on(scene: &Scene, name: &str, config: RunConfig, tasks: u32) -> usize {
    let graph = match name {
        "fanout" => fanout::graph(),
        _ => fanout::capped_graph(2),
    };
    let graph = graph.with_checkpointer(scene.queue.saver());
    let thread = unique("thread");
    let config = config.thread_id(&thread).executor(Executor::queue(&scene.queue, name));
    let log = log_file();
    let input = fanout::input(tasks, 40, log.to_str().unwrap());
    graph.invoke(input, config).await.unwrap().finished().unwrap();
    check(tasks, stored(&scene.queue, &thread).await, &local(tasks, 40).await);
    most_at_once(&log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_caps_hold_across_worker_processes() {
    let _one = PROCESSES.lock().await;
    let scene = scene(3, 30).await;
    // Three processes running up to 16 tasks each: without a cap, all 24 run at once.
    let uncapped = most_at_once_on(&scene, "fanout", RunConfig::default(), 24).await;
    assert!(uncapped > 3, "without a cap {uncapped} tasks ran at once");
    // The run's cap counts every worker's tasks.
    let config = RunConfig::default().max_concurrency(3);
    assert_eq!(most_at_once_on(&scene, "fanout", config, 24).await, 3);
    // So does a node's: `work` runs at most two at a time in `fanout_capped`.
    assert_eq!(most_at_once_on(&scene, "fanout_capped", RunConfig::default(), 24).await, 2);
}

/// Starts a run of 20 tasks of 100 ms on one worker taking one task at a time, stops it with
/// `stop` after a moment, and checks that its queued tasks were withdrawn: nothing starts
/// after the run stopped and the queue is empty. Returns the run's error.
async fn stopped_run_leaves_nothing_queued(
    config: RunConfig,
    stop: CancellationToken,
) -> GraphError {
    let name = queue_name();
    let queue = TaskQueue::connect(&postgres_url(), &name).await.unwrap();
    let worker = Worker::new(queue.clone()).id("one").concurrency(1);
    let _worker = in_process(worker.graph("fanout", fanout::graph()));
    let graph = fanout::graph().with_checkpointer(queue.saver());
    let config = config.thread_id(unique("thread")).executor(Executor::queue(&queue, "fanout"));
    let log = log_file();
    let run = graph.invoke(fanout::input(20, 100, log.to_str().unwrap()), config);
    let stopping = async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        stop.cancel();
    };
    let (outcome, ()) = tokio::join!(run, stopping);
    let error = outcome.unwrap_err();
    // The task running when the run stopped may finish; none starts after it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = starts(&log).values().sum::<usize>();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(starts(&log).values().sum::<usize>(), started, "tasks started after the stop");
    assert!(started < 6, "{started} of 20 tasks started");
    let client = support::backends::postgres_client().await;
    let queued: i64 =
        client.query_one(&format!("SELECT count(*) FROM pgmq.q_{name}"), &[]).await.unwrap().get(0);
    assert_eq!(queued, 0, "the stopped step's tasks are withdrawn");
    error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_timed_out_or_cancelled_withdraws_its_queued_tasks() {
    let _one = PROCESSES.lock().await;
    let timeout = RunConfig::default().step_timeout(Duration::from_millis(250));
    let error = stopped_run_leaves_nothing_queued(timeout, CancellationToken::new()).await;
    assert!(matches!(error, GraphError::StepTimedOut { step: 1, .. }), "{error:?}");
    let stop = CancellationToken::new();
    let cancellable = RunConfig::default().cancellation_token(stop.clone());
    let error = stopped_run_leaves_nothing_queued(cancellable, stop).await;
    assert!(matches!(error, GraphError::Cancelled), "{error:?}");
}

/// What each item of [`resilient`] came to.
#[derive(
    graph_core::State, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize,
)]
struct Outcomes {
    #[reducer(append)]
    items: Vec<String>,
    #[reducer(append)]
    results: Vec<String>,
}

/// A fan-out whose `work` node retries once, times out after 100 ms and, when it still
/// fails, records the failure instead of failing the run (best effort). Item `flaky` fails
/// its first attempt, `slow` outlasts every timeout and `bad` always fails.
fn resilient() -> graph_core::CompiledGraph<Outcomes> {
    use graph_core::{NodeContext, NodeOptions, RetryPolicy, StateGraph, START};
    let work = |graph_core::Input(item): graph_core::Input<String>, ctx: NodeContext| async move {
        match item.as_str() {
            "flaky" if ctx.attempt() == 1 => Err(std::io::Error::other("flaked")),
            "slow" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(Outcomes::update())
            }
            "bad" => Err(std::io::Error::other("cannot be done")),
            _ => {
                Ok(Outcomes::update().results(vec![format!("{item} on attempt {}", ctx.attempt())]))
            }
        }
    };
    let options = NodeOptions::new()
        .retry(RetryPolicy::new(2).initial_interval(Duration::from_millis(10)))
        .timeout(Duration::from_millis(100))
        .on_error(|failure| {
            let item = failure.payload::<String>().cloned().unwrap_or_default();
            let attempts = failure.attempt;
            Outcomes::update()
                .results(vec![format!("{item} failed after {attempts}: {}", failure.error)])
        });
    StateGraph::<Outcomes>::new()
        .add_node("plan", |_: std::sync::Arc<Outcomes>| async {})
        .add_node_with("work", work, options)
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            |s: &Outcomes| {
                s.items
                    .iter()
                    .map(|item| graph_core::Send::new("work", item.clone()))
                    .collect::<Vec<_>>()
            },
            ["work"],
        )
        .compile()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_timeouts_and_error_handlers_behave_on_workers_as_locally() {
    let _one = PROCESSES.lock().await;
    let name = queue_name();
    let queue = TaskQueue::connect(&postgres_url(), &name).await.unwrap();
    let _worker = in_process(Worker::new(queue.clone()).id("here").graph("resilient", resilient()));
    let items: Vec<String> = ["ok", "flaky", "slow", "bad"].map(str::to_owned).into();
    let input = || Outcomes::update().items(items.clone());
    let local = resilient().with_checkpointer(support::backends::postgres().await);
    let expected = local.invoke(input(), support::backends::thread()).await.unwrap().into_state();
    assert_eq!(
        expected.results,
        [
            "ok on attempt 1",
            "flaky on attempt 2",
            "slow failed after 2: timed out after 100ms",
            "bad failed after 2: cannot be done",
        ]
    );
    let graph = resilient().with_checkpointer(queue.saver());
    let config = RunConfig::default()
        .thread_id(unique("thread"))
        .executor(Executor::queue(&queue, "resilient"));
    assert_eq!(graph.invoke(input(), config).await.unwrap().into_state(), expected);
}
