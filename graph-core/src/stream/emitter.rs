//! Where a run's events go: nowhere for `invoke`, a bounded channel for `stream`.

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::{StreamEvent, StreamMode};
use crate::pregel::TaskId;
use crate::state::State;

/// Sends a run's events to its stream, if it has one, in the modes asked for.
pub(crate) struct Emitter<S: State> {
    tx: Option<mpsc::Sender<StreamEvent<S>>>,
    modes: u8,
}

impl<S: State> Clone for Emitter<S> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone(), modes: self.modes }
    }
}

impl<S: State> Emitter<S> {
    /// An emitter that drops everything: the `invoke` path pays nothing.
    pub(crate) fn none() -> Self {
        Self { tx: None, modes: 0 }
    }

    pub(crate) fn new(tx: mpsc::Sender<StreamEvent<S>>, modes: &[StreamMode]) -> Self {
        Self { tx: Some(tx), modes: modes.iter().fold(0, |bits, mode| bits | mode.bit()) }
    }

    pub(crate) fn wants(&self, mode: StreamMode) -> bool {
        self.modes & mode.bit() != 0
    }

    /// Whether anyone listens at all (warnings and the final state go to every stream).
    pub(crate) fn is_streaming(&self) -> bool {
        self.tx.is_some()
    }

    /// Sends `event`, waiting while the buffer is full: a slow consumer slows the run.
    pub(crate) async fn send(&self, event: StreamEvent<S>) {
        if let Some(tx) = &self.tx {
            // A closed channel means the stream was dropped, and the run with it.
            let _ = tx.send(event).await;
        }
    }

    /// A sink for a task's custom values, if the stream wants them.
    pub(crate) fn custom_sink(
        &self,
        node: &Arc<str>,
        task_id: &TaskId,
    ) -> Option<Arc<dyn CustomSink>> {
        if !self.wants(StreamMode::Custom) {
            return None;
        }
        let sink =
            TaskSink { emitter: self.clone(), node: Arc::clone(node), task_id: task_id.clone() };
        Some(Arc::new(sink))
    }
}

/// Receives the custom values one task emits; erases the state type for `NodeContext`.
pub(crate) trait CustomSink: Send + Sync {
    fn emit(&self, value: serde_json::Value) -> BoxFuture<'_, ()>;
}

struct TaskSink<S: State> {
    emitter: Emitter<S>,
    node: Arc<str>,
    task_id: TaskId,
}

impl<S: State> CustomSink for TaskSink<S> {
    fn emit(&self, value: serde_json::Value) -> BoxFuture<'_, ()> {
        let event = StreamEvent::Custom {
            step: self.task_id.step(),
            node: Arc::clone(&self.node),
            task_id: self.task_id.clone(),
            value,
        };
        Box::pin(self.emitter.send(event))
    }
}
