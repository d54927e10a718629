//! Errors: one enum per kind of failure, each variant naming the node, edge, field or step at fault.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// A boxed error returned by a user's node.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A mistake in a graph's definition, found by [`StateGraph::compile`](crate::StateGraph::compile).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two nodes were added under one name.
    #[error("node `{node}` is added twice")]
    DuplicateNode {
        /// The repeated name.
        node: String,
    },
    /// A node uses a name the graph reserves (`__start__`, `__end__`) or an empty name.
    #[error("node name `{node}` is reserved; choose another name")]
    ReservedName {
        /// The offending name.
        node: String,
    },
    /// An edge, join or conditional edge names a node that was never added.
    #[error("{edge} refers to unknown node `{node}`")]
    UnknownNode {
        /// The missing node.
        node: String,
        /// The edge that names it, for example ``edge `a` -> `b` ``.
        edge: String,
    },
    /// Nothing starts the graph: no edge or conditional edge leaves `START`.
    #[error("the graph has no entry: add an edge or a conditional edge from START")]
    NoEntry,
    /// An edge leaves `END` or enters `START`.
    #[error("{edge} is not allowed: nothing leaves END and nothing enters START")]
    EdgeOutsideGraph {
        /// The offending edge.
        edge: String,
    },
    /// A conditional edge declares a target that is not a node of the graph.
    #[error(
        "conditional edge from `{source_node}` declares target `{target}`, which is not a node"
    )]
    UnknownConditionalTarget {
        /// The node whose router declares the target.
        source_node: String,
        /// The undeclared node.
        target: String,
    },
    /// A conditional edge declares no target at all.
    #[error("conditional edge from `{source_node}` declares no targets")]
    NoConditionalTargets {
        /// The node whose router declares nothing.
        source_node: String,
    },
    /// A join has fewer than two distinct sources (an ordinary edge does that job).
    #[error("join into `{target}` needs at least two distinct sources, got {sources:?}")]
    JoinTooSmall {
        /// The join's target.
        target: String,
        /// The distinct sources given.
        sources: Vec<String>,
    },
    /// A subgraph built with [`Subgraph::sharing`](crate::Subgraph::sharing) has a field its
    /// parent lacks, or has with another type or reducer.
    #[error("subgraph node `{node}` shares field `{field}` with its parent, but {problem}")]
    SharedField {
        /// The subgraph node.
        node: String,
        /// The subgraph's field.
        field: &'static str,
        /// What does not match.
        problem: String,
    },
    /// A node taking `Input<T>` is the target of an edge or join, which would start it
    /// without a payload; only a `Send` can start it.
    #[error("node `{node}` takes `Input<{input_type}>`, so only a Send can start it, but {edge} would start it without one")]
    InputNodeOnEdge {
        /// The node that takes a payload.
        node: String,
        /// The payload type it expects.
        input_type: &'static str,
        /// The edge that would start it.
        edge: String,
    },
    /// A node taking `Input<T>` is not a declared target of any conditional edge or node
    /// destination, so no `Send` can ever reach it.
    #[error("node `{node}` takes `Input<{input_type}>`, but no conditional edge or node destination declares it, so no Send can reach it")]
    UnreachableInputNode {
        /// The node that takes a payload.
        node: String,
        /// The payload type it expects.
        input_type: &'static str,
    },
}

/// A field update that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidUpdate {
    /// A field without a reducer was written more than once in one superstep.
    #[error("field `{field}` has no reducer and takes one write per step, but it was written by {}; add a reducer such as `#[reducer(overwrite)]` or `#[reducer(append)]`", writers.join(", "))]
    ConflictingWrites {
        /// The field written more than once.
        field: &'static str,
        /// Every writer, in task order.
        writers: Vec<String>,
    },
    /// A field's `with` reducer refused a write (an `Err` from a reducer returning `Result`).
    #[error("field `{field}` refused the write of `{writer}`: {reason}")]
    Rejected {
        /// The field.
        field: &'static str,
        /// The node (or input) that wrote it.
        writer: String,
        /// The reducer's error.
        reason: String,
    },
}

/// A failure while running a compiled graph.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// A node returned an error.
    #[error("node `{node}` failed in step {step} (attempt {attempt}): {source}")]
    NodeFailed {
        /// The failing node.
        node: String,
        /// The superstep it ran in.
        step: usize,
        /// The attempt that failed, counting from 1.
        attempt: u32,
        /// The node's own error.
        source: BoxError,
    },
    /// A node attempt ran longer than its timeout.
    #[error("node `{node}` timed out after {timeout:?} in step {step} (attempt {attempt})")]
    NodeTimedOut {
        /// The node that timed out.
        node: String,
        /// The superstep it ran in.
        step: usize,
        /// The attempt that timed out, counting from 1.
        attempt: u32,
        /// The timeout in force.
        timeout: Duration,
    },
    /// A superstep ran longer than [`RunConfig::step_timeout`](crate::RunConfig::step_timeout).
    #[error("step {step} timed out after {timeout:?}")]
    StepTimedOut {
        /// The superstep that timed out.
        step: usize,
        /// The timeout in force.
        timeout: Duration,
    },
    /// A node panicked; the panic was caught and failed only its task.
    #[error("node `{node}` panicked in step {step} (attempt {attempt}): {message}")]
    NodePanicked {
        /// The panicking node.
        node: String,
        /// The superstep it ran in.
        step: usize,
        /// The attempt that panicked, counting from 1.
        attempt: u32,
        /// The panic message.
        message: String,
    },
    /// User code run on a node's behalf panicked: its router, its error handler, its retry
    /// predicate, or a `with = path` reducer merging its update. The panic was caught and
    /// failed the run with this error; the runtime survives.
    #[error("the {callback} of node `{node}` panicked in step {step}: {message}")]
    CallbackPanicked {
        /// The node the code ran for (for a reducer: the node whose update it merged).
        node: String,
        /// The superstep.
        step: usize,
        /// Which code panicked.
        callback: Callback,
        /// The panic message.
        message: String,
    },
    /// The updates of one superstep could not be merged into the state.
    #[error("invalid update in step {step}: {source}")]
    InvalidUpdate {
        /// The superstep whose updates conflict.
        step: usize,
        /// What was wrong.
        source: InvalidUpdate,
    },
    /// The run's input could not be turned into a state.
    #[error("invalid input: {0}")]
    InvalidInput(#[source] InvalidUpdate),
    /// The run needed more supersteps than [`RunConfig::recursion_limit`](crate::RunConfig::recursion_limit) allows.
    #[error("recursion limit of {limit} supersteps reached; nodes still pending: {}", pending.join(", "))]
    RecursionLimit {
        /// The limit in force.
        limit: usize,
        /// The nodes that would have run next, in task order.
        pending: Vec<String>,
    },
    /// A router or `Command` named a destination it may not go to.
    #[error("{origin} routed to `{target}`: {refusal}")]
    InvalidRoute {
        /// Who routed.
        origin: RouteOrigin,
        /// The destination it named.
        target: String,
        /// Why the destination was refused.
        refusal: RouteRefusal,
    },
    /// A `Send` carried a payload of the wrong type for its target node.
    #[error("Send to `{node}` carries a `{found}`, but the node takes `{expected}`")]
    PayloadType {
        /// The target node.
        node: String,
        /// The type the node takes.
        expected: &'static str,
        /// The type the Send carried.
        found: &'static str,
    },
    /// Under [`RunConfig::strict`](crate::RunConfig::strict): the run noticed something
    /// that is otherwise a [`RunWarning`](crate::RunWarning), such as a join that never fired
    /// or a router that chose no destination.
    #[error("{0} (an error under RunConfig::strict)")]
    StrictWarning(crate::stream::RunWarning),
    /// The run paused, where the caller asked for a finished run
    /// ([`RunOutcome::finished`](crate::RunOutcome::finished)): a node called
    /// `NodeContext::interrupt`, or a node configured with `interrupt_before`/`interrupt_after`
    /// was reached. Resume the thread with [`Command::resume`](crate::Command::resume) (or
    /// `Command::new()` for static interrupts).
    #[error("the run paused at {}; resume it with Command::resume", interrupts.iter().map(|i| i.id.as_str()).collect::<Vec<_>>().join(", "))]
    Interrupted {
        /// The pauses, in task order.
        interrupts: Vec<crate::graph::Interrupt>,
    },
    /// A checkpointer failed, or a stored checkpoint could not be used.
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// The run needs a checkpointer and the graph has none: threads, `get_state`,
    /// `update_state`, resuming, and pausing all save to one.
    #[error("{needed_for} needs a checkpointer, and this graph has none: compile it and call `.with_checkpointer(..)`, for example with `MemorySaver::new()`")]
    NoCheckpointer {
        /// What needed it, for example ``interrupt_before(`review`)``.
        needed_for: String,
    },
    /// The graph has a checkpointer but the run names no thread.
    #[error("the graph has a checkpointer, so RunConfig::thread_id must name the thread")]
    MissingThreadId,
    /// A thread id contains [`SUBGRAPH_SEPARATOR`](crate::checkpoint::SUBGRAPH_SEPARATOR),
    /// which starts the namespaces of its subgraphs' checkpoints.
    #[error("thread id `{thread_id}` contains `|`, which separates a thread from its subgraphs' checkpoints: choose an id without it")]
    InvalidThreadId {
        /// The thread id.
        thread_id: String,
    },
    /// A resume or an edit names a thread that has no checkpoint.
    #[error("thread `{thread_id}` has no checkpoint: start it with an input (a state or an update) before resuming or editing it")]
    UnknownThread {
        /// The thread.
        thread_id: String,
    },
    /// A resume was asked for, but the thread finished: nothing is left to run.
    #[error("thread `{thread_id}` finished at checkpoint `{checkpoint_id}`, so there is nothing to resume: start a new run with an input, or replay an earlier checkpoint with RunConfig::checkpoint_id")]
    NothingToResume {
        /// The thread.
        thread_id: String,
        /// The checkpoint the resume would have continued.
        checkpoint_id: String,
    },
    /// A node name given at run time (such as `update_state`'s `as_node`) is not in the graph.
    #[error("`{node}` is not a node of the graph")]
    UnknownNode {
        /// The name given.
        node: String,
    },
    /// The answers of a resume do not match the thread's pending interrupts.
    #[error(transparent)]
    InvalidResume(InvalidResume),
    /// The run was cancelled before it finished.
    #[error("the run was cancelled")]
    Cancelled,
    /// A node cache failed; a run only warns of it, but clearing reports it.
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    /// The task queue of a distributed run failed: its database, or a message or output in
    /// it that could not be read.
    #[error("task queue `{queue}` failed: {source}")]
    Queue {
        /// The queue's name.
        queue: String,
        /// What failed.
        source: BoxError,
    },
    /// A task of a distributed run failed on the worker that ran it, after its node's
    /// retries and error handler.
    #[error("node `{node}` failed in task `{task_id}` on worker `{worker}`: {message}")]
    RemoteTask {
        /// The task's node.
        node: String,
        /// The task's id.
        task_id: String,
        /// The worker that ran it.
        worker: String,
        /// The error on the worker, as displayed there.
        message: String,
    },
    /// A worker took a task of a graph it does not register, or registers in another
    /// version (its nodes, edges or state types differ), and refused to run it.
    #[error("worker `{worker}` cannot run graph `{graph}` version `{version}`: {}", match found {
        Some(found) => format!("it registers version `{found}`"),
        None => "it does not register that graph".to_owned(),
    })]
    GraphMismatch {
        /// The graph's name.
        graph: String,
        /// The version the run dispatched.
        version: String,
        /// The version the worker registers, if any.
        found: Option<String>,
        /// The worker.
        worker: String,
    },
    /// Clearing the cache of a graph that has none.
    #[error("this graph has no node cache: compile it and call `.with_cache(..)`, for example with `MemoryCache::new()`")]
    NoCache,
}

/// Who chose a destination at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteOrigin {
    /// A router of a conditional edge leaving `node` (`__start__` for `START`).
    Router {
        /// The node the router leaves.
        node: String,
    },
    /// A `Command` returned by `node`.
    Command {
        /// The node that returned it.
        node: String,
    },
}

impl fmt::Display for RouteOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteOrigin::Router { node } => write!(f, "the router of `{node}`"),
            RouteOrigin::Command { node } => write!(f, "a Command from `{node}`"),
        }
    }
}

/// Why a destination chosen at run time was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteRefusal {
    /// The name is not a node of the graph.
    UnknownNode,
    /// A router named a node (or `END`) outside the targets it declared.
    Undeclared {
        /// The targets it declared, in name order, `END` last.
        declared: Vec<String>,
    },
    /// The node takes `Input<T>`, so only a `Send` with a payload can start it.
    NeedsPayload {
        /// The payload type the node takes.
        input_type: &'static str,
    },
    /// [`Command::goto_parent`](crate::Command::goto_parent) in a graph that does not run as
    /// a subgraph.
    NoParentGraph,
}

impl fmt::Display for RouteRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteRefusal::UnknownNode => f.write_str("no node has that name"),
            RouteRefusal::Undeclared { declared } => write!(
                f,
                "it is not among the declared targets [{}]; declare it in add_conditional_edges",
                declared.join(", ")
            ),
            RouteRefusal::NeedsPayload { input_type } => write!(
                f,
                "the node takes `Input<{input_type}>`, so only a Send with a payload can start it"
            ),
            RouteRefusal::NoParentGraph => {
                f.write_str("the graph does not run as a subgraph, so it has no parent to route in")
            }
        }
    }
}

/// A resume whose `Command` does not fit what the thread waits for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidResume {
    /// No answer was given while interrupts wait for one.
    #[error("thread `{thread_id}` waits for answers to interrupts {}: resume with Command::resume(answer), or Command::resume_by_id for several", ids(waiting))]
    NoAnswer {
        /// The thread.
        thread_id: String,
        /// The interrupts waiting, in the order they paused.
        waiting: Vec<String>,
    },
    /// One answer was given while several interrupts wait.
    #[error("thread `{thread_id}` waits for {} interrupts ({}), so one answer is ambiguous: answer each by id with Command::resume_by_id", waiting.len(), ids(waiting))]
    OneAnswerForSeveral {
        /// The thread.
        thread_id: String,
        /// The interrupts waiting, in the order they paused.
        waiting: Vec<String>,
    },
    /// An answer was given, but no interrupt waits for one.
    #[error(
        "thread `{thread_id}` has no interrupt waiting for an answer: resume with Command::new()"
    )]
    NothingWaiting {
        /// The thread.
        thread_id: String,
    },
    /// An answer names an interrupt that is not waiting.
    #[error(
        "thread `{thread_id}` has no interrupt `{interrupt_id}` waiting; waiting: {}",
        ids(waiting)
    )]
    UnknownInterrupt {
        /// The thread.
        thread_id: String,
        /// The id the answer named.
        interrupt_id: String,
        /// The interrupts waiting, in the order they paused.
        waiting: Vec<String>,
    },
    /// The `Command` given as input carries an update or destinations; as input it only
    /// resumes.
    #[error("a Command given as input to thread `{thread_id}` only resumes it: apply updates with update_state first, and route from nodes")]
    UpdateOrGoto {
        /// The thread.
        thread_id: String,
    },
    /// An answer cannot be saved as given (for example it holds a non-finite float), so a
    /// later resume could not read back what this one was told.
    #[error("an answer to thread `{thread_id}` cannot be saved: {reason}")]
    UnsaveableAnswer {
        /// The thread.
        thread_id: String,
        /// Why, naming the value's path.
        reason: String,
    },
}

/// Interrupt ids for a message: `` `a`, `b` ``, or `none`.
fn ids(ids: &[String]) -> String {
    if ids.is_empty() {
        return "none".to_owned();
    }
    ids.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(", ")
}

/// User code that runs on a node's behalf, besides the node itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Callback {
    /// A router of a conditional edge leaving the node.
    Router,
    /// The node's `on_error` handler.
    ErrorHandler,
    /// The predicate of the node's retry policy.
    RetryPredicate,
    /// A `#[reducer(with = path)]` function merging the node's update.
    Reducer,
}

impl fmt::Display for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Callback::Router => "router",
            Callback::ErrorHandler => "error handler",
            Callback::RetryPredicate => "retry predicate",
            Callback::Reducer => "reducer",
        })
    }
}

/// Why one attempt of a node failed. Retry predicates and error handlers receive it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The node returned an error.
    #[error("{0}")]
    Failed(BoxError),
    /// The attempt ran longer than the node's timeout.
    #[error("timed out after {0:?}")]
    TimedOut(Duration),
    /// The node panicked; the panic was caught.
    #[error("panicked: {0}")]
    Panicked(String),
}

/// A node's final failure, after its retries: what an error handler turns into an update.
///
/// It names the task and, for a task started by a [`Send`](crate::Send), carries the work
/// item, so a best-effort fan-out can record which item failed:
///
/// ```
/// use graph_core::prelude::*;
/// use graph_core::{NodeFailure, NodeOptions};
///
/// #[derive(State, Clone, Debug, Default)]
/// struct Report {
///     #[reducer(append)]
///     failed: Vec<String>,
/// }
///
/// let options = NodeOptions::<Report>::new().on_error(|failure: &NodeFailure| {
///     let item = failure.payload::<String>().cloned().unwrap_or_default();
///     Report::update().failed(vec![format!("{item} ({})", failure.task_id)])
/// });
/// # let _ = options;
/// ```
#[non_exhaustive]
pub struct NodeFailure {
    /// The failed node.
    pub node: String,
    /// The failed task.
    pub task_id: crate::TaskId,
    /// The superstep it ran in.
    pub step: usize,
    /// The last attempt, counting from 1.
    pub attempt: u32,
    /// What went wrong in the last attempt.
    pub error: NodeError,
    /// The `Send` payload the task was started with, if any.
    pub(crate) payload: Option<Box<dyn crate::graph::Payload>>,
}

impl NodeFailure {
    /// The work item of a task started by a `Send` with a payload of type `T`; `None` for a
    /// task that read the state, or a payload of another type.
    pub fn payload<T: 'static>(&self) -> Option<&T> {
        self.payload.as_ref()?.as_any().downcast_ref()
    }

    /// The work item as JSON, whatever its type; `None` for a task that read the state.
    pub fn payload_json(&self) -> Option<serde_json::Value> {
        self.payload.as_ref()?.to_json().ok()
    }
}

impl fmt::Debug for NodeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeFailure")
            .field("node", &self.node)
            .field("task_id", &self.task_id)
            .field("step", &self.step)
            .field("attempt", &self.attempt)
            .field("error", &self.error)
            .field("payload", &self.payload_json())
            .finish()
    }
}

impl fmt::Display for NodeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` failed: {} (task {}, attempt {})",
            self.node, self.error, self.task_id, self.attempt
        )
    }
}

impl From<NodeFailure> for GraphError {
    fn from(failure: NodeFailure) -> Self {
        let NodeFailure { node, step, attempt, error, .. } = failure;
        error.into_graph_error(node, step, attempt)
    }
}

impl NodeError {
    /// The run's error for a node's final failure.
    pub(crate) fn into_graph_error(self, node: String, step: usize, attempt: u32) -> GraphError {
        match self {
            NodeError::Failed(source) => GraphError::NodeFailed { node, step, attempt, source },
            NodeError::TimedOut(timeout) => {
                GraphError::NodeTimedOut { node, step, attempt, timeout }
            }
            NodeError::Panicked(message) => {
                GraphError::NodePanicked { node, step, attempt, message }
            }
        }
    }
}

/// Runs user code, turning a panic into its message.
pub(crate) fn catch_panic<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|panic| panic_message(&*panic))
}

/// The message of a caught panic.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

impl From<InvalidResume> for GraphError {
    fn from(error: InvalidResume) -> Self {
        GraphError::InvalidResume(error)
    }
}
