//! A worker process: claims tasks from the queue, runs them, and commits each output with
//! its message's deletion.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::message::{RemoteOutcome, TaskMessage, TaskReport};
use super::queue::TaskQueue;
use crate::error::GraphError;
use crate::graph::CompiledGraph;
use crate::pregel::{graph_version, Planner, TaskRunner};
use crate::state::State;

/// Runs the tasks of distributed steps for the graphs it registers.
///
/// Register each graph under the name the coordinating runs give
/// [`Executor::queue`](crate::Executor::queue); a task of a graph this worker lacks, or of
/// another version of it (its nodes, edges or state types differ), fails its run with
/// [`GraphError::GraphMismatch`] instead of running other code.
///
/// ```no_run
/// use graph_core::distributed::{TaskQueue, Worker};
/// use graph_core::prelude::*;
/// use graph_core::CancellationToken;
///
/// #[derive(State, Clone, Default, serde::Serialize, serde::Deserialize)]
/// struct Doc {
///     text: String,
/// }
///
/// # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
/// let graph = StateGraph::<Doc>::new()
///     .add_node("draft", |_: std::sync::Arc<Doc>| async { Doc::update().text("hi".to_owned()) })
///     .add_edge(START, "draft")
///     .compile()?;
/// let queue = TaskQueue::connect("host=127.0.0.1 user=postgres dbname=test", "tasks").await?;
/// Worker::new(queue).graph("drafts", graph).run(CancellationToken::new()).await?;
/// # Ok(())
/// # }
/// ```
pub struct Worker {
    queue: TaskQueue,
    id: String,
    graphs: HashMap<String, Arc<dyn Registered>>,
    lease: Duration,
    concurrency: usize,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.id)
            .field("graphs", &self.graphs.keys().collect::<Vec<_>>())
            .field("lease", &self.lease)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// How long a claimed task stays invisible to other workers without a renewal.
const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// How many outputs one commit stores at most.
const MAX_COMMIT: usize = 256;
/// How long an idle worker waits before asking the queue again, at most.
const MAX_IDLE: Duration = Duration::from_millis(100);

impl Worker {
    /// A worker on `queue`, named after its process and host, running at most 64 tasks at
    /// once with 30-second leases.
    pub fn new(queue: TaskQueue) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned());
        Self {
            queue,
            id: format!("{}@{host}", std::process::id()),
            graphs: HashMap::new(),
            lease: DEFAULT_LEASE,
            concurrency: 64,
        }
    }

    /// Names the worker in its tasks' outputs and in errors.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// How long a task stays claimed: the worker renews the lease every third of it while
    /// the task runs, so a worker that dies or stalls loses its task after at most this
    /// long. `pgmq` counts whole seconds; the least is one.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_secs(1));
        self
    }

    /// At most this many tasks run at once on this worker.
    pub fn concurrency(mut self, tasks: usize) -> Self {
        self.concurrency = tasks.max(1);
        self
    }

    /// Runs the tasks of `graph` dispatched under `name`. The graph's checkpointer, if any,
    /// is replaced by one on the queue's database, where the coordinators save.
    pub fn graph<S, C>(mut self, name: &str, graph: CompiledGraph<S, C>) -> Self
    where
        S: State + Serialize + DeserializeOwned,
        S::Update: Serialize + DeserializeOwned,
        C: Send + Sync + 'static,
    {
        let graph = graph.with_checkpointer(self.queue.saver());
        let version = graph_version(&graph.inner);
        let registered = Graph { graph, version, planner: Planner::default() };
        self.graphs.insert(name.to_owned(), Arc::new(registered));
        self
    }

    /// Claims and runs tasks until `stop` is cancelled, then returns once the tasks it
    /// holds have finished and their outputs are committed. A database that cannot be
    /// reached is retried every second: the tasks wait in the queue meanwhile.
    pub async fn run(self, stop: CancellationToken) -> Result<(), GraphError> {
        let this = Arc::new(self);
        let (done, finished) = mpsc::unbounded_channel();
        let committer = tokio::spawn(Arc::clone(&this).commit(finished));
        let slots = Arc::new(Semaphore::new(this.concurrency));
        let mut idle = Duration::from_millis(1);
        while !stop.is_cancelled() {
            let free = slots.available_permits();
            if free == 0 {
                tokio::select! {
                    permit = Arc::clone(&slots).acquire_owned() => drop(permit),
                    () = stop.cancelled() => break,
                }
                continue;
            }
            let claimed = match this.queue.claim(this.lease, free).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, worker = %this.id, "cannot claim tasks; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        () = stop.cancelled() => break,
                    }
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    () = tokio::time::sleep(idle) => {}
                    () = stop.cancelled() => break,
                }
                idle = (idle * 2).min(MAX_IDLE);
                continue;
            }
            idle = Duration::from_millis(1);
            for (id, body) in claimed {
                let Ok(message) = serde_json::from_str::<TaskMessage>(&body) else {
                    tracing::warn!(id, worker = %this.id, "archiving a message that is not a task");
                    this.queue.discard(id).await?;
                    continue;
                };
                let permit = Arc::clone(&slots).acquire_owned().await.expect("never closed");
                let (this, done) = (Arc::clone(&this), done.clone());
                tokio::spawn(async move {
                    if let Some(report) = this.run_one(id, &message).await {
                        let _ = done.send((id, message, report));
                    }
                    drop(permit);
                });
            }
        }
        // Every running task holds a permit: taking them all waits for the last.
        let _all = slots.acquire_many(this.concurrency as u32).await.expect("never closed");
        drop(done);
        committer.await.map_err(|_| GraphError::Cancelled)?;
        Ok(())
    }

    /// Runs one task, renewing its lease meanwhile; `None` when the message went away
    /// under it (its step was abandoned, or another worker finished it first).
    async fn run_one(&self, id: i64, message: &TaskMessage) -> Option<TaskReport> {
        let started_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_micros() as u64);
        let started = std::time::Instant::now();
        let outcome = self.run_leased(id, message).await?;
        let duration_us = started.elapsed().as_micros() as u64;
        Some(TaskReport { outcome, started_us, duration_us })
    }

    async fn run_leased(&self, id: i64, message: &TaskMessage) -> Option<RemoteOutcome> {
        let span = tracing::info_span!(
            "remote_task",
            worker = %self.id,
            graph = %message.graph,
            node = %message.node,
            task_id = %message.task_id,
        );
        let Some(graph) = self.graphs.get(&message.graph) else {
            return Some(RemoteOutcome::Mismatch { found: None });
        };
        if graph.version() != message.version {
            return Some(RemoteOutcome::Mismatch { found: Some(graph.version().to_owned()) });
        }
        let mut renew = tokio::time::interval(self.lease / 3);
        renew.tick().await;
        // The task's slots of the caps it counts towards, named by worker and message.
        let holder = (!message.limits.is_empty()).then(|| format!("{}:{id}", self.id));
        if let Some(holder) = &holder {
            self.take_slots(id, message, holder, &mut renew).await?;
        }
        let running = graph.run(message).instrument(span);
        tokio::pin!(running);
        let outcome = loop {
            tokio::select! {
                outcome = &mut running => break Some(outcome),
                _ = renew.tick() => {
                    if !self.renew(id, holder.as_deref()).await {
                        break None;
                    }
                }
            }
        };
        if let Some(holder) = &holder {
            if let Err(error) = self.queue.release_slots(holder).await {
                // Unreleased slots free themselves when their lease lapses.
                tracing::warn!(%error, worker = %self.id, "cannot release concurrency slots");
            }
        }
        outcome
    }

    /// Waits until the task holds a slot of each of its caps, keeping its lease meanwhile;
    /// `None` when the message went away.
    async fn take_slots(
        &self,
        id: i64,
        message: &TaskMessage,
        holder: &str,
        renew: &mut tokio::time::Interval,
    ) -> Option<()> {
        let mut wait = Duration::from_millis(2);
        loop {
            match self.queue.take_slots(&message.limits, holder, self.lease).await {
                Ok(true) => return Some(()),
                Ok(false) => wait = (wait * 2).min(MAX_IDLE),
                Err(error) => {
                    tracing::warn!(%error, worker = %self.id, "cannot take concurrency slots");
                    wait = Duration::from_secs(1);
                }
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = renew.tick() => {
                    if !self.renew(id, None).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Renews a running task's lease, and its slots if it holds any; `false` once the
    /// message is gone (its step was abandoned, or another worker finished the task).
    async fn renew(&self, id: i64, holder: Option<&str>) -> bool {
        if let Some(holder) = holder {
            if let Err(error) = self.queue.renew_slots(holder, self.lease).await {
                tracing::warn!(%error, worker = %self.id, "cannot renew concurrency slots");
            }
        }
        match self.queue.extend(id, self.lease).await {
            Ok(kept) => kept,
            Err(error) => {
                tracing::warn!(%error, worker = %self.id, "cannot renew a lease");
                true
            }
        }
    }

    /// Commits finished tasks in batches: whatever finished while the last commit ran.
    async fn commit(self: Arc<Self>, mut finished: mpsc::UnboundedReceiver<Finished>) {
        let mut batch = Vec::new();
        while finished.recv_many(&mut batch, MAX_COMMIT).await > 0 {
            loop {
                match self.queue.complete(&self.id, self.lease, &batch).await {
                    Ok(_) => break,
                    // The outputs stay here until the database is back; if their leases
                    // lapse first, other workers run the tasks and these commit nothing.
                    Err(error) => {
                        tracing::warn!(%error, worker = %self.id, "cannot commit outputs; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            batch.clear();
        }
    }
}

/// A finished task: its message id, its message and its report.
type Finished = (i64, TaskMessage, TaskReport);

/// A registered graph, whatever its state type.
#[async_trait]
trait Registered: Send + Sync {
    fn version(&self) -> &str;
    async fn run(&self, message: &TaskMessage) -> RemoteOutcome;
}

struct Graph<S: State, C> {
    graph: CompiledGraph<S, C>,
    version: String,
    planner: Planner<S>,
}

#[async_trait]
impl<S: State, C: Send + Sync + 'static> Registered for Graph<S, C> {
    fn version(&self) -> &str {
        &self.version
    }

    async fn run(&self, message: &TaskMessage) -> RemoteOutcome {
        let Some(persistence) = &self.graph.persistence else {
            unreachable!("a registered graph has the queue's checkpointer")
        };
        let runner = TaskRunner {
            graph: &self.graph.inner,
            persistence,
            services: &self.graph.services,
            context: self.graph.erased_context(),
            planner: &self.planner,
        };
        runner.run(message).await
    }
}
