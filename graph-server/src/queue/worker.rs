//! A server's workers: they take queued runs, run them here, and write their events.

use std::sync::Arc;
use std::time::Duration;

use graphile_worker::{Database, IntoTaskHandlerResult, TaskHandler, WorkerContext, WorkerOptions};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Queue, QUEUE_SCHEMA};
use crate::api::again;
use crate::error::ApiError;
use crate::log::RunLog;
use crate::runner::Launch;
use crate::server::Shared;

/// The queue's name for the job that runs a run.
pub(super) const RUN_TASK: &str = "graph_server_run";

/// How often a worker deletes the events of runs long ended.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// A queued run: the job's payload.
#[derive(Serialize, Deserialize)]
struct QueuedRun {
    run_id: String,
}

/// The server whose workers take the jobs, handed to each job. The workers keep it for as
/// long as the process runs: a job they took must be run, and a job given back would let
/// its thread's next run go first.
#[derive(Clone)]
struct Here(Arc<Shared>);

impl std::fmt::Debug for Here {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Here")
    }
}

impl TaskHandler for QueuedRun {
    const IDENTIFIER: &'static str = RUN_TASK;

    fn run(
        self,
        ctx: WorkerContext,
    ) -> impl std::future::Future<Output = impl IntoTaskHandlerResult> + Send + 'static {
        let shared = ctx.get_ext::<Here>().map(|here| here.0.clone());
        async move {
            let shared = shared.ok_or("the worker has no server")?;
            run_here(&shared, &self.run_id).await.map_err(|error| error.to_string())
        }
    }
}

/// The job flag of runs of graph `graph_id`: a server's workers take only the runs of the
/// graphs it serves.
pub(super) fn graph_flag(graph_id: &str) -> String {
    format!("graph:{graph_id}")
}

/// The queue's worker settings common to every server.
pub(super) fn options(database: Database, concurrency: usize) -> WorkerOptions {
    WorkerOptions::default()
        .database(database)
        .schema(QUEUE_SCHEMA)
        .concurrency(concurrency)
        .define_job::<QueuedRun>()
        .listen_os_shutdown_signals(false)
}

/// Starts `concurrency` workers in `shared`'s server, taking queued runs for as long as the
/// process runs. A worker silent for `timeout` is taken for dead, and its runs given to
/// another.
pub(crate) fn start_worker(
    shared: &Arc<Shared>,
    queue: &Arc<Queue>,
    concurrency: usize,
    timeout: Duration,
) {
    let mut options = options(queue.database.clone(), concurrency);
    for assistant in &shared.assistants {
        options = options.add_accepted_flag(&graph_flag(&assistant.graph_id));
    }
    let options = options
        .add_extension(Here(shared.clone()))
        .heartbeat_interval(timeout / 4)
        .sweep_interval(timeout / 4)
        .sweep_threshold(timeout)
        .recovery_delay(Duration::ZERO);
    let queue = queue.clone();
    tokio::spawn(async move {
        let worker = match options.init().await {
            Ok(worker) => worker,
            Err(error) => {
                tracing::error!(%error, "the server's workers could not start");
                return;
            }
        };
        let forget = async {
            loop {
                tokio::time::sleep(FORGET_EVERY).await;
                if let Err(error) = queue.forget_old_events().await {
                    tracing::warn!(%error, "could not delete old runs' events");
                }
            }
        };
        tokio::select! {
            result = worker.run() => {
                if let Err(error) = result {
                    tracing::error!(%error, "the server's workers stopped");
                }
            }
            () = forget => {}
        }
    });
}

/// How many times, a second apart, a worker tries to read a run it took before it gives the
/// job back to the queue (which tries it again later): while the worker holds the job, the
/// thread's later runs wait, so they keep their order through a short outage.
const START_TRIES: u32 = 30;

/// What a worker reads before it runs a run.
struct Start {
    launch: Launch,
    /// The run's events so far, the earlier attempts' first.
    log: Arc<RunLog>,
    /// How many of them the earlier attempts wrote.
    from: u64,
    /// Whether the run was asked to stop: `Some(rollback)` if it was.
    cancelled: Option<bool>,
}

/// Runs the queued run `run_id` here: from its request, or, when an earlier attempt's
/// worker died, from its thread's last checkpoint.
async fn run_here(shared: &Shared, run_id: &str) -> Result<(), ApiError> {
    let queue = shared.queue.as_ref().ok_or_else(|| ApiError::Storage("no queue".into()))?;
    let mut tries = 1;
    let start = loop {
        match start(shared, queue, run_id).await {
            Ok(start) => break start,
            Err(error) if tries < START_TRIES => {
                tracing::warn!(%run_id, %error, "could not read a queued run; trying again");
                tries += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => return Err(error),
        }
    };
    let Some(Start { launch, log, from, cancelled }) = start else { return Ok(()) };
    let (handle, task) = shared.runner.adopt(&shared.saved(), launch, log.clone());
    // Asked to stop before it started, or while this worker was not listening yet.
    if let Some(rollback) = cancelled {
        handle.stop(rollback);
    }
    let result = async { handle.wait().await };
    let ((), written) = tokio::join!(task, queue.write_log(run_id, log, from, result));
    queue.forget_cancel(run_id).await?;
    written
}

/// Reads what running run `run_id` needs; `None` when there is nothing left to run.
async fn start(shared: &Shared, queue: &Queue, run_id: &str) -> Result<Option<Start>, ApiError> {
    let Some(run) = shared.records.find_run(run_id).await? else {
        // Deleted while it waited: nothing to run.
        return Ok(None);
    };
    let thread_id = run.thread_id.clone();
    if !run.status.unfinished() {
        // Its end was recorded, but its worker stopped before marking it in its events.
        queue.write_end(run_id, &shared.records.values(&thread_id).await?).await?;
        return Ok(None);
    }
    // Clients have seen the events of the attempts before; this one's follow them.
    let log = Arc::new(RunLog::default());
    let earlier = queue.events(run_id, 0).await?;
    let from = u64::try_from(earlier.len()).unwrap_or_default();
    let attempt = 1 + earlier.iter().filter(|(event, _)| event == "metadata").count();
    let cancelled = queue.cancelled(run_id).await?;
    let Some(launch) = again(shared, run).await? else {
        queue.write_end(run_id, &shared.records.values(&thread_id).await?).await?;
        return Ok(None);
    };
    for (event, data) in earlier {
        log.push(event, data);
    }
    log.push("metadata", json!({"run_id": run_id, "attempt": attempt}));
    Ok(Some(Start { launch, log, from, cancelled }))
}
