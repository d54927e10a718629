//! The task queue: a `pgmq` queue for the messages, and two tables beside it, one row per
//! dispatched step and one per task output.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Object, Pool};

use super::message::{Limit, TaskMessage, TaskReport};
use crate::checkpoint::PostgresSaver;
use crate::error::GraphError;

const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS graph_task_dispatches (
        thread_id     TEXT NOT NULL,
        checkpoint_id TEXT NOT NULL,
        queue         TEXT NOT NULL,
        msg_ids       BIGINT[] NOT NULL,
        PRIMARY KEY (thread_id, checkpoint_id)
    )",
    "CREATE TABLE IF NOT EXISTS graph_task_outputs (
        thread_id     TEXT NOT NULL,
        checkpoint_id TEXT NOT NULL,
        task_id       TEXT NOT NULL,
        worker        TEXT NOT NULL,
        kind          TEXT NOT NULL,
        body          TEXT NOT NULL,
        PRIMARY KEY (thread_id, checkpoint_id, task_id)
    )",
    // One row per slot of a concurrency cap shared by workers; a holder keeps its slot by
    // renewing it, as it renews its task's lease.
    "CREATE TABLE IF NOT EXISTS graph_task_slots (
        key     TEXT NOT NULL,
        slot    INT NOT NULL,
        holder  TEXT,
        expires TIMESTAMPTZ,
        PRIMARY KEY (key, slot)
    )",
];

/// A task queue in PostgreSQL, shared by the runs that dispatch steps to it and the
/// [`Worker`](super::Worker)s that run their tasks. Cheap to clone.
///
/// The database needs `pgmq`: as an extension (`CREATE EXTENSION pgmq`), or installed from
/// the SQL its crate publishes by the repository's `tools/pgmq-install`, which needs no
/// extension. [`connect`](Self::connect) creates the named queue and the tables.
#[derive(Clone)]
pub struct TaskQueue {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    name: String,
    saver: Arc<PostgresSaver>,
}

impl std::fmt::Debug for TaskQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskQueue").field("name", &self.inner.name).finish_non_exhaustive()
    }
}

/// The step a dispatch and its outputs belong to: a thread's checkpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepKey<'a> {
    pub(crate) thread_id: &'a str,
    pub(crate) checkpoint_id: &'a str,
}

/// How far a dispatched step has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Tasks with an output stored.
    pub(crate) stored: usize,
    /// Whether one of them failed.
    pub(crate) failed: bool,
}

/// A task output as stored: the task, the worker that ran it, and its report.
pub(crate) type StoredOutput = (String, String, TaskReport);

impl TaskQueue {
    /// Connects with a libpq-style string or a URL, as
    /// [`PostgresSaver::connect`](crate::checkpoint::PostgresSaver::connect) does, and
    /// makes sure of `pgmq`, the queue `name` (letters, digits and `_`) and the tables.
    pub async fn connect(config: &str, name: &str) -> Result<Self, GraphError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            let reason = "a queue name is letters, digits and `_`".into();
            return Err(GraphError::Queue { queue: name.to_owned(), source: reason });
        }
        let failed =
            |source: crate::error::BoxError| GraphError::Queue { queue: name.to_owned(), source };
        let pool = crate::pg_pool::pool(config).map_err(|e| failed(e.into()))?;
        let mut client = pool.get().await.map_err(|e| failed(e.into()))?;
        let installed = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_proc JOIN pg_namespace AS n ON n.oid = pronamespace
                 WHERE n.nspname = 'pgmq' AND proname = 'create')",
                &[],
            )
            .await
            .map_err(|e| failed(e.into()))?;
        if !installed.try_get::<_, bool>(0).map_err(|e| failed(e.into()))? {
            let reason = "`pgmq` is not installed in this database: `CREATE EXTENSION pgmq`, or \
                          install it from its SQL with `tools/pgmq-install`";
            return Err(failed(reason.into()));
        }
        let create = format!("SELECT pgmq.create('{name}')");
        let statements: Vec<&str> =
            std::iter::once(create.as_str()).chain(TABLES.iter().copied()).collect();
        crate::pg_pool::create_tables(&mut client, &statements)
            .await
            .map_err(|e| failed(e.into()))?;
        drop(client);
        let saver = PostgresSaver::with_pool(pool.clone()).await?;
        let inner = Inner { pool, name: name.to_owned(), saver: Arc::new(saver) };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A checkpointer on the queue's database, sharing its connections.
    pub fn saver(&self) -> Arc<PostgresSaver> {
        Arc::clone(&self.inner.saver)
    }

    fn error(&self, source: impl Into<crate::error::BoxError>) -> GraphError {
        GraphError::Queue { queue: self.inner.name.clone(), source: source.into() }
    }

    async fn client(&self) -> Result<Object, GraphError> {
        self.inner.pool.get().await.map_err(|e| self.error(e))
    }

    /// Sends `messages` for the step `key`, unless the step was already dispatched (by this
    /// run before a failure, or by a coordinator that died). Returns whether it sent them.
    pub(crate) async fn dispatch(
        &self,
        key: StepKey<'_>,
        messages: &[TaskMessage],
    ) -> Result<bool, GraphError> {
        let bodies = messages
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(e))?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.error(e))?;
        // A coordinator stalled here must not hold the step's record from its replacement.
        tx.batch_execute("SET LOCAL idle_in_transaction_session_timeout = 30000")
            .await
            .map_err(|e| self.error(e))?;
        let claimed = tx
            .execute(
                "INSERT INTO graph_task_dispatches (thread_id, checkpoint_id, queue, msg_ids)
                 VALUES ($1, $2, $3, '{}') ON CONFLICT DO NOTHING",
                &[&key.thread_id, &key.checkpoint_id, &self.inner.name],
            )
            .await
            .map_err(|e| self.error(e))?;
        if claimed == 0 {
            return Ok(false);
        }
        tx.execute(
            "UPDATE graph_task_dispatches
             SET msg_ids = ARRAY(SELECT pgmq.send_batch($3, $4::text[]::jsonb[]))
             WHERE thread_id = $1 AND checkpoint_id = $2",
            &[&key.thread_id, &key.checkpoint_id, &self.inner.name, &bodies],
        )
        .await
        .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(true)
    }

    /// How many tasks of the step have an output stored, and whether one failed. Only
    /// workers store outputs, and only for the tasks of the step's dispatches.
    pub(crate) async fn progress(&self, key: StepKey<'_>) -> Result<Progress, GraphError> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT count(*), COALESCE(bool_or(kind = 'failed'), false) FROM graph_task_outputs
                 WHERE thread_id = $1 AND checkpoint_id = $2",
                &[&key.thread_id, &key.checkpoint_id],
            )
            .await
            .map_err(|e| self.error(e))?;
        let stored: i64 = row.try_get(0).map_err(|e| self.error(e))?;
        let failed = row.try_get(1).map_err(|e| self.error(e))?;
        Ok(Progress { stored: stored as usize, failed })
    }

    /// The outputs stored for the step, or with `failed_only`, its failures.
    pub(crate) async fn outputs(
        &self,
        key: StepKey<'_>,
        failed_only: bool,
    ) -> Result<Vec<StoredOutput>, GraphError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT task_id, worker, body FROM graph_task_outputs
                 WHERE thread_id = $1 AND checkpoint_id = $2 AND (kind = 'failed' OR NOT $3)",
                &[&key.thread_id, &key.checkpoint_id, &failed_only],
            )
            .await
            .map_err(|e| self.error(e))?;
        rows.iter()
            .map(|row| {
                let (task, worker, body): (String, String, &str) = (
                    row.try_get(0).map_err(|e| self.error(e))?,
                    row.try_get(1).map_err(|e| self.error(e))?,
                    row.try_get(2).map_err(|e| self.error(e))?,
                );
                let outcome = serde_json::from_str(body).map_err(|e| {
                    self.error(format!("the stored output of task `{task}` is unreadable: {e}"))
                })?;
                Ok((task, worker, outcome))
            })
            .collect()
    }

    /// Gives up on a step that failed or paused: its messages still queued are deleted, and
    /// so are its dispatch record and the outputs that must not be kept (failures, pauses),
    /// so that a later run of the same checkpoint dispatches the tasks left to run.
    pub(crate) async fn abandon(&self, key: StepKey<'_>) -> Result<(), GraphError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.error(e))?;
        let row = tx
            .query_opt(
                "DELETE FROM graph_task_dispatches WHERE thread_id = $1 AND checkpoint_id = $2
                 RETURNING queue, msg_ids",
                &[&key.thread_id, &key.checkpoint_id],
            )
            .await
            .map_err(|e| self.error(e))?;
        if let Some(row) = row {
            let queue: &str = row.try_get(0).map_err(|e| self.error(e))?;
            let ids: Vec<i64> = row.try_get(1).map_err(|e| self.error(e))?;
            tx.execute("SELECT count(*) FROM pgmq.delete($1, $2::bigint[])", &[&queue, &ids])
                .await
                .map_err(|e| self.error(e))?;
        }
        tx.execute(
            "DELETE FROM graph_task_outputs WHERE thread_id = $1 AND checkpoint_id = $2
             AND kind <> 'done'",
            &[&key.thread_id, &key.checkpoint_id],
        )
        .await
        .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))
    }

    /// Forgets a step whose results the next checkpoint holds.
    pub(crate) async fn finish(&self, key: StepKey<'_>) -> Result<(), GraphError> {
        let client = self.client().await?;
        for table in ["graph_task_dispatches", "graph_task_outputs"] {
            let statement =
                format!("DELETE FROM {table} WHERE thread_id = $1 AND checkpoint_id = $2");
            client
                .execute(&statement, &[&key.thread_id, &key.checkpoint_id])
                .await
                .map_err(|e| self.error(e))?;
        }
        client
            .execute("DELETE FROM graph_task_slots WHERE key = $1", &[&self.step_limit_key(key)])
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// The key of the run-wide cap on a step's tasks.
    pub(crate) fn step_limit_key(&self, key: StepKey<'_>) -> String {
        format!("{}/step/{}/{}", self.inner.name, key.thread_id, key.checkpoint_id)
    }

    /// The key of a node's cap, across every run of its graph.
    pub(crate) fn node_limit_key(&self, graph: &str, node: &str) -> String {
        format!("{}/node/{graph}/{node}", self.inner.name)
    }

    /// Takes a free slot of every cap in `limits` for `holder`, for `lease`, or none of them
    /// (some cap is full). A slot whose holder stopped renewing it is free again.
    pub(crate) async fn take_slots(
        &self,
        limits: &[Limit],
        holder: &str,
        lease: Duration,
    ) -> Result<bool, GraphError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.error(e))?;
        let lease_ms = lease.as_millis() as f64;
        for limit in limits {
            let size = limit.size as i32;
            tx.execute(
                "INSERT INTO graph_task_slots (key, slot)
                 SELECT $1, generate_series(0, $2 - 1) ON CONFLICT DO NOTHING",
                &[&limit.key, &size],
            )
            .await
            .map_err(|e| self.error(e))?;
            let taken = tx
                .execute(
                    "UPDATE graph_task_slots SET holder = $3,
                         expires = now() + $4 * interval '1 millisecond'
                     WHERE (key, slot) = (
                         SELECT key, slot FROM graph_task_slots
                         WHERE key = $1 AND slot < $2 AND (holder IS NULL OR expires < now())
                         ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED)",
                    &[&limit.key, &size, &holder, &lease_ms],
                )
                .await
                .map_err(|e| self.error(e))?;
            if taken == 0 {
                return Ok(false);
            }
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(true)
    }

    /// Keeps `holder`'s slots for another `lease`.
    pub(crate) async fn renew_slots(
        &self,
        holder: &str,
        lease: Duration,
    ) -> Result<(), GraphError> {
        self.client()
            .await?
            .execute(
                "UPDATE graph_task_slots SET expires = now() + $2 * interval '1 millisecond'
                 WHERE holder = $1",
                &[&holder, &(lease.as_millis() as f64)],
            )
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Frees `holder`'s slots.
    pub(crate) async fn release_slots(&self, holder: &str) -> Result<(), GraphError> {
        self.client()
            .await?
            .execute(
                "UPDATE graph_task_slots SET holder = NULL, expires = NULL WHERE holder = $1",
                &[&holder],
            )
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Leases up to `max` messages for `lease`: `(message id, body)`.
    pub(crate) async fn claim(
        &self,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<(i64, String)>, GraphError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT msg_id, message::text FROM pgmq.read($1, $2, $3)",
                &[&self.inner.name, &lease_seconds(lease), &(max as i32)],
            )
            .await
            .map_err(|e| self.error(e))?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get(0).map_err(|e| self.error(e))?,
                    row.try_get(1).map_err(|e| self.error(e))?,
                ))
            })
            .collect()
    }

    /// Renews the lease of a message being worked on; `false` once the message is gone (the
    /// step was abandoned, or another worker finished the task).
    pub(crate) async fn extend(&self, id: i64, lease: Duration) -> Result<bool, GraphError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT msg_id FROM pgmq.set_vt($1, $2, $3)",
                &[&self.inner.name, &id, &lease_seconds(lease)],
            )
            .await
            .map_err(|e| self.error(e))?;
        Ok(!rows.is_empty())
    }

    /// Deletes finished messages and stores their tasks' outputs in one transaction. Only
    /// the messages still queued count: a worker that lost its lease to another which
    /// already finished stores nothing. Returns how many outputs were stored.
    ///
    /// A worker stalled in the middle of this transaction would hold its messages' rows,
    /// hiding them from every other worker; the server ends such a transaction after
    /// `lease`, as the message's lease would have lapsed.
    pub(crate) async fn complete(
        &self,
        worker: &str,
        lease: Duration,
        done: &[(i64, TaskMessage, TaskReport)],
    ) -> Result<usize, GraphError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.error(e))?;
        let timeout =
            format!("SET LOCAL idle_in_transaction_session_timeout = {}", lease.as_millis());
        tx.batch_execute(&timeout).await.map_err(|e| self.error(e))?;
        let ids: Vec<i64> = done.iter().map(|(id, ..)| *id).collect();
        let deleted: Vec<i64> = tx
            .query("SELECT pgmq.delete($1, $2::bigint[])", &[&self.inner.name, &ids])
            .await
            .map_err(|e| self.error(e))?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(|e| self.error(e))?;
        let mut columns: [Vec<String>; 4] = Default::default();
        let mut kinds = Vec::new();
        for (id, message, report) in done {
            if !deleted.contains(id) {
                continue;
            }
            let body = serde_json::to_string(report).map_err(|e| self.error(e))?;
            let [threads, checkpoints, tasks, bodies] = &mut columns;
            threads.push(message.thread_id.clone());
            checkpoints.push(message.checkpoint_id.clone());
            tasks.push(message.task_id.clone());
            bodies.push(body);
            kinds.push(report.outcome.kind());
        }
        let [threads, checkpoints, tasks, bodies] = &columns;
        // The key makes a second output of one task a no-op, whoever commits it.
        let stored = tx
            .execute(
                "INSERT INTO graph_task_outputs
                     (thread_id, checkpoint_id, task_id, worker, kind, body)
                 SELECT t, c, k, $5, f, b
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $6::text[])
                     AS batch (t, c, k, b, f)
                 ON CONFLICT DO NOTHING",
                &[threads, checkpoints, tasks, bodies, &worker, &kinds],
            )
            .await
            .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(stored as usize)
    }

    /// Drops a message no worker can read (not a task message at all).
    pub(crate) async fn discard(&self, id: i64) -> Result<(), GraphError> {
        self.client()
            .await?
            .execute("SELECT pgmq.archive($1, $2::bigint)", &[&self.inner.name, &id])
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }
}

/// `pgmq` counts leases in whole seconds; a lease is at least one.
fn lease_seconds(lease: Duration) -> i32 {
    lease.as_secs().clamp(1, i32::MAX as u64) as i32
}
