//! Real crashes: a process running a checkpointed journey is killed with SIGKILL mid-run, and
//! a new process resumes the thread to the same final state as an uninterrupted run, with no
//! step lost or run twice beyond the one in flight. The journey runs as a graph of its own
//! and as a subgraph (killed inside the subgraph), on SQLite and on PostgreSQL.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use graph_core::checkpoint::{Checkpointer, PostgresSaver, SqliteSaver};
use graph_tests::journey::{Journey, STEPS};
use support::backends::{postgres_url, unique};

const WORKER: &str = env!("CARGO_BIN_EXE_crash_worker");

/// Where a journey runs: the worker's store argument, and a saver on the same store.
struct Store {
    arg: String,
    saver: Arc<dyn Checkpointer>,
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("graph-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sqlite() -> Store {
    let path = scratch().join(format!("{}.sqlite", unique("journey")));
    let arg = format!("sqlite:{}", path.display());
    Store { arg, saver: Arc::new(SqliteSaver::open(&path).unwrap()) }
}

async fn postgres() -> Store {
    let url = postgres_url();
    let saver = PostgresSaver::connect(&url).await.unwrap();
    Store { arg: format!("postgres:{url}"), saver: Arc::new(saver) }
}

fn worker(store: &Store, thread: &str, log: &Path, kind: &str) -> Command {
    let mut command = Command::new(WORKER);
    command.arg(&store.arg).arg(thread).arg(log).arg(kind);
    command
}

/// The thread the walk checkpoints in: the thread itself, or the subgraph's under it.
async fn walk_thread(saver: &dyn Checkpointer, thread: &str, nested: bool) -> Option<String> {
    if !nested {
        return Some(thread.to_owned());
    }
    // The subgraph task runs in the step after the parent's input checkpoint.
    let parent = saver.list(thread).await.unwrap();
    let input = parent.last()?;
    Some(format!("{thread}|trip:0:trip@{}", input.id))
}

async fn killed_and_resumed(store: Store, kind: &str) {
    let nested = kind == "nested";
    let thread = unique("journey");
    let log = scratch().join(format!("{thread}.log"));
    let saver = &*store.saver;

    let mut first = worker(&store, &thread, &log, kind).stdout(Stdio::null()).spawn().unwrap();
    // Wait until a third of the walk is checkpointed, then kill the worker without warning.
    let deadline = Instant::now() + Duration::from_secs(60);
    let walk = loop {
        if let Some(walk) = walk_thread(saver, &thread, nested).await {
            if saver.list(&walk).await.unwrap().len() > (STEPS / 3) as usize {
                break walk;
            }
        }
        assert!(Instant::now() < deadline, "the worker made no progress");
        assert!(first.try_wait().unwrap().is_none(), "the worker ended before it was killed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let saved_at_kill = saver.list(&walk).await.unwrap().len();
    assert!(saved_at_kill < STEPS as usize, "the run was killed mid-way");

    let second = worker(&store, &thread, &log, kind).output().unwrap();
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let resumed: Journey = serde_json::from_slice(&second.stdout).unwrap();

    let expected: Vec<String> = (0..STEPS).map(|i| format!("walk {i}")).collect();
    let mut steps = expected.clone();
    if nested {
        steps.push("arrived".into());
    }
    assert_eq!(resumed, Journey { steps, count: STEPS });

    // Every step ran once, except at most the one in flight at the kill, which ran twice.
    let log = std::fs::read_to_string(&log).unwrap();
    let runs: Vec<&str> = log.lines().collect();
    let repeated: Vec<&String> =
        expected.iter().filter(|e| runs.iter().filter(|r| *r == e).count() > 1).collect();
    assert!(repeated.len() <= 1, "steps run twice: {repeated:?}");
    assert!(expected.iter().all(|e| runs.contains(&e.as_str())), "a step was lost");
    assert_eq!(runs.len(), STEPS as usize + repeated.len());
    // The resumed subgraph went on in its own thread, not in a new call.
    assert!(saver.list(&walk).await.unwrap().len() > saved_at_kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_resumes_in_a_new_process() {
    killed_and_resumed(sqlite(), "flat").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_inside_a_subgraph_resumes_it_on_sqlite() {
    killed_and_resumed(sqlite(), "nested").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_inside_a_subgraph_resumes_it_on_postgres() {
    killed_and_resumed(postgres().await, "nested").await;
}
