//! Runs one superstep's tasks concurrently on tokio and collects their outputs in task order.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::algo::Task;
use crate::error::{BoxError, GraphError};
use crate::graph::{Command, GraphInner, NodeContext, TaskInput};
use crate::state::State;

/// Runs every task of `step` against `state` and returns their commands in task order.
///
/// A single task runs inline, without a spawn. Several run on a `JoinSet`; the first failure
/// returns at once, and dropping the set aborts the siblings still running (fail fast).
pub(crate) async fn run_tasks<S: State>(
    graph: &GraphInner<S>,
    state: &Arc<S>,
    step: usize,
    tasks: &mut [Task],
) -> Result<Vec<Command<S>>, GraphError> {
    if let [task] = tasks {
        let output = start(graph, state, task).await;
        return Ok(vec![settle(graph, task, step, output)?]);
    }

    let mut set = JoinSet::new();
    for (index, task) in tasks.iter_mut().enumerate() {
        let future = start(graph, state, task);
        set.spawn(future.map(move |output| (index, output)));
    }
    let mut slots: Vec<Option<Command<S>>> = tasks.iter().map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        // Node panics are caught inside the task, so a join error means tokio cancelled it.
        let (index, output) = joined.map_err(|_| GraphError::Cancelled)?;
        slots[index] = Some(settle(graph, &tasks[index], step, output)?);
    }
    Ok(slots.into_iter().flatten().collect())
}

type Outcome<S> = Result<Result<Command<S>, BoxError>, Box<dyn Any + Send>>;

/// Builds a task's future: the node's call, guarded against panics, inside its span.
fn start<S: State>(
    graph: &GraphInner<S>,
    state: &Arc<S>,
    task: &mut Task,
) -> impl Future<Output = Outcome<S>> + Send + 'static {
    let node = &graph.nodes[task.node];
    let input = match task.payload.take() {
        Some(payload) => TaskInput::Payload(payload),
        None => TaskInput::State(Arc::clone(state)),
    };
    let span = tracing::info_span!("task", node = %node.name, task_id = %task.id, attempt = 1);
    let ctx = NodeContext { node: Arc::clone(&node.name), task_id: task.id.clone(), attempt: 1 };
    // Calling the node may itself run user code (a closure's body), so it is guarded too.
    let call = std::panic::catch_unwind(AssertUnwindSafe(|| node.func.call(input, ctx)));
    async move {
        match call {
            Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
            Err(panic) => Err(panic),
        }
    }
    .instrument(span)
}

/// Turns a task's outcome into its command, or the error that fails the run.
fn settle<S: State>(
    graph: &GraphInner<S>,
    task: &Task,
    step: usize,
    outcome: Outcome<S>,
) -> Result<Command<S>, GraphError> {
    let node = || graph.name(task.node).to_string();
    match outcome {
        Ok(Ok(command)) => Ok(command),
        Ok(Err(source)) => Err(GraphError::NodeFailed { node: node(), step, attempt: 1, source }),
        Err(panic) => Err(GraphError::NodePanicked {
            node: node(),
            step,
            attempt: 1,
            message: panic_message(&*panic),
        }),
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
