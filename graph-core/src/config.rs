//! Per-run settings.

/// Settings for one run of a compiled graph.
///
/// ```
/// use graph_core::RunConfig;
///
/// let config = RunConfig::default().recursion_limit(50);
/// assert_eq!(config.get_recursion_limit(), 50);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RunConfig {
    recursion_limit: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self { recursion_limit: Self::DEFAULT_RECURSION_LIMIT }
    }
}

impl RunConfig {
    /// The default [`recursion_limit`](Self::recursion_limit): 10,000 supersteps.
    pub const DEFAULT_RECURSION_LIMIT: usize = 10_000;

    /// At most this many supersteps that run nodes; a run needing more fails with
    /// [`GraphError::RecursionLimit`](crate::GraphError::RecursionLimit).
    pub fn recursion_limit(mut self, limit: usize) -> Self {
        self.recursion_limit = limit;
        self
    }

    /// The recursion limit in force.
    pub fn get_recursion_limit(&self) -> usize {
        self.recursion_limit
    }
}
