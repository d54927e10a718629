//! The in-process cache: a concurrent map, with expiry on tokio's clock.

use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;
use serde_json::Value;
use tokio::time::Instant;

use super::{CacheEntry, CacheError, CacheKey, NodeCache};

/// Keeps cached results in this process's memory, until they expire or the process ends.
///
/// Expiry follows tokio's clock, so tests can pause and advance it. Clones share the entries.
///
/// ```
/// use graph_core::cache::MemoryCache;
///
/// let cache = MemoryCache::new();
/// assert!(cache.is_empty());
/// ```
#[derive(Clone, Default)]
pub struct MemoryCache {
    entries: Arc<DashMap<CacheKey, Stored>>,
}

struct Stored {
    value: Value,
    expires: Option<Instant>,
}

impl Stored {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many entries are stored, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache").field("entries", &self.entries.len()).finish()
    }
}

#[async_trait]
impl NodeCache for MemoryCache {
    async fn get(&self, keys: &[CacheKey]) -> Result<Vec<Option<Value>>, CacheError> {
        let now = Instant::now();
        Ok(keys
            .iter()
            .map(|key| {
                let found = self.entries.get(key)?;
                if found.live(now) {
                    return Some(found.value.clone());
                }
                drop(found);
                self.entries.remove_if(key, |_, stored| !stored.live(now));
                None
            })
            .collect())
    }

    async fn set(&self, entries: Vec<CacheEntry>) -> Result<(), CacheError> {
        let now = Instant::now();
        for CacheEntry { key, value, ttl } in entries {
            // A time to live too long for the clock to count keeps the entry forever.
            let expires = ttl.and_then(|ttl| now.checked_add(ttl));
            self.entries.insert(key, Stored { value, expires });
        }
        Ok(())
    }

    async fn clear(&self, nodes: &[String]) -> Result<(), CacheError> {
        if !nodes.is_empty() {
            self.entries.retain(|key, _| !nodes.contains(&key.node));
        }
        Ok(())
    }
}
