//! Records in PostgreSQL, beside the checkpointer's and the store's tables, shared by every
//! server process.

use std::str::FromStr;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::{Config, NoTls};

use super::{decode, encode, status_name, Backend, Change, Run, Thread, SCHEMA};
use crate::error::ApiError;

/// The most connections one server opens at once for its records, checkpoints, store and
/// run queue together (the queue's workers open a few more of their own): a dozen servers
/// stay within PostgreSQL's default limit of 100.
const MAX_CONNECTIONS: usize = 6;

/// The pool one server's records, checkpointer, store and queue share, for `config` (a URL or
/// a libpq-style string). Connects lazily.
pub(crate) fn pool(config: &str) -> Result<Pool, ApiError> {
    let config = Config::from_str(config).map_err(storage)?;
    // `Fast` only asks whether the connection's task has ended, which it has once the
    // server dropped it; no round trip per checkout.
    let manager = ManagerConfig { recycling_method: RecyclingMethod::Fast };
    Pool::builder(Manager::from_config(config, NoTls, manager))
        .max_size(MAX_CONNECTIONS)
        .build()
        .map_err(storage)
}

/// Threads and runs in PostgreSQL.
///
/// Calls share a small pool of connections. A connection PostgreSQL drops (a server
/// restart, `pg_terminate_backend`, a network blip) fails the call using it, and the next
/// call reconnects. A failed write is never retried: its commit may have applied.
pub(crate) struct PostgresRecords {
    pool: Pool,
}

impl PostgresRecords {
    /// Uses `pool`'s connections and creates the tables if needed.
    pub async fn with_pool(pool: Pool) -> Result<Self, ApiError> {
        let records = Self { pool };
        let mut client = records.client().await?;
        // Servers started together would race to create the same tables: one at a time.
        let transaction = client.transaction().await.map_err(storage)?;
        transaction.execute("SELECT pg_advisory_xact_lock(7243000)", &[]).await.map_err(storage)?;
        transaction.batch_execute(SCHEMA).await.map_err(storage)?;
        transaction.commit().await.map_err(storage)?;
        Ok(records)
    }

    /// A live connection from the pool, a new one when the server dropped the last.
    async fn client(&self) -> Result<Object, ApiError> {
        self.pool.get().await.map_err(storage)
    }
}

/// The error with its causes: PostgreSQL's own message sits behind a bare `db error`.
pub(crate) fn storage(error: impl std::error::Error) -> ApiError {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        message = format!("{message}: {error}");
        cause = error.source();
    }
    ApiError::Storage(message)
}

/// Adds or replaces `run` through `client`, which may be inside a transaction.
pub(crate) async fn put_run(client: &impl GenericClient, run: &Run) -> Result<(), ApiError> {
    let sql = "INSERT INTO graph_server_runs (run_id, thread_id, status, body)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, body = excluded.body";
    let (body, status) = (encode(run), status_name(run.status));
    client
        .execute(sql, &[&run.run_id, &run.thread_id, &status, &body])
        .await
        .map(drop)
        .map_err(storage)
}

#[async_trait]
impl Backend for PostgresRecords {
    async fn insert_thread(&self, thread: &Thread) -> Result<bool, ApiError> {
        let sql = "INSERT INTO graph_server_threads (thread_id, owner, body) VALUES ($1, $2, $3)
                   ON CONFLICT (thread_id) DO NOTHING";
        let body = encode(thread);
        let inserted = self
            .client()
            .await?
            .execute(sql, &[&thread.thread_id, &thread.owner, &body])
            .await
            .map_err(storage)?;
        Ok(inserted == 1)
    }

    async fn update_thread(&self, thread: &Thread) -> Result<(), ApiError> {
        let sql = "UPDATE graph_server_threads SET body = $2 WHERE thread_id = $1";
        self.client()
            .await?
            .execute(sql, &[&thread.thread_id, &encode(thread)])
            .await
            .map(drop)
            .map_err(storage)
    }

    async fn thread(&self, id: &str) -> Result<Option<Thread>, ApiError> {
        let sql = "SELECT body, owner FROM graph_server_threads WHERE thread_id = $1";
        let row = self.client().await?.query_opt(sql, &[&id]).await.map_err(storage)?;
        row.map(|row| {
            let mut thread: Thread = decode("thread", id, row.get(0))?;
            thread.owner = row.get(1);
            Ok(thread)
        })
        .transpose()
    }

    async fn threads(&self, owner: Option<&str>) -> Result<Vec<Thread>, ApiError> {
        let sql = "SELECT thread_id, body FROM graph_server_threads
                   WHERE owner IS NOT DISTINCT FROM $1";
        let rows = self.client().await?.query(sql, &[&owner]).await.map_err(storage)?;
        rows.iter()
            .map(|row| {
                let mut thread: Thread = decode("thread", row.get(0), row.get(1))?;
                thread.owner = owner.map(str::to_owned);
                Ok(thread)
            })
            .collect()
    }

    async fn delete_thread(&self, id: &str) -> Result<(), ApiError> {
        let sql = "WITH runs AS (DELETE FROM graph_server_runs WHERE thread_id = $1)
                   DELETE FROM graph_server_threads WHERE thread_id = $1";
        self.client().await?.execute(sql, &[&id]).await.map(drop).map_err(storage)
    }

    async fn put_run(&self, run: &Run) -> Result<(), ApiError> {
        put_run(&self.client().await?, run).await
    }

    async fn run(&self, id: &str) -> Result<Option<Run>, ApiError> {
        let sql = "SELECT body FROM graph_server_runs WHERE run_id = $1";
        let row = self.client().await?.query_opt(sql, &[&id]).await.map_err(storage)?;
        row.map(|row| decode("run", id, row.get(0))).transpose()
    }

    async fn runs(&self, thread_id: &str) -> Result<Vec<Run>, ApiError> {
        let sql = "SELECT run_id, body FROM graph_server_runs WHERE thread_id = $1";
        let rows = self.client().await?.query(sql, &[&thread_id]).await.map_err(storage)?;
        rows.iter().map(|row| decode("run", row.get(0), row.get(1))).collect()
    }

    async fn unfinished_runs(&self) -> Result<Vec<Run>, ApiError> {
        let sql =
            "SELECT run_id, body FROM graph_server_runs WHERE status IN ('pending', 'running')";
        let rows = self.client().await?.query(sql, &[]).await.map_err(storage)?;
        rows.iter().map(|row| decode("run", row.get(0), row.get(1))).collect()
    }

    async fn change_thread(
        &self,
        id: &str,
        change: &mut Change<'_, Thread>,
    ) -> Result<Option<Thread>, ApiError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(storage)?;
        // Locked until the commit: another server's change waits, then reads this one.
        let sql = "SELECT body, owner FROM graph_server_threads WHERE thread_id = $1 FOR UPDATE";
        let Some(row) = transaction.query_opt(sql, &[&id]).await.map_err(storage)? else {
            return Ok(None);
        };
        let mut thread: Thread = decode("thread", id, row.get(0))?;
        thread.owner = row.get(1);
        change(&mut thread);
        let sql = "UPDATE graph_server_threads SET body = $2 WHERE thread_id = $1";
        transaction.execute(sql, &[&id, &encode(&thread)]).await.map_err(storage)?;
        transaction.commit().await.map_err(storage)?;
        Ok(Some(thread))
    }

    async fn change_run(&self, id: &str, change: &mut Change<'_, Run>) -> Result<(), ApiError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(storage)?;
        let sql = "SELECT body FROM graph_server_runs WHERE run_id = $1 FOR UPDATE";
        let Some(row) = transaction.query_opt(sql, &[&id]).await.map_err(storage)? else {
            return Ok(());
        };
        let mut run: Run = decode("run", id, row.get(0))?;
        change(&mut run);
        put_run(&transaction, &run).await?;
        transaction.commit().await.map_err(storage)
    }

    async fn delete_run(&self, id: &str) -> Result<(), ApiError> {
        let sql = "DELETE FROM graph_server_runs WHERE run_id = $1";
        self.client().await?.execute(sql, &[&id]).await.map(drop).map_err(storage)
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn postgres_records_follow_the_rules() {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
        let records = super::PostgresRecords::with_pool(super::pool(&url).unwrap())
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {url:?} is required: {e}"));
        super::super::conformance::check(records).await;
    }

    /// Two servers changing one thread at once (each with its own [`Records`], as two
    /// processes have) lose none of each other's changes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changes_from_two_servers_at_once_are_all_kept() {
        use super::super::{conformance, Records};
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
        let connect = || async {
            let backend = super::PostgresRecords::with_pool(super::pool(&url).unwrap());
            Records::new(backend.await.unwrap())
        };
        let (one, two) = (connect().await, connect().await);
        let id = uuid::Uuid::new_v4().to_string();
        one.insert_thread(conformance::thread(&id, None)).await.unwrap();
        let writer = |records: Records, name: &'static str| {
            let id = id.clone();
            tokio::spawn(async move {
                for n in 0..20 {
                    let key = format!("{name}-{n}");
                    let change = records.update_thread(&id, move |thread| {
                        thread.metadata.insert(key, serde_json::Value::Bool(true));
                    });
                    change.await.unwrap();
                }
            })
        };
        let (a, b) = (writer(one.clone(), "one"), writer(two, "two"));
        a.await.unwrap();
        b.await.unwrap();
        let thread = one.thread(&id, None).await.unwrap();
        let conformance_keys = conformance::thread(&id, None).metadata.len();
        assert_eq!(thread.metadata.len(), conformance_keys + 40);
        one.delete_thread(&id).await.unwrap();
    }
}
