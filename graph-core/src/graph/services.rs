//! What a compiled graph lends its runs besides checkpoints: the node cache.

use std::sync::Arc;

use super::CompiledGraph;
use crate::cache::NodeCache;
use crate::error::GraphError;
use crate::state::State;

/// A graph's shared backends. A subgraph's run uses its own graph's, and its parent run's
/// where its graph has none.
#[derive(Clone, Default)]
pub(crate) struct Services {
    pub(crate) cache: Option<Arc<dyn NodeCache>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").field("cache", &self.cache.is_some()).finish()
    }
}

impl Services {
    /// These services, with the gaps filled from `inherited`.
    pub(crate) fn or(&self, inherited: Option<&Services>) -> Services {
        let Some(inherited) = inherited else { return self.clone() };
        Services { cache: self.cache.clone().or_else(|| inherited.cache.clone()) }
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

    /// Removes the cached results of the named nodes, so they run again. An empty list removes
    /// nothing.
    ///
    /// Fails with [`GraphError::UnknownNode`] for a name that is not a node of this graph,
    /// before removing anything, and with [`GraphError::NoCache`] on a graph without a cache.
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
