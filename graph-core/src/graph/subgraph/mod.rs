//! Subgraphs: a compiled graph run as one node of a parent graph, inside the parent's run.
//!
//! - this module: the [`Subgraph`] a parent adds, in its three forms, and its settings;
//! - `call`: one call of a subgraph by a parent task: where it starts, what it inherits, how
//!   its result, pauses and routes reach the parent;
//! - `inspect`: reading a call's state from its checkpoints;
//! - `in_task`: a graph a node runs itself, as part of its task's work.

mod call;
mod in_task;
mod inspect;

pub(crate) use call::SubgraphPaused;
use call::{Child, ChildCall};
pub(crate) use inspect::{Call, InspectCall};

use std::any::TypeId;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::draw::Topology;
use super::node::{decode_payload, CallFn, LazyContext};
use super::{Command, CompiledGraph, ErasedNode, InputKind, NodeOutput, TaskInput};
use crate::checkpoint::to_json;
use crate::error::BoxError;
use crate::state::{GraphInput, RunInput, State};
use crate::thread::Persistence;

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
///   parent too. [`Subgraph::sharing`] does the same for a graph over some of the parent's
///   fields. [`Subgraph::mapped`] and [`Subgraph::for_each`] take a graph over its own
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
///   their [`Namespace`](crate::Namespace); its model messages too, unless
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
    /// For [`Subgraph::sharing`]: a field that does not match the parent's.
    mismatch: Option<(&'static str, String)>,
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
            Ok(RunInput::State(Arc::unwrap_or_clone(parent_state(input)?)))
        };
        let output = |_: S, writes: Vec<S::Update>| Ok(writes_command(writes));
        Self::build(graph, InputKind::State, None, Box::new(input), Box::new(output), true)
    }

    /// A subgraph over a state type `T` whose fields are all fields of the parent's state,
    /// with the same types and reducers (a narrower view of the parent's state): it starts
    /// from the parent's values of those fields, and every update it applies reaches the
    /// parent, in order, as [`Subgraph::new`]'s do. A field the parent lacks, or has with
    /// another type or reducer, makes `compile()` fail with
    /// [`BuildError::SharedField`](crate::BuildError::SharedField).
    pub fn sharing<T, C>(graph: CompiledGraph<T, C>) -> Self
    where
        S: Serialize + DeserializeOwned,
        S::Update: Serialize + DeserializeOwned,
        T: State + Serialize + DeserializeOwned,
        T::Update: Serialize + DeserializeOwned,
        C: Send + Sync + 'static,
    {
        // Through the checkpoint encoder, which refuses a value JSON would change (a NaN
        // becoming `null`, a `Some(None)` becoming `None`) instead of passing it on changed.
        let input = |input: TaskInput<S>| -> Result<RunInput<T>, BoxError> {
            let parent = to_json(&*parent_state(input)?)?;
            Ok(RunInput::State(shared_fields::<T>(parent)?))
        };
        let output = |_: T, writes: Vec<T::Update>| -> Result<Command<S>, BoxError> {
            let mut parent_writes = Vec::with_capacity(writes.len());
            for update in &writes {
                parent_writes.push(serde_json::from_value(to_json(update)?)?);
            }
            Ok(writes_command(parent_writes))
        };
        let mut subgraph =
            Self::build(graph, InputKind::State, None, Box::new(input), Box::new(output), true);
        subgraph.mismatch = field_mismatch::<S, T>();
        subgraph
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
            Ok(input(&*parent_state(task)?).into_input())
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
        Self { call: Arc::new(child), input: kind, decode, topology, settings, mismatch: None }
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
        let call: Box<CallFn<S>> = Box::new(move |input: TaskInput<S>, ctx: LazyContext<'_>| {
            Arc::clone(&child).call(input, ctx.get(), settings)
        });
        let mut node = ErasedNode::new(call, self.input, self.decode, Some(self.topology));
        node.inspect = Some(inspect);
        node.shared_field_mismatch = self.mismatch;
        node
    }
}

/// The parent state a subgraph call starts from: the task's snapshot, or a whole state sent
/// to it.
fn parent_state<S: State>(input: TaskInput<S>) -> Result<Arc<S>, BoxError> {
    match input {
        TaskInput::State(state) => Ok(state),
        TaskInput::Payload(payload) => {
            Ok(Arc::new(*payload.downcast::<S>().map_err(|_| payload_mismatch())?))
        }
    }
}

/// The parent task's command for a subgraph's writes, each applied in turn: a field without
/// a reducer keeps only its last write.
fn writes_command<S: State>(mut writes: Vec<S::Update>) -> Command<S> {
    S::keep_last_writes(&mut writes);
    let mut writes = writes.into_iter();
    let mut command = Command::new();
    command.update = writes.next();
    command.extra_mut().more = writes.collect();
    command
}

/// The subgraph's state out of the parent's, as JSON: the fields they share.
fn shared_fields<T: State + DeserializeOwned>(parent: Value) -> Result<T, serde_json::Error> {
    let Value::Object(mut parent) = parent else { return serde_json::from_value(parent) };
    let fields = T::FIELDS.iter().filter_map(|f| parent.remove_entry(f.name)).collect();
    serde_json::from_value(Value::Object(fields))
}

/// The first field of `T` that `S` lacks, or has with another type or reducer.
fn field_mismatch<S: State, T: State>() -> Option<(&'static str, String)> {
    T::FIELDS.iter().find_map(|field| {
        let problem = match S::FIELDS.iter().find(|f| f.name == field.name) {
            None => "the parent has no such field".to_owned(),
            Some(parent) if parent.ty != field.ty => {
                format!("it is `{}` in the parent and `{}` in the subgraph", parent.ty, field.ty)
            }
            Some(parent) if parent.reducer != field.reducer => format!(
                "its reducer is {:?} in the parent and {:?} in the subgraph",
                parent.reducer, field.reducer
            ),
            Some(_) => return None,
        };
        Some((field.name, problem))
    })
}

type InputFn<S, T> = dyn Fn(TaskInput<S>) -> Result<RunInput<T>, BoxError> + Send + Sync;
type OutputFn<S, T> =
    dyn Fn(T, Vec<<T as State>::Update>) -> Result<Command<S>, BoxError> + Send + Sync;

fn json<T: Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value)
        .unwrap_or_else(|error| Value::String(format!("unserializable value: {error}")))
}

// The planner checks payload types before any task starts, so this is a defensive fallback.
fn payload_mismatch() -> BoxError {
    "the task's input does not match the subgraph's input type".into()
}
