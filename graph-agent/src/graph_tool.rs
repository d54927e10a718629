//! A compiled graph as a tool: a sub-agent the model calls like any other tool.

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use graph_core::{
    BoxError, CompiledGraph, GraphError, GraphInput, Interrupt, NodeContext, RunConfig, RunOutcome,
    State,
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Tool, ToolContext};

/// Runs the tool's graph on the arguments: inside the calling task (named after the call)
/// when there is one, on its own otherwise.
type Run<A, S> = Arc<
    dyn Fn(
            A,
            RunConfig,
            Option<(NodeContext, String)>,
        ) -> BoxFuture<'static, Result<RunOutcome<S>, GraphError>>
        + Send
        + Sync,
>;

/// A compiled graph called as a tool: the call's arguments become the sub-run's input, its
/// final state becomes the tool's result.
///
/// Build one with [`GraphTool::new`], then [`input`](GraphToolBuilder::input) and
/// [`output`](GraphToolBuilder::output). Each call is a fresh run with
/// `RunConfig::default()` (or the [`config`](GraphToolBuilder::config) given); a sub-run
/// that pauses or fails makes the call fail with a [`GraphToolError`].
///
/// Called by a [`ToolNode`](crate::ToolNode) (or any node) inside a graph, the sub-run is a
/// subgraph call of that task
/// ([`CompiledGraph::invoke_in_task`](graph_core::CompiledGraph::invoke_in_task)): the run's
/// cancellation, concurrency limit and context reach it, and its events, model tokens
/// included, reach the run's stream under the namespace `tools:<task>/<tool>:<call id>`.
///
/// ```
/// use graph_agent::{GraphTool, Tool, ToolContext};
/// use graph_core::{State, StateGraph, END, START};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
/// use std::sync::Arc;
///
/// #[derive(State, Clone, Debug, Default, serde::Serialize, Deserialize)]
/// struct Count {
///     n: u32,
/// }
///
/// /// What the model fills in.
/// #[derive(Deserialize, JsonSchema)]
/// struct Number {
///     /// The number to double.
///     n: u32,
/// }
///
/// async fn double(state: Arc<Count>) -> CountUpdate {
///     Count::update().n(state.n * 2)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let graph = StateGraph::<Count>::new()
///     .add_node("double", double)
///     .add_edge(START, "double")
///     .add_edge("double", END)
///     .compile()?;
///
/// let doubler = GraphTool::new("doubler", "Doubles a number.", graph)
///     .input(|args: Number| Count::update().n(args.n))
///     .output(|state: &Count| state.n.to_string());
///
/// let args = serde_json::from_value(serde_json::json!({"n": 21}))?;
/// assert_eq!(doubler.call(args, &ToolContext::new("call-1")).await?, "42");
/// # Ok(())
/// # }
/// ```
pub struct GraphTool<A, S: State, O> {
    name: String,
    description: String,
    return_direct: bool,
    config: RunConfig,
    run: Run<A, S>,
    output: Arc<dyn Fn(&S) -> O + Send + Sync>,
}

impl<A, S: State, O> Clone for GraphTool<A, S, O> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            description: self.description.clone(),
            return_direct: self.return_direct,
            config: self.config.clone(),
            run: Arc::clone(&self.run),
            output: Arc::clone(&self.output),
        }
    }
}

impl<A, S: State, O> std::fmt::Debug for GraphTool<A, S, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphTool")
            .field("name", &self.name)
            .field("return_direct", &self.return_direct)
            .finish_non_exhaustive()
    }
}

impl<S: State> GraphTool<(), S, ()> {
    /// Starts a tool named `name`, described to the model as `description`, running `graph`.
    // `new` starts the builder, so that building reads `GraphTool::new(..).input(..).output(..)`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new<C: Send + Sync + 'static>(
        name: impl Into<String>,
        description: impl Into<String>,
        graph: CompiledGraph<S, C>,
    ) -> GraphToolBuilder<S, C> {
        GraphToolBuilder {
            name: name.into(),
            description: description.into(),
            return_direct: false,
            config: RunConfig::default(),
            graph,
            input: (),
        }
    }
}

/// A [`GraphTool`] being built: set how arguments become the sub-run's input with
/// [`input`](Self::input), then how its final state becomes the result with
/// [`output`](Self::output).
#[must_use = "a builder does nothing until `output` makes the tool"]
pub struct GraphToolBuilder<S: State, C = (), F = ()> {
    name: String,
    description: String,
    return_direct: bool,
    config: RunConfig,
    graph: CompiledGraph<S, C>,
    input: F,
}

impl<S: State, C: Send + Sync + 'static, F> GraphToolBuilder<S, C, F> {
    /// Each call runs with `config` instead of `RunConfig::default()`.
    pub fn config(mut self, config: RunConfig) -> Self {
        self.config = config;
        self
    }

    /// The agent stops after this tool and answers with its result.
    pub fn return_direct(mut self) -> Self {
        self.return_direct = true;
        self
    }

    /// The sub-run's input for the call's arguments: an update of the graph's state (or a
    /// whole state). The argument type `A` is what the model fills in; its JSON Schema is
    /// the tool's parameters, so make it a struct: providers want an object schema.
    pub fn input<A, I, G>(self, input: G) -> GraphToolBuilder<S, C, G>
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        I: GraphInput<S> + Send + 'static,
        G: Fn(A) -> I + Send + Sync + 'static,
    {
        GraphToolBuilder {
            name: self.name,
            description: self.description,
            return_direct: self.return_direct,
            config: self.config,
            graph: self.graph,
            input,
        }
    }

    /// The tool's result from the sub-run's final state: a `String`, a
    /// [`ToolOutput`](crate::ToolOutput), [`Json`](crate::Json) or any other tool result.
    pub fn output<A, I, O>(
        self,
        output: impl Fn(&S) -> O + Send + Sync + 'static,
    ) -> GraphTool<A, S, O>
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        I: GraphInput<S> + Send + 'static,
        F: Fn(A) -> I + Send + Sync + 'static,
        S: Serialize,
        S::Update: Serialize,
    {
        let (graph, input) = (self.graph, self.input);
        let run: Run<A, S> = Arc::new(move |args: A, config, task| {
            let graph = graph.clone();
            let input = input(args);
            Box::pin(async move {
                match task {
                    Some((ctx, call)) => graph.invoke_in_task(&ctx, &call, input, config).await,
                    None => graph.invoke(input, config).await,
                }
            })
        });
        GraphTool {
            name: self.name,
            description: self.description,
            return_direct: self.return_direct,
            config: self.config,
            run,
            output: Arc::new(output),
        }
    }
}

/// Why a graph called as a tool gave no result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphToolError {
    /// The sub-run paused for a person; a tool's sub-run cannot be resumed.
    #[error("the graph of tool `{tool}` paused with {} open interrupt(s) ({}); a tool's graph cannot pause", interrupts.len(), interrupt_ids(interrupts))]
    Paused {
        /// The tool.
        tool: String,
        /// The sub-run's open questions.
        interrupts: Vec<Interrupt>,
    },
    /// The sub-run failed.
    #[error("the graph of tool `{tool}` failed: {source}")]
    Failed {
        /// The tool.
        tool: String,
        /// The sub-run's error.
        source: GraphError,
    },
}

fn interrupt_ids(interrupts: &[Interrupt]) -> String {
    interrupts.iter().map(|i| i.id.as_str()).collect::<Vec<_>>().join(", ")
}

#[async_trait]
impl<A, S, O> Tool for GraphTool<A, S, O>
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    S: State,
    O: Send + 'static,
{
    type Args = A;
    type Output = O;

    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn return_direct(&self) -> bool {
        self.return_direct
    }

    async fn call(&self, args: A, ctx: &ToolContext) -> Result<O, BoxError> {
        let task =
            ctx.node().map(|node| (node.clone(), format!("{}:{}", self.name, ctx.call_id())));
        let outcome = (self.run)(args, self.config.clone(), task)
            .await
            .map_err(|source| GraphToolError::Failed { tool: self.name.clone(), source })?;
        match outcome {
            RunOutcome::Finished(state) => Ok((self.output)(&state)),
            RunOutcome::Paused { interrupts, .. } => {
                Err(GraphToolError::Paused { tool: self.name.clone(), interrupts }.into())
            }
        }
    }
}
