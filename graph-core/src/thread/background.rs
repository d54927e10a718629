//! Checkpoints saved while the run goes on (`Durability::Async`): in order, and every
//! checkpoint queued while a save is running written together in the next one.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::checkpoint::{Checkpoint, CheckpointError, Checkpointer};
use crate::error::{panic_message, GraphError};

/// The most checkpoints one save writes, so a long backlog is saved in bounded transactions.
const MOST_PER_SAVE: usize = 1024;

/// A task saving a thread's checkpoints in the order they are queued.
pub(super) struct BackgroundSaves {
    queue: mpsc::UnboundedSender<Checkpoint>,
    task: JoinHandle<Result<(), CheckpointError>>,
}

impl BackgroundSaves {
    /// Starts saving checkpoints after the thread's latest, `expected_latest`.
    pub(super) fn start(saver: Arc<dyn Checkpointer>, expected_latest: Option<String>) -> Self {
        let (queue, queued) = mpsc::unbounded_channel();
        Self { queue, task: tokio::spawn(save_all(saver, queued, expected_latest)) }
    }

    /// Queues the next checkpoint, which follows the one queued before. Gives it back when
    /// saving has stopped on an error, which [`finish`](Self::finish) returns.
    pub(super) fn queue(&self, checkpoint: Checkpoint) -> Option<Checkpoint> {
        self.queue.send(checkpoint).err().map(|unsent| unsent.0)
    }

    /// Waits until every queued checkpoint is saved, or returns why saving stopped.
    pub(super) async fn finish(self) -> Result<(), GraphError> {
        drop(self.queue);
        match self.task.await {
            Ok(saved) => Ok(saved?),
            // A checkpointer that panics failed the save; only a runtime shutting down
            // cancels it.
            Err(error) if error.is_panic() => {
                let message = panic_message(&*error.into_panic());
                let reason = format!("the checkpointer panicked: {message}");
                Err(GraphError::Checkpoint(CheckpointError::Storage(reason.into())))
            }
            Err(_) => Err(GraphError::Cancelled),
        }
    }
}

/// Saves what is queued, one batch at a time, until the queue closes or a save fails.
async fn save_all(
    saver: Arc<dyn Checkpointer>,
    mut queued: mpsc::UnboundedReceiver<Checkpoint>,
    mut expected_latest: Option<String>,
) -> Result<(), CheckpointError> {
    let mut batch = Vec::new();
    while queued.recv_many(&mut batch, MOST_PER_SAVE).await > 0 {
        saver.put_batch(&batch, expected_latest.as_deref()).await?;
        expected_latest = batch.pop().map(|saved| saved.id);
        batch.clear();
    }
    Ok(())
}
