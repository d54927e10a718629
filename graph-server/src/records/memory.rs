//! Records in memory, gone with the process.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Backend, Run, RunStatus, Thread};
use crate::error::ApiError;

/// Threads and runs in maps.
#[derive(Debug, Default)]
pub(crate) struct MemoryRecords {
    threads: Mutex<HashMap<String, Thread>>,
    runs: Mutex<HashMap<String, Run>>,
}

#[async_trait]
impl Backend for MemoryRecords {
    async fn insert_thread(&self, thread: &Thread) -> Result<bool, ApiError> {
        let mut threads = self.threads.lock().expect("records lock");
        if threads.contains_key(&thread.thread_id) {
            return Ok(false);
        }
        threads.insert(thread.thread_id.clone(), thread.clone());
        Ok(true)
    }

    async fn update_thread(&self, thread: &Thread) -> Result<(), ApiError> {
        let mut threads = self.threads.lock().expect("records lock");
        if let Some(stored) = threads.get_mut(&thread.thread_id) {
            *stored = thread.clone();
        }
        Ok(())
    }

    async fn thread(&self, id: &str) -> Result<Option<Thread>, ApiError> {
        Ok(self.threads.lock().expect("records lock").get(id).cloned())
    }

    async fn threads(&self, owner: Option<&str>) -> Result<Vec<Thread>, ApiError> {
        let threads = self.threads.lock().expect("records lock");
        Ok(threads.values().filter(|thread| thread.owner.as_deref() == owner).cloned().collect())
    }

    async fn delete_thread(&self, id: &str) -> Result<(), ApiError> {
        self.threads.lock().expect("records lock").remove(id);
        self.runs.lock().expect("records lock").retain(|_, run| run.thread_id != id);
        Ok(())
    }

    async fn put_run(&self, run: &Run) -> Result<(), ApiError> {
        self.runs.lock().expect("records lock").insert(run.run_id.clone(), run.clone());
        Ok(())
    }

    async fn run(&self, id: &str) -> Result<Option<Run>, ApiError> {
        Ok(self.runs.lock().expect("records lock").get(id).cloned())
    }

    async fn runs(&self, thread_id: &str) -> Result<Vec<Run>, ApiError> {
        let runs = self.runs.lock().expect("records lock");
        Ok(runs.values().filter(|run| run.thread_id == thread_id).cloned().collect())
    }

    async fn delete_run(&self, id: &str) -> Result<(), ApiError> {
        self.runs.lock().expect("records lock").remove(id);
        Ok(())
    }

    async fn unfinished_runs(&self) -> Result<Vec<Run>, ApiError> {
        let runs = self.runs.lock().expect("records lock");
        let unfinished = |run: &&Run| matches!(run.status, RunStatus::Pending | RunStatus::Running);
        Ok(runs.values().filter(unfinished).cloned().collect())
    }
}
