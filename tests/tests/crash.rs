//! A real crash: a process running a checkpointed journey on SQLite is killed with SIGKILL
//! mid-run, and a new process resumes the thread to the same final state as an
//! uninterrupted run, with no step lost or run twice beyond the one in flight.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use graph_core::checkpoint::{Checkpointer, SqliteSaver};
use graph_tests::journey::{Journey, STEPS};

const WORKER: &str = env!("CARGO_BIN_EXE_crash_worker");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_resumes_in_a_new_process() {
    let dir = std::env::temp_dir().join(format!("graph-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let database = dir.join("journey.sqlite");
    let _ = std::fs::remove_file(&database);
    let _ = std::fs::remove_file(dir.join("journey.sqlite.log"));
    let thread = "journey";

    let mut first =
        Command::new(WORKER).arg(&database).arg(thread).stdout(Stdio::null()).spawn().unwrap();
    // Wait until a third of the walk is checkpointed, then kill the worker without warning.
    let saver = SqliteSaver::open(&database).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let saved = saver.list(thread).await.unwrap().len();
        if saved > (STEPS / 3) as usize {
            break;
        }
        assert!(Instant::now() < deadline, "the worker made no progress");
        assert!(first.try_wait().unwrap().is_none(), "the worker ended before it was killed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let saved_at_kill = saver.list(thread).await.unwrap().len();
    assert!(saved_at_kill < STEPS as usize, "the run was killed mid-way");

    let second = Command::new(WORKER).arg(&database).arg(thread).output().unwrap();
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let resumed: Journey = serde_json::from_slice(&second.stdout).unwrap();

    let expected: Vec<String> = (0..STEPS).map(|i| format!("walk {i}")).collect();
    assert_eq!(resumed, Journey { steps: expected.clone(), count: STEPS });

    // Every step ran once, except at most the one in flight at the kill, which ran twice.
    let log = std::fs::read_to_string(dir.join("journey.sqlite.log")).unwrap();
    let runs: Vec<&str> = log.lines().collect();
    let repeated: Vec<&String> =
        expected.iter().filter(|e| runs.iter().filter(|r| *r == e).count() > 1).collect();
    assert!(repeated.len() <= 1, "steps run twice: {repeated:?}");
    assert!(expected.iter().all(|e| runs.contains(&e.as_str())), "a step was lost");
    assert_eq!(runs.len(), STEPS as usize + repeated.len());
}
