//! The events a run streams, and the modes that select them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::pregel::{Namespace, TaskId};
use crate::state::State;

/// Which events a stream carries. Several modes can be combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamMode {
    /// [`StreamEvent::Values`]: the whole state after each superstep.
    Values,
    /// [`StreamEvent::Update`]: each task's update, as the task finishes.
    Updates,
    /// [`StreamEvent::Custom`]: values nodes send with [`NodeContext::emit`](crate::NodeContext::emit).
    Custom,
    /// [`StreamEvent::TaskStart`] and [`StreamEvent::TaskEnd`] for every attempt of every task.
    Tasks,
    /// [`StreamEvent::Checkpoint`] for every checkpoint saved (with a checkpointer).
    Checkpoints,
    /// [`StreamEvent::Message`]: each chunk a model streams inside a node (through
    /// [`NodeContext::send_message`](crate::NodeContext::send_message)), and each message a
    /// node returns without having streamed it (see
    /// [`StateGraph::stream_messages_from`](crate::StateGraph::stream_messages_from)).
    Messages,
    /// Every mode at once.
    Debug,
}

impl StreamMode {
    pub(crate) fn bit(self) -> u8 {
        match self {
            StreamMode::Values => 1,
            StreamMode::Updates => 2,
            StreamMode::Custom => 4,
            StreamMode::Tasks => 8,
            StreamMode::Checkpoints => 16,
            StreamMode::Messages => 32,
            StreamMode::Debug => 0xff,
        }
    }
}

/// Something a run noticed that is not an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "warning", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunWarning {
    /// The run ended while a join still waited: some of its sources ran, others never did,
    /// so its target never ran.
    JoinNeverFired {
        /// The join's target.
        target: String,
        /// The sources that ran.
        ran: Vec<String>,
        /// The sources it still waited for.
        waiting_for: Vec<String>,
    },
    /// A router chose no destination at all, so its branch ended there: with map-reduce, a
    /// planner that found no work skips the nodes after the workers. Return `END` to end a
    /// branch on purpose.
    NoDestination {
        /// The node the router leaves (`__start__` for `START`).
        node: String,
    },
    /// The node cache failed, so the step ran without it: its cacheable tasks ran (on a
    /// failed lookup) or their results were not stored (on a failed write).
    CacheFailed {
        /// What failed.
        error: String,
    },
}

impl fmt::Display for RunWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunWarning::JoinNeverFired { target, ran, waiting_for } => write!(
                f,
                "join into `{target}` never fired: {} ran, but {} never did",
                ran.join(", "),
                waiting_for.join(", ")
            ),
            RunWarning::NoDestination { node } => write!(
                f,
                "the router of `{node}` chose no destination, so its branch ended; return END to end it on purpose"
            ),
            RunWarning::CacheFailed { error } => {
                write!(f, "the node cache failed, so the step ran without it: {error}")
            }
        }
    }
}

/// One event of a streamed run. Events of one task arrive in order: start, custom values,
/// update, end.
#[derive(Serialize)]
#[serde(
    tag = "event",
    rename_all = "snake_case",
    bound(serialize = "S: Serialize, S::Update: Serialize")
)]
#[non_exhaustive]
pub enum StreamEvent<S: State> {
    /// The state after a superstep was applied: what the next step sees.
    Values {
        /// The superstep just applied.
        step: usize,
        /// The state after it.
        state: Arc<S>,
    },
    /// A task's update, sent as the task finishes (before it is applied).
    Update {
        /// The task's superstep.
        step: usize,
        /// The node that wrote it.
        node: Arc<str>,
        /// The task.
        task_id: TaskId,
        /// What it wrote.
        update: S::Update,
        /// Whether it comes from the node cache rather than from running the node.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        cached: bool,
    },
    /// A value a node sent with [`NodeContext::emit`](crate::NodeContext::emit).
    Custom {
        /// The task's superstep.
        step: usize,
        /// The node that sent it.
        node: Arc<str>,
        /// The task.
        task_id: TaskId,
        /// The value.
        value: serde_json::Value,
    },
    /// A message, or a chunk of one, from a node: see [`StreamMode::Messages`]. Its JSON
    /// form is the agent layer's; chunks of one message share its `id`.
    Message {
        /// The task's superstep.
        step: usize,
        /// The node that sent it.
        node: Arc<str>,
        /// The task.
        task_id: TaskId,
        /// The message or chunk.
        message: serde_json::Value,
    },
    /// An attempt of a task started.
    TaskStart {
        /// The task's superstep.
        step: usize,
        /// The node it runs.
        node: Arc<str>,
        /// The task.
        task_id: TaskId,
        /// The attempt, counting from 1.
        attempt: u32,
    },
    /// An attempt of a task ended.
    TaskEnd {
        /// The task's superstep.
        step: usize,
        /// The node it ran.
        node: Arc<str>,
        /// The task.
        task_id: TaskId,
        /// The attempt, counting from 1 (0 for a result from the cache).
        attempt: u32,
        /// When the attempt started, measured from the start of the run.
        started_at: Duration,
        /// How long it ran.
        duration: Duration,
        /// Why it failed, if it did.
        error: Option<String>,
        /// Whether the task's result came from the node cache: then it did not run, its
        /// attempt is 0 and its duration zero.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        cached: bool,
        /// The worker process that ran it, in a run on a task queue.
        #[serde(skip_serializing_if = "Option::is_none")]
        worker: Option<Arc<str>>,
    },
    /// A checkpoint was written.
    Checkpoint {
        /// The new checkpoint.
        checkpoint_id: String,
        /// The checkpoint it follows.
        parent_id: Option<String>,
        /// Why and after which step it was written.
        metadata: crate::checkpoint::CheckpointMetadata,
    },
    /// Something worth knowing that is not an error.
    Warning {
        /// What happened.
        warning: RunWarning,
    },
    /// An event of a subgraph run, in the same modes as the root run's own (its model
    /// messages too, unless the subgraph was added with
    /// [`Subgraph::stream_messages(false)`](crate::Subgraph::stream_messages)).
    Subgraph {
        /// The subgraph run it comes from.
        namespace: Namespace,
        /// The event, with the subgraph's state and updates as JSON (`data` in JSON, where
        /// `event` names the variant).
        #[serde(rename = "data")]
        event: SubgraphEvent,
    },
    /// The run finished; the last event of a run that finished.
    Done {
        /// The final state.
        state: S,
    },
    /// The run paused for a person; the last event of a run that paused. Resume the thread
    /// with [`Command::resume`](crate::Command::resume).
    Paused {
        /// The state where it paused.
        state: S,
        /// The open questions, in task order.
        interrupts: Vec<crate::Interrupt>,
    },
}

impl<S: State> StreamEvent<S> {
    /// The run the event comes from: the root run's namespace (empty) for every event but
    /// [`StreamEvent::Subgraph`].
    pub fn namespace(&self) -> Namespace {
        match self {
            StreamEvent::Subgraph { namespace, .. } => namespace.clone(),
            _ => Namespace::root(),
        }
    }
}

/// An event of a subgraph run, forwarded to the root run's stream inside
/// [`StreamEvent::Subgraph`]. The variants mirror [`StreamEvent`]'s; the subgraph's state and
/// updates, whose types the root does not know, arrive as JSON. A subgraph's end is its
/// task's end in the parent, so there is no `Done` or `Paused`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SubgraphEvent {
    /// The subgraph's state after one of its supersteps.
    Values {
        /// The subgraph's superstep.
        step: usize,
        /// Its state.
        state: serde_json::Value,
    },
    /// A task's update inside the subgraph.
    Update {
        /// The subgraph's superstep.
        step: usize,
        /// The subgraph's node.
        node: Arc<str>,
        /// The task.
        task_id: TaskId,
        /// What it wrote.
        update: serde_json::Value,
        /// Whether it comes from the node cache rather than from running the node.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        cached: bool,
    },
    /// A value a subgraph's node sent with [`NodeContext::emit`](crate::NodeContext::emit).
    Custom {
        /// The subgraph's superstep.
        step: usize,
        /// The node.
        node: Arc<str>,
        /// The task.
        task_id: TaskId,
        /// The value.
        value: serde_json::Value,
    },
    /// A message, or a chunk of one, from a subgraph's node.
    Message {
        /// The subgraph's superstep.
        step: usize,
        /// The node.
        node: Arc<str>,
        /// The task.
        task_id: TaskId,
        /// The message or chunk.
        message: serde_json::Value,
    },
    /// An attempt of a subgraph's task started.
    TaskStart {
        /// The subgraph's superstep.
        step: usize,
        /// The node.
        node: Arc<str>,
        /// The task.
        task_id: TaskId,
        /// The attempt, counting from 1.
        attempt: u32,
    },
    /// An attempt of a subgraph's task ended.
    TaskEnd {
        /// The subgraph's superstep.
        step: usize,
        /// The node.
        node: Arc<str>,
        /// The task.
        task_id: TaskId,
        /// The attempt, counting from 1 (0 for a result from the cache).
        attempt: u32,
        /// When the attempt started, measured from the start of the subgraph's run.
        started_at: Duration,
        /// How long it ran.
        duration: Duration,
        /// Why it failed, if it did.
        error: Option<String>,
        /// Whether the task's result came from the node cache: then it did not run, its
        /// attempt is 0 and its duration zero.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        cached: bool,
        /// The worker process that ran it, in a run on a task queue.
        #[serde(skip_serializing_if = "Option::is_none")]
        worker: Option<Arc<str>>,
    },
    /// The subgraph saved a checkpoint in its namespace.
    Checkpoint {
        /// The new checkpoint.
        checkpoint_id: String,
        /// The checkpoint it follows.
        parent_id: Option<String>,
        /// Why and after which step it was written.
        metadata: crate::checkpoint::CheckpointMetadata,
    },
    /// Something worth knowing inside the subgraph that is not an error.
    Warning {
        /// What happened.
        warning: RunWarning,
    },
}

impl SubgraphEvent {
    /// The subgraph's event for `event`, with its state and updates as JSON; `None` for the
    /// events a subgraph never forwards (its end, and its own subgraphs', which go to the
    /// root directly).
    pub(crate) fn of<S: State>(
        event: StreamEvent<S>,
        state: fn(&S) -> serde_json::Value,
        update: fn(&S::Update) -> serde_json::Value,
    ) -> Option<Self> {
        Some(match event {
            StreamEvent::Values { step, state: value } => {
                SubgraphEvent::Values { step, state: state(&value) }
            }
            StreamEvent::Update { step, node, task_id, update: value, cached } => {
                SubgraphEvent::Update { step, node, task_id, update: update(&value), cached }
            }
            StreamEvent::Custom { step, node, task_id, value } => {
                SubgraphEvent::Custom { step, node, task_id, value }
            }
            StreamEvent::Message { step, node, task_id, message } => {
                SubgraphEvent::Message { step, node, task_id, message }
            }
            StreamEvent::TaskStart { step, node, task_id, attempt } => {
                SubgraphEvent::TaskStart { step, node, task_id, attempt }
            }
            StreamEvent::TaskEnd {
                step,
                node,
                task_id,
                attempt,
                started_at,
                duration,
                error,
                cached,
                worker,
            } => SubgraphEvent::TaskEnd {
                step,
                node,
                task_id,
                attempt,
                started_at,
                duration,
                error,
                cached,
                worker,
            },
            StreamEvent::Checkpoint { checkpoint_id, parent_id, metadata } => {
                SubgraphEvent::Checkpoint { checkpoint_id, parent_id, metadata }
            }
            StreamEvent::Warning { warning } => SubgraphEvent::Warning { warning },
            StreamEvent::Subgraph { .. }
            | StreamEvent::Done { .. }
            | StreamEvent::Paused { .. } => return None,
        })
    }
}

impl<S> fmt::Debug for StreamEvent<S>
where
    S: State + fmt::Debug,
    S::Update: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamEvent::Values { step, state } => {
                f.debug_struct("Values").field("step", step).field("state", state).finish()
            }
            StreamEvent::Update { step, node, task_id, update, cached } => f
                .debug_struct("Update")
                .field("step", step)
                .field("node", node)
                .field("task_id", task_id)
                .field("update", update)
                .field("cached", cached)
                .finish(),
            StreamEvent::Custom { step, node, task_id, value } => f
                .debug_struct("Custom")
                .field("step", step)
                .field("node", node)
                .field("task_id", task_id)
                .field("value", value)
                .finish(),
            StreamEvent::Message { step, node, task_id, message } => f
                .debug_struct("Message")
                .field("step", step)
                .field("node", node)
                .field("task_id", task_id)
                .field("message", message)
                .finish(),
            StreamEvent::TaskStart { step, node, task_id, attempt } => f
                .debug_struct("TaskStart")
                .field("step", step)
                .field("node", node)
                .field("task_id", task_id)
                .field("attempt", attempt)
                .finish(),
            StreamEvent::TaskEnd {
                step,
                node,
                task_id,
                attempt,
                started_at,
                duration,
                error,
                cached,
                worker,
            } => f
                .debug_struct("TaskEnd")
                .field("step", step)
                .field("node", node)
                .field("task_id", task_id)
                .field("attempt", attempt)
                .field("started_at", started_at)
                .field("duration", duration)
                .field("error", error)
                .field("cached", cached)
                .field("worker", worker)
                .finish(),
            StreamEvent::Checkpoint { checkpoint_id, parent_id, metadata } => f
                .debug_struct("Checkpoint")
                .field("checkpoint_id", checkpoint_id)
                .field("parent_id", parent_id)
                .field("metadata", metadata)
                .finish(),
            StreamEvent::Warning { warning } => {
                f.debug_struct("Warning").field("warning", warning).finish()
            }
            StreamEvent::Subgraph { namespace, event } => f
                .debug_struct("Subgraph")
                .field("namespace", namespace)
                .field("event", event)
                .finish(),
            StreamEvent::Done { state } => f.debug_struct("Done").field("state", state).finish(),
            StreamEvent::Paused { state, interrupts } => f
                .debug_struct("Paused")
                .field("state", state)
                .field("interrupts", interrupts)
                .finish(),
        }
    }
}
