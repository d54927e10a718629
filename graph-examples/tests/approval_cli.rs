//! The approval example pauses in one process and resumes in another: the example binary runs
//! twice, as separate processes sharing only a SQLite file, and its exact output is pinned.

use std::path::PathBuf;
use std::process::Command;

mod support;

/// The example binary.
fn example() -> PathBuf {
    support::example("approval", &["examples/approval.rs", "src/approval.rs"])
}

/// A fresh checkpoint file for one test, removed (with its WAL files) when dropped.
struct Db(PathBuf);

impl Db {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir()
            .join(format!("graph-approval-{name}-{}.sqlite", std::process::id()));
        let db = Db(path);
        db.remove();
        db
    }
    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Runs the example as its own process and returns what it printed.
fn approval(db: &Db, args: &[&str]) -> String {
    let output = Command::new(example())
        .args(args)
        .arg("--db")
        .arg(&db.0)
        .output()
        .expect("the example runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "approval {args:?} failed: {stderr}");
    String::from_utf8(output.stdout).expect("utf-8 output")
}

#[test]
fn start_pauses_and_exits_then_a_second_process_resumes_with_an_edit() {
    let db = Db::new("edit");
    let started = approval(&db, &["start"]);
    insta::assert_snapshot!("approval_start", started);
    let resumed =
        approval(&db, &["resume", "--edit", "Dear Ada, the invoice is attached. Thank you!"]);
    insta::assert_snapshot!("approval_resume_edit", resumed);
}

#[test]
fn a_second_process_can_approve_the_draft_as_written() {
    let db = Db::new("approve");
    approval(&db, &["start"]);
    assert_eq!(
        approval(&db, &["resume", "--approve"]),
        "decision: approve\nsent to Ada: Dear Ada, the invoice is attached. Pay now!!\n"
    );
}

#[test]
fn resuming_a_thread_that_is_not_paused_says_so() {
    let db = Db::new("nothing");
    let output =
        Command::new(example()).args(["resume", "--approve", "--db"]).arg(&db.0).output().unwrap();
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "Error: \"thread email-1 is not waiting for an answer: run `start` first\"\n"
    );
}
