//! The embedded default checkpointer: one SQLite file, no server, WAL mode.

mod connection;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use self::connection::ConnectionThread;
use super::{
    copied_thread_id, decode, decode_checkpoint, encode_checkpoint, latest_missing, storage,
    subgraph_prefix, subgraph_range, Checkpoint, CheckpointError, Checkpointer, PendingWrite,
    StoredCheckpoint, ThreadMark,
};

/// The tables are keyed by their primary keys (`WITHOUT ROWID`), so a commit touches one
/// b-tree per table instead of a table and its index. Files created before keep their
/// rowid tables, which the same statements read and write.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS graph_threads (
    thread_id TEXT PRIMARY KEY,
    latest    TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS graph_writes (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id     TEXT NOT NULL,
    checkpoint_id TEXT NOT NULL,
    body          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS graph_writes_by_checkpoint ON graph_writes (thread_id, checkpoint_id);
";

/// New files key each checkpoint row by a number for its thread instead of the thread's
/// id, which every row repeated (a checkpoint row is mostly its body, a delta of about
/// the size of the step's writes). `graph_checkpoints` is a view over the rows and the
/// numbers, with triggers that insert, update and delete through it: the statements of the
/// files with a `graph_checkpoints` table (and of the versions that made them) read and
/// write these files too. A thread's number is dropped with its last checkpoint.
const KEYED_CHECKPOINTS: &str = "
CREATE TABLE IF NOT EXISTS graph_thread_keys (
    key       INTEGER PRIMARY KEY,
    thread_id TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS graph_checkpoint_rows (
    thread INTEGER NOT NULL,
    id     TEXT NOT NULL,
    body   TEXT NOT NULL,
    PRIMARY KEY (thread, id)
) WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS graph_checkpoints (thread_id, id, body) AS
    SELECT k.thread_id, c.id, c.body
    FROM graph_thread_keys k JOIN graph_checkpoint_rows c ON c.thread = k.key;
CREATE TRIGGER IF NOT EXISTS graph_checkpoints_insert INSTEAD OF INSERT ON graph_checkpoints
BEGIN
    INSERT INTO graph_thread_keys (thread_id) VALUES (NEW.thread_id) ON CONFLICT DO NOTHING;
    INSERT INTO graph_checkpoint_rows (thread, id, body)
        SELECT key, NEW.id, NEW.body FROM graph_thread_keys WHERE thread_id = NEW.thread_id;
END;
CREATE TRIGGER IF NOT EXISTS graph_checkpoints_delete INSTEAD OF DELETE ON graph_checkpoints
BEGIN
    DELETE FROM graph_checkpoint_rows WHERE id = OLD.id
        AND thread = (SELECT key FROM graph_thread_keys WHERE thread_id = OLD.thread_id);
    DELETE FROM graph_thread_keys WHERE thread_id = OLD.thread_id
        AND NOT EXISTS (SELECT 1 FROM graph_checkpoint_rows WHERE thread = graph_thread_keys.key);
END;
CREATE TRIGGER IF NOT EXISTS graph_checkpoints_update INSTEAD OF UPDATE ON graph_checkpoints
BEGIN
    INSERT INTO graph_thread_keys (thread_id) VALUES (NEW.thread_id) ON CONFLICT DO NOTHING;
    UPDATE graph_checkpoint_rows
        SET thread = (SELECT key FROM graph_thread_keys WHERE thread_id = NEW.thread_id),
            id = NEW.id,
            body = NEW.body
        WHERE id = OLD.id
        AND thread = (SELECT key FROM graph_thread_keys WHERE thread_id = OLD.thread_id);
    DELETE FROM graph_thread_keys WHERE thread_id = OLD.thread_id
        AND NOT EXISTS (SELECT 1 FROM graph_checkpoint_rows WHERE thread = graph_thread_keys.key);
END;
";

/// Saves checkpoints in one SQLite file (WAL mode), safe to share between processes.
///
/// The connection lives on a thread of its own, which runs the saver's operations in
/// order; clones share it, and it closes when the last clone is dropped. After each
/// operation the thread, and the task waiting for its reply, look for the next message for
/// up to 60 µs (yielding between looks) before they sleep: a run saving every step never
/// waits for a sleeping thread to wake, which costs more than the write on a virtual
/// machine. An idle saver spends at most those 60 µs of one core after its last operation.
///
/// ```
/// use graph_core::checkpoint::SqliteSaver;
///
/// let dir = std::env::temp_dir().join(format!("graph-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let saver = SqliteSaver::open(dir.join("checkpoints.sqlite")).unwrap();
/// # drop(saver);
/// ```
#[derive(Clone)]
pub struct SqliteSaver {
    conn: Arc<ConnectionThread>,
}

impl std::fmt::Debug for SqliteSaver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSaver").finish_non_exhaustive()
    }
}

impl SqliteSaver {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        Self::setup(Connection::open(path).map_err(storage)?)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> Result<Self, CheckpointError> {
        Self::setup(Connection::open_in_memory().map_err(storage)?)
    }

    fn setup(mut conn: Connection) -> Result<Self, CheckpointError> {
        conn.pragma_update(None, "journal_mode", "WAL").map_err(storage)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(storage)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(storage)?;
        create_tables(&mut conn)?;
        Ok(Self { conn: Arc::new(ConnectionThread::spawn(conn)?) })
    }

    /// Runs `f` on the connection's thread.
    async fn with<T, F>(&self, f: F) -> Result<T, CheckpointError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, CheckpointError> + Send + 'static,
    {
        self.conn.run(f).await
    }
}

/// Creates the tables a file lacks. A file that has a `graph_checkpoints` table keeps it:
/// only new files get the keyed layout. One write transaction, so two savers opening a new
/// file at once agree on its layout; a file that has every table is only read.
fn create_tables(conn: &mut Connection) -> Result<(), CheckpointError> {
    const FOUND: &str = "SELECT count(*) FROM sqlite_master WHERE name IN
        ('graph_threads', 'graph_checkpoints', 'graph_writes', 'graph_writes_by_checkpoint')";
    let found = |conn: &Connection| -> Result<i64, CheckpointError> {
        conn.query_row(FOUND, [], |row| row.get(0)).map_err(storage)
    };
    if found(conn)? == 4 {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
    let has_checkpoints: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'graph_checkpoints')",
            [],
            |row| row.get(0),
        )
        .map_err(storage)?;
    tx.execute_batch(SCHEMA).map_err(storage)?;
    if !has_checkpoints {
        tx.execute_batch(KEYED_CHECKPOINTS).map_err(storage)?;
    }
    tx.commit().map_err(storage)
}

fn latest(conn: &Connection, thread_id: &str) -> Result<Option<String>, CheckpointError> {
    conn.prepare_cached("SELECT latest FROM graph_threads WHERE thread_id = ?1")
        .and_then(|mut select| {
            select
                .query_row([thread_id], |row| {
                    Ok(String::from_utf8_lossy(&bytes(row, 0)?).into_owned())
                })
                .optional()
        })
        .map_err(storage)
}

/// A column's stored bytes, whatever type damage left in it: SQLite lets any column hold
/// any type, so a body may come back as a blob or a number; decoding then reports it.
fn bytes(row: &Row<'_>, column: usize) -> rusqlite::Result<Vec<u8>> {
    Ok(match row.get_ref(column)? {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => bytes.to_vec(),
        ValueRef::Integer(number) => number.to_string().into_bytes(),
        ValueRef::Real(number) => number.to_string().into_bytes(),
        ValueRef::Null => b"null".to_vec(),
    })
}

#[async_trait]
impl Checkpointer for SqliteSaver {
    async fn put(
        &self,
        checkpoint: &Checkpoint,
        expected_latest: Option<&str>,
    ) -> Result<(), CheckpointError> {
        self.put_batch(std::slice::from_ref(checkpoint), expected_latest).await
    }

    async fn put_batch(
        &self,
        checkpoints: &[Checkpoint],
        expected_latest: Option<&str>,
    ) -> Result<(), CheckpointError> {
        let Some(last) = checkpoints.last() else { return Ok(()) };
        let (thread_id, last_id) = (last.thread_id.clone(), last.id.clone());
        let rows = checkpoints
            .iter()
            .map(|checkpoint| Ok((checkpoint.id.clone(), encode_checkpoint(checkpoint)?)))
            .collect::<Result<Vec<_>, CheckpointError>>()?;
        let expected = expected_latest.map(str::to_owned);
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
            // The thread moves straight to the batch's last checkpoint: the ones before it
            // are never anyone's latest outside this transaction.
            let advanced = match &expected {
                None => tx
                    .prepare_cached(
                        "INSERT INTO graph_threads (thread_id, latest) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    )
                    .and_then(|mut insert| insert.execute(params![thread_id, last_id])),
                Some(expected) => tx
                    .prepare_cached(
                        "UPDATE graph_threads SET latest = ?2 WHERE thread_id = ?1 AND latest = ?3",
                    )
                    .and_then(|mut update| update.execute(params![thread_id, last_id, expected])),
            }
            .map_err(storage)?;
            if advanced != 1 {
                let found = latest(&tx, &thread_id)?;
                return Err(CheckpointError::Conflict { thread_id, expected, found });
            }
            let mut insert = tx
                .prepare_cached("INSERT INTO graph_checkpoints (thread_id, id, body) VALUES (?1, ?2, ?3)")
                .map_err(storage)?;
            for (id, body) in &rows {
                insert.execute(params![thread_id, id, body]).map_err(storage)?;
            }
            drop(insert);
            tx.commit().map_err(storage)
        })
        .await
    }

    async fn put_write(
        &self,
        thread_id: &str,
        checkpoint_id: &str,
        write: &PendingWrite,
    ) -> Result<(), CheckpointError> {
        let body = serde_json::to_string(write).map_err(storage)?;
        let (thread_id, checkpoint_id) = (thread_id.to_owned(), checkpoint_id.to_owned());
        self.with(move |conn| {
            conn.prepare_cached(
                "INSERT INTO graph_writes (thread_id, checkpoint_id, body) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut insert| insert.execute(params![thread_id, checkpoint_id, body]))
            .map(drop)
            .map_err(storage)
        })
        .await
    }

    async fn get(
        &self,
        thread_id: &str,
        checkpoint_id: Option<&str>,
    ) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        let (thread_id, checkpoint_id) = (thread_id.to_owned(), checkpoint_id.map(str::to_owned));
        self.with(move |conn| {
            let (id, asked) = match checkpoint_id {
                Some(id) => (id, true),
                None => match latest(conn, &thread_id)? {
                    Some(id) => (id, false),
                    None => return Ok(None),
                },
            };
            let body: Option<Vec<u8>> = conn
                .prepare_cached("SELECT body FROM graph_checkpoints WHERE thread_id = ?1 AND id = ?2")
                .and_then(|mut select| {
                    select.query_row(params![thread_id, id], |row| bytes(row, 0)).optional()
                })
                .map_err(storage)?;
            let body = match body {
                Some(body) => body,
                None if asked => return Ok(None),
                None => return Err(latest_missing(&thread_id, &id)),
            };
            let checkpoint = decode_checkpoint(&thread_id, &id, &body)?;
            let mut statement = conn
                .prepare_cached("SELECT body FROM graph_writes WHERE thread_id = ?1 AND checkpoint_id = ?2 ORDER BY seq")
                .map_err(storage)?;
            let rows = statement
                .query_map(params![thread_id, id], |row| bytes(row, 0))
                .map_err(storage)?;
            let mut writes = Vec::new();
            for body in rows {
                writes.push(decode(&thread_id, &id, &body.map_err(storage)?)?);
            }
            Ok(Some(StoredCheckpoint { checkpoint, writes }))
        })
        .await
    }

    async fn list(&self, thread_id: &str) -> Result<Vec<Checkpoint>, CheckpointError> {
        let thread_id = thread_id.to_owned();
        self.with(move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT id, body FROM graph_checkpoints WHERE thread_id = ?1 ORDER BY id DESC",
                )
                .map_err(storage)?;
            let rows = statement
                .query_map([&thread_id], |row| {
                    Ok((String::from_utf8_lossy(&bytes(row, 0)?).into_owned(), bytes(row, 1)?))
                })
                .map_err(storage)?;
            let mut checkpoints = Vec::new();
            for row in rows {
                let (id, body) = row.map_err(storage)?;
                checkpoints.push(decode_checkpoint(&thread_id, &id, &body)?);
            }
            Ok(checkpoints)
        })
        .await
    }

    async fn delete_thread(&self, thread_id: &str) -> Result<(), CheckpointError> {
        let (thread_id, subgraphs) = (thread_id.to_owned(), subgraph_prefix(thread_id));
        self.with(move |conn| {
            let tx = conn.transaction().map_err(storage)?;
            for table in ["graph_writes", "graph_checkpoints", "graph_threads"] {
                let delete = format!(
                    "DELETE FROM {table} WHERE thread_id = ?1 OR substr(thread_id, 1, length(?2)) = ?2"
                );
                tx.execute(&delete, [&thread_id, &subgraphs]).map_err(storage)?;
            }
            tx.commit().map_err(storage)
        })
        .await
    }

    async fn copy_thread(
        &self,
        thread_id: &str,
        new_thread_id: &str,
    ) -> Result<(), CheckpointError> {
        let (from, from_subgraphs) = (thread_id.to_owned(), subgraph_prefix(thread_id));
        let (to, to_subgraphs) = (new_thread_id.to_owned(), subgraph_prefix(new_thread_id));
        self.with(move |conn| {
            let tx =
                conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
            const WITHIN: &str = "(thread_id = ?1 OR substr(thread_id, 1, length(?2)) = ?2)";
            let in_use: bool = tx
                .query_row(
                    &format!(
                        "SELECT EXISTS (SELECT 1 FROM graph_threads WHERE {WITHIN})
                             OR EXISTS (SELECT 1 FROM graph_writes WHERE {WITHIN})"
                    ),
                    [&to, &to_subgraphs],
                    |row| row.get(0),
                )
                .map_err(storage)?;
            if in_use {
                return Err(CheckpointError::ThreadInUse { thread_id: to });
            }
            // The records are read under their own thread and saved under the copy's, so a
            // record that names its thread names the right one.
            let mut rows = Vec::new();
            {
                let mut select = tx
                    .prepare(&format!(
                        "SELECT thread_id, id, body FROM graph_checkpoints WHERE {WITHIN}"
                    ))
                    .map_err(storage)?;
                let found = select
                    .query_map([&from, &from_subgraphs], |row| {
                        let text = |column| -> rusqlite::Result<String> {
                            Ok(String::from_utf8_lossy(&bytes(row, column)?).into_owned())
                        };
                        Ok((text(0)?, text(1)?, bytes(row, 2)?))
                    })
                    .map_err(storage)?;
                for row in found {
                    let (thread, id, body) = row.map_err(storage)?;
                    let mut checkpoint = decode_checkpoint(&thread, &id, &body)?;
                    checkpoint.thread_id = copied_thread_id(&thread, &from, &to);
                    rows.push((encode_checkpoint(&checkpoint)?, checkpoint));
                }
            }
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO graph_checkpoints (thread_id, id, body) VALUES (?1, ?2, ?3)",
                    )
                    .map_err(storage)?;
                for (body, checkpoint) in &rows {
                    insert
                        .execute(params![checkpoint.thread_id, checkpoint.id, body])
                        .map_err(storage)?;
                }
            }
            // The copy's writes keep their order: they are inserted in the order they were saved.
            let after = i64::try_from(from.chars().count() + 1).map_err(storage)?;
            for copy in [
                "INSERT INTO graph_threads (thread_id, latest)
                 SELECT ?3 || substr(thread_id, ?4), latest FROM graph_threads WHERE {WITHIN}",
                "INSERT INTO graph_writes (thread_id, checkpoint_id, body)
                 SELECT ?3 || substr(thread_id, ?4), checkpoint_id, body FROM graph_writes
                 WHERE {WITHIN} ORDER BY seq",
            ] {
                tx.execute(
                    &copy.replace("{WITHIN}", WITHIN),
                    params![from, from_subgraphs, to, after],
                )
                .map_err(storage)?;
            }
            tx.commit().map_err(storage)
        })
        .await
    }

    async fn mark(&self, thread_id: &str) -> Result<ThreadMark, CheckpointError> {
        let thread_id = thread_id.to_owned();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(storage)?;
            let latest = within_latest(&tx, &thread_id)?;
            let last_write: i64 = tx
                .query_row("SELECT COALESCE(MAX(seq), 0) FROM graph_writes", [], |row| row.get(0))
                .map_err(storage)?;
            Ok(ThreadMark::new(latest.into_iter().collect(), last_write.try_into().unwrap_or(0)))
        })
        .await
    }

    async fn rewind(&self, thread_id: &str, mark: &ThreadMark) -> Result<(), CheckpointError> {
        let (thread_id, mark) = (thread_id.to_owned(), mark.clone());
        self.with(move |conn| {
            let tx =
                conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
            for (thread, _) in within_latest(&tx, &thread_id)? {
                match mark.latest.get(&thread) {
                    // Checkpoint ids are time-ordered: the ones after the marked latest came
                    // later.
                    Some(latest) => {
                        tx.execute(
                            "DELETE FROM graph_checkpoints WHERE thread_id = ?1 AND id > ?2",
                            [&thread, latest],
                        )
                        .map_err(storage)?;
                        tx.execute(
                            "UPDATE graph_threads SET latest = ?2 WHERE thread_id = ?1",
                            [&thread, latest],
                        )
                        .map_err(storage)?;
                    }
                    None => {
                        for table in ["graph_checkpoints", "graph_threads"] {
                            let delete = format!("DELETE FROM {table} WHERE thread_id = ?1");
                            tx.execute(&delete, [&thread]).map_err(storage)?;
                        }
                    }
                }
            }
            let last_write = i64::try_from(mark.last_write).map_err(storage)?;
            tx.execute(
                "DELETE FROM graph_writes
                 WHERE seq > ?3 AND (thread_id = ?1 OR substr(thread_id, 1, length(?2)) = ?2)",
                params![thread_id, subgraph_prefix(&thread_id), last_write],
            )
            .map_err(storage)?;
            tx.commit().map_err(storage)
        })
        .await
    }
}

/// The latest checkpoint of thread `thread_id` and of each of its subgraphs' threads.
fn within_latest(
    conn: &Connection,
    thread_id: &str,
) -> Result<Vec<(String, String)>, CheckpointError> {
    let (from, below) = subgraph_range(thread_id);
    let mut select = conn
        .prepare_cached(
            "SELECT thread_id, latest FROM graph_threads
             WHERE thread_id = ?1 OR (thread_id >= ?2 AND thread_id < ?3)",
        )
        .map_err(storage)?;
    let rows = select
        .query_map([thread_id, &from, &below], |row| {
            let text = |column| -> rusqlite::Result<String> {
                Ok(String::from_utf8_lossy(&bytes(row, column)?).into_owned())
            };
            Ok((text(0)?, text(1)?))
        })
        .map_err(storage)?;
    rows.collect::<Result<_, _>>().map_err(storage)
}
