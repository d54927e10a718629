//! An in-memory checkpointer, for tests and short-lived processes.
//!
//! It keeps each checkpoint as the SQL backends store it, the terse body beside its id, and
//! each pending write as JSON: what a run wrote is held as bytes, counted by
//! [`MemorySaver::stored_bytes`], and read back as a resumed run would read it from disk.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    copied_thread_id, decode, decode_checkpoint, encode_checkpoint, storage, subgraph_range,
    Checkpoint, CheckpointError, Checkpointer, PendingWrite, StoredCheckpoint, ThreadMark,
};

/// A checkpoint as kept: its id and its body, which names neither the id nor the thread.
#[derive(Clone)]
struct Record {
    id: String,
    body: std::sync::Arc<str>,
}

#[derive(Default, Clone)]
struct Thread {
    /// Oldest first.
    checkpoints: Vec<Record>,
    latest: Option<String>,
    /// By checkpoint, each write as JSON with its number in the saver's order of writes.
    writes: HashMap<String, Vec<(u64, Box<str>)>>,
}

impl Thread {
    /// The bytes of the ids, bodies and writes it holds.
    fn stored_bytes(&self) -> usize {
        let checkpoints = self.checkpoints.iter().map(|c| c.id.len() + c.body.len());
        let writes = self.writes.iter().map(|(id, writes)| {
            id.len() + writes.iter().map(|(_, body)| body.len()).sum::<usize>()
        });
        checkpoints.sum::<usize>()
            + writes.sum::<usize>()
            + self.latest.as_ref().map_or(0, String::len)
    }
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

    /// The bytes that thread `thread_id` and its subgraphs' threads hold: their ids, the
    /// checkpoints' ids and bodies, the pending writes as JSON and the latest checkpoint's
    /// id. The allocations' own overhead (string headers, map entries) is not counted.
    pub fn stored_bytes(&self, thread_id: &str) -> usize {
        let saved = self.saved();
        let threads = within(&saved.threads, thread_id).into_iter();
        threads.map(|id| id.len() + saved.threads[&id].stored_bytes()).sum()
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
        // Encoded before taking the lock, which other runs are waiting for.
        let record =
            Record { id: checkpoint.id.clone(), body: encode_checkpoint(checkpoint)?.into() };
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
        thread.checkpoints.push(record);
        Ok(())
    }

    async fn put_write(
        &self,
        thread_id: &str,
        checkpoint_id: &str,
        write: &PendingWrite,
    ) -> Result<(), CheckpointError> {
        let body = serde_json::to_string(write).map_err(storage)?.into_boxed_str();
        let mut saved = self.saved();
        saved.writes += 1;
        let number = saved.writes;
        let thread = saved.threads.entry(thread_id.to_owned()).or_default();
        thread.writes.entry(checkpoint_id.to_owned()).or_default().push((number, body));
        Ok(())
    }

    async fn get(
        &self,
        thread_id: &str,
        checkpoint_id: Option<&str>,
    ) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        let (id, body, writes) = {
            let saved = self.saved();
            let Some(thread) = saved.threads.get(thread_id) else { return Ok(None) };
            let Some(id) = checkpoint_id.or(thread.latest.as_deref()) else { return Ok(None) };
            let Some(record) = thread.checkpoints.iter().rev().find(|c| c.id == id) else {
                return Ok(None);
            };
            let writes = thread.writes.get(id).into_iter().flatten();
            let writes: Vec<_> = writes.map(|(_, write)| write.clone()).collect();
            (record.id.clone(), record.body.clone(), writes)
        };
        // Decoded after the lock is released.
        let checkpoint = decode_checkpoint(thread_id, &id, body.as_bytes())?;
        let writes = writes
            .iter()
            .map(|write| decode(thread_id, &id, write.as_bytes()))
            .collect::<Result<_, _>>()?;
        Ok(Some(StoredCheckpoint { checkpoint, writes }))
    }

    async fn list(&self, thread_id: &str) -> Result<Vec<Checkpoint>, CheckpointError> {
        let records: Vec<Record> = match self.saved().threads.get(thread_id) {
            Some(thread) => thread.checkpoints.iter().rev().cloned().collect(),
            None => return Ok(Vec::new()),
        };
        records.iter().map(|r| decode_checkpoint(thread_id, &r.id, r.body.as_bytes())).collect()
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
            // The bodies do not name their thread: the copy holds the same ones.
            let copy = threads[&id].clone();
            threads.insert(copied_thread_id(&id, thread_id, new_thread_id), copy);
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
