//! The SQLite cache: one table in one file (WAL mode), shared by the processes that open it.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;

use super::{CacheEntry, CacheError, CacheKey, NodeCache};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS graph_cache (
    node       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    value      TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (node, hash)
) WITHOUT ROWID;
";

/// Keeps cached results in a SQLite file (WAL mode), safe to share between processes.
///
/// Entries live in the table `graph_cache`: the node, the key's hash, the value as JSON text
/// and, for an entry with a time to live, when it expires (milliseconds since the Unix
/// epoch, on the wall clock). An expired entry is a miss, and is deleted when it is found.
/// The table does not clash with [`SqliteSaver`](crate::checkpoint::SqliteSaver)'s, so one
/// file can hold both.
///
/// ```
/// use graph_core::cache::{CacheEntry, CacheKey, NodeCache, SqliteCache};
/// use serde_json::json;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let cache = SqliteCache::in_memory()?;
/// let key = CacheKey { node: "search".into(), hash: "3f2a".into() };
/// let entry = CacheEntry { key: key.clone(), value: json!({ "hits": 3 }), ttl: None };
/// cache.set(vec![entry]).await?;
/// assert_eq!(cache.get(&[key]).await?, [Some(json!({ "hits": 3 }))]);
/// # Ok::<(), graph_core::cache::CacheError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct SqliteCache {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteCache").finish_non_exhaustive()
    }
}

impl SqliteCache {
    /// Opens (or creates) the database file at `path`, and its cache table.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CacheError> {
        Self::setup(Connection::open(path).map_err(CacheError::backend)?)
    }

    /// A private in-memory database, gone with the last clone of this handle.
    pub fn in_memory() -> Result<Self, CacheError> {
        Self::setup(Connection::open_in_memory().map_err(CacheError::backend)?)
    }

    fn setup(conn: Connection) -> Result<Self, CacheError> {
        conn.pragma_update(None, "journal_mode", "WAL").map_err(CacheError::backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(CacheError::backend)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(CacheError::backend)?;
        conn.execute_batch(SCHEMA).map_err(CacheError::backend)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Runs `f` on the connection off the async threads.
    async fn with<T, F>(&self, f: F) -> Result<T, CacheError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, CacheError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(CacheError::backend)?
    }
}

/// Milliseconds since the Unix epoch, on the wall clock.
fn now_millis() -> Result<i64, CacheError> {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).map_err(CacheError::backend)?;
    Ok(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
}

/// When an entry stored at `now` with `ttl` expires: `None` for never, and for a time to
/// live too long to count in milliseconds. A time under a millisecond counts as one.
fn expires_at(now: i64, ttl: Option<Duration>) -> Option<i64> {
    let millis = i64::try_from(ttl?.as_nanos().div_ceil(1_000_000)).ok()?;
    now.checked_add(millis)
}

/// What SQLite holds in a column, for a message about a damaged row.
fn described(value: ValueRef<'_>) -> &'static str {
    match value {
        ValueRef::Null => "null",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real number",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    }
}

/// A stored row: its value, if still live, or the news that it has expired.
enum Found {
    Live(Value),
    Expired,
}

fn lookup(conn: &Connection, key: &CacheKey, now: i64) -> Result<Option<Found>, CacheError> {
    let corrupt = |reason: String| CacheError::Corrupt { node: key.node.clone(), reason };
    let row = conn
        .prepare_cached("SELECT value, expires_at FROM graph_cache WHERE node = ?1 AND hash = ?2")
        .map_err(CacheError::backend)?
        .query_row(params![key.node, key.hash], |row| {
            let value = match row.get_ref(0)? {
                ValueRef::Text(text) => Ok(text.to_vec()),
                other => Err(format!("the value is stored as {}, not text", described(other))),
            };
            let expires = match row.get_ref(1)? {
                ValueRef::Null => Ok(None),
                ValueRef::Integer(at) => Ok(Some(at)),
                other => {
                    Err(format!("the expiry is stored as {}, not an integer", described(other)))
                }
            };
            Ok((value, expires))
        })
        .optional()
        .map_err(CacheError::backend)?;
    let Some((value, expires)) = row else { return Ok(None) };
    if expires.map_err(corrupt)?.is_some_and(|at| at <= now) {
        return Ok(Some(Found::Expired));
    }
    let value = serde_json::from_slice(&value.map_err(corrupt)?)
        .map_err(|error| corrupt(format!("the value is not JSON: {error}")))?;
    Ok(Some(Found::Live(value)))
}

#[async_trait]
impl NodeCache for SqliteCache {
    async fn get(&self, keys: &[CacheKey]) -> Result<Vec<Option<Value>>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = keys.to_vec();
        self.with(move |conn| {
            let now = now_millis()?;
            // One read transaction: the whole batch sees one snapshot of the file.
            let tx = conn.transaction().map_err(CacheError::backend)?;
            let mut values = Vec::with_capacity(keys.len());
            let mut expired = Vec::new();
            for key in &keys {
                values.push(match lookup(&tx, key, now)? {
                    Some(Found::Live(value)) => Some(value),
                    Some(Found::Expired) => {
                        expired.push(key);
                        None
                    }
                    None => None,
                });
            }
            tx.commit().map_err(CacheError::backend)?;
            if !expired.is_empty() {
                // Only rows still expired: another writer may have stored a fresh one since.
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(CacheError::backend)?;
                for key in expired {
                    tx.execute(
                        "DELETE FROM graph_cache WHERE node = ?1 AND hash = ?2 AND expires_at <= ?3",
                        params![key.node, key.hash, now],
                    )
                    .map_err(CacheError::backend)?;
                }
                tx.commit().map_err(CacheError::backend)?;
            }
            Ok(values)
        })
        .await
    }

    async fn set(&self, entries: Vec<CacheEntry>) -> Result<(), CacheError> {
        if entries.is_empty() {
            return Ok(());
        }
        let rows = entries
            .into_iter()
            .map(|entry| {
                let text = serde_json::to_string(&entry.value).map_err(CacheError::backend)?;
                Ok((entry.key, text, entry.ttl))
            })
            .collect::<Result<Vec<_>, CacheError>>()?;
        self.with(move |conn| {
            let now = now_millis()?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(CacheError::backend)?;
            {
                let mut upsert = tx
                    .prepare_cached(
                        "INSERT INTO graph_cache (node, hash, value, expires_at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (node, hash) DO UPDATE
                         SET value = excluded.value, expires_at = excluded.expires_at",
                    )
                    .map_err(CacheError::backend)?;
                for (key, text, ttl) in &rows {
                    let expires = expires_at(now, *ttl);
                    upsert
                        .execute(params![key.node, key.hash, text, expires])
                        .map_err(CacheError::backend)?;
                }
            }
            tx.commit().map_err(CacheError::backend)
        })
        .await
    }

    async fn clear(&self, nodes: &[String]) -> Result<(), CacheError> {
        if nodes.is_empty() {
            return Ok(());
        }
        let nodes = nodes.to_vec();
        self.with(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(CacheError::backend)?;
            for node in &nodes {
                tx.execute("DELETE FROM graph_cache WHERE node = ?1", [node])
                    .map_err(CacheError::backend)?;
            }
            tx.commit().map_err(CacheError::backend)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::expires_at;

    #[test]
    fn expiry_rounds_up_to_a_millisecond_and_never_overflows() {
        assert_eq!(expires_at(1_000, None), None);
        assert_eq!(expires_at(1_000, Some(Duration::ZERO)), Some(1_000));
        assert_eq!(expires_at(1_000, Some(Duration::from_nanos(1))), Some(1_001));
        assert_eq!(expires_at(1_000, Some(Duration::from_millis(300))), Some(1_300));
        assert_eq!(expires_at(1_000, Some(Duration::MAX)), None);
        assert_eq!(expires_at(i64::MAX - 5, Some(Duration::from_millis(10))), None);
    }
}
