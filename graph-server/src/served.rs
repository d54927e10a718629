//! A compiled graph seen through JSON: what the HTTP API needs of a graph, whatever its state
//! type.

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use graph_core::{
    Command, CompiledGraph, GraphError, GraphInput, Interrupt, RunConfig, State, StateSnapshot,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::ApiError;

/// What a run starts from, as the request gave it.
#[derive(Debug, Default)]
pub(crate) struct RunInput {
    /// An update of the thread's state (`null` or absent: none).
    pub input: Option<Value>,
    /// `{resume, update, goto}`: continues a paused thread.
    pub command: Option<Value>,
}

/// A run's events, each the JSON form of one [`graph_core::StreamEvent`].
pub(crate) type Events = BoxStream<'static, Result<Value, GraphError>>;

/// A registered graph, behind JSON.
#[async_trait]
pub(crate) trait ServedGraph: Send + Sync + 'static {
    /// The graph drawn as a Mermaid flowchart.
    fn mermaid(&self) -> String;

    /// The graph's nodes and edges, in the API's drawing format.
    fn drawing(&self) -> Value;

    /// Starts a run; an input that does not fit the state is a 422 naming the field.
    fn run(&self, input: RunInput, config: RunConfig) -> Result<Events, ApiError>;

    /// The thread's state at the configured checkpoint (the latest without one).
    async fn state(&self, config: &RunConfig, subgraphs: bool) -> Result<Option<Value>, ApiError>;

    /// Every checkpoint of the thread, newest first.
    async fn history(&self, config: &RunConfig) -> Result<Vec<Value>, ApiError>;

    /// Writes `values` as if `as_node` had returned them; returns the new checkpoint's id.
    async fn update_state(
        &self,
        config: &RunConfig,
        values: Value,
        as_node: Option<&str>,
    ) -> Result<String, ApiError>;
}

#[async_trait]
impl<S, C> ServedGraph for CompiledGraph<S, C>
where
    S: State + Serialize + DeserializeOwned,
    S::Update: Serialize + DeserializeOwned + GraphInput<S>,
    C: Send + Sync + 'static,
{
    fn mermaid(&self) -> String {
        self.draw_mermaid()
    }

    fn drawing(&self) -> Value {
        self.draw_json()
    }

    fn run(&self, input: RunInput, config: RunConfig) -> Result<Events, ApiError> {
        let events = match (input.command, input.input) {
            (Some(command), None | Some(Value::Null)) => {
                self.stream(command_of::<S>(command)?, config)
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "input",
                    "give either `input` or `command`, not both",
                ))
            }
            (None, Some(Value::Null) | None) => self.stream(Command::<S>::new(), config),
            (None, Some(input)) => self.stream(decode::<S::Update>("input", input)?, config),
        };
        Ok(events
            .map(|event| {
                // The state and its updates serialize: the server's checkpointer saves them
                // before they are streamed, and a run whose state cannot be saved fails.
                event.map(|event| serde_json::to_value(&event).expect("run events serialize"))
            })
            .boxed())
    }

    async fn state(&self, config: &RunConfig, subgraphs: bool) -> Result<Option<Value>, ApiError> {
        let snapshot = if subgraphs {
            self.get_state_with_subgraphs(config).await?
        } else {
            self.get_state(config).await?
        };
        let thread_id = config.thread_id.as_deref().unwrap_or_default();
        Ok(snapshot.map(|snapshot| thread_state(thread_id, &snapshot)))
    }

    async fn history(&self, config: &RunConfig) -> Result<Vec<Value>, ApiError> {
        let thread_id = config.thread_id.as_deref().unwrap_or_default();
        let history = self.get_state_history(config).await?;
        Ok(history.iter().map(|snapshot| thread_state(thread_id, snapshot)).collect())
    }

    async fn update_state(
        &self,
        config: &RunConfig,
        values: Value,
        as_node: Option<&str>,
    ) -> Result<String, ApiError> {
        let update = decode::<S::Update>("values", values)?;
        Ok(CompiledGraph::update_state(self, config, update, as_node).await?)
    }
}

/// A served graph whose runs send their steps' tasks to the workers of a task queue: each
/// run's configuration gets the queue as its executor, and the rest is the graph's.
#[cfg(feature = "postgres")]
pub(crate) struct OnQueue<G> {
    pub graph: G,
    pub executor: graph_core::Executor,
}

#[cfg(feature = "postgres")]
#[async_trait]
impl<G: ServedGraph> ServedGraph for OnQueue<G> {
    fn mermaid(&self) -> String {
        self.graph.mermaid()
    }

    fn drawing(&self) -> Value {
        self.graph.drawing()
    }

    fn run(&self, input: RunInput, config: RunConfig) -> Result<Events, ApiError> {
        self.graph.run(input, config.executor(self.executor.clone()))
    }

    async fn state(&self, config: &RunConfig, subgraphs: bool) -> Result<Option<Value>, ApiError> {
        self.graph.state(config, subgraphs).await
    }

    async fn history(&self, config: &RunConfig) -> Result<Vec<Value>, ApiError> {
        self.graph.history(config).await
    }

    async fn update_state(
        &self,
        config: &RunConfig,
        values: Value,
        as_node: Option<&str>,
    ) -> Result<String, ApiError> {
        self.graph.update_state(config, values, as_node).await
    }
}

/// A `Command` from its JSON form: `resume` answers the pending interrupts, `update` applies
/// first. A run's input cannot `goto` (nothing routes from outside the graph).
fn command_of<S>(command: Value) -> Result<Command<S>, ApiError>
where
    S: State,
    S::Update: DeserializeOwned,
{
    let Value::Object(mut fields) = command else {
        return Err(ApiError::invalid("command", "must be an object with `resume` or `update`"));
    };
    if fields.get("goto").is_some_and(|goto| !goto.is_null()) {
        return Err(ApiError::invalid("command.goto", "a run's input cannot route; use `update`"));
    }
    let mut command = match fields.remove("resume") {
        Some(Value::Null) | None => Command::new(),
        Some(answer) => Command::resume(answer),
    };
    if let Some(update) = fields.remove("update").filter(|update| !update.is_null()) {
        command = command.update(decode::<S::Update>("command.update", update)?);
    }
    Ok(command)
}

/// Decodes a request field, naming the field and serde's complaint on failure.
fn decode<T: DeserializeOwned>(field: &str, value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|error| ApiError::invalid(field, error.to_string()))
}

/// A checkpoint as the API shows it (the `ThreadState` of the LangGraph Platform API).
fn thread_state<S: Serialize>(thread_id: &str, snapshot: &StateSnapshot<S>) -> Value {
    let checkpoint =
        |id: &str| json!({"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": id});
    let tasks: Vec<Value> = snapshot
        .next
        .iter()
        .map(|node| {
            let interrupts: Vec<Value> = snapshot
                .interrupts
                .iter()
                .filter(|interrupt| &interrupt.node == node)
                .map(interrupt_json)
                .collect();
            json!({"id": "", "name": node, "path": [], "error": null, "interrupts": interrupts,
                   "checkpoint": null, "state": null, "result": null})
        })
        .collect();
    json!({
        "values": snapshot.values,
        "next": snapshot.next,
        "tasks": tasks,
        "checkpoint": checkpoint(&snapshot.checkpoint_id),
        "parent_checkpoint": snapshot.parent_id.as_deref().map(checkpoint),
        "metadata": snapshot.metadata,
        "created_at": null,
        "interrupts": snapshot.interrupts.iter().map(interrupt_json).collect::<Vec<_>>(),
    })
}

/// An interrupt as the API shows it.
pub(crate) fn interrupt_json(interrupt: &Interrupt) -> Value {
    json!({"value": interrupt.value, "id": interrupt.id})
}
