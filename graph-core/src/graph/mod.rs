//! The builder side: [`StateGraph`] collects nodes and edges; [`StateGraph::compile`] checks them
//! and produces a [`CompiledGraph`].

mod command;
mod compiled;
mod context;
mod draw;
mod history;
mod interrupt;
mod node;
mod options;
mod outcome;
mod retry;
mod send;
mod services;
mod subgraph;
mod validate;

use std::marker::PhantomData;
use std::sync::Arc;

pub use command::Command;
pub use compiled::CompiledGraph;
pub(crate) use compiled::{Branch, GraphInner, Node, NodeId, Outgoing};
pub use context::Context;
pub(crate) use context::{AnyContext, ErasedContext};
pub use draw::MermaidOptions;
pub use history::{StateSnapshot, SubgraphState};
pub use interrupt::Answers;
pub use interrupt::{Interrupt, InterruptError};
pub(crate) use node::{decode_payload, Inherit, RunShared, TaskAnswers};
pub(crate) use node::{ErasedNode, InputKind, LazyContext, NodeFuture, TaskInput};
pub use node::{Input, IntoNode, NodeContext, NodeOutput};
pub(crate) use options::ErrorHandler;
pub use options::NodeOptions;
pub use outcome::RunOutcome;
pub use retry::RetryPolicy;
pub(crate) use send::Payload;
pub use send::{Goto, IntoRoute, Send};
pub(crate) use services::Services;
pub(crate) use subgraph::{Call, SubgraphPaused};
pub use subgraph::{Subgraph, SubgraphCheckpoints};

use crate::error::BuildError;
use crate::state::State;

/// The virtual node every run starts from. Edges from `START` choose the first nodes.
pub const START: &str = "__start__";
/// The virtual node that ends a branch. A run ends when no task is left, not when one branch
/// reaches `END`.
pub const END: &str = "__end__";

/// Lists the messages in a node's update, as JSON, for
/// [`StateGraph::stream_messages_from`].
pub type ReturnedMessages<S> = fn(&<S as State>::Update) -> Vec<serde_json::Value>;

/// A router: a plain function of the state as its source node sees it, and of the run's
/// context, appending its destinations to the step's list.
pub(crate) type Router<S> =
    Arc<dyn Fn(&S, &AnyContext, &mut Vec<Goto>) + core::marker::Send + Sync>;

pub(crate) struct NodeSpec<S: State> {
    pub(crate) name: String,
    pub(crate) node: ErasedNode<S>,
    pub(crate) options: NodeOptions<S>,
}

pub(crate) struct BranchSpec<S> {
    pub(crate) source: String,
    pub(crate) router: Router<S>,
    pub(crate) targets: Vec<String>,
}

/// Builds a graph over the state `S`: nodes, edges, joins and conditional edges.
///
/// `C` is the graph's run context (none by default): shared clients, pools and configuration
/// that nodes take as a [`Context<C>`] argument, routers and error handlers as `&C`. A graph
/// with a context is compiled with [`compile_with_context`](Self::compile_with_context).
///
/// Builder methods never fail; [`compile`](Self::compile) checks everything at once and
/// returns a [`BuildError`] naming the node or edge at fault.
///
/// # How a compiled graph runs
///
/// A run proceeds in **supersteps**:
///
/// 1. **Plan.** The step's tasks are every node triggered by the previous step ("pull" tasks),
///    ordered by node name, then every [`Send`] emitted in the previous step ("push" tasks),
///    in emission order.
/// 2. **Run.** All tasks run concurrently against the same state snapshot (`Arc<S>`).
/// 3. **Apply.** Once every task has finished, their updates are applied in task order (never
///    completion order) through each field's reducer, and edges are evaluated.
///
/// Routing:
///
/// - [`add_edge(a, b)`](Self::add_edge): `b` runs in the step after `a`. Several sources running
///   in one step trigger `b` once; in different steps, once after each.
/// - [`add_join([a, b], c)`](Self::add_join): `c` runs once, in the step after the last of its
///   sources has run, even across steps; then the join re-arms.
/// - [`add_conditional_edges`](Self::add_conditional_edges): a router sees the step's snapshot
///   plus its own node's update (not its siblings') and returns nodes, `END` or [`Send`]s, all
///   among its declared targets.
/// - A node returning a [`Command`] adds its `goto` destinations to its static edges.
/// - A node added with [`NodeOptions::defer`] waits until nothing else is left to run.
///
/// The run ends when a step plans no task, and fails with [`GraphError::RecursionLimit`](crate::GraphError::RecursionLimit) if it would need more supersteps than allowed.
#[must_use]
pub struct StateGraph<S: State, C = ()> {
    pub(crate) nodes: Vec<NodeSpec<S>>,
    pub(crate) edges: Vec<(String, String)>,
    pub(crate) joins: Vec<(Vec<String>, String)>,
    pub(crate) branches: Vec<BranchSpec<S>>,
    pub(crate) interrupt_before: Vec<String>,
    pub(crate) interrupt_after: Vec<String>,
    pub(crate) returned_messages: Option<ReturnedMessages<S>>,
    context: PhantomData<fn(&C)>,
}

impl<S: State, C: core::marker::Send + Sync + 'static> Default for StateGraph<S, C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: State, C: core::marker::Send + Sync + 'static> StateGraph<S, C> {
    /// An empty graph.
    pub fn new() -> Self {
        Self {
            nodes: Vec::new(),
            edges: Vec::new(),
            joins: Vec::new(),
            branches: Vec::new(),
            interrupt_before: Vec::new(),
            interrupt_after: Vec::new(),
            returned_messages: None,
            context: PhantomData,
        }
    }

    /// Adds a node: a plain async function (see [`IntoNode`]).
    pub fn add_node<M>(self, name: impl Into<String>, node: impl IntoNode<S, C, M>) -> Self {
        self.add_node_with(name, node, NodeOptions::new())
    }

    /// Adds a node with [`NodeOptions`].
    pub fn add_node_with<M>(
        mut self,
        name: impl Into<String>,
        node: impl IntoNode<S, C, M>,
        options: NodeOptions<S, C>,
    ) -> Self {
        let options = options.erase();
        self.nodes.push(NodeSpec { name: name.into(), node: node.into_node(), options });
        self
    }

    /// Adds a node that runs a whole compiled graph inside this one (see [`Subgraph`]): a
    /// graph over this graph's state as it is, or a [`Subgraph`] built with
    /// [`mapped`](Subgraph::mapped) or [`for_each`](Subgraph::for_each) for a graph with its
    /// own state.
    pub fn add_subgraph(self, name: impl Into<String>, subgraph: impl Into<Subgraph<S>>) -> Self {
        self.add_subgraph_with(name, subgraph, NodeOptions::new())
    }

    /// Adds a subgraph with [`NodeOptions`]: a concurrency cap on its calls, a timeout or a
    /// retry policy for a whole call, an error handler.
    pub fn add_subgraph_with(
        mut self,
        name: impl Into<String>,
        subgraph: impl Into<Subgraph<S>>,
        options: NodeOptions<S, C>,
    ) -> Self {
        let options = options.erase();
        self.nodes.push(NodeSpec { name: name.into(), node: subgraph.into().into_node(), options });
        self
    }

    /// Runs `to` in the step after `from` has run.
    pub fn add_edge(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.edges.push((from.into(), to.into()));
        self
    }

    /// Runs `to` once, in the step after every one of `sources` has run.
    pub fn add_join<I>(mut self, sources: I, to: impl Into<String>) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.joins.push((sources.into_iter().map(Into::into).collect(), to.into()));
        self
    }

    /// After `source` runs, `router` chooses among `targets` (node names, `END`, or
    /// [`Send`]s to those nodes).
    pub fn add_conditional_edges<F, R, I>(
        self,
        source: impl Into<String>,
        router: F,
        targets: I,
    ) -> Self
    where
        F: Fn(&S) -> R + core::marker::Send + Sync + 'static,
        R: IntoRoute,
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let router: Router<S> =
            Arc::new(move |state: &S, _: &AnyContext, route: &mut Vec<Goto>| {
                router(state).append_to(route)
            });
        self.add_router(source.into(), router, targets)
    }

    /// Like [`add_conditional_edges`](Self::add_conditional_edges), for a router that also
    /// reads the graph's run context, `&C`.
    ///
    /// ```
    /// use graph_core::prelude::*;
    /// use std::sync::Arc;
    ///
    /// struct Limits {
    ///     max_turns: u32,
    /// }
    ///
    /// #[derive(State, Clone, Default)]
    /// struct Talk {
    ///     #[reducer(add)]
    ///     turns: u32,
    /// }
    ///
    /// async fn speak(_: Arc<Talk>) -> TalkUpdate {
    ///     Talk::update().turns(1)
    /// }
    ///
    /// fn again(s: &Talk, limits: &Limits) -> &'static str {
    ///     if s.turns < limits.max_turns { "speak" } else { END }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let graph = StateGraph::<Talk, Limits>::new()
    ///     .add_node("speak", speak)
    ///     .add_edge(START, "speak")
    ///     .add_conditional_edges_with_context("speak", again, ["speak", END])
    ///     .compile_with_context(Limits { max_turns: 3 })?;
    /// let out = graph.invoke(Talk::default(), RunConfig::default()).await?;
    /// assert_eq!(out.finished()?.turns, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_conditional_edges_with_context<F, R, I>(
        self,
        source: impl Into<String>,
        router: F,
        targets: I,
    ) -> Self
    where
        F: Fn(&S, &C) -> R + core::marker::Send + Sync + 'static,
        R: IntoRoute,
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let router: Router<S> =
            Arc::new(move |state: &S, context: &AnyContext, route: &mut Vec<Goto>| {
                router(state, context::typed(context)).append_to(route)
            });
        self.add_router(source.into(), router, targets)
    }

    fn add_router<I>(mut self, source: String, router: Router<S>, targets: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let targets = targets.into_iter().map(Into::into).collect();
        self.branches.push(BranchSpec { source, router, targets });
        self
    }

    /// Pauses a checkpointed run before any of `nodes` runs, so a person can inspect and
    /// edit the state; resume with `Command::new()` as input.
    pub fn interrupt_before<I>(mut self, nodes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.interrupt_before.extend(nodes.into_iter().map(Into::into));
        self
    }

    /// Pauses a checkpointed run after the step in which any of `nodes` ran.
    pub fn interrupt_after<I>(mut self, nodes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.interrupt_after.extend(nodes.into_iter().map(Into::into));
        self
    }

    /// Tells [`StreamMode::Messages`](crate::StreamMode::Messages) where a node's update keeps
    /// its messages: when a task ends, each message `messages` finds in its update is sent
    /// whole, unless the task already streamed it (a message with the same `id`).
    ///
    /// The agent layer's states provide this function; a graph without it streams only what
    /// nodes send with [`NodeContext::send_message`](crate::NodeContext::send_message).
    pub fn stream_messages_from(mut self, messages: ReturnedMessages<S>) -> Self {
        self.returned_messages = Some(messages);
        self
    }

    /// Checks the graph and produces a runnable [`CompiledGraph`] whose runs all see
    /// `context`. [`CompiledGraph::with_context`] gives a copy with another one.
    pub fn compile_with_context(self, context: C) -> Result<CompiledGraph<S, C>, BuildError> {
        validate::validate(&self)?;
        Ok(CompiledGraph::new(self, Arc::new(context)))
    }
}

impl<S: State> StateGraph<S> {
    /// Checks the graph and produces a runnable [`CompiledGraph`].
    pub fn compile(self) -> Result<CompiledGraph<S>, BuildError> {
        self.compile_with_context(())
    }
}
