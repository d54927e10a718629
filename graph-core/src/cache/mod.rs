//! Node cache: a node's result kept for the same input, so an expensive call (a model, a
//! search) is not made again.
//!
//! A node opts in with [`NodeOptions::cache`](crate::NodeOptions::cache) and a
//! [`CachePolicy`]; the compiled graph gets a backend with
//! [`CompiledGraph::with_cache`](crate::CompiledGraph::with_cache). Before a superstep runs,
//! its cacheable tasks are looked up in one batch. A hit does not run: its stored writes go
//! through the reducers, checkpoints and streams like a fresh result, marked `cached` in the
//! `Updates` and `Tasks` events. A miss runs, and its result is stored once the step is saved.
//!
//! Backends: [`MemoryCache`] (one process), [`SqliteCache`] (one file, shared by processes)
//! and `RedisCache` (feature `redis`, shared by machines). Every backend passes the same
//! conformance suite (`conformance`, feature `test-util`).

#[cfg(feature = "test-util")]
pub mod conformance;
mod key;
mod memory;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::error::BoxError;

#[cfg(feature = "redis")]
pub use self::redis::RedisCache;
pub(crate) use key::{cache_key, NodeCacheSpec};
pub use memory::MemoryCache;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteCache;

/// How a node's results are cached: under a version, for a time, keyed by its input.
///
/// The key is the node's input (the state it reads, or its `Send` payload) in a canonical
/// serialisation, hashed together with the version. Change the version when the node's code
/// changes, so its old results are no longer found. A node that reads only part of its
/// input keys on that part with [`key`](Self::key), so that other changes still hit.
///
/// ```
/// use graph_core::cache::CachePolicy;
/// use std::time::Duration;
///
/// let policy = CachePolicy::new()
///     .version("forecast-v2")
///     .ttl(Duration::from_secs(600))
///     .key(|state| state["city"].clone());
/// assert_eq!(policy.ttl_value(), Some(Duration::from_secs(600)));
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct CachePolicy {
    version: String,
    ttl: Option<Duration>,
    key: Option<KeyFn>,
}

type KeyFn = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

impl CachePolicy {
    /// Caches forever, under the empty version, keyed by the whole input.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the node's version: entries stored under another version are never found.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Forgets an entry `ttl` after it was stored.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Keys entries by what `key` picks out of the input's JSON form (the state's fields, or
    /// the payload), instead of by the whole input.
    pub fn key(mut self, key: impl Fn(&Value) -> Value + Send + Sync + 'static) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    /// The version entries are stored under.
    pub fn version_name(&self) -> &str {
        &self.version
    }

    /// How long an entry lives, if not forever.
    pub fn ttl_value(&self) -> Option<Duration> {
        self.ttl
    }

    /// What identifies `input` in the cache.
    pub(crate) fn key_of(&self, input: Value) -> Value {
        match &self.key {
            Some(key) => key(&input),
            None => input,
        }
    }
}

impl std::fmt::Debug for CachePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachePolicy")
            .field("version", &self.version)
            .field("ttl", &self.ttl)
            .field("key", &self.key.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// Where a cached result lives: its node, and a hash of the node's version and input.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey {
    /// The node whose result it is; [`NodeCache::clear`] removes entries by node.
    pub node: String,
    /// The hex SHA-256 of the node's version and canonical input.
    pub hash: String,
}

/// One result to store.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheEntry {
    /// Where it is stored.
    pub key: CacheKey,
    /// The task's output: its updates and destinations, as JSON.
    pub value: Value,
    /// How long it lives, if not forever.
    pub ttl: Option<Duration>,
}

/// A cache backend: stores task results by key.
///
/// Expired entries must never be returned. Writers may race: the last `set` of a key wins.
/// An entry stored with a zero time to live is never found, and removes what its key held;
/// one with a time to live too long for the backend's clock lives forever.
#[async_trait]
pub trait NodeCache: Send + Sync + 'static {
    /// Looks every key up at once, returning the stored value of each, in order, or `None`
    /// for a key missing or expired.
    async fn get(&self, keys: &[CacheKey]) -> Result<Vec<Option<Value>>, CacheError>;

    /// Stores every entry, replacing what was stored under the same key.
    async fn set(&self, entries: Vec<CacheEntry>) -> Result<(), CacheError>;

    /// Removes every entry of the named nodes. An empty list removes nothing.
    async fn clear(&self, nodes: &[String]) -> Result<(), CacheError>;
}

/// A cache backend failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The backend could not be reached or refused the operation.
    #[error("cache backend failed: {0}")]
    Backend(#[source] BoxError),
    /// A stored entry cannot be read back.
    #[error("cache entry of node `{node}` is corrupt: {reason}")]
    Corrupt {
        /// The node the entry belongs to.
        node: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl CacheError {
    /// Wraps a backend's own error.
    pub fn backend(error: impl Into<BoxError>) -> Self {
        Self::Backend(error.into())
    }
}
