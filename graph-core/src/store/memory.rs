//! The in-process store: ordered maps behind a lock, with expiry on tokio's clock.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::time::Instant;

use super::{
    check_key, from_micros, now_micros, Item, ListNamespaces, Namespace, SearchQuery, Store,
    StoreError,
};

/// Keeps items in this process's memory, until they expire or the process ends.
///
/// `created_at` and `updated_at` come from the wall clock; expiry follows tokio's clock, so
/// tests can pause and advance it. Expired items are dropped when a `get` meets them and by
/// [`Store::sweep`]. Clones share the items.
///
/// ```
/// use graph_core::store::{MemoryStore, Namespace, Store};
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), graph_core::store::StoreError> {
/// let store = MemoryStore::new();
/// let ns = Namespace::new(["docs"])?;
/// store.put(&ns, "a", json!(1), None).await?;
/// assert_eq!(store.get(&ns, "a").await?.map(|item| item.value), Some(json!(1)));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore {
    namespaces: Arc<RwLock<Namespaces>>,
}

type Namespaces = BTreeMap<Namespace, BTreeMap<String, Stored>>;

struct Stored {
    value: Value,
    created_at: i64,
    updated_at: i64,
    ttl: Option<Duration>,
    expires: Option<Instant>,
}

impl Stored {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }

    /// Restarts the time to live from `now`; a deadline past what the clock can hold
    /// means never.
    fn refresh(&mut self, now: Instant) {
        self.expires = self.ttl.and_then(|ttl| now.checked_add(ttl));
    }

    fn item(&self, namespace: &Namespace, key: &str) -> Item {
        let time = |micros| from_micros(micros).unwrap_or(std::time::UNIX_EPOCH);
        Item::new(
            namespace.clone(),
            key,
            self.value.clone(),
            time(self.created_at),
            time(self.updated_at),
        )
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Namespaces> {
        self.namespaces.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Namespaces> {
        self.namespaces.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let items: usize = self.read().values().map(BTreeMap::len).sum();
        f.debug_struct("MemoryStore").field("items", &items).finish()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, namespace: &Namespace, key: &str) -> Result<Option<Item>, StoreError> {
        check_key(key)?;
        let now = Instant::now();
        // Items without a time to live are read under the shared lock.
        match self.read().get(namespace).and_then(|keys| keys.get(key)) {
            None => return Ok(None),
            Some(stored) if stored.ttl.is_none() => return Ok(Some(stored.item(namespace, key))),
            Some(_) => {}
        }
        let mut namespaces = self.write();
        let Some(keys) = namespaces.get_mut(namespace) else { return Ok(None) };
        let Some(stored) = keys.get_mut(key) else { return Ok(None) };
        if stored.live(now) {
            stored.refresh(now);
            return Ok(Some(stored.item(namespace, key)));
        }
        keys.remove(key);
        if keys.is_empty() {
            namespaces.remove(namespace);
        }
        Ok(None)
    }

    async fn put(
        &self,
        namespace: &Namespace,
        key: &str,
        value: Value,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        check_key(key)?;
        let (now, wall) = (Instant::now(), now_micros());
        let mut namespaces = self.write();
        let keys = namespaces.entry(namespace.clone()).or_default();
        match keys.get_mut(key) {
            Some(stored) if stored.live(now) => {
                stored.value = value;
                stored.updated_at = wall.max(stored.updated_at + 1);
                stored.ttl = ttl;
                stored.refresh(now);
            }
            _ => {
                let mut fresh =
                    Stored { value, created_at: wall, updated_at: wall, ttl, expires: None };
                fresh.refresh(now);
                keys.insert(key.to_owned(), fresh);
            }
        }
        Ok(())
    }

    async fn delete(&self, namespace: &Namespace, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        let mut namespaces = self.write();
        if let Some(keys) = namespaces.get_mut(namespace) {
            keys.remove(key);
            if keys.is_empty() {
                namespaces.remove(namespace);
            }
        }
        Ok(())
    }

    async fn search(
        &self,
        prefix: &Namespace,
        query: &SearchQuery,
    ) -> Result<Vec<Item>, StoreError> {
        let now = Instant::now();
        let page = {
            let namespaces = self.read();
            let mut found: Vec<(i64, Item, bool)> = namespaces
                .iter()
                .filter(|(namespace, _)| namespace.starts_with(prefix))
                .flat_map(|(namespace, keys)| {
                    keys.iter().filter(|(_, stored)| stored.live(now)).map(|(key, stored)| {
                        (stored.updated_at, stored.item(namespace, key), stored.ttl.is_some())
                    })
                })
                .collect();
            // The maps yield namespace then key order; a stable sort keeps it among equals.
            found.sort_by_key(|(updated_at, _, _)| std::cmp::Reverse(*updated_at));
            query.page(found.into_iter().map(Ok::<_, StoreError>), |(_, item, _)| &item.value)?
        };
        if query.refresh_ttl && page.iter().any(|(_, _, expiring)| *expiring) {
            let mut namespaces = self.write();
            for (_, item, _) in page.iter().filter(|(_, _, expiring)| *expiring) {
                let stored = namespaces.get_mut(&item.namespace).and_then(|k| k.get_mut(&item.key));
                if let Some(stored) = stored.filter(|stored| stored.live(now)) {
                    stored.refresh(now);
                }
            }
        }
        Ok(page.into_iter().map(|(_, item, _)| item).collect())
    }

    async fn list_namespaces(&self, query: &ListNamespaces) -> Result<Vec<Namespace>, StoreError> {
        let now = Instant::now();
        let namespaces = self.read();
        let live = namespaces
            .iter()
            .filter(|(_, keys)| keys.values().any(|stored| stored.live(now)))
            .map(|(namespace, _)| namespace.clone());
        Ok(query.apply(live))
    }

    async fn sweep(&self) -> Result<usize, StoreError> {
        let now = Instant::now();
        let mut namespaces = self.write();
        let mut swept = 0;
        namespaces.retain(|_, keys| {
            let before = keys.len();
            keys.retain(|_, stored| stored.live(now));
            swept += before - keys.len();
            !keys.is_empty()
        });
        Ok(swept)
    }
}
