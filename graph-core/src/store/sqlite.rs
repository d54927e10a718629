//! The embedded store: one SQLite file, no server, WAL mode.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use serde_json::Value;

use super::{
    below, check_key, decode_item, now_micros, ttl_micros, Item, ListNamespaces, Namespace,
    SearchQuery, Store, StoreError,
};

/// Namespaces are stored as dotted paths, which sort as [`Namespace`]s do under SQLite's
/// byte-wise text order; times and times to live are microseconds.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS graph_store (
    namespace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    ttl        INTEGER,
    expires_at INTEGER,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS graph_store_by_expiry ON graph_store (expires_at)
    WHERE expires_at IS NOT NULL;
";

/// A put: a live item keeps `created_at` and its `updated_at` moves forward by at least a
/// microsecond; an expired one is replaced as if new.
const PUT: &str = "
INSERT INTO graph_store (namespace, key, value, created_at, updated_at, ttl, expires_at)
VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?4 + ?5)
ON CONFLICT (namespace, key) DO UPDATE SET
    value = excluded.value,
    created_at = CASE WHEN graph_store.expires_at <= excluded.updated_at
        THEN excluded.created_at ELSE graph_store.created_at END,
    updated_at = CASE WHEN graph_store.expires_at <= excluded.updated_at
        THEN excluded.updated_at ELSE max(excluded.updated_at, graph_store.updated_at + 1) END,
    ttl = excluded.ttl,
    expires_at = excluded.expires_at";

/// Restarts one item's time to live at `?3`, if it has one and is still live.
const REFRESH: &str = "
UPDATE graph_store SET expires_at = ?3 + ttl
WHERE namespace = ?1 AND key = ?2 AND ttl IS NOT NULL AND expires_at > ?3";

/// Stores items in one SQLite file (WAL mode), safe to share between processes and with a
/// [`SqliteSaver`](crate::checkpoint::SqliteSaver) on the same file.
///
/// Times come from this machine's wall clock, expiry included. Expired items are deleted
/// by [`Store::sweep`].
///
/// ```
/// use graph_core::store::{Namespace, SqliteStore, Store};
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), graph_core::store::StoreError> {
/// let store = SqliteStore::in_memory()?;
/// let ns = Namespace::new(["docs"])?;
/// store.put(&ns, "a", json!({ "title": "Ünïcode" }), None).await?;
/// assert_eq!(store.get(&ns, "a").await?.unwrap().value["title"], "Ünïcode");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::setup(Connection::open(path).map_err(StoreError::backend)?)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory().map_err(StoreError::backend)?)
    }

    fn setup(conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL").map_err(StoreError::backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(StoreError::backend)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(StoreError::backend)?;
        conn.execute_batch(SCHEMA).map_err(StoreError::backend)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Runs `f` on the connection off the async threads.
    async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(StoreError::backend)?
    }
}

/// A row of `namespace, key, value, created_at, updated_at, ttl` as an item, and whether it
/// has a time to live. A column of the wrong type (after damage) makes the item corrupt.
fn read_row(row: &Row<'_>) -> Result<(Item, bool), StoreError> {
    let namespace: String = row.get(0).map_err(StoreError::backend)?;
    let key: String = row.get(1).map_err(StoreError::backend)?;
    let corrupt = |e: rusqlite::Error| StoreError::corrupt(&namespace, &key, e);
    let value: String = row.get(2).map_err(corrupt)?;
    let (created_at, updated_at) = (row.get(3).map_err(corrupt)?, row.get(4).map_err(corrupt)?);
    let ttl: Option<i64> = row.get(5).map_err(corrupt)?;
    Ok((decode_item(&namespace, &key, &value, created_at, updated_at)?, ttl.is_some()))
}

const COLUMNS: &str = "namespace, key, value, created_at, updated_at, ttl";
const LIVE: &str = "(expires_at IS NULL OR expires_at > ?1)";

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, namespace: &Namespace, key: &str) -> Result<Option<Item>, StoreError> {
        check_key(key)?;
        let (namespace, key) = (namespace.to_string(), key.to_owned());
        self.with(move |conn| {
            let now = now_micros();
            let select = format!(
                "SELECT {COLUMNS} FROM graph_store WHERE {LIVE} AND namespace = ?2 AND key = ?3"
            );
            let found = conn
                .query_row(&select, params![now, namespace, key], |row| Ok(read_row(row)))
                .optional()
                .map_err(StoreError::backend)?
                .transpose()?;
            let Some((item, expiring)) = found else { return Ok(None) };
            if expiring {
                conn.execute(REFRESH, params![namespace, key, now]).map_err(StoreError::backend)?;
            }
            Ok(Some(item))
        })
        .await
    }

    async fn put(
        &self,
        namespace: &Namespace,
        key: &str,
        value: Value,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        check_key(key)?;
        let (namespace, key) = (namespace.to_string(), key.to_owned());
        let value = serde_json::to_string(&value).map_err(StoreError::backend)?;
        let ttl = ttl.map(ttl_micros);
        self.with(move |conn| {
            conn.execute(PUT, params![namespace, key, value, now_micros(), ttl])
                .map(drop)
                .map_err(StoreError::backend)
        })
        .await
    }

    async fn delete(&self, namespace: &Namespace, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        let (namespace, key) = (namespace.to_string(), key.to_owned());
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM graph_store WHERE namespace = ?1 AND key = ?2",
                [namespace, key],
            )
            .map(drop)
            .map_err(StoreError::backend)
        })
        .await
    }

    async fn search(
        &self,
        prefix: &Namespace,
        query: &SearchQuery,
    ) -> Result<Vec<Item>, StoreError> {
        let (exact, (from, to)) = (prefix.to_string(), below(prefix));
        let query = query.clone();
        self.with(move |conn| {
            let now = now_micros();
            let select = format!(
                "SELECT {COLUMNS} FROM graph_store
                 WHERE {LIVE} AND (namespace = ?2 OR (namespace >= ?3 AND namespace < ?4))
                 ORDER BY updated_at DESC, namespace, key"
            );
            let page = {
                let mut statement = conn.prepare(&select).map_err(StoreError::backend)?;
                let rows = statement
                    .query_map(params![now, exact, from, to], |row| Ok(read_row(row)))
                    .map_err(StoreError::backend)?
                    .map(|row| row.map_err(StoreError::backend).and_then(|read| read));
                query.page(rows, |(item, _)| &item.value)?
            };
            if query.refresh_ttl && page.iter().any(|(_, expiring)| *expiring) {
                // Take the write lock up front: upgrading a read could fail against another
                // process's write.
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(StoreError::backend)?;
                {
                    let mut refresh = tx.prepare(REFRESH).map_err(StoreError::backend)?;
                    for (item, _) in page.iter().filter(|(_, expiring)| *expiring) {
                        refresh
                            .execute(params![item.namespace.to_string(), item.key, now])
                            .map_err(StoreError::backend)?;
                    }
                }
                tx.commit().map_err(StoreError::backend)?;
            }
            Ok(page.into_iter().map(|(item, _)| item).collect())
        })
        .await
    }

    async fn list_namespaces(&self, query: &ListNamespaces) -> Result<Vec<Namespace>, StoreError> {
        let query = query.clone();
        let prefix = query.prefix.as_ref().map(|prefix| (prefix.to_string(), below(prefix)));
        let (exact, bounds) = prefix.unzip();
        let (from, to) = bounds.unzip();
        self.with(move |conn| {
            let select = format!(
                "SELECT DISTINCT namespace FROM graph_store WHERE {LIVE}
                 AND (?2 IS NULL OR namespace = ?2 OR (namespace >= ?3 AND namespace < ?4))"
            );
            let mut statement = conn.prepare(&select).map_err(StoreError::backend)?;
            let rows = statement
                .query_map(params![now_micros(), exact, from, to], |row| row.get::<_, String>(0))
                .map_err(StoreError::backend)?;
            let mut namespaces = Vec::new();
            for path in rows {
                let path = path.map_err(StoreError::backend)?;
                let namespace = path.parse().map_err(|e| StoreError::corrupt(&path, "", e))?;
                namespaces.push(namespace);
            }
            Ok(query.apply(namespaces))
        })
        .await
    }

    async fn sweep(&self) -> Result<usize, StoreError> {
        self.with(|conn| {
            conn.execute("DELETE FROM graph_store WHERE expires_at <= ?1", [now_micros()])
                .map_err(StoreError::backend)
        })
        .await
    }
}
