//! Subgraphs: a compiled graph run as one node of a parent graph, inside the parent's run.

use std::any::TypeId;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use futures::future::BoxFuture;

use super::draw::Topology;
use super::history::SubgraphState;
use super::interrupt::Answers;
use super::node::{decode_payload, CallFn, NodeFuture};
use super::{
    Command, CompiledGraph, ErasedContext, ErasedNode, InputKind, Interrupt, NodeContext,
    NodeOutput, RunOutcome, TaskInput,
};
use crate::checkpoint::Checkpointer;
use crate::config::{Durability, ParentLink, RunConfig};
use crate::error::{BoxError, GraphError};
use crate::pregel::{self, Namespace, Records, TaskId, TaskPath};
use crate::state::{GraphInput, RunInput, State};
use crate::stream::Emitter;
use crate::thread::{self, CallStart, Persistence};

/// A compiled graph to run as one node of a parent graph: add it with
/// [`StateGraph::add_subgraph`](crate::StateGraph::add_subgraph), or with
/// [`add_subgraph_with`](crate::StateGraph::add_subgraph_with) to give it
/// [`NodeOptions`](crate::NodeOptions).
///
/// The subgraph runs inside its parent's run, as the parent task's work:
///
/// - **State.** [`Subgraph::new`] takes a graph over the parent's own state type: it starts from
///   the parent's state, and every update it applies reaches the parent, in order, as the
///   writes of its task, through the parent's reducers. What it merely inherited is not written
///   again (an `append` list does not double), and a removal (of a message, say) reaches the
///   parent too. [`Subgraph::mapped`] and [`Subgraph::for_each`] take a graph over its own
///   state type, with two plain functions: the parent's state (or a `Send` payload) to the
///   subgraph's input, and the subgraph's final state to the parent's update.
/// - **Settings.** The parent run's cancellation, concurrency limit (one limit for the whole
///   run, subgraphs included), recursion limit, step timeout, strictness and durability apply
///   inside; a subgraph whose run context has the parent's type sees the parent's context
///   value, otherwise its own. Its tracing spans nest under its task's.
/// - **Checkpoints.** With a checkpointer on the parent, the subgraph saves its checkpoints
///   under a namespace of its task ([`SubgraphCheckpoints`]). A pause inside it pauses the
///   whole run, with the pause's id prefixed by the namespace; a resume reaches the exact
///   task inside, and only the subgraph's unfinished work runs again, after a crash too.
/// - **Streams.** Its events reach the parent's stream as [`StreamEvent::Subgraph`], with
///   their [`Namespace`]; its model messages too, unless
///   [`stream_messages(false)`](Self::stream_messages).
///
/// ```
/// use graph_core::prelude::*;
/// use graph_core::Subgraph;
/// use std::sync::Arc;
///
/// #[derive(State, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct Notes {
///     #[reducer(append)]
///     lines: Vec<String>,
/// }
///
/// async fn draft(_: Arc<Notes>) -> NotesUpdate {
///     Notes::update().lines(vec!["draft".into()])
/// }
/// async fn polish(_: Arc<Notes>) -> NotesUpdate {
///     Notes::update().lines(vec!["polished".into()])
/// }
/// async fn publish(_: Arc<Notes>) -> NotesUpdate {
///     Notes::update().lines(vec!["published".into()])
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let writer = StateGraph::<Notes>::new()
///     .add_node("draft", draft)
///     .add_node("polish", polish)
///     .add_edge(START, "draft")
///     .add_edge("draft", "polish")
///     .compile()?;
/// let graph = StateGraph::<Notes>::new()
///     .add_subgraph("writer", writer)
///     .add_node("publish", publish)
///     .add_edge(START, "writer")
///     .add_edge("writer", "publish")
///     .compile()?;
///
/// let out = graph.invoke(Notes::update().lines(vec!["idea".into()]), RunConfig::default()).await?;
/// // The subgraph's two writes reached the parent once each; "idea" was not appended again.
/// assert_eq!(out.finished()?.lines, ["idea", "draft", "polished", "published"]);
/// # Ok(())
/// # }
/// ```
///
/// [`StreamEvent::Subgraph`]: crate::StreamEvent::Subgraph
#[must_use]
pub struct Subgraph<S: State> {
    call: Arc<dyn ChildCall<S>>,
    input: InputKind,
    decode: Option<super::node::DecodeFn>,
    topology: Arc<Topology>,
    settings: Settings,
}

impl<S: State> std::fmt::Debug for Subgraph<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subgraph")
            .field("checkpoints", &self.settings.checkpoints)
            .field("stream_messages", &self.settings.stream_messages)
            .finish_non_exhaustive()
    }
}

/// Where a subgraph keeps its checkpoints when its parent run is checkpointed. A parent
/// without a checkpointer runs its subgraphs without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SubgraphCheckpoints {
    /// Under the namespace of the parent task (the default): each call starts afresh, and a
    /// call that paused, failed or crashed goes on where it stopped when its task runs again.
    #[default]
    PerCall,
    /// Under the namespace of the node, once per parent thread: the subgraph remembers its
    /// state from one call to the next, across the parent's runs. A call applies its input
    /// to the state the last call left (a whole state as input replaces it). Calls cannot
    /// overlap, so such a subgraph takes no `Send`.
    PerThread,
    /// None: the subgraph cannot pause, and a crash runs the whole call again.
    Off,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    checkpoints: SubgraphCheckpoints,
    stream_messages: bool,
}

impl<S: State> Subgraph<S> {
    /// A subgraph over the parent's own state type, started from the parent's state; every
    /// update it applies reaches the parent, in order, as its task's writes. A `Send` to it
    /// carries the whole state it starts from.
    pub fn new<C: Send + Sync + 'static>(graph: CompiledGraph<S, C>) -> Self
    where
        S: Serialize + DeserializeOwned,
        S::Update: Serialize + DeserializeOwned,
    {
        let input = |input: TaskInput<S>| -> Result<RunInput<S>, BoxError> {
            match input {
                TaskInput::State(state) => Ok(RunInput::State(S::clone(&state))),
                TaskInput::Payload(payload) => {
                    Ok(RunInput::State(*payload.downcast::<S>().map_err(|_| payload_mismatch())?))
                }
            }
        };
        let output = |_: S, mut writes: Vec<S::Update>| -> Result<Command<S>, BoxError> {
            S::keep_last_writes(&mut writes);
            let mut writes = writes.into_iter();
            let mut command = Command::new();
            command.update = writes.next();
            command.more = writes.collect();
            Ok(command)
        };
        Self::build(graph, InputKind::State, None, Box::new(input), Box::new(output), true)
    }

    /// A subgraph with its own state type `T`: `input` turns the parent's state into the
    /// subgraph's input (a whole `T`, or an update of `T::default()`), and `output` turns the
    /// subgraph's final state into the parent task's output (an update or a
    /// [`Command`]).
    pub fn mapped<T, C, I, R>(
        graph: CompiledGraph<T, C>,
        input: impl Fn(&S) -> I + Send + Sync + 'static,
        output: impl Fn(T) -> R + Send + Sync + 'static,
    ) -> Self
    where
        T: State + Serialize + DeserializeOwned,
        T::Update: Serialize + DeserializeOwned,
        C: Send + Sync + 'static,
        I: GraphInput<T>,
        R: NodeOutput<S>,
    {
        let input = move |task: TaskInput<S>| -> Result<RunInput<T>, BoxError> {
            match task {
                TaskInput::State(state) => Ok(input(&state).into_input()),
                TaskInput::Payload(payload) => {
                    let state = payload.downcast::<S>().map_err(|_| payload_mismatch())?;
                    Ok(input(&state).into_input())
                }
            }
        };
        let output = move |state: T, _: Vec<T::Update>| output(state).into_command();
        Self::build(graph, InputKind::State, None, Box::new(input), Box::new(output), false)
    }

    /// A subgraph with its own state type `T`, run once per [`Send`](crate::Send) carrying an
    /// `X`: `input` turns the payload into the subgraph's input, and `output` turns the
    /// subgraph's final state into the parent task's output. The orchestrator-worker
    /// pattern, with a whole graph as the worker.
    pub fn for_each<X, T, C, I, R>(
        graph: CompiledGraph<T, C>,
        input: impl Fn(X) -> I + Send + Sync + 'static,
        output: impl Fn(T) -> R + Send + Sync + 'static,
    ) -> Self
    where
        X: Serialize + DeserializeOwned + Clone + Send + 'static,
        T: State + Serialize + DeserializeOwned,
        T::Update: Serialize + DeserializeOwned,
        C: Send + Sync + 'static,
        I: GraphInput<T>,
        R: NodeOutput<S>,
    {
        let input = move |task: TaskInput<S>| -> Result<RunInput<T>, BoxError> {
            match task {
                TaskInput::Payload(payload) => {
                    let item = payload.downcast::<X>().map_err(|_| payload_mismatch())?;
                    Ok(input(*item).into_input())
                }
                TaskInput::State(_) => Err(payload_mismatch()),
            }
        };
        let output = move |state: T, _: Vec<T::Update>| output(state).into_command();
        let kind = InputKind::Payload {
            type_id: TypeId::of::<X>(),
            type_name: std::any::type_name::<X>(),
        };
        let decode = Some(decode_payload::<X> as super::node::DecodeFn);
        Self::build(graph, kind, decode, Box::new(input), Box::new(output), false)
    }

    /// Where the subgraph keeps its checkpoints (default [`SubgraphCheckpoints::PerCall`]).
    pub fn checkpoints(mut self, checkpoints: SubgraphCheckpoints) -> Self {
        self.settings.checkpoints = checkpoints;
        self
    }

    /// Whether the model messages the subgraph's nodes stream reach the parent's stream in
    /// [`StreamMode::Messages`](crate::StreamMode::Messages) (default `true`).
    pub fn stream_messages(mut self, stream: bool) -> Self {
        self.settings.stream_messages = stream;
        self
    }

    fn build<T, C: Send + Sync + 'static>(
        graph: CompiledGraph<T, C>,
        kind: InputKind,
        decode: Option<super::node::DecodeFn>,
        input: Box<InputFn<S, T>>,
        output: Box<OutputFn<S, T>>,
        writes: bool,
    ) -> Self
    where
        T: State + Serialize + DeserializeOwned,
        T::Update: Serialize + DeserializeOwned,
    {
        let topology = Arc::clone(&graph.inner.topology);
        let child = Child {
            graph,
            input,
            output,
            writes,
            persistence: Persistence::<T>::new,
            state_json: json::<T>,
            update_json: json::<T::Update>,
        };
        let settings =
            Settings { checkpoints: SubgraphCheckpoints::default(), stream_messages: true };
        Self { call: Arc::new(child), input: kind, decode, topology, settings }
    }
}

impl<S: State, C: Send + Sync + 'static> From<CompiledGraph<S, C>> for Subgraph<S>
where
    S: Serialize + DeserializeOwned,
    S::Update: Serialize + DeserializeOwned,
{
    fn from(graph: CompiledGraph<S, C>) -> Self {
        Subgraph::new(graph)
    }
}

impl<S: State> Subgraph<S> {
    /// The node that runs the subgraph.
    pub(crate) fn into_node(self) -> ErasedNode<S> {
        let (child, settings) = (self.call, self.settings);
        let inspect = Arc::clone(&child).inspector(settings);
        let call: Box<CallFn<S>> = Box::new(move |input: TaskInput<S>, ctx: NodeContext| {
            Arc::clone(&child).call(input, ctx, settings)
        });
        let mut node = ErasedNode::new(call, self.input, self.decode, Some(self.topology));
        node.inspect = Some(inspect);
        node
    }
}

/// A subgraph's pause, on its way out of the parent task: the task pauses with these.
#[derive(Debug, thiserror::Error)]
#[error("the subgraph paused for input ({} open interrupt(s))", interrupts.len())]
pub(crate) struct SubgraphPaused {
    pub(crate) interrupts: Vec<Interrupt>,
}

/// A subgraph that remembers per thread was sent several items at once.
#[derive(Debug, thiserror::Error)]
#[error("subgraph node `{node}` keeps its checkpoints per thread, so its calls cannot overlap: it cannot take a Send (use SubgraphCheckpoints::PerCall)")]
struct SharedThread {
    node: String,
}

type InputFn<S, T> = dyn Fn(TaskInput<S>) -> Result<RunInput<T>, BoxError> + Send + Sync;
type OutputFn<S, T> =
    dyn Fn(T, Vec<<T as State>::Update>) -> Result<Command<S>, BoxError> + Send + Sync;

/// A subgraph call with the subgraph's state type erased.
trait ChildCall<S: State>: Send + Sync + 'static {
    fn call(
        self: Arc<Self>,
        input: TaskInput<S>,
        ctx: NodeContext,
        settings: Settings,
    ) -> NodeFuture<S>;

    /// What reads the state of this subgraph's calls.
    fn inspector(self: Arc<Self>, settings: Settings) -> Arc<dyn InspectCall>;
}

/// One subgraph call, as a parent's checkpoint names it.
pub(crate) struct Call<'a> {
    /// The parent's thread.
    pub(crate) thread_id: &'a str,
    /// The parent checkpoint the call's step started from.
    pub(crate) head: &'a str,
    pub(crate) node: &'a str,
    pub(crate) task_id: &'a TaskId,
    /// The parent's namespace.
    pub(crate) namespace: &'a Namespace,
}

/// Reads a subgraph call's state from its checkpoints, with the subgraph's types erased.
pub(crate) trait InspectCall: Send + Sync {
    fn state<'a>(
        &'a self,
        saver: &'a Arc<dyn Checkpointer>,
        call: Call<'a>,
    ) -> BoxFuture<'a, Result<Option<SubgraphState>, GraphError>>;
}

struct Inspector<S: State, T: State, C> {
    child: Arc<Child<S, T, C>>,
    settings: Settings,
}

impl<S: State, T: State, C: Send + Sync + 'static> InspectCall for Inspector<S, T, C> {
    fn state<'a>(
        &'a self,
        saver: &'a Arc<dyn Checkpointer>,
        call: Call<'a>,
    ) -> BoxFuture<'a, Result<Option<SubgraphState>, GraphError>> {
        Box::pin(async move {
            let segment = format!("{}:{}", call.node, call.task_id);
            let Some(thread) =
                call_thread(self.settings, call.thread_id, call.node, &segment, call.head)
            else {
                return Ok(None);
            };
            let child = &self.child;
            let persistence = (child.persistence)(Arc::clone(saver));
            let invocation = format!("{}/{}", call.head, call.task_id);
            let namespace = call.namespace.child(segment);
            let (graph, values) = (&child.graph.inner, child.state_json);
            thread::call_snapshot(&persistence, graph, &thread, &invocation, namespace, values)
                .await
        })
    }
}

/// The thread a subgraph call checkpoints in, under its parent's thread; `None` when it
/// keeps no checkpoints.
fn call_thread(
    settings: Settings,
    parent_thread: &str,
    node: &str,
    segment: &str,
    head: &str,
) -> Option<String> {
    match settings.checkpoints {
        SubgraphCheckpoints::Off => None,
        SubgraphCheckpoints::PerThread => Some(format!("{parent_thread}|{node}")),
        SubgraphCheckpoints::PerCall => Some(format!("{parent_thread}|{segment}@{head}")),
    }
}

struct Child<S: State, T: State, C> {
    graph: CompiledGraph<T, C>,
    input: Box<InputFn<S, T>>,
    output: Box<OutputFn<S, T>>,
    /// Whether `output` needs every update the call applied.
    writes: bool,
    persistence: fn(Arc<dyn Checkpointer>) -> Persistence<T>,
    state_json: fn(&T) -> Value,
    update_json: fn(&T::Update) -> Value,
}

impl<S: State, T: State, C: Send + Sync + 'static> ChildCall<S> for Child<S, T, C> {
    fn call(
        self: Arc<Self>,
        input: TaskInput<S>,
        ctx: NodeContext,
        settings: Settings,
    ) -> NodeFuture<S> {
        Box::pin(async move { self.run(input, ctx, settings).await })
    }

    fn inspector(self: Arc<Self>, settings: Settings) -> Arc<dyn InspectCall> {
        Arc::new(Inspector { child: self, settings })
    }
}

impl<S: State, T: State, C: Send + Sync + 'static> Child<S, T, C> {
    async fn run(
        &self,
        input: TaskInput<S>,
        ctx: NodeContext,
        settings: Settings,
    ) -> Result<Command<S>, BoxError> {
        let inherit = &ctx.run.inherit;
        let parent = &inherit.config;
        let segment = format!("{}:{}", ctx.node, ctx.task_id);
        let namespace = match &parent.parent {
            Some(link) => link.namespace.child(segment.clone()),
            None => Namespace::root().child(segment.clone()),
        };
        let head = ctx.head.as_deref().unwrap_or_default();
        let invocation: Arc<str> = Arc::from(format!("{head}/{}", ctx.task_id));

        let per_thread = settings.checkpoints == SubgraphCheckpoints::PerThread;
        if per_thread && matches!(ctx.task_id.path(), TaskPath::Push(_)) {
            return Err(Box::new(SharedThread { node: ctx.node.to_string() }));
        }
        let persistence = match (&inherit.saver, &parent.thread_id) {
            (Some(saver), Some(parent_thread)) => {
                call_thread(settings, parent_thread, &ctx.node, &segment, head)
                    .map(|thread| (Arc::new((self.persistence)(Arc::clone(saver))), thread))
            }
            _ => None,
        };

        // Where the call starts: afresh, where it stopped, or already done.
        let mut writes = Vec::new();
        let start = match &persistence {
            Some((persistence, thread)) => {
                let graph = &self.graph.inner;
                thread::call_start(persistence, graph, thread, &invocation, self.writes).await?
            }
            None => CallStart::New,
        };
        let answers = ctx.answers.as_ref().map(|a| a.by_id.clone()).unwrap_or_default();
        let mut run_input = match start {
            CallStart::New => (self.input)(input)?,
            CallStart::Unfinished { writes: before } => {
                writes = before;
                resume(&answers)
            }
            CallStart::Finished { state, writes, parent } => {
                return routed((self.output)(state, writes)?, parent)
            }
        };

        // A call that must read its writes back keeps them in every checkpoint.
        let durability = match parent.durability {
            Durability::Exit if self.writes => Durability::Async,
            durability => durability,
        };
        let config = RunConfig {
            recursion_limit: parent.recursion_limit,
            step_timeout: parent.step_timeout,
            cancellation: Some(ctx.run.cancellation.clone()),
            strict: parent.strict,
            thread_id: persistence.as_ref().map(|(_, thread)| thread.clone()),
            durability,
            parent: Some(ParentLink {
                limit: inherit.limit.clone(),
                namespace: namespace.clone(),
                invocation: Some(invocation),
                keep_writes: self.writes,
            }),
            ..RunConfig::default()
        };
        let emitter = Emitter::subgraph(
            inherit.stream.as_ref(),
            namespace,
            settings.stream_messages,
            self.state_json,
            self.update_json,
        );
        let context = self.graph.context_in(&ctx);
        let mut parent_routes = Vec::new();
        let persistence = persistence.as_ref().map(|(persistence, _)| persistence);
        let graph = &self.graph.inner;
        // A call started afresh (after an edit of the parent's state, say) may pause on
        // questions already answered: it goes on with those answers, as a node would.
        let mut delivered: Vec<&str> = Vec::new();
        loop {
            let records = Records {
                steps: None,
                writes: self.writes.then_some(&mut writes),
                parent: Some(&mut parent_routes),
            };
            let emitter = emitter.clone();
            let outcome =
                pregel::run(graph, persistence, &context, run_input, &config, emitter, records)
                    .await;
            let interrupts = match outcome {
                Ok(RunOutcome::Finished(state)) => {
                    return routed((self.output)(state, writes)?, parent_routes)
                }
                Ok(RunOutcome::Paused { interrupts, .. }) => interrupts,
                Err(GraphError::Cancelled) => return Err(Box::new(cancelled().await)),
                Err(error) => return Err(Box::new(error)),
            };
            let answered: Vec<&str> = answers
                .iter()
                .map(|(id, _)| id.as_str())
                .filter(|id| !delivered.contains(id) && interrupts.iter().any(|i| i.id == *id))
                .collect();
            if answered.is_empty() || persistence.is_none() {
                let interrupts = interrupts
                    .into_iter()
                    .map(|interrupt| Interrupt {
                        id: format!("{segment}|{}", interrupt.id),
                        ..interrupt
                    })
                    .collect();
                return Err(Box::new(SubgraphPaused { interrupts }));
            }
            delivered.extend(answered);
            run_input = resume(&answers);
        }
    }
}

impl<S: State, C: Send + Sync + 'static> CompiledGraph<S, C> {
    /// Runs this graph as part of the work of the task `ctx` belongs to: a subgraph call a
    /// node makes itself, possibly several per task, each named by its `call` (a graph used
    /// as a tool does this once per tool call).
    ///
    /// The run inherits the task's: cancellation, the run-wide concurrency limit, the run
    /// context when it has this graph's context type, and the stream, where its events
    /// arrive as [`StreamEvent::Subgraph`](crate::StreamEvent::Subgraph) under the
    /// namespace `node:task_id/call`. Its tracing spans nest under the task's. `config`
    /// gives the rest: the recursion limit, and for a graph with a checkpointer of its own,
    /// the thread. It is not checkpointed in its parent's thread: a pause inside it needs
    /// the graph's own checkpointer, and returns [`RunOutcome::Paused`] to the caller.
    pub async fn invoke_in_task(
        &self,
        ctx: &NodeContext,
        call: &str,
        input: impl GraphInput<S>,
        config: RunConfig,
    ) -> Result<RunOutcome<S>, GraphError>
    where
        S: Serialize,
        S::Update: Serialize,
    {
        let inherit = &ctx.run.inherit;
        let segment = format!("{}:{}/{call}", ctx.node, ctx.task_id);
        let namespace = match &inherit.config.parent {
            Some(link) => link.namespace.child(segment),
            None => Namespace::root().child(segment),
        };
        let config = RunConfig {
            cancellation: Some(ctx.run.cancellation.clone()),
            parent: Some(ParentLink {
                limit: inherit.limit.clone(),
                namespace: namespace.clone(),
                invocation: None,
                keep_writes: false,
            }),
            ..config
        };
        let emitter = Emitter::subgraph(
            inherit.stream.as_ref(),
            namespace,
            true,
            json::<S>,
            json::<S::Update>,
        );
        let context = self.context_in(ctx);
        let (graph, persistence) = (&self.inner, self.persistence.as_ref());
        let input = input.into_input();
        let run =
            pregel::run(graph, persistence, &context, input, &config, emitter, Records::none());
        match run.await {
            Err(GraphError::Cancelled) => Err(cancelled().await),
            outcome => outcome,
        }
    }

    /// The run context a subgraph run inside the task `ctx` sees: the task's when it has
    /// this graph's type (so `with_context` reaches subgraphs), this graph's own otherwise.
    fn context_in(&self, ctx: &NodeContext) -> ErasedContext {
        match Arc::clone(&ctx.run.context).downcast::<C>() {
            Ok(context) => context,
            Err(_) => self.erased_context(),
        }
    }
}

/// Only the parent's cancellation cancels a subgraph's run, and the parent's run stops with
/// it: the task waits to be dropped.
async fn cancelled() -> GraphError {
    std::future::pending().await
}

/// The input that resumes a subgraph call, handing it the answers its parent received.
fn resume<T: State>(answers: &[(String, Value)]) -> RunInput<T> {
    RunInput::Resume { update: None, answers: Answers::Deliver(answers.to_vec()), gotos: 0 }
}

/// The parent task's command, with the nodes the subgraph routed to in the parent.
fn routed<S: State>(mut command: Command<S>, parent: Vec<String>) -> Result<Command<S>, BoxError> {
    command.goto.extend(parent.into_iter().map(super::Goto::from));
    Ok(command)
}

fn json<T: Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value)
        .unwrap_or_else(|error| Value::String(format!("unserializable value: {error}")))
}

// The planner checks payload types before any task starts, so this is a defensive fallback.
fn payload_mismatch() -> BoxError {
    "the task's input does not match the subgraph's input type".into()
}
