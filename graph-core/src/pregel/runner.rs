//! Runs one superstep's tasks concurrently on tokio and collects their outputs in task order.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::algo::Task;
use crate::error::{GraphError, NodeError, NodeFailure};
use crate::graph::{Command, GraphInner, Node, NodeContext, TaskInput};
use crate::state::State;

/// What every task of a step shares.
pub(crate) struct StepScope<'a, S: State> {
    pub(crate) graph: &'a Arc<GraphInner<S>>,
    pub(crate) state: &'a Arc<S>,
    pub(crate) step: usize,
    /// The run-wide concurrency cap, if any.
    pub(crate) limit: Option<&'a Arc<Semaphore>>,
    pub(crate) cancellation: &'a CancellationToken,
}

/// Runs every task of the step and returns their commands in task order.
///
/// A single task runs inline, without a spawn. Several run on a `JoinSet`; the first failure
/// returns at once, and dropping the set aborts the siblings still running (fail fast).
pub(crate) async fn run_tasks<S: State>(
    scope: &StepScope<'_, S>,
    tasks: &mut [Task],
) -> Result<Vec<Command<S>>, GraphError> {
    if let [task] = tasks {
        let outcome = start(scope, task).await;
        return Ok(vec![settle(scope.graph, outcome)?]);
    }

    let mut set = JoinSet::new();
    for (index, task) in tasks.iter_mut().enumerate() {
        set.spawn(start(scope, task).map(move |outcome| (index, outcome)));
    }
    let mut slots: Vec<Option<Command<S>>> = tasks.iter().map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        // Node panics are caught inside the task, so a join error means tokio cancelled it.
        let (index, outcome) = joined.map_err(|_| GraphError::Cancelled)?;
        slots[index] = Some(settle(scope.graph, outcome)?);
    }
    Ok(slots.into_iter().flatten().collect())
}

type Outcome<S> = Result<Command<S>, (usize, NodeFailure)>;

/// Builds a task's future: every attempt of the node, inside the task's span.
fn start<S: State>(
    scope: &StepScope<'_, S>,
    task: &mut Task,
) -> impl Future<Output = Outcome<S>> + Send + 'static {
    let graph = Arc::clone(scope.graph);
    let state = Arc::clone(scope.state);
    let limit = scope.limit.cloned();
    let cancellation = scope.cancellation.clone();
    let (step, node_id, task_id, mut payload) =
        (scope.step, task.node, task.id.clone(), task.payload.take());
    let span = tracing::info_span!("task", node = %graph.name(node_id), task_id = %task_id);
    async move {
        let node = &graph.nodes[node_id];
        let max_attempts = node.retry.as_ref().map_or(1, |policy| policy.max_attempts());
        let mut attempt = 1;
        loop {
            let input = match payload.take() {
                None => TaskInput::State(Arc::clone(&state)),
                Some(sent) => {
                    // Keep a copy only while another attempt may need it.
                    if attempt < max_attempts {
                        payload = Some(sent.clone_payload());
                    }
                    TaskInput::Payload(sent.into_any())
                }
            };
            let ctx = NodeContext {
                node: Arc::clone(&node.name),
                task_id: task_id.clone(),
                attempt,
                cancellation: cancellation.clone(),
            };
            let error = match run_attempt(node, input, ctx, limit.as_deref()).await {
                Ok(command) => return Ok(command),
                Err(error) => error,
            };
            tracing::warn!(attempt, %error, "task attempt failed");
            match node.retry.as_ref().and_then(|policy| policy.next_delay(attempt, &error)) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => {
                    let failure = NodeFailure { node: node.name.to_string(), step, attempt, error };
                    return Err((node_id, failure));
                }
            }
            attempt += 1;
        }
    }
    .instrument(span)
}

/// One attempt: wait for the node's and the run's permits, then call the node with its
/// timeout, catching panics.
async fn run_attempt<S: State>(
    node: &Node<S>,
    input: TaskInput<S>,
    ctx: NodeContext,
    run_limit: Option<&Semaphore>,
) -> Result<Command<S>, NodeError> {
    // The node's permit first: a task holding a run-wide permit is always running.
    let _node_permit = match &node.limit {
        Some(limit) => limit.acquire().await.ok(),
        None => None,
    };
    let _run_permit = match run_limit {
        Some(limit) => limit.acquire().await.ok(),
        None => None,
    };
    // Calling the node may itself run user code (a closure's body), so it is guarded too.
    let future = std::panic::catch_unwind(AssertUnwindSafe(|| node.func.call(input, ctx)))
        .map_err(|panic| NodeError::Panicked(panic_message(&*panic)))?;
    let guarded = AssertUnwindSafe(future).catch_unwind();
    let outcome = match node.timeout {
        Some(timeout) => tokio::time::timeout(timeout, guarded)
            .await
            .map_err(|_| NodeError::TimedOut(timeout))?,
        None => guarded.await,
    };
    match outcome {
        Ok(Ok(command)) => Ok(command),
        Ok(Err(source)) => Err(NodeError::Failed(source)),
        Err(panic) => Err(NodeError::Panicked(panic_message(&*panic))),
    }
}

/// A failed task becomes its node's error-handler update, or the error that fails the run.
fn settle<S: State>(graph: &GraphInner<S>, outcome: Outcome<S>) -> Result<Command<S>, GraphError> {
    match outcome {
        Ok(command) => Ok(command),
        Err((node, failure)) => match &graph.nodes[node].on_error {
            Some(handler) => Ok(Command::new().update(handler(&failure))),
            None => Err(failure.into()),
        },
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
