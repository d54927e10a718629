//! The server's own records: threads and runs, with their status and metadata. The states
//! themselves live in the checkpointer.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// An RFC 3339 timestamp of now, as the API shows times.
pub(crate) fn now() -> String {
    rfc3339(std::time::SystemTime::now())
}

/// A time in RFC 3339, to the microsecond.
pub(crate) fn rfc3339(time: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time)
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

/// A thread's status: `busy` while a run of it runs, then what its last run left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ThreadStatus {
    Idle,
    Busy,
    Interrupted,
    Error,
}

/// A thread as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Thread {
    pub thread_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub metadata: Map<String, Value>,
    pub status: ThreadStatus,
    /// The state its last run left.
    pub values: Value,
    /// Pending interrupts, by the node that raised them.
    pub interrupts: Map<String, Value>,
    /// Why its last run failed, if it did.
    pub error: Option<Value>,
    /// Who made it: only the same API key sees it. `None` when the server has no keys.
    #[serde(skip)]
    pub owner: Option<String>,
}

/// A run's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RunStatus {
    Pending,
    Running,
    Success,
    Error,
    Interrupted,
}

/// A run as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Run {
    pub run_id: String,
    pub thread_id: String,
    pub assistant_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub status: RunStatus,
    pub metadata: Map<String, Value>,
    pub kwargs: Value,
    pub multitask_strategy: String,
}

/// Threads and runs, in memory.
#[derive(Debug, Default)]
pub(crate) struct Records {
    threads: Mutex<HashMap<String, Thread>>,
    runs: Mutex<HashMap<String, Run>>,
}

impl Records {
    /// Adds a thread; fails with 409 if its id is taken.
    pub fn insert_thread(&self, thread: Thread) -> Result<Thread, ApiError> {
        let mut threads = self.threads.lock().expect("records lock");
        if threads.contains_key(&thread.thread_id) {
            return Err(ApiError::Exists(thread.thread_id));
        }
        threads.insert(thread.thread_id.clone(), thread.clone());
        Ok(thread)
    }

    /// The thread `id`, if `owner` may see it.
    pub fn thread(&self, id: &str, owner: Option<&str>) -> Result<Thread, ApiError> {
        let threads = self.threads.lock().expect("records lock");
        threads
            .get(id)
            .filter(|thread| thread.owner.as_deref() == owner)
            .cloned()
            .ok_or_else(|| ApiError::not_found("thread", id))
    }

    /// Every thread `owner` may see.
    pub fn threads(&self, owner: Option<&str>) -> Vec<Thread> {
        let threads = self.threads.lock().expect("records lock");
        threads.values().filter(|thread| thread.owner.as_deref() == owner).cloned().collect()
    }

    /// Changes thread `id` in place; returns the changed thread.
    pub fn update_thread(&self, id: &str, change: impl FnOnce(&mut Thread)) -> Option<Thread> {
        let mut threads = self.threads.lock().expect("records lock");
        let thread = threads.get_mut(id)?;
        change(thread);
        thread.updated_at = now();
        Some(thread.clone())
    }

    /// Deletes thread `id` and its runs.
    pub fn delete_thread(&self, id: &str) {
        self.threads.lock().expect("records lock").remove(id);
        self.runs.lock().expect("records lock").retain(|_, run| run.thread_id != id);
    }

    /// Adds a run.
    pub fn insert_run(&self, run: Run) {
        self.runs.lock().expect("records lock").insert(run.run_id.clone(), run);
    }

    /// Run `run_id` of thread `thread_id`.
    pub fn run(&self, thread_id: &str, run_id: &str) -> Result<Run, ApiError> {
        let runs = self.runs.lock().expect("records lock");
        runs.get(run_id)
            .filter(|run| run.thread_id == thread_id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("run", run_id))
    }

    /// The runs of a thread, newest first.
    pub fn runs(&self, thread_id: &str) -> Vec<Run> {
        let runs = self.runs.lock().expect("records lock");
        let mut found: Vec<Run> =
            runs.values().filter(|run| run.thread_id == thread_id).cloned().collect();
        found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.run_id.cmp(&a.run_id)));
        found
    }

    /// Sets a run's status.
    pub fn set_run_status(&self, run_id: &str, status: RunStatus) {
        if let Some(run) = self.runs.lock().expect("records lock").get_mut(run_id) {
            run.status = status;
            run.updated_at = now();
        }
    }

    /// Deletes a run's record.
    pub fn delete_run(&self, run_id: &str) {
        self.runs.lock().expect("records lock").remove(run_id);
    }
}
