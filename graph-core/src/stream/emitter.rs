//! Where a run's events go: nowhere for `invoke`, a bounded channel for `stream`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::{StreamEvent, StreamMode, SubgraphEvent};
use crate::pregel::{Namespace, TaskId};
use crate::state::State;

/// Sends a run's events to its stream, if it has one, in the modes asked for.
pub(crate) struct Emitter<S: State> {
    tx: Option<Sink<S>>,
    modes: u8,
}

impl<S: State> Clone for Emitter<S> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone(), modes: self.modes }
    }
}

/// Where a run's events go: its own stream, or, for a subgraph's run, the root run's stream.
enum Sink<S: State> {
    Channel(mpsc::Sender<StreamEvent<S>>),
    Forward(Arc<Forward<S>>),
}

impl<S: State> Clone for Sink<S> {
    fn clone(&self) -> Self {
        match self {
            Sink::Channel(tx) => Sink::Channel(tx.clone()),
            Sink::Forward(forward) => Sink::Forward(Arc::clone(forward)),
        }
    }
}

/// A subgraph run's way to the root stream: its namespace, and how its state and updates
/// become JSON.
struct Forward<S: State> {
    root: Arc<dyn RootSink>,
    namespace: Namespace,
    state: fn(&S) -> serde_json::Value,
    update: fn(&S::Update) -> serde_json::Value,
}

/// Where a run streams, with its state type erased: the root stream and the modes.
#[derive(Clone)]
pub(crate) struct StreamLink {
    root: Arc<dyn RootSink>,
    modes: u8,
}

/// The root run's stream, with its state type erased: what every subgraph run, however deep,
/// sends its events to.
pub(crate) trait RootSink: Send + Sync {
    fn send(&self, namespace: Namespace, event: SubgraphEvent) -> BoxFuture<'_, ()>;
}

impl<S: State> RootSink for mpsc::Sender<StreamEvent<S>> {
    fn send(&self, namespace: Namespace, event: SubgraphEvent) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = mpsc::Sender::send(self, StreamEvent::Subgraph { namespace, event }).await;
        })
    }
}

impl<S: State> Emitter<S> {
    /// An emitter that drops everything: the `invoke` path pays nothing.
    pub(crate) fn none() -> Self {
        Self { tx: None, modes: 0 }
    }

    pub(crate) fn new(tx: mpsc::Sender<StreamEvent<S>>, modes: &[StreamMode]) -> Self {
        let modes = modes.iter().fold(0, |bits, mode| bits | mode.bit());
        Self { tx: Some(Sink::Channel(tx)), modes }
    }

    /// Where this run streams, for the subgraph runs its tasks call.
    pub(crate) fn link(&self) -> Option<StreamLink> {
        let root: Arc<dyn RootSink> = match self.tx.as_ref()? {
            Sink::Channel(tx) => Arc::new(tx.clone()),
            Sink::Forward(forward) => Arc::clone(&forward.root),
        };
        Some(StreamLink { root, modes: self.modes })
    }

    /// The emitter of a subgraph run under `namespace`, sending to the root stream in the
    /// modes of its parent's, without `Messages` unless `messages`; none when the parent
    /// does not stream.
    pub(crate) fn subgraph(
        link: Option<&StreamLink>,
        namespace: Namespace,
        messages: bool,
        state: fn(&S) -> serde_json::Value,
        update: fn(&S::Update) -> serde_json::Value,
    ) -> Self {
        let Some(link) = link else { return Emitter::none() };
        let modes = if messages { link.modes } else { link.modes & !StreamMode::Messages.bit() };
        let forward = Forward { root: Arc::clone(&link.root), namespace, state, update };
        Emitter { tx: Some(Sink::Forward(Arc::new(forward))), modes }
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
        match &self.tx {
            // A closed channel means the stream was dropped, and the run with it.
            Some(Sink::Channel(tx)) => {
                let _ = tx.send(event).await;
            }
            Some(Sink::Forward(forward)) => {
                if let Some(event) = SubgraphEvent::of(event, forward.state, forward.update) {
                    forward.root.send(forward.namespace.clone(), event).await;
                }
            }
            None => {}
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
