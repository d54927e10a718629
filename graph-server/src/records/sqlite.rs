//! Records in a SQLite file, beside the checkpointer's and the store's tables.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::{decode, encode, status_name, Backend, Run, Thread, SCHEMA};
use crate::error::ApiError;

/// Threads and runs in SQLite; each call runs on the blocking pool.
#[derive(Clone)]
pub(crate) struct SqliteRecords {
    connection: Arc<Mutex<Connection>>,
}

impl SqliteRecords {
    /// Opens (or creates) the file at `path` and its tables.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ApiError> {
        let connection = Connection::open(path).map_err(storage)?;
        // Other connections (the checkpointer's, the store's) write to the same file.
        connection.busy_timeout(Duration::from_secs(10)).map_err(storage)?;
        connection.pragma_update(None, "journal_mode", "WAL").map_err(storage)?;
        connection.pragma_update(None, "synchronous", "NORMAL").map_err(storage)?;
        connection.execute_batch(SCHEMA).map_err(storage)?;
        Ok(Self { connection: Arc::new(Mutex::new(connection)) })
    }

    async fn with<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || job(&connection.lock().expect("records connection")))
            .await
            .map_err(|error| ApiError::Storage(error.to_string()))?
    }
}

/// The `(id, body)` rows `sql` selects, each made a record by `record`.
fn records<T>(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    record: impl Fn(&str, &str) -> Result<T, ApiError>,
) -> Result<Vec<T>, ApiError> {
    let mut statement = c.prepare_cached(sql).map_err(storage)?;
    let rows = statement
        .query_map(params, |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
        .map_err(storage)?;
    rows.map(|row| {
        let (id, body) = row.map_err(storage)?;
        record(&id, &body)
    })
    .collect()
}

fn storage(error: rusqlite::Error) -> ApiError {
    ApiError::Storage(error.to_string())
}

/// A thread from its row: its JSON body and its owner.
fn thread_of(id: &str, body: &str, owner: Option<String>) -> Result<Thread, ApiError> {
    let mut thread: Thread = decode("thread", id, body)?;
    thread.owner = owner;
    Ok(thread)
}

#[async_trait]
impl Backend for SqliteRecords {
    async fn insert_thread(&self, thread: &Thread) -> Result<bool, ApiError> {
        let (id, owner, body) = (thread.thread_id.clone(), thread.owner.clone(), encode(thread));
        self.with(move |c| {
            let sql =
                "INSERT INTO graph_server_threads (thread_id, owner, body) VALUES (?1, ?2, ?3)
                       ON CONFLICT (thread_id) DO NOTHING";
            Ok(c.prepare_cached(sql)
                .and_then(|mut s| s.execute(params![id, owner, body]))
                .map_err(storage)?
                == 1)
        })
        .await
    }

    async fn update_thread(&self, thread: &Thread) -> Result<(), ApiError> {
        let (id, body) = (thread.thread_id.clone(), encode(thread));
        self.with(move |c| {
            let sql = "UPDATE graph_server_threads SET body = ?2 WHERE thread_id = ?1";
            c.prepare_cached(sql)
                .and_then(|mut s| s.execute(params![id, body]))
                .map(drop)
                .map_err(storage)
        })
        .await
    }

    async fn thread(&self, id: &str) -> Result<Option<Thread>, ApiError> {
        let id = id.to_owned();
        self.with(move |c| {
            let sql = "SELECT body, owner FROM graph_server_threads WHERE thread_id = ?1";
            let row: Option<(String, Option<String>)> = c
                .prepare_cached(sql)
                .and_then(|mut s| {
                    s.query_row(params![id], |row| Ok((row.get(0)?, row.get(1)?))).optional()
                })
                .map_err(storage)?;
            row.map(|(body, owner)| thread_of(&id, &body, owner)).transpose()
        })
        .await
    }

    async fn threads(&self, owner: Option<&str>) -> Result<Vec<Thread>, ApiError> {
        let owner = owner.map(str::to_owned);
        self.with(move |c| {
            let sql = "SELECT thread_id, body FROM graph_server_threads WHERE owner IS ?1";
            records(c, sql, params![owner], |id, body| thread_of(id, body, owner.clone()))
        })
        .await
    }

    async fn delete_thread(&self, id: &str) -> Result<(), ApiError> {
        let id = id.to_owned();
        self.with(move |c| {
            let transaction = c.unchecked_transaction().map_err(storage)?;
            transaction
                .execute("DELETE FROM graph_server_runs WHERE thread_id = ?1", params![id])
                .map_err(storage)?;
            transaction
                .execute("DELETE FROM graph_server_threads WHERE thread_id = ?1", params![id])
                .map_err(storage)?;
            transaction.commit().map_err(storage)
        })
        .await
    }

    async fn put_run(&self, run: &Run) -> Result<(), ApiError> {
        let (id, thread_id, body) = (run.run_id.clone(), run.thread_id.clone(), encode(run));
        let status = status_name(run.status);
        self.with(move |c| {
            let sql = "INSERT INTO graph_server_runs (run_id, thread_id, status, body)
                       VALUES (?1, ?2, ?3, ?4)
                       ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, body = excluded.body";
            c.prepare_cached(sql)
                .and_then(|mut s| s.execute(params![id, thread_id, status, body]))
                .map(drop)
                .map_err(storage)
        })
        .await
    }

    async fn run(&self, id: &str) -> Result<Option<Run>, ApiError> {
        let id = id.to_owned();
        self.with(move |c| {
            let sql = "SELECT body FROM graph_server_runs WHERE run_id = ?1";
            let body: Option<String> = c
                .prepare_cached(sql)
                .and_then(|mut s| s.query_row(params![id], |row| row.get(0)).optional())
                .map_err(storage)?;
            body.map(|body| decode("run", &id, &body)).transpose()
        })
        .await
    }

    async fn runs(&self, thread_id: &str) -> Result<Vec<Run>, ApiError> {
        let thread_id = thread_id.to_owned();
        self.with(move |c| {
            let sql = "SELECT run_id, body FROM graph_server_runs WHERE thread_id = ?1";
            records(c, sql, params![thread_id], |id, body| decode("run", id, body))
        })
        .await
    }

    async fn unfinished_runs(&self) -> Result<Vec<Run>, ApiError> {
        self.with(move |c| {
            let sql = "SELECT run_id, body FROM graph_server_runs
                       WHERE status IN ('pending', 'running')";
            records(c, sql, [], |id, body| decode("run", id, body))
        })
        .await
    }

    async fn delete_run(&self, id: &str) -> Result<(), ApiError> {
        let id = id.to_owned();
        self.with(move |c| {
            c.execute("DELETE FROM graph_server_runs WHERE run_id = ?1", params![id])
                .map(drop)
                .map_err(storage)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn sqlite_records_follow_the_rules() {
        let path =
            std::env::temp_dir().join(format!("graph-server-{}.sqlite", uuid::Uuid::new_v4()));
        super::super::conformance::check(super::SqliteRecords::open(&path).unwrap()).await;
        // A second connection to the file sees what the first wrote.
        let again = super::SqliteRecords::open(&path).unwrap();
        super::super::conformance::check(again).await;
        let _ = std::fs::remove_file(path);
    }
}
