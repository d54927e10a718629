//! Where a run's events go: nowhere for `invoke`, a bounded channel for `stream`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

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

    /// Where a task's custom values and model messages go, if the stream wants either.
    pub(crate) fn task_sink(&self, node: &Arc<str>, task_id: &TaskId) -> Option<Arc<TaskSink<S>>> {
        if !self.wants(StreamMode::Custom) && !self.wants(StreamMode::Messages) {
            return None;
        }
        let sink = TaskSink {
            emitter: self.clone(),
            node: Arc::clone(node),
            task_id: task_id.clone(),
            streamed: Mutex::new(HashSet::new()),
        };
        Some(Arc::new(sink))
    }
}

/// Receives what one task streams; erases the state type for `NodeContext`.
pub(crate) trait TaskStream: Send + Sync {
    /// Sends a [`StreamEvent::Custom`], if the stream wants it.
    fn custom(&self, value: serde_json::Value) -> BoxFuture<'_, ()>;
    /// Whether the stream wants [`StreamMode::Messages`].
    fn wants_messages(&self) -> bool;
    /// Sends a [`StreamEvent::Message`] and remembers its id, if the stream wants it.
    fn message(&self, message: serde_json::Value) -> BoxFuture<'_, ()>;
}

/// The stream of one task: its node and id, and the ids of the messages it streamed, so a
/// message it also returns is not sent again at its end.
pub(crate) struct TaskSink<S: State> {
    emitter: Emitter<S>,
    node: Arc<str>,
    task_id: TaskId,
    streamed: Mutex<HashSet<String>>,
}

impl<S: State> TaskSink<S> {
    fn message_event(&self, message: serde_json::Value) -> StreamEvent<S> {
        StreamEvent::Message {
            step: self.task_id.step(),
            node: Arc::clone(&self.node),
            task_id: self.task_id.clone(),
            message,
        }
    }

    /// Sends the messages a task returned that it did not stream, in order.
    pub(crate) async fn returned(&self, messages: Vec<serde_json::Value>) {
        for message in messages {
            let seen = match message_id(&message) {
                Some(id) => !self.streamed.lock().expect("not poisoned").insert(id.to_owned()),
                None => false,
            };
            if !seen {
                self.emitter.send(self.message_event(message)).await;
            }
        }
    }
}

fn message_id(message: &serde_json::Value) -> Option<&str> {
    message.get("id").and_then(serde_json::Value::as_str)
}

impl<S: State> TaskStream for TaskSink<S> {
    fn custom(&self, value: serde_json::Value) -> BoxFuture<'_, ()> {
        let event = StreamEvent::Custom {
            step: self.task_id.step(),
            node: Arc::clone(&self.node),
            task_id: self.task_id.clone(),
            value,
        };
        Box::pin(async move {
            if self.emitter.wants(StreamMode::Custom) {
                self.emitter.send(event).await;
            }
        })
    }

    fn wants_messages(&self) -> bool {
        self.emitter.wants(StreamMode::Messages)
    }

    fn message(&self, message: serde_json::Value) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if !self.wants_messages() {
                return;
            }
            if let Some(id) = message_id(&message) {
                self.streamed.lock().expect("not poisoned").insert(id.to_owned());
            }
            self.emitter.send(self.message_event(message)).await;
        })
    }
}
