//! The run queue that every server connected to one PostgreSQL database shares.
//!
//! A run's record and its job go in one transaction: a `graphile_worker` job in the queue
//! named after the run's thread, so a thread's runs run one at a time and in order, on
//! whichever server's workers take them. The worker writes the run's events to a table and
//! wakes the servers following them with `NOTIFY`, so a client reads any run's stream from
//! any server. A worker that stops sending heartbeats loses its runs to another, which
//! carries each on from its thread's last checkpoint (the rule [`again`](crate::api::again)
//! applies after a restart).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use deadpool_postgres::Pool;
use futures::StreamExt;
use graphile_worker::tokio_postgres::TokioPostgresDatabase;
use graphile_worker::Database;
use tokio::sync::Notify;

use crate::error::ApiError;
use crate::records::postgres::{put_run, storage};
use crate::records::Run;
use crate::runner::{Handle, Launch, Multitask, Runner};

mod events;
mod worker;

pub(crate) use worker::start_worker;

/// The schema of the queue's own tables (jobs, queues, workers), apart from any
/// `graphile_worker` schema the application uses itself.
const QUEUE_SCHEMA: &str = "graph_server_queue";

/// The channel on which servers tell each other of new events (`events RUN_ID`) and of
/// cancelled runs (`cancel RUN_ID`).
const CHANNEL: &str = "graph_server";

/// The tables beside the queue's: each run's events, and the runs asked to stop.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS graph_server_events (
    run_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    event TEXT NOT NULL,
    data TEXT NOT NULL,
    written_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS graph_server_cancels (
    run_id TEXT PRIMARY KEY,
    rollback BOOLEAN NOT NULL,
    asked_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
";

/// How many connections the queue's workers open at most in one server, to take and finish
/// jobs (besides the one each listener holds); the queue's other work shares the server's
/// pool.
const WORKER_CONNECTIONS: usize = 2;

/// The queue as one server sees it.
pub(crate) struct Queue {
    database: Database,
    pool: Pool,
    /// This server's runs, to stop those another server cancels.
    runner: Arc<Runner>,
    /// Runs this server follows for its clients, each with what wakes its reader.
    followed: Mutex<HashMap<String, (Handle, Arc<Notify>)>>,
}

impl Queue {
    /// Connects to the database at `url`, creates the queue's tables when missing, and
    /// starts listening for other servers' news. The queue's work shares `pool`.
    pub async fn connect(
        url: &str,
        pool: Pool,
        runner: Arc<Runner>,
    ) -> Result<Arc<Self>, ApiError> {
        let config = tokio_postgres::Config::from_str(url).map_err(storage)?;
        let database =
            TokioPostgresDatabase::from_config(config, WORKER_CONNECTIONS).map_err(storage)?;
        let database = Database::from(database);
        {
            // Servers starting together would race to create the same tables: one at a time.
            let client = pool.get().await.map_err(storage)?;
            client.execute("SELECT pg_advisory_lock(7243000)", &[]).await.map_err(storage)?;
            let created = async {
                client.batch_execute(SCHEMA).await.map_err(storage)?;
                // Creates or upgrades the queue's own tables.
                worker::options(database.clone(), 1).init().await.map_err(storage)
            };
            let created = created.await;
            let unlocked = client.execute("SELECT pg_advisory_unlock(7243000)", &[]).await;
            if unlocked.is_err() {
                // The lock goes with the connection, which must not serve again.
                drop(deadpool_postgres::Object::take(client));
            }
            created?;
        }
        let queue = Arc::new(Self { database, pool, runner, followed: Mutex::default() });
        let notifications = queue.database.listen(CHANNEL).await.map_err(storage)?;
        let notifications = notifications
            .ok_or_else(|| ApiError::Storage("the queue cannot listen for notifications".into()))?;
        tokio::spawn(listen(Arc::downgrade(&queue), notifications));
        Ok(queue)
    }

    /// Records `launch`'s run of graph `graph_id` and queues it after its thread's earlier
    /// runs, as its strategy says, for the servers that serve the graph; returns a handle
    /// that follows it wherever it runs.
    pub async fn launch(
        self: &Arc<Self>,
        launch: Launch,
        graph_id: &str,
    ) -> Result<Handle, ApiError> {
        let Launch { run, multitask, .. } = launch;
        let earlier = self.enqueue(&run, graph_id, multitask).await?;
        if matches!(multitask, Multitask::Interrupt | Multitask::Rollback) {
            for run_id in &earlier {
                self.cancel(run_id, multitask == Multitask::Rollback).await?;
            }
        }
        Ok(self.follow(&run.run_id))
    }

    /// Records `run` and its job in one transaction; returns the thread's runs not yet
    /// ended before it, oldest first.
    async fn enqueue(
        &self,
        run: &Run,
        graph_id: &str,
        multitask: Multitask,
    ) -> Result<Vec<String>, ApiError> {
        let mut client = self.pool.get().await.map_err(storage)?;
        let transaction = client.transaction().await.map_err(storage)?;
        // One at a time per thread, so two runs asking to reject each other cannot both
        // find the thread free.
        let lock = "SELECT pg_advisory_xact_lock(hashtext($1))";
        transaction.execute(lock, &[&run.thread_id]).await.map_err(storage)?;
        let earlier = "SELECT run_id FROM graph_server_runs
                       WHERE thread_id = $1 AND status IN ('pending', 'running') ORDER BY run_id";
        let earlier: Vec<String> = transaction
            .query(earlier, &[&run.thread_id])
            .await
            .map_err(storage)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if let Some(busy) = earlier.first().filter(|_| multitask == Multitask::Reject) {
            return Err(ApiError::Busy { thread_id: run.thread_id.clone(), run_id: busy.clone() });
        }
        put_run(&transaction, run).await?;
        let job = format!(
            "SELECT {QUEUE_SCHEMA}.add_job('{}', json_build_object('run_id', $1::text),
                    queue_name => $2, max_attempts => 10, job_key => $1, flags => ARRAY[$3])",
            worker::RUN_TASK
        );
        let flag = worker::graph_flag(graph_id);
        transaction.execute(&job, &[&run.run_id, &run.thread_id, &flag]).await.map_err(storage)?;
        transaction.commit().await.map_err(storage)?;
        Ok(earlier)
    }

    /// Asks whichever server runs `run_id` to stop it (now, or when it is taken, if it is
    /// still waiting); with `rollback`, to undo it once it has stopped.
    pub async fn cancel(&self, run_id: &str, rollback: bool) -> Result<(), ApiError> {
        let sql = format!(
            "WITH asked AS (
                 INSERT INTO graph_server_cancels (run_id, rollback) VALUES ($1, $2)
                 ON CONFLICT (run_id) DO UPDATE
                 SET rollback = graph_server_cancels.rollback OR excluded.rollback)
             SELECT pg_notify('{CHANNEL}', 'cancel ' || $1)"
        );
        let client = self.pool.get().await.map_err(storage)?;
        client.execute(&sql, &[&run_id, &rollback]).await.map(drop).map_err(storage)
    }

    /// Whether `run_id` was asked to stop: `Some(rollback)` if it was.
    async fn cancelled(&self, run_id: &str) -> Result<Option<bool>, ApiError> {
        let sql = "SELECT rollback FROM graph_server_cancels WHERE run_id = $1";
        let client = self.pool.get().await.map_err(storage)?;
        let row = client.query_opt(sql, &[&run_id]).await.map_err(storage)?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Forgets that `run_id` was asked to stop, once it has.
    async fn forget_cancel(&self, run_id: &str) -> Result<(), ApiError> {
        let sql = "DELETE FROM graph_server_cancels WHERE run_id = $1";
        let client = self.pool.get().await.map_err(storage)?;
        client.execute(sql, &[&run_id]).await.map(drop).map_err(storage)
    }

    /// The run `run_id` while it has not ended or its events are kept, wherever it runs.
    pub async fn handle(self: &Arc<Self>, run_id: &str) -> Result<Option<Handle>, ApiError> {
        if let Some((handle, _)) = self.followed.lock().expect("queue lock").get(run_id) {
            return Ok(Some(handle.clone()));
        }
        let sql = "SELECT EXISTS (SELECT 1 FROM graph_server_runs
                                  WHERE run_id = $1 AND status IN ('pending', 'running'))
                       OR EXISTS (SELECT 1 FROM graph_server_events WHERE run_id = $1)";
        let client = self.pool.get().await.map_err(storage)?;
        let known: bool = client.query_one(sql, &[&run_id]).await.map_err(storage)?.get(0);
        Ok(known.then(|| self.follow(run_id)))
    }

    /// Wakes the reader of `run_id`'s events in this server, if there is one.
    fn wake(&self, run_id: &str) {
        if let Some((_, wake)) = self.followed.lock().expect("queue lock").get(run_id) {
            wake.notify_one();
        }
    }
}

/// Acts on other servers' notifications while the queue lives.
async fn listen(
    queue: std::sync::Weak<Queue>,
    mut notifications: graphile_worker::NotificationStream,
) {
    while let Some(notification) = notifications.next().await {
        let Some(queue) = queue.upgrade() else { return };
        let Ok(notification) = notification else { continue };
        if let Some(run_id) = notification.payload.strip_prefix("events ") {
            queue.wake(run_id);
        } else if let Some(run_id) = notification.payload.strip_prefix("cancel ") {
            if let Some(handle) = queue.runner.handle(run_id) {
                // The run is stopped either way; only whether it is undone may be unknown.
                let rollback = queue.cancelled(run_id).await.inspect_err(|error| {
                    tracing::error!(%run_id, %error, "could not read how to stop a run");
                });
                handle.stop(rollback.ok().flatten().unwrap_or(false));
            }
        }
    }
}
