//! One call of a subgraph by a parent task: where it starts (afresh, where it stopped, or
//! already done), what it inherits from the parent's run, and how its result, pauses and
//! routes reach the parent.

use std::sync::Arc;

use serde_json::Value;

use super::inspect::{InspectCall, Inspector};
use super::{InputFn, OutputFn, Settings, SubgraphCheckpoints};
use crate::checkpoint::Checkpointer;
use crate::config::{Durability, ParentLink, RunConfig};
use crate::error::{BoxError, GraphError};
use crate::graph::interrupt::Answers;
use crate::graph::node::{node_future, NodeFuture};
use crate::graph::{Command, CompiledGraph, Goto, Interrupt, NodeContext, RunOutcome, TaskInput};
use crate::pregel::{self, Namespace, Records, TaskPath};
use crate::state::{RunInput, State};
use crate::stream::Emitter;
use crate::thread::{self, CallStart, Persistence};

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

/// A subgraph call with the subgraph's state type erased.
pub(super) trait ChildCall<S: State>: Send + Sync + 'static {
    fn call(
        self: Arc<Self>,
        input: TaskInput<S>,
        ctx: NodeContext,
        settings: Settings,
    ) -> NodeFuture<S>;

    /// What reads the state of this subgraph's calls.
    fn inspector(self: Arc<Self>, settings: Settings) -> Arc<dyn InspectCall>;
}

/// The thread a subgraph call checkpoints in, under its parent's thread; `None` when it
/// keeps no checkpoints.
pub(super) fn call_thread(
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

pub(super) struct Child<S: State, T: State, C> {
    pub(super) graph: CompiledGraph<T, C>,
    pub(super) input: Box<InputFn<S, T>>,
    pub(super) output: Box<OutputFn<S, T>>,
    /// Whether `output` needs every update the call applied.
    pub(super) writes: bool,
    pub(super) persistence: fn(Arc<dyn Checkpointer>) -> Persistence<T>,
    pub(super) state_json: fn(&T) -> Value,
    pub(super) update_json: fn(&T::Update) -> Value,
}

impl<S: State, T: State, C: Send + Sync + 'static> ChildCall<S> for Child<S, T, C> {
    fn call(
        self: Arc<Self>,
        input: TaskInput<S>,
        ctx: NodeContext,
        settings: Settings,
    ) -> NodeFuture<S> {
        node_future(async move { self.run(input, ctx, settings).await })
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
        let namespace = inherit.child_namespace(segment.clone());
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

        let thread = persistence.as_ref().map(|(_, thread)| thread.clone());
        let config = self.config(&ctx, thread, namespace.clone(), invocation);
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
        let (graph, services) = (&self.graph.inner, &self.graph.services);
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
            let outcome = pregel::run(
                graph,
                persistence,
                services,
                &context,
                run_input,
                &config,
                emitter,
                records,
            )
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

/// Only the parent's cancellation cancels a subgraph's run, and the parent's run stops with
/// it: the task waits to be dropped.
pub(super) async fn cancelled() -> GraphError {
    std::future::pending().await
}

impl<S: State, T: State, C: Send + Sync + 'static> Child<S, T, C> {
    /// The settings of a call's run: the parent run's, in `thread` and `namespace`.
    fn config(
        &self,
        ctx: &NodeContext,
        thread: Option<String>,
        namespace: Namespace,
        invocation: Arc<str>,
    ) -> RunConfig {
        let inherit = &ctx.run.inherit;
        let parent = &inherit.config;
        // A call that must read its writes back keeps them in every checkpoint.
        let durability = match parent.durability {
            Durability::Exit if self.writes => Durability::Async,
            durability => durability,
        };
        RunConfig {
            recursion_limit: parent.recursion_limit,
            step_timeout: parent.step_timeout,
            cancellation: Some(ctx.run.cancellation.clone()),
            strict: parent.strict,
            thread_id: thread,
            durability,
            parent: Some(ParentLink {
                limit: inherit.limit.clone(),
                namespace,
                invocation: Some(invocation),
                keep_writes: self.writes,
                services: inherit.services.clone(),
            }),
            ..RunConfig::default()
        }
    }
}

/// The input that resumes a subgraph call, handing it the answers its parent received.
fn resume<T: State>(answers: &[(String, Value)]) -> RunInput<T> {
    RunInput::Resume { update: None, answers: Answers::Deliver(answers.to_vec()), gotos: 0 }
}

/// The parent task's command, with the nodes the subgraph routed to in the parent.
fn routed<S: State>(mut command: Command<S>, parent: Vec<String>) -> Result<Command<S>, BoxError> {
    command.goto.extend(parent.into_iter().map(Goto::from));
    Ok(command)
}
