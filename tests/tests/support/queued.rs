//! Runs a graph locally and again with its tasks on three workers of a task queue, and
//! checks both runs end alike: the same outcome and the same tasks in every step, or the same
//! error. The behaviour-contract tests run through it, so the distributed executor is held to
//! the local contract, test by test.

use std::fmt::Debug;

use graph_core::distributed::{TaskQueue, Worker};
use graph_core::{
    CancellationToken, CompiledGraph, Executor, GraphError, GraphInput, RunConfig, RunOutcome,
    RunReport, State,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::backends::{postgres_client, postgres_url, unique};

/// [`CompiledGraph::invoke_with_report`], run locally and on a task queue: the local run's
/// report, once the queued run is checked against it.
pub async fn invoke_with_report<S, I>(
    graph: &CompiledGraph<S>,
    input: I,
    config: RunConfig,
) -> Result<RunReport<S>, GraphError>
where
    S: State + Serialize + DeserializeOwned + PartialEq + Debug,
    S::Update: Serialize + DeserializeOwned,
    I: GraphInput<S> + Clone,
{
    let local = graph.invoke_with_report(input.clone(), config.clone()).await;
    let queued = on_queue(graph, input, config).await;
    if let (Ok(local), Ok(queued)) = (&local, &queued) {
        assert_eq!(queued.nodes_per_step(), local.nodes_per_step(), "the queued run's steps");
    }
    check(local.as_ref().map(|r| &r.outcome), queued.as_ref().map(|r| &r.outcome));
    local
}

/// [`CompiledGraph::invoke`], run locally and on a task queue. The local run records
/// nothing, as a plain run does: its steps of one task take the runtime's shortest path.
pub async fn invoke<S, I>(
    graph: &CompiledGraph<S>,
    input: I,
    config: RunConfig,
) -> Result<RunOutcome<S>, GraphError>
where
    S: State + Serialize + DeserializeOwned + PartialEq + Debug,
    S::Update: Serialize + DeserializeOwned,
    I: GraphInput<S> + Clone,
{
    let local = graph.invoke(input.clone(), config.clone()).await;
    let queued = on_queue(graph, input, config).await.map(|report| report.outcome);
    check(local.as_ref(), queued.as_ref());
    local
}

/// Checks that the queued run ended as the local one did.
fn check<S: State + PartialEq + Debug>(
    local: Result<&RunOutcome<S>, &GraphError>,
    queued: Result<&RunOutcome<S>, &GraphError>,
) {
    match (local, queued) {
        (Ok(local), Ok(queued)) => assert_eq!(queued, local, "the queued run's outcome"),
        // A task's own error crosses from its worker as its message.
        (Err(local), Err(GraphError::RemoteTask { message, .. })) => {
            assert_eq!(message, &local.to_string(), "the queued run's error");
        }
        (Err(local), Err(queued)) => {
            assert_eq!(queued.to_string(), local.to_string(), "the queued run's error");
        }
        _ => panic!("the local run gave {local:?}, the queued run {queued:?}"),
    }
}

/// Runs `graph` on a queue of its own, with three workers in this process, checkpointing in
/// the queue's database; the queue is dropped afterwards.
async fn on_queue<S, I>(
    graph: &CompiledGraph<S>,
    input: I,
    config: RunConfig,
) -> Result<RunReport<S>, GraphError>
where
    S: State + Serialize + DeserializeOwned,
    S::Update: Serialize + DeserializeOwned,
    I: GraphInput<S>,
{
    let name = unique("contract").replace('-', "_");
    let queue = TaskQueue::connect(&postgres_url(), &name).await.unwrap();
    let stop = CancellationToken::new();
    let mut workers = Vec::new();
    for i in 0..3 {
        let worker =
            Worker::new(queue.clone()).id(format!("w{i}")).graph("contract", graph.clone());
        workers.push(tokio::spawn(worker.run(stop.clone())));
    }
    let queued = graph.clone().with_checkpointer(queue.saver());
    let config = config.thread_id(unique("thread")).executor(Executor::queue(&queue, "contract"));
    let report = queued.invoke_with_report(input, config).await;
    stop.cancel();
    for worker in workers {
        worker.await.unwrap().unwrap();
    }
    let client = postgres_client().await;
    client.execute("SELECT pgmq.drop_queue($1)", &[&name]).await.unwrap();
    report
}
