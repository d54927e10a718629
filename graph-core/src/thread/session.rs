//! A run's checkpoint session: it writes a checkpoint after every step under the run's
//! thread, in order, with the durability the run asked for.

use std::sync::Arc;

use super::background::BackgroundSaves;
use super::codec::Persistence;
use super::snapshots::Snapshots;
use crate::checkpoint::{
    Checkpoint, CheckpointMetadata, CheckpointSource, PendingRecord, StateRecord,
};
use crate::config::Durability;
use crate::error::GraphError;
use crate::pregel::TaskSaver;
use crate::state::State;
use crate::stream::{Emitter, StreamEvent, StreamMode};

/// A checkpointed run's place in its thread.
pub(crate) struct Session<S: State> {
    pub(crate) persistence: Arc<Persistence<S>>,
    pub(crate) thread_id: Arc<str>,
    /// The checkpoint the next step starts from: its tasks save their writes against it.
    pub(crate) head: Option<String>,
    /// The thread's latest checkpoint as this run knows it, for optimistic concurrency.
    pub(super) latest: Option<String>,
    /// The deltas saved since the last full snapshot.
    pub(super) snapshots: Snapshots,
    pub(crate) durability: Durability,
    /// Checkpoints being saved in the background (`Durability::Async`).
    pub(super) saving: Option<BackgroundSaves>,
    /// Where `Checkpoints` events go.
    pub(super) emitter: Emitter<S>,
    /// In a subgraph's run: the call its checkpoints belong to.
    pub(super) invocation: Option<Arc<str>>,
    /// Every checkpoint after the first stores its step's writes, never a full snapshot,
    /// so the writes of a subgraph call can be read back.
    pub(super) keep_writes: bool,
}

impl<S: State> Session<S> {
    pub(crate) fn task_saver(&self) -> Option<TaskSaver<S>> {
        // With `Exit` durability nothing is saved until the run stops.
        let checkpoint_id = self.head.as_deref().filter(|_| self.durability != Durability::Exit)?;
        Some(TaskSaver {
            persistence: Arc::clone(&self.persistence),
            thread_id: Arc::clone(&self.thread_id),
            checkpoint_id: Arc::from(checkpoint_id),
        })
    }

    /// Saves the checkpoint after a step (unless durability is `Exit`).
    pub(crate) async fn checkpoint(
        &mut self,
        state: &S,
        writes: Vec<(String, serde_json::Value)>,
        pending: PendingRecord,
        metadata: CheckpointMetadata,
    ) -> Result<(), GraphError> {
        if self.durability == Durability::Exit {
            return Ok(());
        }
        let record = if self.keep_writes {
            StateRecord::Delta { writes }
        } else {
            self.persistence.state_record(state, writes, &mut self.snapshots, false)?
        };
        self.put_record(record, pending, metadata).await
    }

    /// Writes a checkpoint after the current head and makes it the head.
    pub(super) async fn put_record(
        &mut self,
        state: StateRecord,
        pending: PendingRecord,
        mut metadata: CheckpointMetadata,
    ) -> Result<(), GraphError> {
        metadata.invocation = self.invocation.as_deref().map(str::to_owned);
        let checkpoint = Checkpoint {
            id: crate::checkpoint::new_checkpoint_id(),
            thread_id: self.thread_id.to_string(),
            parent_id: self.head.clone(),
            state,
            pending,
            metadata,
        };
        let expected = self.latest.replace(checkpoint.id.clone());
        self.head = Some(checkpoint.id.clone());
        let announced =
            self.emitter.wants(StreamMode::Checkpoints).then(|| StreamEvent::Checkpoint {
                checkpoint_id: checkpoint.id.clone(),
                parent_id: checkpoint.parent_id.clone(),
                metadata: checkpoint.metadata.clone(),
            });
        let saver = &self.persistence.saver;
        let unsent = match self.durability {
            Durability::Async => self
                .saving
                .get_or_insert_with(|| BackgroundSaves::start(Arc::clone(saver), expected.clone()))
                .queue(checkpoint),
            _ => Some(checkpoint),
        };
        if let Some(checkpoint) = unsent {
            // Saves stay in order: the ones queued before land first. A background save
            // that failed ends the run here with its error.
            self.flush().await?;
            self.persistence.saver.put(&checkpoint, expected.as_deref()).await?;
        }
        if let Some(event) = announced {
            self.emitter.send(event).await;
        }
        Ok(())
    }

    /// Waits for the background saves.
    pub(crate) async fn flush(&mut self) -> Result<(), GraphError> {
        match self.saving.take() {
            Some(saving) => saving.finish().await,
            None => Ok(()),
        }
    }

    /// At the end of a run (or a pause after a step): with `Exit` durability this is the
    /// one save of the run; otherwise it waits for background saves.
    pub(crate) async fn finish(
        &mut self,
        state: &S,
        pending: PendingRecord,
        step: i64,
    ) -> Result<(), GraphError> {
        if self.durability == Durability::Exit {
            let record =
                self.persistence.state_record(state, Vec::new(), &mut self.snapshots, true)?;
            self.durability = Durability::Sync;
            self.put_record(record, pending, loop_metadata(step, Vec::new())).await?;
        }
        self.flush().await
    }
}

/// Ends a run that stopped inside a step (pause, failure or timeout): with `Exit`
/// durability, saves the state before the step with the step's work still pending.
pub(crate) async fn stop<S: State, T>(
    session: &mut Option<Session<S>>,
    state: &S,
    before: Option<PendingRecord>,
    step: i64,
    error: GraphError,
) -> Result<T, GraphError> {
    if let Some(session) = session {
        if let Some(pending) = before {
            let record = session.persistence.state_record(
                state,
                Vec::new(),
                &mut session.snapshots,
                true,
            )?;
            session.durability = Durability::Sync;
            session.put_record(record, pending, loop_metadata(step - 1, Vec::new())).await?;
        }
        session.flush().await?;
    }
    Err(error)
}

/// The metadata of a checkpoint written by the run loop.
pub(crate) fn loop_metadata(step: i64, writers: Vec<String>) -> CheckpointMetadata {
    CheckpointMetadata::new(CheckpointSource::Loop, step, writers)
}
