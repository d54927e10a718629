//! Per-node options: deferral, declared destinations, and the parallel-execution controls
//! (concurrency cap, timeout, retries, error handler).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::context::{self, AnyContext};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::retry::RetryPolicy;
use crate::cache::{CachePolicy, NodeCacheSpec};
use crate::error::NodeFailure;
use crate::state::State;
use crate::thread::Codec;

/// Turns a node's final failure into a state update, so the run goes on; it may read the
/// run's context.
pub(crate) type ErrorHandler<S> =
    Arc<dyn Fn(&NodeFailure, &AnyContext) -> <S as State>::Update + Send + Sync>;

/// Options for one node, given to [`StateGraph::add_node_with`](crate::StateGraph::add_node_with).
///
/// `C` is the graph's run context type, which
/// [`on_error_with_context`](Self::on_error_with_context) handlers read.
///
/// ```
/// use graph_core::prelude::*;
/// use graph_core::{NodeOptions, RetryPolicy};
/// use std::{sync::Arc, time::Duration};
///
/// #[derive(State, Clone, Default)]
/// struct Research {
///     #[reducer(append)]
///     notes: Vec<String>,
///     #[reducer(append)]
///     failures: Vec<String>,
/// }
///
/// async fn search(_: Arc<Research>) -> ResearchUpdate {
///     Research::update().notes(vec!["found it".into()])
/// }
///
/// let graph = StateGraph::<Research>::new().add_node_with(
///     "search",
///     search,
///     NodeOptions::new()
///         .concurrency(4)                      // a rate-limited API
///         .timeout(Duration::from_secs(10))    // per attempt
///         .retry(RetryPolicy::new(3))
///         .on_error(|failure| Research::update().failures(vec![failure.to_string()])),
/// );
/// # let _ = graph;
/// ```
#[must_use]
pub struct NodeOptions<S: State, C = ()> {
    pub(crate) defer: bool,
    pub(crate) destinations: Vec<String>,
    pub(crate) concurrency: Option<usize>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) on_error: Option<ErrorHandler<S>>,
    pub(crate) cache: Option<Arc<NodeCacheSpec<S>>>,
    context: PhantomData<fn(&C)>,
}

impl<S: State, C> Default for NodeOptions<S, C> {
    fn default() -> Self {
        Self {
            defer: false,
            destinations: Vec::new(),
            concurrency: None,
            timeout: None,
            retry: None,
            on_error: None,
            cache: None,
            context: PhantomData,
        }
    }
}

impl<S: State, C: Send + Sync + 'static> NodeOptions<S, C> {
    /// Default options: run as soon as triggered, once, without limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs the node only when nothing else is left to run, for example to aggregate the
    /// results of branches of uneven length.
    pub fn defer(mut self) -> Self {
        self.defer = true;
        self
    }

    /// Declares the nodes this node's [`Command`](crate::Command)s may `goto`, so they are
    /// validated and drawn. A node taking [`Input<T>`](crate::Input) must be declared somewhere
    /// to be reachable by `Send`.
    pub fn destinations<I>(mut self, nodes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.destinations.extend(nodes.into_iter().map(Into::into));
        self
    }

    /// At most `limit` tasks of this node run at once, across every run of the compiled graph
    /// (a rate-limited API called by many `Send`s), and in distributed runs across every
    /// worker. Others wait their turn.
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.concurrency = Some(limit.max(1));
        self
    }

    /// Fails an attempt that runs longer than `timeout` with [`NodeError::TimedOut`](crate::NodeError::TimedOut).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs a failed attempt again as `policy` says.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Turns the node's final failure (error, timeout or panic) into a state update instead of
    /// failing the run: the best-effort mode, where a fan-out keeps its partial results and
    /// records which branches failed.
    pub fn on_error(
        mut self,
        handler: impl Fn(&NodeFailure) -> S::Update + Send + Sync + 'static,
    ) -> Self {
        self.on_error =
            Some(Arc::new(move |failure: &NodeFailure, _: &AnyContext| handler(failure)));
        self
    }

    /// Like [`on_error`](Self::on_error), for a handler that also reads the graph's run
    /// context, `&C`.
    ///
    /// ```
    /// use graph_core::prelude::*;
    /// use graph_core::NodeFailure;
    /// use std::sync::Arc;
    ///
    /// struct Service {
    ///     name: String,
    /// }
    ///
    /// #[derive(State, Clone, Default)]
    /// struct Report {
    ///     #[reducer(append)]
    ///     failures: Vec<String>,
    /// }
    ///
    /// async fn fetch(_: Arc<Report>) -> Result<ReportUpdate, std::io::Error> {
    ///     Err(std::io::Error::other("offline"))
    /// }
    ///
    /// fn record(failure: &NodeFailure, service: &Service) -> ReportUpdate {
    ///     Report::update().failures(vec![format!("{}: {}", service.name, failure.error)])
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let graph = StateGraph::<Report, Service>::new()
    ///     .add_node_with("fetch", fetch, NodeOptions::new().on_error_with_context(record))
    ///     .add_edge(START, "fetch")
    ///     .compile_with_context(Service { name: "weather".into() })?;
    /// let out = graph.invoke(Report::default(), RunConfig::default()).await?;
    /// assert_eq!(out.finished()?.failures, ["weather: offline"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_error_with_context(
        mut self,
        handler: impl Fn(&NodeFailure, &C) -> S::Update + Send + Sync + 'static,
    ) -> Self {
        self.on_error = Some(Arc::new(move |failure: &NodeFailure, context: &AnyContext| {
            handler(failure, context::typed(context))
        }));
        self
    }

    /// Caches the node's results as `policy` says, in the backend given to
    /// [`CompiledGraph::with_cache`](crate::CompiledGraph::with_cache); in a graph without
    /// one, the node simply runs.
    ///
    /// The key is the node's input: the whole state for a node triggered by edges, the
    /// payload for a `Send`. A hit skips the node; its stored updates and destinations are
    /// applied as if it had run. Cache nodes whose result depends only on their input: a node
    /// that reads the clock, asks a person or writes to a store should not be cached.
    ///
    /// ```
    /// use graph_core::cache::{CachePolicy, MemoryCache};
    /// use graph_core::prelude::*;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// #[derive(State, Clone, Default, serde::Serialize, serde::Deserialize)]
    /// struct Lookup {
    ///     query: String,
    ///     answer: String,
    /// }
    ///
    /// static CALLS: AtomicUsize = AtomicUsize::new(0);
    ///
    /// async fn search(s: Arc<Lookup>) -> LookupUpdate {
    ///     CALLS.fetch_add(1, Ordering::SeqCst);
    ///     Lookup::update().answer(format!("results for {}", s.query))
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let graph = StateGraph::<Lookup>::new()
    ///     .add_node_with("search", search, NodeOptions::new().cache(CachePolicy::new()))
    ///     .add_edge(START, "search")
    ///     .compile()?
    ///     .with_cache(MemoryCache::new());
    ///
    /// for _ in 0..3 {
    ///     let out = graph.invoke(Lookup::update().query("rust"), RunConfig::default()).await?;
    ///     assert_eq!(out.finished()?.answer, "results for rust");
    /// }
    /// assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn cache(mut self, policy: CachePolicy) -> Self
    where
        S: Serialize + DeserializeOwned,
        S::Update: Serialize + DeserializeOwned,
    {
        self.cache = Some(Arc::new(NodeCacheSpec { policy, codec: Codec::new() }));
        self
    }

    /// The options with the context type forgotten: the handler already erased it.
    pub(crate) fn erase(self) -> NodeOptions<S> {
        NodeOptions {
            defer: self.defer,
            destinations: self.destinations,
            concurrency: self.concurrency,
            timeout: self.timeout,
            retry: self.retry,
            on_error: self.on_error,
            cache: self.cache,
            context: PhantomData,
        }
    }
}

impl<S: State, C> fmt::Debug for NodeOptions<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeOptions")
            .field("defer", &self.defer)
            .field("destinations", &self.destinations)
            .field("concurrency", &self.concurrency)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("on_error", &self.on_error.is_some())
            .field("cache", &self.cache.as_ref().map(|spec| &spec.policy))
            .finish()
    }
}
