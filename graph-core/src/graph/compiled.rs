//! The compiled graph: nodes sorted by name, edges resolved to indices, ready to run.

use std::collections::HashMap;
use std::sync::Arc;

use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};

use super::draw::{MermaidOptions, Topology};
use super::{
    ErasedContext, ErasedNode, ErrorHandler, RetryPolicy, Router, RunOutcome, Services, StateGraph,
    END, START,
};
use crate::cache::NodeCacheSpec;
use crate::config::RunConfig;
use crate::error::GraphError;
use crate::pregel::{self, RunReport};
use crate::state::{GraphInput, State};
use crate::stream::{Emitter, RunStream, StreamMode};
use crate::thread::Persistence;

/// Index of a node; nodes are sorted by name, so index order is name order.
pub(crate) type NodeId = usize;

pub(crate) struct Node<S: State> {
    pub(crate) name: Arc<str>,
    pub(crate) func: ErasedNode<S>,
    pub(crate) defer: bool,
    pub(crate) out: Outgoing<S>,
    /// Shared by every run of the graph: the node's own concurrency cap.
    pub(crate) limit: Option<Arc<Semaphore>>,
    /// The cap's size, which distributed runs share across worker processes.
    #[cfg_attr(not(feature = "distributed"), allow(dead_code))]
    pub(crate) concurrency: Option<usize>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) on_error: Option<ErrorHandler<S>>,
    /// How the node's results are cached, if they are.
    pub(crate) cache: Option<Arc<NodeCacheSpec<S>>>,
}

/// Everything that fires after a node (or `START`) has run.
pub(crate) struct Outgoing<S> {
    pub(crate) edges: Vec<NodeId>,
    /// `(join, source slot)` pairs this node counts towards.
    pub(crate) joins: Vec<(usize, usize)>,
    pub(crate) branches: Vec<Branch<S>>,
}

pub(crate) struct Branch<S> {
    pub(crate) router: Router<S>,
    /// Declared targets, sorted by name, with `END` kept as a flag.
    pub(crate) targets: Vec<NodeId>,
    pub(crate) allows_end: bool,
}

pub(crate) struct Join {
    pub(crate) sources: usize,
    /// `None` when the join leads to `END`.
    pub(crate) target: Option<NodeId>,
}

pub(crate) struct GraphInner<S: State> {
    pub(crate) topology: Arc<Topology>,
    /// By node id: pause before / after the node runs.
    pub(crate) interrupt_before: Vec<bool>,
    pub(crate) interrupt_after: Vec<bool>,
    /// Whether any node pauses before it runs, so the loop checks only when it must.
    pub(crate) pauses_before: bool,
    pub(crate) nodes: Vec<Node<S>>,
    /// Looked up for every route and `Send`: a fast hash, since the keys are the graph's own.
    pub(crate) by_name: HashMap<Arc<str>, NodeId, foldhash::fast::RandomState>,
    pub(crate) entry: Outgoing<S>,
    pub(crate) joins: Vec<Join>,
    pub(crate) returned_messages: Option<super::ReturnedMessages<S>>,
}

impl<S: State> GraphInner<S> {
    /// How the first node with a static interrupt is configured, for the error of a graph
    /// that would pause without a checkpointer.
    pub(crate) fn static_interrupt_node(&self) -> Option<String> {
        let first = |flags: &[bool]| flags.iter().position(|&on| on).map(|id| self.name(id));
        first(&self.interrupt_before).map(|node| format!("interrupt_before(`{node}`)")).or_else(
            || first(&self.interrupt_after).map(|node| format!("interrupt_after(`{node}`)")),
        )
    }

    pub(crate) fn id(&self, name: &str) -> Option<NodeId> {
        self.by_name.get(name).copied()
    }

    /// What node `id` takes: the type of its `Send` payloads, or the state.
    pub(crate) fn input_type(&self, id: NodeId) -> (std::any::TypeId, &'static str) {
        match self.nodes[id].func.input {
            super::node::InputKind::State => {
                (std::any::TypeId::of::<S>(), std::any::type_name::<S>())
            }
            super::node::InputKind::Payload { type_id, type_name } => (type_id, type_name),
        }
    }

    pub(crate) fn name(&self, id: NodeId) -> &Arc<str> {
        &self.nodes[id].name
    }
}

/// A validated graph, ready to run. Cheap to clone; one compiled graph serves any number of
/// concurrent runs, each with its own state.
///
/// `C` is its run context (none by default), shared by every run; [`with_context`](Self::with_context)
/// gives a copy running with another context value.
#[must_use]
pub struct CompiledGraph<S: State, C = ()> {
    pub(crate) inner: Arc<GraphInner<S>>,
    pub(crate) persistence: Option<Arc<Persistence<S>>>,
    pub(crate) services: Services,
    pub(super) context: Arc<C>,
}

impl<S: State, C> Clone for CompiledGraph<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            persistence: self.persistence.clone(),
            services: self.services.clone(),
            context: Arc::clone(&self.context),
        }
    }
}

impl<S: State, C> std::fmt::Debug for CompiledGraph<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.inner.nodes.iter().map(|n| &*n.name).collect();
        f.debug_struct("CompiledGraph").field("nodes", &names).finish_non_exhaustive()
    }
}

impl<S: State, C: Send + Sync + 'static> CompiledGraph<S, C> {
    /// Resolves a validated builder into indices. Names were checked by `validate`.
    pub(super) fn new(graph: StateGraph<S, C>, context: Arc<C>) -> Self {
        let topology = Arc::new(Topology::of(&graph));
        let mut specs = graph.nodes;
        specs.sort_by(|a, b| a.name.cmp(&b.name));
        let by_name: HashMap<Arc<str>, NodeId, _> = specs
            .iter()
            .enumerate()
            .map(|(id, spec)| (Arc::from(spec.name.as_str()), id))
            .collect();
        let id = |name: &str| by_name[name];
        let empty = || Outgoing { edges: Vec::new(), joins: Vec::new(), branches: Vec::new() };
        // One slot per node, plus a last one for START.
        let mut outgoing: Vec<Outgoing<S>> = (0..=specs.len()).map(|_| empty()).collect();
        let slot = |name: &str| if name == START { specs.len() } else { id(name) };

        for (from, to) in &graph.edges {
            if to != END {
                let edges = &mut outgoing[slot(from)].edges;
                if !edges.contains(&id(to)) {
                    edges.push(id(to));
                }
            }
        }
        let mut joins = Vec::new();
        for (sources, to) in &graph.joins {
            let mut distinct: Vec<&str> = Vec::new();
            for source in sources {
                if !distinct.contains(&source.as_str()) {
                    distinct.push(source);
                }
            }
            for (position, source) in distinct.iter().enumerate() {
                outgoing[slot(source)].joins.push((joins.len(), position));
            }
            let target = (to != END).then(|| id(to));
            joins.push(Join { sources: distinct.len(), target });
        }
        for branch in graph.branches {
            let mut targets: Vec<NodeId> =
                branch.targets.iter().filter(|t| *t != END).map(|t| id(t)).collect();
            targets.sort_unstable();
            targets.dedup();
            let allows_end = branch.targets.iter().any(|t| t == END);
            outgoing[slot(&branch.source)].branches.push(Branch {
                router: branch.router,
                targets,
                allows_end,
            });
        }

        let entry = outgoing.pop().expect("the START slot");
        let nodes = specs
            .into_iter()
            .zip(outgoing)
            .map(|(spec, out)| Node {
                name: Arc::from(spec.name),
                func: spec.node,
                defer: spec.options.defer,
                out,
                limit: spec.options.concurrency.map(|n| Arc::new(Semaphore::new(n))),
                concurrency: spec.options.concurrency,
                timeout: spec.options.timeout,
                retry: spec.options.retry,
                on_error: spec.options.on_error,
                cache: spec.options.cache,
            })
            .collect();
        let flags = |names: &[String]| {
            let mut flags = vec![false; by_name.len()];
            names.iter().for_each(|name| flags[by_name[name.as_str()]] = true);
            flags
        };
        let interrupt_before = flags(&graph.interrupt_before);
        let interrupt_after = flags(&graph.interrupt_after);
        let pauses_before = !graph.interrupt_before.is_empty();
        let inner = GraphInner {
            topology,
            interrupt_before,
            interrupt_after,
            pauses_before,
            nodes,
            by_name,
            entry,
            joins,
            returned_messages: graph.returned_messages,
        };
        Self { inner: Arc::new(inner), persistence: None, services: Services::default(), context }
    }

    /// A copy of this graph whose runs see `context` instead: per user or per request,
    /// sharing the nodes, the checkpointer and the concurrency limits with the original.
    ///
    /// ```
    /// use graph_core::prelude::*;
    /// use std::sync::Arc;
    ///
    /// struct User {
    ///     name: String,
    /// }
    ///
    /// #[derive(State, Clone, Default)]
    /// struct Inbox {
    ///     greeting: String,
    /// }
    ///
    /// async fn greet(_: Arc<Inbox>, user: Context<User>) -> InboxUpdate {
    ///     Inbox::update().greeting(format!("hello, {}", user.name))
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let ada = StateGraph::<Inbox, User>::new()
    ///     .add_node("greet", greet)
    ///     .add_edge(START, "greet")
    ///     .compile_with_context(User { name: "Ada".into() })?;
    /// let grace = ada.with_context(User { name: "Grace".into() });
    ///
    /// let out = grace.invoke(Inbox::default(), RunConfig::default()).await?;
    /// assert_eq!(out.finished()?.greeting, "hello, Grace");
    /// assert_eq!(ada.context().name, "Ada");
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_context(&self, context: C) -> Self {
        Self { context: Arc::new(context), ..self.clone() }
    }

    /// The context the runs of this graph see.
    pub fn context(&self) -> &C {
        &self.context
    }

    /// The context as the runtime carries it.
    pub(crate) fn erased_context(&self) -> ErasedContext {
        Arc::clone(&self.context) as ErasedContext
    }

    /// The graph as a Mermaid flowchart: nodes, `START` and `END`, edges, joins (thick
    /// arrows from every source), conditional edges to each declared target (dashed; `Send`
    /// when the target takes a payload) and `Command` destinations (dotted, `goto`).
    /// A subgraph node is a block holding the subgraph's own drawing, nested as deep as
    /// subgraphs go, with the parent's edges leading to and from the block.
    /// The output is deterministic.
    pub fn draw_mermaid(&self) -> String {
        self.draw_mermaid_with(MermaidOptions::default())
    }

    /// The graph as a Mermaid flowchart, like [`draw_mermaid`](Self::draw_mermaid), drawn
    /// with `options`: [`MermaidOptions::collapse_subgraphs`] draws each subgraph as one node.
    ///
    /// ```
    /// use graph_core::prelude::*;
    /// use graph_core::MermaidOptions;
    /// use std::sync::Arc;
    ///
    /// #[derive(State, Clone, Default, serde::Serialize, serde::Deserialize)]
    /// struct Doc {
    ///     text: String,
    /// }
    ///
    /// async fn draft(_: Arc<Doc>) -> DocUpdate {
    ///     Doc::update().text("draft".to_owned())
    /// }
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let writer = StateGraph::<Doc>::new()
    ///     .add_node("draft", draft)
    ///     .add_edge(START, "draft")
    ///     .compile()?;
    /// let graph = StateGraph::<Doc>::new()
    ///     .add_subgraph("writer", writer)
    ///     .add_edge(START, "writer")
    ///     .compile()?;
    ///
    /// let collapsed = graph.draw_mermaid_with(MermaidOptions::new().collapse_subgraphs(true));
    /// assert!(collapsed.contains(r#"n0[["writer"]]"#));
    /// assert!(!collapsed.contains("draft"));
    /// assert!(graph.draw_mermaid().contains(r#"subgraph n0["writer"]"#));
    /// # Ok(())
    /// # }
    /// ```
    pub fn draw_mermaid_with(&self, options: MermaidOptions) -> String {
        self.inner.topology.mermaid(options)
    }

    /// The graph's nodes and edges as JSON, the drawing format of the LangGraph Platform
    /// API: `{"nodes": [{"id", "type", "data"}], "edges": [{"source", "target",
    /// "conditional"}]}`, with `__start__` and `__end__` as nodes of type `schema`. Joins are
    /// an edge from each source; conditional edges and `Command` destinations are
    /// `conditional`.
    ///
    /// ```
    /// use graph_core::prelude::*;
    /// use std::sync::Arc;
    ///
    /// #[derive(State, Clone, Default)]
    /// struct Doc {
    ///     text: String,
    /// }
    ///
    /// async fn draft(_: Arc<Doc>) -> DocUpdate {
    ///     Doc::update().text("draft".to_owned())
    /// }
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let graph = StateGraph::<Doc>::new()
    ///     .add_node("draft", draft)
    ///     .add_edge(START, "draft")
    ///     .compile()?;
    /// let drawing = graph.draw_json();
    /// assert_eq!(drawing["nodes"][1]["id"], "draft");
    /// assert_eq!(
    ///     drawing["edges"][0],
    ///     serde_json::json!({"source": "__start__", "target": "draft", "conditional": false})
    /// );
    /// # Ok(())
    /// # }
    /// ```
    pub fn draw_json(&self) -> serde_json::Value {
        self.inner.topology.json()
    }

    /// Runs the graph until no task is left, or until it pauses for a person.
    ///
    /// `input` is a whole state, an update (applied to the thread's state, or to
    /// `S::default()`), or a [`Command`](crate::Command) resuming a paused thread. A pause is
    /// not an error: the outcome says whether the run finished or paused, with the state
    /// either way; [`RunOutcome::finished`] turns a pause into an error for callers that
    /// never expect one.
    pub async fn invoke(
        &self,
        input: impl GraphInput<S>,
        config: RunConfig,
    ) -> Result<RunOutcome<S>, GraphError> {
        let input = input.into_input();
        let (graph, persistence, context) =
            (&self.inner, self.persistence.as_ref(), self.erased_context());
        let (services, records) = (&self.services, pregel::Records::none());
        pregel::run(
            graph,
            persistence,
            services,
            &context,
            input,
            &config,
            Emitter::none(),
            records,
        )
        .await
    }

    /// Runs the graph and streams its events in the modes of `config`
    /// ([`RunConfig::stream_mode`]), ending with [`StreamEvent::Done`] holding the final
    /// state, [`StreamEvent::Paused`] when the run paused for a person, or the run's error.
    ///
    /// Events wait in a buffer of [`RunConfig::stream_buffer`] events: a consumer that stops
    /// reading holds the run at the bound. Dropping the stream cancels the run.
    ///
    /// [`StreamEvent::Done`]: crate::StreamEvent::Done
    /// [`StreamEvent::Paused`]: crate::StreamEvent::Paused
    pub fn stream(&self, input: impl GraphInput<S>, config: RunConfig) -> RunStream<S> {
        let (tx, rx) = mpsc::channel(config.stream_buffer);
        let modes = if config.stream_modes.is_empty() {
            vec![StreamMode::Values]
        } else {
            config.stream_modes.clone()
        };
        let emitter = Emitter::new(tx, &modes);
        let graph = Arc::clone(&self.inner);
        let persistence = self.persistence.clone();
        let services = self.services.clone();
        let context = self.erased_context();
        let input = input.into_input();
        let run = async move {
            let (persistence, records) = (persistence.as_ref(), pregel::Records::none());
            pregel::run(&graph, persistence, &services, &context, input, &config, emitter, records)
                .await
        };
        RunStream::new(Box::pin(run), rx)
    }

    /// Runs the graph like [`invoke`](Self::invoke) and also reports which tasks ran in each
    /// superstep.
    pub async fn invoke_with_report(
        &self,
        input: impl GraphInput<S>,
        config: RunConfig,
    ) -> Result<RunReport<S>, GraphError> {
        let mut steps = Vec::new();
        let (graph, persistence) = (&self.inner, self.persistence.as_ref());
        let (services, context) = (&self.services, self.erased_context());
        let input = input.into_input();
        let emitter = Emitter::none();
        let records = pregel::Records { steps: Some(&mut steps), ..pregel::Records::none() };
        let outcome =
            pregel::run(graph, persistence, services, &context, input, &config, emitter, records)
                .await?;
        Ok(RunReport { outcome, steps })
    }
}
