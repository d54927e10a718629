//! Per-run settings.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::pregel::Namespace;
use crate::stream::StreamMode;

/// Settings for one run of a compiled graph.
///
/// ```
/// use graph_core::RunConfig;
/// use std::time::Duration;
/// use graph_core::CancellationToken;
///
/// let stop = CancellationToken::new();
/// let config = RunConfig::default()
///     .recursion_limit(50)
///     .max_concurrency(8)
///     .step_timeout(Duration::from_secs(30))
///     .cancellation_token(stop.clone());
/// assert_eq!(config.recursion_limit, 50);
/// ```
#[derive(Debug, Clone)]
#[must_use]
#[non_exhaustive]
pub struct RunConfig {
    /// At most this many supersteps run; set it with [`recursion_limit`](Self::recursion_limit).
    pub recursion_limit: usize,
    pub(crate) max_concurrency: Option<usize>,
    pub(crate) step_timeout: Option<Duration>,
    pub(crate) cancellation: Option<CancellationToken>,
    pub(crate) stream_modes: Vec<StreamMode>,
    pub(crate) stream_buffer: usize,
    pub(crate) strict: bool,
    /// The thread this run reads and saves, if any; set it with
    /// [`thread_id`](Self::thread_id).
    pub thread_id: Option<String>,
    pub(crate) checkpoint_id: Option<String>,
    pub(crate) durability: Durability,
    pub(crate) executor: Executor,
    /// Set on a subgraph's run: how it sits inside its parent run.
    pub(crate) parent: Option<ParentLink>,
}

/// What a subgraph's run takes from the run whose task called it.
#[derive(Debug, Clone)]
pub(crate) struct ParentLink {
    /// The root run's concurrency limit, shared by every subgraph run under it.
    pub(crate) limit: Option<Arc<Semaphore>>,
    /// Where the run sits.
    pub(crate) namespace: Namespace,
    /// Marks every checkpoint of one subgraph call, to tell it from other calls on the
    /// same thread (none for a graph run inside a task with a checkpointer of its own).
    pub(crate) invocation: Option<Arc<str>>,
    /// Every checkpoint stores its step's writes (no periodic full snapshot), so the writes
    /// of the whole call can be read back after a pause or a crash.
    pub(crate) keep_writes: bool,
    /// The calling run's node cache, for a subgraph without its own.
    pub(crate) services: crate::graph::Services,
}

/// When checkpoints are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Durability {
    /// After every superstep, before the next one starts: nothing finished is ever lost.
    #[default]
    Sync,
    /// After every superstep, while the run goes on: checkpoints that queue up while a
    /// save runs are written together in the next one. Much faster; every checkpoint is
    /// saved, in order, when the run returns, finished or failed (a conflict or storage
    /// failure is its error). A cancelled run may still be writing its queued checkpoints
    /// when it returns, and a crash may lose them.
    Async,
    /// Only when the run ends, pauses or fails: fastest, and a crash loses the whole run.
    Exit,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            recursion_limit: Self::DEFAULT_RECURSION_LIMIT,
            max_concurrency: None,
            step_timeout: None,
            cancellation: None,
            stream_modes: Vec::new(),
            stream_buffer: Self::DEFAULT_STREAM_BUFFER,
            strict: false,
            thread_id: None,
            checkpoint_id: None,
            durability: Durability::Sync,
            executor: Executor::Local,
            parent: None,
        }
    }
}

impl RunConfig {
    /// The default [`recursion_limit`](Self::recursion_limit): 10,000 supersteps.
    pub const DEFAULT_RECURSION_LIMIT: usize = 10_000;

    /// The default [`stream_buffer`](Self::stream_buffer): 64 events.
    pub const DEFAULT_STREAM_BUFFER: usize = 64;

    /// At most this many supersteps that run nodes; a run needing more fails with
    /// [`GraphError::RecursionLimit`](crate::GraphError::RecursionLimit).
    pub fn recursion_limit(mut self, limit: usize) -> Self {
        self.recursion_limit = limit;
        self
    }

    /// At most `limit` tasks of this run execute at once, whatever their step or node, and
    /// on a task queue whatever worker runs them.
    pub fn max_concurrency(mut self, limit: usize) -> Self {
        self.max_concurrency = Some(limit.max(1));
        self
    }

    /// Fails the run with [`GraphError::StepTimedOut`](crate::GraphError::StepTimedOut) when
    /// one superstep takes longer than `timeout`.
    pub fn step_timeout(mut self, timeout: Duration) -> Self {
        self.step_timeout = Some(timeout);
        self
    }

    /// Cancelling `token` stops the run: its tasks are dropped and it fails with
    /// [`GraphError::Cancelled`](crate::GraphError::Cancelled).
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.cancellation = Some(token);
        self
    }

    /// Adds a mode to what [`CompiledGraph::stream`](crate::CompiledGraph::stream) sends;
    /// call it once per mode. A stream with no mode set sends [`StreamMode::Values`].
    pub fn stream_mode(mut self, mode: StreamMode) -> Self {
        if !self.stream_modes.contains(&mode) {
            self.stream_modes.push(mode);
        }
        self
    }

    /// How many events a stream buffers before the run waits for its consumer.
    pub fn stream_buffer(mut self, events: usize) -> Self {
        self.stream_buffer = events.max(1);
        self
    }

    /// Fails the run on anything that is otherwise a [`RunWarning`](crate::RunWarning): a
    /// run that ends while a join still waits on sources that never ran, or a router that
    /// chose no destination ([`GraphError::StrictWarning`](crate::GraphError::StrictWarning)).
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The thread whose checkpoints this run reads and writes; required when the graph has
    /// a checkpointer.
    pub fn thread_id(mut self, thread_id: impl Into<String>) -> Self {
        self.thread_id = Some(thread_id.into());
        self
    }

    /// Starts from this checkpoint of the thread instead of its latest: replay, or fork with
    /// [`CompiledGraph::update_state`](crate::CompiledGraph::update_state).
    pub fn checkpoint_id(mut self, checkpoint_id: impl Into<String>) -> Self {
        self.checkpoint_id = Some(checkpoint_id.into());
        self
    }

    /// When checkpoints are written (default [`Durability::Sync`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Where the run's tasks run (default [`Executor::Local`]).
    pub fn executor(mut self, executor: Executor) -> Self {
        self.executor = executor;
        self
    }
}

/// Where a run's tasks run: in the run's process, or on worker processes through a task
/// queue. The graph is the same either way, and so is the result.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Executor {
    /// On the run's own tokio runtime.
    #[default]
    Local,
    /// On the [`Worker`](crate::distributed::Worker)s of a task queue: each step's tasks
    /// are sent to the queue once the step's checkpoint is saved, and their outputs are
    /// applied in task order when all have come back. A subgraph's steps run where its
    /// task runs.
    #[cfg(feature = "distributed")]
    Queue(QueueExecutor),
}

impl Executor {
    /// Runs the tasks on the workers of `queue` that register the graph as `graph`.
    ///
    /// The run needs a [`PostgresSaver`](crate::checkpoint::PostgresSaver) on the queue's
    /// database ([`TaskQueue::saver`](crate::distributed::TaskQueue::saver) gives one) and
    /// `Sync` or `Async` durability, since the workers read each step's checkpoint.
    #[cfg(feature = "distributed")]
    pub fn queue(queue: &crate::distributed::TaskQueue, graph: impl Into<String>) -> Self {
        Self::Queue(QueueExecutor { queue: queue.clone(), graph: graph.into() })
    }
}

/// A task queue and the name its workers know the graph by; made by [`Executor::queue`].
#[cfg(feature = "distributed")]
#[derive(Debug, Clone)]
pub struct QueueExecutor {
    pub(crate) queue: crate::distributed::TaskQueue,
    pub(crate) graph: String,
}
