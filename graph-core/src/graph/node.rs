//! Nodes: the plain async functions a graph runs, and how they are erased into one shape.

use std::any::{Any, TypeId};
use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use stackfuture::StackFuture;
use tokio_util::sync::CancellationToken;

use super::command::Command;
use super::context::{Context, ErasedContext};
use super::draw::Topology;
use super::interrupt::{Interrupt, InterruptError};
use super::send::Payload;
use crate::checkpoint::CheckpointError;
use crate::error::BoxError;
use crate::pregel::TaskId;
use crate::state::State;
use crate::stream::TaskStream;

/// The payload of a `Send`, handed to a node that takes `Input<T>`.
///
/// ```
/// use graph_core::Input;
///
/// async fn write_section(Input(topic): Input<String>) {
///     println!("writing about {topic}");
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Input<T>(pub T);

/// What a task knows about itself: its node, superstep, id and attempt.
///
/// A node receives it by taking a `NodeContext` after its state or input argument. The
/// graph's shared resources come separately, as a [`Context`] argument after this one.
#[derive(Clone)]
pub struct NodeContext {
    pub(crate) node: Arc<str>,
    pub(crate) task_id: TaskId,
    pub(crate) attempt: u32,
    /// What every task of the run shares (one allocation per run keeps each task small).
    pub(crate) run: Arc<RunShared>,
    /// Where the task streams custom values and messages, when the stream wants them.
    pub(crate) sink: Option<Arc<dyn TaskStream>>,
    /// Answers to this task's interrupts, when it has any.
    pub(crate) answers: Option<Arc<TaskAnswers>>,
    /// The checkpoint the task's step started from, in a checkpointed run.
    pub(crate) head: Option<Arc<str>>,
}

/// What every task of one run shares.
pub(crate) struct RunShared {
    /// Cancelled when the run stops early.
    pub(crate) cancellation: CancellationToken,
    /// The run's context, of the graph's context type.
    pub(crate) context: ErasedContext,
    /// The last superstep the run may take, set once the run knows where it starts.
    pub(crate) last_step: std::sync::OnceLock<usize>,
    /// What a subgraph run called by one of the run's tasks inherits.
    pub(crate) inherit: Inherit,
}

/// What a run hands down to the subgraph runs its tasks call.
pub(crate) struct Inherit {
    /// The run's settings: limits, timeouts, durability, its thread and namespace.
    pub(crate) config: crate::RunConfig,
    /// The run-wide concurrency limit, shared with subgraph runs.
    pub(crate) limit: Option<Arc<tokio::sync::Semaphore>>,
    /// Where the run saves checkpoints, if it does.
    pub(crate) saver: Option<Arc<dyn crate::checkpoint::Checkpointer>>,
    /// Where the run streams, if it does.
    pub(crate) stream: Option<crate::stream::StreamLink>,
    /// The run's node cache, for subgraphs without their own.
    pub(crate) services: super::Services,
}

impl Inherit {
    /// The namespace of a subgraph run that a task of this run calls as `segment`.
    pub(crate) fn child_namespace(&self, segment: String) -> crate::pregel::Namespace {
        match &self.config.parent {
            Some(link) => link.namespace.child(segment),
            None => crate::pregel::Namespace::root().child(segment),
        }
    }
}

/// The answers a task has received to its interrupts, and how many it has asked for in the
/// current attempt.
#[derive(Debug, Default)]
pub(crate) struct TaskAnswers {
    pub(crate) values: Vec<serde_json::Value>,
    pub(crate) asked: std::sync::atomic::AtomicUsize,
    /// For a subgraph's task: answers to its subgraph's pauses, by id within the subgraph.
    pub(crate) by_id: Vec<(String, serde_json::Value)>,
}

impl std::fmt::Debug for NodeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeContext")
            .field("node", &self.node)
            .field("task_id", &self.task_id)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl NodeContext {
    /// The name of the running node.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The superstep this task runs in, counting from 0.
    pub fn step(&self) -> usize {
        self.task_id.step()
    }

    /// The task's deterministic id.
    pub fn task_id(&self) -> &TaskId {
        &self.task_id
    }

    /// The attempt number, counting from 1; above 1 when a retry policy runs it again.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The run's context, when it has type `C`: for code that is handed a task's
    /// `NodeContext` rather than a [`Context`] argument, such as a tool. `None` for another
    /// type.
    pub fn context<C: Send + Sync + 'static>(&self) -> Option<&C> {
        self.run.context.downcast_ref::<C>()
    }

    /// The store of long-term memory the graph was given with
    /// [`CompiledGraph::with_store`](crate::CompiledGraph::with_store) (or its parent graph
    /// was, for a subgraph), if any. Its writes take effect at once and are not part of the
    /// checkpoint: a task that runs again writes again, so write under stable keys.
    pub fn store(&self) -> Option<&Arc<dyn crate::store::Store>> {
        self.run.inherit.services.store.as_ref()
    }

    /// How many supersteps the run may still take under its
    /// [`recursion_limit`](crate::RunConfig::recursion_limit), this one included: 1 in the
    /// last step the run may take. An agent uses it to answer before the limit fails the run.
    ///
    /// ```
    /// use graph_core::prelude::*;
    ///
    /// #[derive(State, Clone, Default)]
    /// struct Budget {
    ///     #[reducer(append)]
    ///     left: Vec<usize>,
    /// }
    ///
    /// async fn count(_: std::sync::Arc<Budget>, ctx: NodeContext) -> BudgetUpdate {
    ///     Budget::update().left(vec![ctx.remaining_steps()])
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let graph = StateGraph::<Budget>::new()
    ///     .add_node("a", count)
    ///     .add_node("b", count)
    ///     .add_edge(START, "a")
    ///     .add_edge("a", "b")
    ///     .compile()?;
    /// let out = graph.invoke(Budget::default(), RunConfig::default().recursion_limit(5)).await?;
    /// assert_eq!(out.finished()?.left, [5, 4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn remaining_steps(&self) -> usize {
        match self.run.last_step.get() {
            Some(&last) => (last + 1).saturating_sub(self.step()),
            None => 0,
        }
    }

    /// Sends `value` to the run's stream as a [`StreamEvent::Custom`](crate::StreamEvent::Custom)
    /// event, if the stream asked for [`StreamMode::Custom`](crate::StreamMode::Custom); otherwise
    /// does nothing. Waits while the stream's buffer is full.
    ///
    /// A value that cannot be serialized is sent as a string describing the error.
    pub async fn emit(&self, value: impl Serialize) {
        if let Some(sink) = &self.sink {
            let value = serde_json::to_value(value)
                .unwrap_or_else(|error| format!("unserializable custom value: {error}").into());
            sink.custom(value).await;
        }
    }

    /// Whether the run's stream wants [`StreamMode::Messages`](crate::StreamMode::Messages):
    /// a model client streams its answer chunk by chunk when it does, and makes one call
    /// otherwise.
    pub fn streams_messages(&self) -> bool {
        self.sink.as_ref().is_some_and(|sink| sink.wants_messages())
    }

    /// Sends a message, or a chunk of one, to the run's stream as a
    /// [`StreamEvent::Message`](crate::StreamEvent::Message), if the stream asked for
    /// [`StreamMode::Messages`](crate::StreamMode::Messages); otherwise does nothing. Waits
    /// while the stream's buffer is full.
    ///
    /// The value's `id` key, when it has one, marks the message as streamed: the task's
    /// returned messages with that id are not sent again when it ends.
    pub async fn send_message(&self, message: serde_json::Value) {
        if let Some(sink) = &self.sink {
            sink.message(message).await;
        }
    }

    /// Pauses the run to ask a person: returns the answer once the thread is resumed with
    /// [`Command::resume`](crate::Command::resume), and until then fails with
    /// [`InterruptError::Pause`], which the node lets propagate with `?`.
    ///
    /// The node runs again from its start when resumed, so work before the call should be
    /// safe to repeat. A node may ask several times; each call gets its own answer, in order.
    /// Pausing needs a checkpointer to resume later.
    pub fn interrupt<T: Serialize, R: DeserializeOwned>(
        &self,
        value: T,
    ) -> Result<R, InterruptError> {
        let index = self
            .answers
            .as_ref()
            .map_or(0, |a| a.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let id = format!("{}#{index}", self.task_id);
        match self.answers.as_ref().and_then(|a| a.values.get(index)) {
            Some(answer) => {
                serde_json::from_value(answer.clone()).map_err(|error| InterruptError::BadAnswer {
                    id,
                    expected: std::any::type_name::<R>(),
                    reason: error.to_string(),
                })
            }
            None => {
                let value = match crate::checkpoint::to_json(&value) {
                    Ok(value) => value,
                    Err(CheckpointError::NonFiniteFloat { path, value }) => {
                        return Err(InterruptError::NonFiniteValue { id, path, value })
                    }
                    Err(other) => {
                        return Err(InterruptError::Unsaveable { id, reason: other.to_string() })
                    }
                };
                Err(InterruptError::Pause(Interrupt { id, node: self.node.to_string(), value }))
            }
        }
    }

    /// Cancelled when the run stops early (a sibling failed, the run was cancelled or
    /// dropped), for work that should stop cooperatively, such as a spawned child task.
    pub fn cancellation_token(&self) -> &CancellationToken {
        &self.run.cancellation
    }
}

/// What a node may return: the state's update type, a [`Command`], `()`, or a `Result` of one
/// of these whose error converts into a [`BoxError`].
///
/// `#[derive(State)]` implements it for the generated update type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned by a node of a graph over `{S}`",
    note = "a node returns the state's update type, a `Command<{S}>`, `()`, or a `Result` of one of these"
)]
pub trait NodeOutput<S: State> {
    /// Converts the node's return value into a command.
    fn into_command(self) -> Result<Command<S>, BoxError>;
}

impl<S: State> NodeOutput<S> for () {
    fn into_command(self) -> Result<Command<S>, BoxError> {
        Ok(Command::new())
    }
}

impl<S: State> NodeOutput<S> for Command<S> {
    fn into_command(self) -> Result<Command<S>, BoxError> {
        Ok(self)
    }
}

impl<S, T, E> NodeOutput<S> for Result<T, E>
where
    S: State,
    T: NodeOutput<S>,
    E: Into<BoxError>,
{
    fn into_command(self) -> Result<Command<S>, BoxError> {
        self.map_err(Into::into)?.into_command()
    }
}

/// A node's future with its type erased. A future of at most [`INLINE_FUTURE`] bytes, that of
/// a node doing little before it returns, is kept in place and costs no allocation; a larger
/// one is boxed.
pub(crate) type NodeFuture<S> =
    StackFuture<'static, Result<Command<S>, BoxError>, { INLINE_FUTURE }>;

/// The room a [`NodeFuture`] keeps for its future: it grows every task by as much, so it is
/// small. It holds the future of an async fn that takes its state and returns at once (with
/// its conversion into a command mapped on, not awaited in an async block, which would take
/// more room).
const INLINE_FUTURE: usize = 32;

/// Erases a node's future.
pub(crate) fn node_future<S: State>(
    future: impl Future<Output = Result<Command<S>, BoxError>> + Send + 'static,
) -> NodeFuture<S> {
    StackFuture::from_or_box(future)
}

/// What a task hands its node: the shared state snapshot, or a `Send` payload.
pub(crate) enum TaskInput<S> {
    State(Arc<S>),
    Payload(Box<dyn Any + Send>),
}

impl<S> TaskInput<S> {
    /// A push task's payload, else the state snapshot.
    pub(crate) fn new(payload: Option<Box<dyn super::Payload>>, state: Arc<S>) -> Self {
        match payload {
            None => Self::State(state),
            Some(sent) => Self::Payload(sent.into_any()),
        }
    }
}

/// The input a node takes, checked before a `Send` is delivered to it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum InputKind {
    /// The graph state, as `Arc<S>`.
    State,
    /// A `Send` payload of one type, as `Input<T>`.
    Payload { type_id: TypeId, type_name: &'static str },
}

pub(crate) type CallFn<S> = dyn Fn(TaskInput<S>, LazyContext<'_>) -> NodeFuture<S> + Send + Sync;

/// A task's [`NodeContext`], made only for a node that takes one. Most nodes take their
/// state alone, and a context costs an atomic count on each of its shared parts to make
/// and as many to drop.
pub(crate) struct LazyContext<'a> {
    /// The run's context, which a node taking only a [`Context`] argument needs.
    pub(crate) run_context: &'a ErasedContext,
    pub(crate) make: &'a mut (dyn FnMut() -> NodeContext + Send),
}

impl LazyContext<'_> {
    /// The task's context.
    pub(crate) fn get(self) -> NodeContext {
        (self.make)()
    }
}

/// A node with its signature erased.
pub struct ErasedNode<S: State> {
    call: Box<CallFn<S>>,
    pub(crate) input: InputKind,
    /// Restores a saved `Send` payload for nodes taking `Input<T>`.
    pub(crate) decode: Option<DecodeFn>,
    /// A subgraph's shape, when the node runs one.
    pub(crate) subgraph: Option<Arc<Topology>>,
    /// Reads the state of the subgraph calls of the node's tasks, when it runs a subgraph.
    pub(crate) inspect: Option<Arc<dyn super::subgraph::InspectCall>>,
    /// A field of a [`Subgraph::sharing`](super::Subgraph::sharing) subgraph that does not
    /// match its parent's, reported by `compile()`.
    pub(crate) shared_field_mismatch: Option<(&'static str, String)>,
}

/// Restores a `Send` payload of a node's input type from a checkpoint.
pub(crate) type DecodeFn = fn(serde_json::Value) -> serde_json::Result<Box<dyn Payload>>;

pub(crate) fn decode_payload<T: DeserializeOwned + Serialize + Clone + Send + 'static>(
    value: serde_json::Value,
) -> serde_json::Result<Box<dyn Payload>> {
    Ok(Box::new(serde_json::from_value::<T>(value)?))
}

impl<S: State> ErasedNode<S> {
    pub(crate) fn call(&self, input: TaskInput<S>, ctx: LazyContext<'_>) -> NodeFuture<S> {
        (self.call)(input, ctx)
    }

    /// A node from its parts: how to call it, what it takes, and the subgraph it runs.
    pub(crate) fn new(
        call: Box<CallFn<S>>,
        input: InputKind,
        decode: Option<DecodeFn>,
        subgraph: Option<Arc<Topology>>,
    ) -> Self {
        Self { call, input, decode, subgraph, inspect: None, shared_field_mismatch: None }
    }

    /// Whether the node runs a subgraph.
    pub(crate) fn is_subgraph(&self) -> bool {
        self.subgraph.is_some()
    }

    fn from_state_fn<F, Fut, R>(f: F) -> Self
    where
        F: Fn(Arc<S>, LazyContext<'_>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: NodeOutput<S>,
    {
        let call = move |input: TaskInput<S>, ctx: LazyContext<'_>| -> NodeFuture<S> {
            let state = match input {
                TaskInput::State(state) => state,
                // A Send to a state node carries a whole state; the planner checked its type.
                TaskInput::Payload(payload) => match payload.downcast::<S>() {
                    Ok(state) => Arc::new(*state),
                    Err(_) => return node_future(async { Err(payload_mismatch()) }),
                },
            };
            node_future(f(state, ctx).map(|output| output.into_command()))
        };
        Self::new(Box::new(call), InputKind::State, None, None)
    }

    fn from_input_fn<T, F, Fut, R>(f: F) -> Self
    where
        T: DeserializeOwned + Serialize + Clone + Send + 'static,
        F: Fn(Input<T>, LazyContext<'_>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: NodeOutput<S>,
    {
        let call = move |input: TaskInput<S>, ctx: LazyContext<'_>| -> NodeFuture<S> {
            let payload = match input {
                TaskInput::Payload(payload) => payload.downcast::<T>(),
                TaskInput::State(_) => return node_future(async { Err(payload_mismatch()) }),
            };
            let Ok(payload) = payload else {
                return node_future(async { Err(payload_mismatch()) });
            };
            node_future(f(Input(*payload), ctx).map(|output| output.into_command()))
        };
        let input = InputKind::Payload {
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
        };
        Self::new(Box::new(call), input, Some(decode_payload::<T>), None)
    }
}

// The planner checks payload types before any task starts, so this is a defensive fallback.
fn payload_mismatch() -> BoxError {
    "the task's input does not match the node's input type".into()
}

/// Turns a plain async function into a node of a graph over `S` whose run context is `C`.
///
/// Implemented for functions taking `Arc<S>` or [`Input<T>`], then optionally a
/// [`NodeContext`], then optionally the graph's [`Context<C>`], and returning any
/// [`NodeOutput`]. Users never implement it; the last parameter is the function's shape,
/// such as `fn(Arc<S>, Context<C>) -> R`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a node of a graph over `{S}` with context `{C}`",
    note = "a node is an async fn taking `Arc<{S}>` (or `Input<T>` when started by Send), then optionally `NodeContext`, then optionally `Context<{C}>`, and returning the update type, a `Command`, `()`, or a `Result` of one of these"
)]
pub trait IntoNode<S: State, C, M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_node(self) -> ErasedNode<S>;
}

/// One `IntoNode` impl per shape: `$first` is the state or input argument, `$erase` builds the
/// erased node, `$call` calls the function from its first argument and the `NodeContext`.
macro_rules! into_node {
    ($([$($t:ident)?] fn($first:ty $(, $rest:ty)*) => $erase:ident |$f:ident, $a:ident, $ctx:ident| $call:expr;)*) => {$(
        impl<S, C, $($t,)? F, Fut, R> IntoNode<S, C, fn($first $(, $rest)*) -> R> for F
        where
            S: State,
            C: Send + Sync + 'static,
            $($t: DeserializeOwned + Serialize + Clone + Send + 'static,)?
            F: Fn($first $(, $rest)*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: NodeOutput<S>,
        {
            fn into_node(self) -> ErasedNode<S> {
                let $f = self;
                ErasedNode::$erase(move |$a, $ctx: LazyContext<'_>| $call)
            }
        }
    )*};
}

into_node! {
    [] fn(Arc<S>) => from_state_fn |f, state, _ctx| f(state);
    [] fn(Arc<S>, NodeContext) => from_state_fn |f, state, ctx| f(state, ctx.get());
    [] fn(Arc<S>, Context<C>) => from_state_fn |f, state, ctx| {
        f(state, Context::from_erased(ctx.run_context))
    };
    [] fn(Arc<S>, NodeContext, Context<C>) => from_state_fn |f, state, ctx| {
        let context = Context::from_erased(ctx.run_context);
        f(state, ctx.get(), context)
    };
    [T] fn(Input<T>) => from_input_fn |f, input, _ctx| f(input);
    [T] fn(Input<T>, NodeContext) => from_input_fn |f, input, ctx| f(input, ctx.get());
    [T] fn(Input<T>, Context<C>) => from_input_fn |f, input, ctx| {
        f(input, Context::from_erased(ctx.run_context))
    };
    [T] fn(Input<T>, NodeContext, Context<C>) => from_input_fn |f, input, ctx| {
        let context = Context::from_erased(ctx.run_context);
        f(input, ctx.get(), context)
    };
}
