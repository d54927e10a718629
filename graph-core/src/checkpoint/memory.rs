//! An in-memory checkpointer, for tests and short-lived processes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    copied_thread_id, subgraph_range, Checkpoint, CheckpointError, Checkpointer, PendingWrite,
    StoredCheckpoint, ThreadMark,
};

#[derive(Default, Clone)]
struct Thread {
    /// Oldest first.
    checkpoints: Vec<Checkpoint>,
    latest: Option<String>,
    /// By checkpoint, each write with its number in the saver's order of writes.
    writes: HashMap<String, Vec<(u64, PendingWrite)>>,
}

#[derive(Default)]
struct Saved {
    /// By id, in order: a thread's subgraphs' threads follow it.
    threads: BTreeMap<String, Thread>,
    /// How many writes were saved so far: the last write's number.
    writes: u64,
}

/// Keeps checkpoints in memory; they are lost when the process ends.
#[derive(Default)]
pub struct MemorySaver {
    saved: Mutex<Saved>,
}

impl MemorySaver {
    /// An empty saver.
    pub fn new() -> Self {
        Self::default()
    }

    fn saved(&self) -> std::sync::MutexGuard<'_, Saved> {
        // A panic while holding the lock cannot leave a thread half-written: every
        // operation below mutates only after its checks.
        self.saved.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for MemorySaver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySaver").field("threads", &self.saved().threads.len()).finish()
    }
}

#[async_trait]
impl Checkpointer for MemorySaver {
    async fn put(
        &self,
        checkpoint: &Checkpoint,
        expected_latest: Option<&str>,
    ) -> Result<(), CheckpointError> {
        let mut saved = self.saved();
        let thread = saved.threads.entry(checkpoint.thread_id.clone()).or_default();
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
        let mut saved = self.saved();
        saved.writes += 1;
        let number = saved.writes;
        let thread = saved.threads.entry(thread_id.to_owned()).or_default();
        thread.writes.entry(checkpoint_id.to_owned()).or_default().push((number, write.clone()));
        Ok(())
    }

    async fn get(
        &self,
        thread_id: &str,
        checkpoint_id: Option<&str>,
    ) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        let saved = self.saved();
        let Some(thread) = saved.threads.get(thread_id) else { return Ok(None) };
        let Some(id) = checkpoint_id.or(thread.latest.as_deref()) else { return Ok(None) };
        let Some(checkpoint) = thread.checkpoints.iter().find(|c| c.id == id) else {
            return Ok(None);
        };
        let writes = thread.writes.get(id).into_iter().flatten();
        let writes = writes.map(|(_, write)| write.clone()).collect();
        Ok(Some(StoredCheckpoint { checkpoint: checkpoint.clone(), writes }))
    }

    async fn list(&self, thread_id: &str) -> Result<Vec<Checkpoint>, CheckpointError> {
        Ok(self
            .saved()
            .threads
            .get(thread_id)
            .map(|t| t.checkpoints.iter().rev().cloned().collect())
            .unwrap_or_default())
    }

    async fn delete_thread(&self, thread_id: &str) -> Result<(), CheckpointError> {
        let threads = &mut self.saved().threads;
        for id in within(threads, thread_id) {
            threads.remove(&id);
        }
        Ok(())
    }

    async fn copy_thread(
        &self,
        thread_id: &str,
        new_thread_id: &str,
    ) -> Result<(), CheckpointError> {
        let threads = &mut self.saved().threads;
        let in_use = within(threads, new_thread_id).iter().any(|id| {
            let thread = &threads[id];
            !(thread.checkpoints.is_empty() && thread.writes.is_empty())
        });
        if in_use {
            return Err(CheckpointError::ThreadInUse { thread_id: new_thread_id.to_owned() });
        }
        for id in within(threads, thread_id) {
            let new_id = copied_thread_id(&id, thread_id, new_thread_id);
            let mut copy = threads[&id].clone();
            for checkpoint in &mut copy.checkpoints {
                checkpoint.thread_id.clone_from(&new_id);
            }
            threads.insert(new_id, copy);
        }
        Ok(())
    }

    async fn mark(&self, thread_id: &str) -> Result<ThreadMark, CheckpointError> {
        let saved = self.saved();
        let latest: BTreeMap<String, String> = within(&saved.threads, thread_id)
            .into_iter()
            .filter_map(|id| Some((id.clone(), saved.threads[&id].latest.clone()?)))
            .collect();
        Ok(ThreadMark::new(latest, saved.writes))
    }

    async fn rewind(&self, thread_id: &str, mark: &ThreadMark) -> Result<(), CheckpointError> {
        let threads = &mut self.saved().threads;
        for id in within(threads, thread_id) {
            let thread = threads.get_mut(&id).expect("a thread just found");
            let latest = mark.latest.get(&id);
            // Checkpoint ids are time-ordered: the ones after the marked latest came later.
            thread.checkpoints.retain(|checkpoint| latest.is_some_and(|l| checkpoint.id <= *l));
            thread.latest = latest.cloned();
            for writes in thread.writes.values_mut() {
                writes.retain(|(number, _)| *number <= mark.last_write);
            }
            thread.writes.retain(|_, writes| !writes.is_empty());
            if thread.checkpoints.is_empty() && thread.writes.is_empty() {
                threads.remove(&id);
            }
        }
        Ok(())
    }
}

/// The ids of thread `thread_id` and of its subgraphs' threads that `threads` holds.
fn within(threads: &BTreeMap<String, Thread>, thread_id: &str) -> Vec<String> {
    let (from, below) = subgraph_range(thread_id);
    let own = threads.get_key_value(thread_id).map(|(id, _)| id);
    own.into_iter().chain(threads.range(from..below).map(|(id, _)| id)).cloned().collect()
}
