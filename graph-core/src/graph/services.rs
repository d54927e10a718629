//! What a compiled graph lends its runs besides checkpoints: the node cache and the store.

use std::sync::Arc;

use super::CompiledGraph;
use crate::cache::NodeCache;
use crate::error::GraphError;
use crate::state::State;
use crate::store::Store;

/// A graph's shared backends. A subgraph's run uses its own graph's, and its parent run's
/// where its graph has none.
#[derive(Clone, Default)]
pub(crate) struct Services {
    pub(crate) cache: Option<Arc<dyn NodeCache>>,
    pub(crate) store: Option<Arc<dyn Store>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("cache", &self.cache.is_some())
            .field("store", &self.store.is_some())
            .finish()
    }
}

impl Services {
    /// These services, with the gaps filled from `inherited`.
    pub(crate) fn or(&self, inherited: Option<&Services>) -> Services {
        let Some(inherited) = inherited else { return self.clone() };
        Services {
            cache: self.cache.clone().or_else(|| inherited.cache.clone()),
            store: self.store.clone().or_else(|| inherited.store.clone()),
        }
    }
}

impl<S: State, C: Send + Sync + 'static> CompiledGraph<S, C> {
    /// Caches the results of the nodes that have a [`CachePolicy`](crate::cache::CachePolicy)
    /// (see [`NodeOptions::cache`](crate::NodeOptions::cache)) in `cache`. Subgraphs without
    /// a cache of their own use it too.
    pub fn with_cache(mut self, cache: impl NodeCache) -> Self {
        self.services.cache = Some(Arc::new(cache));
        self
    }

    /// Lends `store` to every run: nodes reach it with [`NodeContext::store`](crate::NodeContext::store),
    /// and so do the subgraphs without a store of their own.
    ///
    /// ```
    /// use graph_core::prelude::*;
    /// use graph_core::store::{MemoryStore, Namespace, Store};
    /// use serde_json::json;
    /// use std::sync::Arc;
    ///
    /// #[derive(State, Clone, Default)]
    /// struct Chat {
    ///     user: String,
    ///     greeting: String,
    /// }
    ///
    /// async fn greet(s: Arc<Chat>, ctx: NodeContext) -> Result<ChatUpdate, graph_core::BoxError> {
    ///     let store = ctx.store().ok_or("no store")?;
    ///     let profile = Namespace::new(["users", s.user.as_str()])?;
    ///     let name = match store.get(&profile, "name").await? {
    ///         Some(item) => item.value.as_str().unwrap_or_default().to_owned(),
    ///         None => s.user.clone(),
    ///     };
    ///     Ok(Chat::update().greeting(format!("hello again, {name}")))
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = MemoryStore::new();
    /// store.put(&Namespace::new(["users", "u1"])?, "name", json!("Ada"), None).await?;
    /// let graph = StateGraph::<Chat>::new()
    ///     .add_node("greet", greet)
    ///     .add_edge(START, "greet")
    ///     .compile()?
    ///     .with_store(store);
    /// let out = graph.invoke(Chat::update().user("u1"), RunConfig::default()).await?;
    /// assert_eq!(out.finished()?.greeting, "hello again, Ada");
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_store(mut self, store: impl Store) -> Self {
        self.services.store = Some(Arc::new(store));
        self
    }

    /// Removes the cached results of the named nodes, so they run again. An empty list removes
    /// nothing.
    ///
    /// Fails with [`GraphError::UnknownNode`] for a name that is not a node of this graph,
    /// before removing anything, and with [`GraphError::NoCache`] on a graph without a cache.
    /// The entries of a subgraph's nodes, stored in this cache under their own names, are
    /// cleared through the backend's [`NodeCache::clear`].
    pub async fn clear_cache<I>(&self, nodes: I) -> Result<(), GraphError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let cache = self.services.cache.as_ref().ok_or(GraphError::NoCache)?;
        let mut names = Vec::new();
        for node in nodes {
            let node = node.as_ref();
            if self.inner.id(node).is_none() {
                return Err(GraphError::UnknownNode { node: node.to_owned() });
            }
            names.push(node.to_owned());
        }
        if names.is_empty() {
            return Ok(());
        }
        Ok(cache.clear(&names).await?)
    }
}
