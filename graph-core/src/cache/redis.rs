//! The Redis cache: one string key per entry, shared by every worker on every machine.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde_json::Value;

use super::{CacheEntry, CacheError, CacheKey, NodeCache};

/// The key prefix of [`RedisCache::connect`].
const DEFAULT_PREFIX: &str = "graph-cache";

/// How many keys one `SCAN` call of [`NodeCache::clear`] looks at.
const SCAN_COUNT: usize = 1000;

/// The longest time to live given to Redis, in milliseconds: longer ones keep the entry
/// forever, as no server clock reaches their end.
const MAX_TTL_MILLIS: u128 = (i64::MAX / 2) as u128;

/// Keeps cached results in Redis, shared by every process that connects to it.
///
/// An entry is one string key, `{prefix}:{node length}:{node}:{hash}`, holding the value as
/// JSON text, with Redis's own expiry (`PX`) when it has a time to live. The node's length
/// in bytes makes the layout unambiguous whatever the node's name holds, so clearing node
/// `a` never touches node `a:b`. A lookup is one `MGET`; storing is one pipeline of `SET`s;
/// clearing a node walks its keys with `SCAN` and deletes them with `DEL`.
///
/// ```
/// use graph_core::cache::RedisCache;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
/// # if false {
/// let cache = RedisCache::connect("redis://127.0.0.1:6379").await?.with_prefix("my-app");
/// # }
/// # let cache = RedisCache::connect(&url).await?.with_prefix("my-app");
/// assert_eq!(cache.prefix(), "my-app");
/// # Ok::<(), graph_core::cache::CacheError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisCache {
    /// Connects to the server at `url`, e.g. `redis://127.0.0.1:6379`, with the key prefix
    /// `graph-cache`. A lost connection is made again on the next call.
    ///
    /// Fails with [`CacheError::Backend`] when the URL is malformed or the server cannot be
    /// reached within a few seconds.
    pub async fn connect(url: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url).map_err(CacheError::backend)?;
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500))
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(10)));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(CacheError::backend)?;
        Ok(Self { conn, prefix: DEFAULT_PREFIX.to_owned() })
    }

    /// Puts every key under `prefix` instead, so applications sharing a server keep apart.
    /// Prefixes should not nest (`app` and `app:1:x`), or one's clear may reach the other.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The prefix of every key this cache writes.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis key of `key`.
    fn key(&self, key: &CacheKey) -> String {
        format!("{}:{}:{}:{}", self.prefix, key.node.len(), key.node, key.hash)
    }

    /// The `SCAN` pattern matching every key of `node`, and no other.
    fn pattern(&self, node: &str) -> String {
        format!("{}:{}:{}:*", escape_glob(&self.prefix), node.len(), escape_glob(node))
    }
}

/// `text` with Redis's glob characters escaped, so a pattern matches it literally.
fn escape_glob(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for char in text.chars() {
        if matches!(char, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(char);
    }
    escaped
}

#[async_trait]
impl NodeCache for RedisCache {
    async fn get(&self, keys: &[CacheKey]) -> Result<Vec<Option<Value>>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<String> = keys.iter().map(|key| self.key(key)).collect();
        let stored: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&names)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(CacheError::backend)?;
        keys.iter()
            .zip(stored)
            .map(|(key, stored)| {
                stored
                    .map(|bytes| {
                        serde_json::from_slice(&bytes).map_err(|error| CacheError::Corrupt {
                            node: key.node.clone(),
                            reason: format!("the value is not JSON: {error}"),
                        })
                    })
                    .transpose()
            })
            .collect()
    }

    async fn set(&self, entries: Vec<CacheEntry>) -> Result<(), CacheError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for CacheEntry { key, value, ttl } in &entries {
            let name = self.key(key);
            let millis = ttl.map(|ttl| ttl.as_nanos().div_ceil(1_000_000));
            match millis {
                // Expired as soon as stored: what was there goes, and nothing replaces it.
                Some(0) => pipe.del(name).ignore(),
                Some(millis) if millis <= MAX_TTL_MILLIS => {
                    let text = serde_json::to_string(value).map_err(CacheError::backend)?;
                    pipe.cmd("SET").arg(name).arg(text).arg("PX").arg(millis as u64).ignore()
                }
                _ => {
                    let text = serde_json::to_string(value).map_err(CacheError::backend)?;
                    pipe.cmd("SET").arg(name).arg(text).ignore()
                }
            };
        }
        pipe.query_async::<()>(&mut self.conn.clone()).await.map_err(CacheError::backend)
    }

    async fn clear(&self, nodes: &[String]) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        for node in nodes {
            let pattern = self.pattern(node);
            let mut cursor = 0_u64;
            loop {
                let (next, found): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(SCAN_COUNT)
                    .query_async(&mut conn)
                    .await
                    .map_err(CacheError::backend)?;
                if !found.is_empty() {
                    redis::cmd("DEL")
                        .arg(&found)
                        .query_async::<()>(&mut conn)
                        .await
                        .map_err(CacheError::backend)?;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::escape_glob;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob("plain:node"), "plain:node");
        assert_eq!(escape_glob(r"a*b?c[d]e\f"), r"a\*b\?c\[d\]e\\f");
        assert_eq!(escape_glob("ünï✓*"), r"ünï✓\*");
    }
}
