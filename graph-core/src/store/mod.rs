//! Long-term memory: a store of JSON documents that outlives threads, for what a graph
//! should remember across runs (a user's preferences, facts learned, notes).
//!
//! Items live in a [`Namespace`] (a path of labels, such as `users.alice.memories`) under a
//! key. A [`Store`] gets, puts and deletes them, searches under a namespace prefix with a
//! [`Filter`] on their values ([`SearchQuery`]), and lists namespaces ([`ListNamespaces`]).
//! Writes are immediate side effects, not checkpointed: a node that runs again writes again,
//! and its keys make the write idempotent.
//!
//! An item can be stored with a time to live: it expires that long after its last write,
//! or its last read when reads refresh it ([`Store::get`] always does, a search unless
//! [`SearchQuery::refresh_ttl`] turns it off). Expired items are invisible to every
//! operation; [`Store::sweep`] deletes them.
//!
//! Backends: [`MemoryStore`] (one process), `SqliteStore` (feature `sqlite`: one file,
//! shared by processes) and `PostgresStore` (feature `postgres`: shared by machines).
//! Every backend passes the same conformance suite (`conformance`, feature `test-util`).
//!
//! ```
//! use graph_core::store::{Filter, MemoryStore, Namespace, SearchQuery, Store};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), graph_core::store::StoreError> {
//! let store = MemoryStore::new();
//! let alice = Namespace::new(["users", "alice"])?;
//! store.put(&alice, "language", json!({ "kind": "preference", "value": "French" }), None).await?;
//! store.put(&alice, "pet", json!({ "kind": "fact", "value": "a cat named Tom" }), None).await?;
//!
//! let item = store.get(&alice, "language").await?.expect("stored");
//! assert_eq!(item.value["value"], "French");
//!
//! let users = Namespace::new(["users"])?;
//! let facts = store.search(&users, &SearchQuery::new().filter(Filter::new().eq("kind", "fact"))).await?;
//! assert_eq!(facts.len(), 1);
//! assert_eq!(facts[0].key, "pet");
//! # Ok(())
//! # }
//! ```

mod error;
mod filter;
mod memory;
mod namespace;
#[cfg(feature = "postgres")]
mod postgres;
mod query;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "test-util")]
pub mod conformance;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use error::{FilterFault, KeyFault, StoreError};
pub use filter::Filter;
pub use memory::MemoryStore;
pub use namespace::{Namespace, NamespaceFault};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "postgres")]
use query::Pager;
pub use query::{ListNamespaces, SearchQuery};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// A stored document: a JSON value under a namespace and a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Item {
    /// Where it is stored.
    pub namespace: Namespace,
    /// Its key, unique within the namespace.
    pub key: String,
    /// The document.
    pub value: Value,
    /// When it was first written (since it last expired or was deleted), to the microsecond.
    pub created_at: SystemTime,
    /// When it was last written, to the microsecond. Every write moves it forward, even two
    /// writes within one microsecond.
    pub updated_at: SystemTime,
}

impl Item {
    /// An item as a backend reads it back.
    pub fn new(
        namespace: Namespace,
        key: impl Into<String>,
        value: Value,
        created_at: SystemTime,
        updated_at: SystemTime,
    ) -> Self {
        Self { namespace, key: key.into(), value, created_at, updated_at }
    }
}

/// A store backend: JSON documents by namespace and key, with search and expiry.
///
/// Rules every backend follows (and the conformance suite checks): keys are validated with
/// [`check_key`]; a put replaces the value and keeps `created_at` while `updated_at`
/// advances, and concurrent puts of one key leave one of the written values (the last
/// write wins); expired items are invisible everywhere and a put after expiry starts a new
/// item; search results come newest first as [`SearchQuery`] describes.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The item at `key` in `namespace`, or `None` when there is none (or it expired).
    /// Restarts the item's time to live, if it has one.
    async fn get(&self, namespace: &Namespace, key: &str) -> Result<Option<Item>, StoreError>;

    /// Stores `value` at `key` in `namespace`, replacing what was there. With a `ttl` the
    /// item expires that long after this write (or its last read); without one it stays.
    async fn put(
        &self,
        namespace: &Namespace,
        key: &str,
        value: Value,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError>;

    /// Deletes the item at `key` in `namespace`; deleting nothing is not an error.
    async fn delete(&self, namespace: &Namespace, key: &str) -> Result<(), StoreError>;

    /// The items in `prefix` and the namespaces below it that `query` selects, newest first.
    /// Labels compare whole: the prefix `["a"]` covers `["a", "b"]` but not `["ab"]`.
    async fn search(
        &self,
        prefix: &Namespace,
        query: &SearchQuery,
    ) -> Result<Vec<Item>, StoreError>;

    /// The namespaces holding live items that `query` selects, sorted.
    async fn list_namespaces(&self, query: &ListNamespaces) -> Result<Vec<Namespace>, StoreError>;

    /// Deletes every expired item and returns how many it deleted. Expired items are
    /// already invisible; this reclaims their space.
    async fn sweep(&self) -> Result<usize, StoreError>;
}

/// A shared store is a store: one `Arc` can serve several graphs.
#[async_trait]
impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    async fn get(&self, namespace: &Namespace, key: &str) -> Result<Option<Item>, StoreError> {
        (**self).get(namespace, key).await
    }

    async fn put(
        &self,
        namespace: &Namespace,
        key: &str,
        value: Value,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        (**self).put(namespace, key, value, ttl).await
    }

    async fn delete(&self, namespace: &Namespace, key: &str) -> Result<(), StoreError> {
        (**self).delete(namespace, key).await
    }

    async fn search(
        &self,
        prefix: &Namespace,
        query: &SearchQuery,
    ) -> Result<Vec<Item>, StoreError> {
        (**self).search(prefix, query).await
    }

    async fn list_namespaces(&self, query: &ListNamespaces) -> Result<Vec<Namespace>, StoreError> {
        (**self).list_namespaces(query).await
    }

    async fn sweep(&self) -> Result<usize, StoreError> {
        (**self).sweep().await
    }
}

/// Checks a key: it must not be empty, nor contain the NUL character (which databases
/// refuse in text). Every backend checks keys with this, so all refuse the same ones.
///
/// ```
/// use graph_core::store::{check_key, KeyFault, StoreError};
///
/// assert!(check_key("note-1").is_ok());
/// assert!(matches!(check_key(""), Err(StoreError::InvalidKey { reason: KeyFault::Empty, .. })));
/// ```
pub fn check_key(key: &str) -> Result<(), StoreError> {
    let reason = if key.is_empty() {
        KeyFault::Empty
    } else if key.contains('\0') {
        KeyFault::Nul
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidKey { key: key.to_owned(), reason })
}

/// The longest time to live backends keep, about 73,000 years, so adding it to a time
/// never overflows.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
const MAX_TTL_MICROS: i64 = i64::MAX / 4;

/// The wall clock in microseconds since the Unix epoch: how backends keep times.
pub(crate) fn now_micros() -> i64 {
    micros(SystemTime::now())
}

fn micros(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

/// The time `micros` microseconds after the Unix epoch, if it can be represented.
pub(crate) fn from_micros(micros: i64) -> Option<SystemTime> {
    let span = Duration::from_micros(micros.unsigned_abs());
    if micros >= 0 {
        UNIX_EPOCH.checked_add(span)
    } else {
        UNIX_EPOCH.checked_sub(span)
    }
}

/// A time to live in microseconds, capped at [`MAX_TTL_MICROS`].
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn ttl_micros(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX).min(MAX_TTL_MICROS)
}

/// An item from a database row: the dotted namespace, the key, the value as JSON text and
/// the times in microseconds; whatever does not read back is [`StoreError::Corrupt`].
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn decode_item(
    namespace: &str,
    key: &str,
    value: &str,
    created_at: i64,
    updated_at: i64,
) -> Result<Item, StoreError> {
    let corrupt = |reason: String| StoreError::corrupt(namespace, key, reason);
    let parsed: Namespace = namespace.parse().map_err(|e| corrupt(format!("{e}")))?;
    let value = serde_json::from_str(value).map_err(|e| corrupt(format!("value: {e}")))?;
    let time = |micros| {
        from_micros(micros).ok_or_else(|| corrupt(format!("time {micros} is out of range")))
    };
    Ok(Item::new(parsed, key, value, time(created_at)?, time(updated_at)?))
}

/// The dotted-path bounds of the namespaces strictly below `prefix`: `[prefix., prefix/)`,
/// since `/` follows `.` in every byte order.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn below(prefix: &Namespace) -> (String, String) {
    let path = prefix.to_string();
    (format!("{path}."), format!("{path}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_micros() {
        let now = from_micros(now_micros()).unwrap();
        assert_eq!(from_micros(micros(now)), Some(now));
        assert_eq!(from_micros(-1), UNIX_EPOCH.checked_sub(Duration::from_micros(1)));
    }

    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    #[test]
    fn times_to_live_are_capped() {
        assert_eq!(ttl_micros(Duration::MAX), MAX_TTL_MICROS);
        assert_eq!(ttl_micros(Duration::from_millis(3)), 3_000);
    }

    #[test]
    fn keys_are_checked() {
        assert!(check_key("ok").is_ok());
        assert!(matches!(
            check_key("a\0"),
            Err(StoreError::InvalidKey { ref key, reason: KeyFault::Nul }) if key == "a\0"
        ));
    }
}
