//! A graph a node runs itself, as part of its task's work: a graph used as a tool, say.

use std::sync::Arc;

use serde::Serialize;

use super::call::cancelled;
use super::json;
use crate::config::{ParentLink, RunConfig};
use crate::error::GraphError;
use crate::graph::{CompiledGraph, ErasedContext, NodeContext, RunOutcome};
use crate::pregel::{self, Records};
use crate::state::{GraphInput, State};
use crate::stream::Emitter;

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
        let namespace = inherit.child_namespace(segment);
        let config = RunConfig {
            cancellation: Some(ctx.run.cancellation.clone()),
            parent: Some(ParentLink {
                limit: inherit.limit.clone(),
                namespace: namespace.clone(),
                invocation: None,
                keep_writes: false,
                services: inherit.services.clone(),
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
        let (services, input) = (&self.services, input.into_input());
        let run = pregel::run(
            graph,
            persistence,
            services,
            &context,
            input,
            &config,
            emitter,
            Records::none(),
        );
        match run.await {
            Err(GraphError::Cancelled) => Err(cancelled().await),
            outcome => outcome,
        }
    }

    /// The run context a subgraph run inside the task `ctx` sees: the task's when it has
    /// this graph's type (so `with_context` reaches subgraphs), this graph's own otherwise.
    pub(super) fn context_in(&self, ctx: &NodeContext) -> ErasedContext {
        match Arc::clone(&ctx.run.context).downcast::<C>() {
            Ok(context) => context,
            Err(_) => self.erased_context(),
        }
    }
}
