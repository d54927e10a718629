//! An in-memory checkpointer, for tests and short-lived processes.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    copied_thread_id, subgraph_prefix, within_thread, Checkpoint, CheckpointError, Checkpointer,
    PendingWrite, StoredCheckpoint,
};

#[derive(Default, Clone)]
struct Thread {
    /// Oldest first.
    checkpoints: Vec<Checkpoint>,
    latest: Option<String>,
    writes: HashMap<String, Vec<PendingWrite>>,
}

/// Keeps checkpoints in memory; they are lost when the process ends.
#[derive(Default)]
pub struct MemorySaver {
    threads: Mutex<HashMap<String, Thread>>,
}

impl MemorySaver {
    /// An empty saver.
    pub fn new() -> Self {
        Self::default()
    }

    fn threads(&self) -> std::sync::MutexGuard<'_, HashMap<String, Thread>> {
        // A panic while holding the lock cannot leave a thread half-written: every
        // operation below mutates only after its checks.
        self.threads.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for MemorySaver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySaver").field("threads", &self.threads().len()).finish()
    }
}

#[async_trait]
impl Checkpointer for MemorySaver {
    async fn put(
        &self,
        checkpoint: &Checkpoint,
        expected_latest: Option<&str>,
    ) -> Result<(), CheckpointError> {
        let mut threads = self.threads();
        let thread = threads.entry(checkpoint.thread_id.clone()).or_default();
        if thread.latest.as_deref() != expected_latest {
            return Err(CheckpointError::Conflict {
                thread_id: checkpoint.thread_id.clone(),
                expected: expected_latest.map(str::to_owned),
                found: thread.latest.clone(),
            });
        }
        thread.latest = Some(checkpoint.id.clone());
        thread.checkpoints.push(checkpoint.clone());
        Ok(())
    }

    async fn put_write(
        &self,
        thread_id: &str,
        checkpoint_id: &str,
        write: &PendingWrite,
    ) -> Result<(), CheckpointError> {
        let mut threads = self.threads();
        let thread = threads.entry(thread_id.to_owned()).or_default();
        thread.writes.entry(checkpoint_id.to_owned()).or_default().push(write.clone());
        Ok(())
    }

    async fn get(
        &self,
        thread_id: &str,
        checkpoint_id: Option<&str>,
    ) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        let threads = self.threads();
        let Some(thread) = threads.get(thread_id) else { return Ok(None) };
        let Some(id) = checkpoint_id.or(thread.latest.as_deref()) else { return Ok(None) };
        let Some(checkpoint) = thread.checkpoints.iter().find(|c| c.id == id) else {
            return Ok(None);
        };
        let writes = thread.writes.get(id).cloned().unwrap_or_default();
        Ok(Some(StoredCheckpoint { checkpoint: checkpoint.clone(), writes }))
    }

    async fn list(&self, thread_id: &str) -> Result<Vec<Checkpoint>, CheckpointError> {
        let threads = self.threads();
        Ok(threads
            .get(thread_id)
            .map(|t| t.checkpoints.iter().rev().cloned().collect())
            .unwrap_or_default())
    }

    async fn delete_thread(&self, thread_id: &str) -> Result<(), CheckpointError> {
        let subgraphs = subgraph_prefix(thread_id);
        self.threads().retain(|id, _| id != thread_id && !id.starts_with(&subgraphs));
        Ok(())
    }

    async fn copy_thread(
        &self,
        thread_id: &str,
        new_thread_id: &str,
    ) -> Result<(), CheckpointError> {
        let mut threads = self.threads();
        let in_use = threads.iter().any(|(id, thread)| {
            within_thread(id, new_thread_id)
                && !(thread.checkpoints.is_empty() && thread.writes.is_empty())
        });
        if in_use {
            return Err(CheckpointError::ThreadInUse { thread_id: new_thread_id.to_owned() });
        }
        let copies: Vec<(String, Thread)> = threads
            .iter()
            .filter(|(id, _)| within_thread(id, thread_id))
            .map(|(id, thread)| {
                let new_id = copied_thread_id(id, thread_id, new_thread_id);
                let mut copy = thread.clone();
                for checkpoint in &mut copy.checkpoints {
                    checkpoint.thread_id.clone_from(&new_id);
                }
                (new_id, copy)
            })
            .collect();
        threads.extend(copies);
        Ok(())
    }
}
