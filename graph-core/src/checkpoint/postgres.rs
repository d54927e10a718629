//! The PostgreSQL checkpointer: many workers on many machines share threads, with
//! optimistic concurrency on each thread's latest checkpoint.

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool};
use tokio_postgres::Client;

use super::{
    copied_thread_id, corrupt, decode, decode_checkpoint, encode_checkpoint, latest_missing,
    storage, subgraph_prefix, subgraph_range, Checkpoint, CheckpointError, Checkpointer,
    PendingWrite, StoredCheckpoint, ThreadMark,
};

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS graph_threads (
        thread_id TEXT PRIMARY KEY,
        latest    TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS graph_checkpoints (
        thread_id TEXT NOT NULL,
        id        TEXT NOT NULL,
        body      TEXT NOT NULL,
        PRIMARY KEY (thread_id, id)
    )",
    "CREATE TABLE IF NOT EXISTS graph_writes (
        seq           BIGSERIAL PRIMARY KEY,
        thread_id     TEXT NOT NULL,
        checkpoint_id TEXT NOT NULL,
        body          TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS graph_writes_by_checkpoint
        ON graph_writes (thread_id, checkpoint_id)",
    "CREATE INDEX IF NOT EXISTS graph_threads_by_prefix
        ON graph_threads (thread_id text_pattern_ops)",
];

/// Thread `$1` and its subgraphs' threads, found through `graph_threads_by_prefix` (the
/// pattern operators compare bytes, whatever the database's collation).
const WITHIN_RANGE: &str = "(thread_id = $1 OR (thread_id ~>=~ $2 AND thread_id ~<~ $3))";

/// Saves checkpoints in PostgreSQL.
///
/// Advancing a thread is one statement that moves the thread's latest checkpoint only if it
/// is still the one the worker started from, so two workers resuming one thread cannot both
/// write the next checkpoint: the second gets [`CheckpointError::Conflict`].
///
/// Calls share a small pool of connections (at most 8). A connection PostgreSQL drops (a
/// server restart, `pg_terminate_backend`, a network blip) fails the call using it, and
/// the next call reconnects. A failed write is never retried: its commit may have applied.
pub struct PostgresSaver {
    pool: Pool,
}

impl std::fmt::Debug for PostgresSaver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSaver").finish_non_exhaustive()
    }
}

impl PostgresSaver {
    /// Connects with a libpq-style string, e.g.
    /// `host=127.0.0.1 user=postgres dbname=test`, and creates the tables if needed.
    /// A URL (`postgresql://user@host/db`) works too.
    pub async fn connect(config: &str) -> Result<Self, CheckpointError> {
        Self::with_pool(crate::pg_pool::pool(config).map_err(storage)?).await
    }

    /// Uses the connections of `pool`, which other parts of the application may share
    /// (keeping the process's connections to PostgreSQL few), and creates the tables if
    /// needed. The saver never holds one connection while waiting for another, so a small
    /// shared pool slows it down at worst.
    pub async fn with_pool(pool: deadpool_postgres::Pool) -> Result<Self, CheckpointError> {
        let saver = Self { pool };
        crate::pg_pool::create_tables(&mut saver.client().await?, SCHEMA).await.map_err(storage)?;
        Ok(saver)
    }

    /// A live connection from the pool, a new one when the server dropped the last.
    async fn client(&self) -> Result<Object, CheckpointError> {
        self.pool.get().await.map_err(storage)
    }
}

/// The thread's latest checkpoint id, on a connection the caller already holds (so a call
/// never waits for a second connection while holding one).
async fn latest(client: &Client, thread_id: &str) -> Result<Option<String>, CheckpointError> {
    let row = client
        .query_opt("SELECT latest FROM graph_threads WHERE thread_id = $1", &[&thread_id])
        .await
        .map_err(storage)?;
    row.map(|row| row.try_get(0).map_err(|e| corrupt(thread_id, "(latest)", e))).transpose()
}

#[async_trait]
impl Checkpointer for PostgresSaver {
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
        let (thread_id, last_id) = (&last.thread_id, &last.id);
        let ids: Vec<&str> = checkpoints.iter().map(|checkpoint| checkpoint.id.as_str()).collect();
        let bodies = checkpoints.iter().map(encode_checkpoint).collect::<Result<Vec<_>, _>>()?;
        // One statement: the thread moves to the batch's last checkpoint and the whole
        // batch is stored, or nothing.
        let client = self.client().await?;
        let inserted = match expected_latest {
            None => {
                client
                    .execute(
                        "WITH moved AS (
                            INSERT INTO graph_threads (thread_id, latest) VALUES ($1, $2)
                            ON CONFLICT DO NOTHING RETURNING 1)
                         INSERT INTO graph_checkpoints (thread_id, id, body)
                         SELECT $1, batch.id, batch.body
                         FROM moved, unnest($3::text[], $4::text[]) AS batch (id, body)",
                        &[thread_id, last_id, &ids, &bodies],
                    )
                    .await
            }
            Some(expected) => {
                client
                    .execute(
                        "WITH moved AS (
                            UPDATE graph_threads SET latest = $2 WHERE thread_id = $1 AND latest = $5 RETURNING 1)
                         INSERT INTO graph_checkpoints (thread_id, id, body)
                         SELECT $1, batch.id, batch.body
                         FROM moved, unnest($3::text[], $4::text[]) AS batch (id, body)",
                        &[thread_id, last_id, &ids, &bodies, &expected],
                    )
                    .await
            }
        }
        .map_err(storage)?;
        if inserted == checkpoints.len() as u64 {
            return Ok(());
        }
        Err(CheckpointError::Conflict {
            thread_id: thread_id.clone(),
            expected: expected_latest.map(str::to_owned),
            found: latest(&client, thread_id).await?,
        })
    }

    async fn put_write(
        &self,
        thread_id: &str,
        checkpoint_id: &str,
        write: &PendingWrite,
    ) -> Result<(), CheckpointError> {
        let body = serde_json::to_string(write).map_err(storage)?;
        self.client()
            .await?
            .execute(
                "INSERT INTO graph_writes (thread_id, checkpoint_id, body) VALUES ($1, $2, $3)",
                &[&thread_id, &checkpoint_id, &body],
            )
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn get(
        &self,
        thread_id: &str,
        checkpoint_id: Option<&str>,
    ) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        let client = self.client().await?;
        let (id, asked) = match checkpoint_id {
            Some(id) => (id.to_owned(), true),
            None => match latest(&client, thread_id).await? {
                Some(id) => (id, false),
                None => return Ok(None),
            },
        };
        let row = client
            .query_opt(
                "SELECT body FROM graph_checkpoints WHERE thread_id = $1 AND id = $2",
                &[&thread_id, &id],
            )
            .await
            .map_err(storage)?;
        let row = match row {
            Some(row) => row,
            None if asked => return Ok(None),
            None => return Err(latest_missing(thread_id, &id)),
        };
        let checkpoint = decode_checkpoint(thread_id, &id, body(&row, 0, thread_id, &id)?)?;
        let rows = client
            .query(
                "SELECT body FROM graph_writes WHERE thread_id = $1 AND checkpoint_id = $2 ORDER BY seq",
                &[&thread_id, &id],
            )
            .await
            .map_err(storage)?;
        let writes = rows
            .iter()
            .map(|row| decode(thread_id, &id, body(row, 0, thread_id, &id)?))
            .collect::<Result<_, _>>()?;
        Ok(Some(StoredCheckpoint { checkpoint, writes }))
    }

    async fn list(&self, thread_id: &str) -> Result<Vec<Checkpoint>, CheckpointError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id, body FROM graph_checkpoints WHERE thread_id = $1 ORDER BY id DESC",
                &[&thread_id],
            )
            .await
            .map_err(storage)?;
        rows.iter()
            .map(|row| {
                let id: &str = row.try_get(0).map_err(|e| corrupt(thread_id, "(unknown)", e))?;
                decode_checkpoint(thread_id, id, body(row, 1, thread_id, id)?)
            })
            .collect()
    }

    async fn delete_thread(&self, thread_id: &str) -> Result<(), CheckpointError> {
        let subgraphs = subgraph_prefix(thread_id);
        let client = self.client().await?;
        for table in ["graph_writes", "graph_checkpoints", "graph_threads"] {
            let statement =
                format!("DELETE FROM {table} WHERE thread_id = $1 OR starts_with(thread_id, $2)");
            client.execute(&statement, &[&thread_id, &subgraphs]).await.map_err(storage)?;
        }
        Ok(())
    }

    async fn copy_thread(
        &self,
        thread_id: &str,
        new_thread_id: &str,
    ) -> Result<(), CheckpointError> {
        const WITHIN: &str = "(thread_id = $1 OR starts_with(thread_id, $2))";
        let (from_subgraphs, to_subgraphs) =
            (subgraph_prefix(thread_id), subgraph_prefix(new_thread_id));
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(storage)?;
        // Two copies to one id cannot both pass the check below: the second waits for the
        // first to commit.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&new_thread_id])
            .await
            .map_err(storage)?;
        let in_use = tx
            .query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM graph_threads WHERE {WITHIN})
                         OR EXISTS (SELECT 1 FROM graph_writes WHERE {WITHIN})"
                ),
                &[&new_thread_id, &to_subgraphs],
            )
            .await
            .map_err(storage)?;
        if in_use.try_get::<_, bool>(0).map_err(storage)? {
            return Err(CheckpointError::ThreadInUse { thread_id: new_thread_id.to_owned() });
        }
        // The records are read under their own thread and saved under the copy's, so a
        // record that names its thread names the right one.
        let rows = tx
            .query(
                &format!("SELECT thread_id, id, body FROM graph_checkpoints WHERE {WITHIN}"),
                &[&thread_id, &from_subgraphs],
            )
            .await
            .map_err(storage)?;
        let (mut threads, mut ids, mut bodies) = (Vec::new(), Vec::new(), Vec::new());
        for row in &rows {
            let thread: &str = row.try_get(0).map_err(|e| corrupt(thread_id, "(unknown)", e))?;
            let id: &str = row.try_get(1).map_err(|e| corrupt(thread, "(unknown)", e))?;
            let mut checkpoint = decode_checkpoint(thread, id, body(row, 2, thread, id)?)?;
            checkpoint.thread_id = copied_thread_id(thread, thread_id, new_thread_id);
            bodies.push(encode_checkpoint(&checkpoint)?);
            threads.push(checkpoint.thread_id);
            ids.push(checkpoint.id);
        }
        tx.execute(
            "INSERT INTO graph_checkpoints (thread_id, id, body)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
            &[&threads, &ids, &bodies],
        )
        .await
        .map_err(storage)?;
        // The copy's writes keep their order: they are inserted in the order they were saved.
        let after = i32::try_from(thread_id.chars().count() + 1).map_err(storage)?;
        for copy in [
            "INSERT INTO graph_threads (thread_id, latest)
             SELECT $3::text || substr(thread_id, $4::int), latest FROM graph_threads WHERE {WITHIN}",
            "INSERT INTO graph_writes (thread_id, checkpoint_id, body)
             SELECT $3::text || substr(thread_id, $4::int), checkpoint_id, body FROM graph_writes
             WHERE {WITHIN} ORDER BY seq",
        ] {
            tx.execute(
                &copy.replace("{WITHIN}", WITHIN),
                &[&thread_id, &from_subgraphs, &new_thread_id, &after],
            )
            .await
            .map_err(storage)?;
        }
        tx.commit().await.map_err(storage)
    }

    async fn mark(&self, thread_id: &str) -> Result<ThreadMark, CheckpointError> {
        let (from, below) = subgraph_range(thread_id);
        let sql = format!(
            "SELECT thread_id, latest, (SELECT COALESCE(MAX(seq), 0) FROM graph_writes)
             FROM graph_threads WHERE {WITHIN_RANGE}
             UNION ALL SELECT NULL, NULL, (SELECT COALESCE(MAX(seq), 0) FROM graph_writes)"
        );
        let rows = self
            .client()
            .await?
            .query(&sql, &[&thread_id, &from, &below])
            .await
            .map_err(storage)?;
        let mut mark = ThreadMark::default();
        for row in &rows {
            let last_write: i64 = row.try_get(2).map_err(storage)?;
            mark.last_write = u64::try_from(last_write).map_err(storage)?;
            let thread: Option<String> = row.try_get(0).map_err(storage)?;
            let latest: Option<String> = row.try_get(1).map_err(storage)?;
            if let (Some(thread), Some(latest)) = (thread, latest) {
                mark.latest.insert(thread, latest);
            }
        }
        Ok(mark)
    }

    async fn rewind(&self, thread_id: &str, mark: &ThreadMark) -> Result<(), CheckpointError> {
        let (from, below) = subgraph_range(thread_id);
        let (threads, latest): (Vec<&str>, Vec<&str>) =
            mark.latest.iter().map(|(thread, latest)| (thread.as_str(), latest.as_str())).unzip();
        let last_write = i64::try_from(mark.last_write).map_err(storage)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(storage)?;
        // Checkpoint ids are time-ordered: the ones after a thread's marked latest came
        // later, and a thread the mark does not name had none ('' is below every id).
        let marked = "unnest($4::text[], $5::text[]) AS m(t, latest)";
        let delete_checkpoints = format!(
            "DELETE FROM graph_checkpoints AS c
             WHERE thread_id IN (SELECT thread_id FROM graph_threads WHERE {WITHIN_RANGE})
             AND id > COALESCE(
                 (SELECT m.latest FROM {marked} WHERE m.t = c.thread_id), '')"
        );
        let delete_threads = format!(
            "DELETE FROM graph_threads WHERE {WITHIN_RANGE} AND NOT thread_id = ANY($4::text[])"
        );
        let move_back = format!(
            "UPDATE graph_threads AS t SET latest = m.latest FROM {marked}
             WHERE {WITHIN_RANGE} AND t.thread_id = m.t AND t.latest <> m.latest"
        );
        for statement in [delete_checkpoints, move_back] {
            tx.execute(&statement, &[&thread_id, &from, &below, &threads, &latest])
                .await
                .map_err(storage)?;
        }
        tx.execute(&delete_threads, &[&thread_id, &from, &below, &threads])
            .await
            .map_err(storage)?;
        tx.execute(
            "DELETE FROM graph_writes
             WHERE seq > $3 AND (thread_id = $1 OR starts_with(thread_id, $2))",
            &[&thread_id, &from, &last_write],
        )
        .await
        .map_err(storage)?;
        tx.commit().await.map_err(storage)
    }
}

/// A stored body as bytes; a column that is not text (after damage) is corrupt, not a panic.
fn body<'r>(
    row: &'r tokio_postgres::Row,
    column: usize,
    thread_id: &str,
    id: &str,
) -> Result<&'r [u8], CheckpointError> {
    let text: &str = row.try_get(column).map_err(|e| corrupt(thread_id, id, e))?;
    Ok(text.as_bytes())
}
