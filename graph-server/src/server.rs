//! The server's configuration, and what its handlers share.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State as Shared_};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use graph_core::checkpoint::{Checkpointer, MemorySaver};
use graph_core::store::{MemoryStore, Store};
use graph_core::{CompiledGraph, GraphInput, State};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{ApiError, ConfigError};
use crate::records::{now, MemoryRecords, Records, Thread};
use crate::runner::{Handle, Launch, Runner, Saved};
use crate::served::ServedGraph;

/// Attaches the server's checkpointer and store to a graph, once they are known.
type Attach = Box<dyn FnOnce(Arc<dyn Checkpointer>, Arc<dyn Store>) -> Arc<dyn ServedGraph> + Send>;

/// A graph to serve, before the server's storage is known.
struct Registered {
    name: String,
    attach: Attach,
    /// The JSON Schema of the graph's state, when it was served with one.
    state_schema: Option<Value>,
    /// The task queue whose workers run the graph's steps, when it was served on one.
    #[cfg(feature = "postgres")]
    task_queue: Option<graph_core::distributed::TaskQueue>,
}

/// An HTTP server for compiled graphs: configure it, then take its [`router`](Self::router).
///
/// Each graph becomes an assistant whose id is the graph's name (a UUID derived from the
/// name is accepted too, as the LangGraph Platform's clients expect).
#[must_use]
pub struct Server {
    graphs: Vec<Registered>,
    checkpointer: Option<Arc<dyn Checkpointer>>,
    store: Option<Arc<dyn Store>>,
    records: Option<Records>,
    /// Whether this server alone owns its records, and so carries on the runs it finds
    /// unfinished when it starts.
    sole_owner: bool,
    api_keys: HashSet<String>,
    body_limit: usize,
    mermaid: Option<PathBuf>,
    runner: Arc<Runner>,
    /// The run queue shared through PostgreSQL, with how many runs this server takes from
    /// it at once, and how long a silent worker keeps its runs.
    #[cfg(feature = "postgres")]
    queue: Option<Arc<crate::queue::Queue>>,
    workers: usize,
    worker_timeout: std::time::Duration,
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

impl Server {
    /// A server with no graphs, keeping everything in memory, open to every client.
    pub fn new() -> Self {
        Self {
            graphs: Vec::new(),
            checkpointer: None,
            store: None,
            records: None,
            sole_owner: false,
            api_keys: HashSet::new(),
            body_limit: 2 * 1024 * 1024,
            mermaid: None,
            runner: Arc::new(Runner::default()),
            #[cfg(feature = "postgres")]
            queue: None,
            workers: 10,
            worker_timeout: std::time::Duration::from_secs(30),
        }
    }

    /// Serves `graph` as the assistant `name`. The server gives it its checkpointer and
    /// store, replacing any it had. Its schemas (`GET /assistants/{id}/schemas`) are `null`:
    /// see [`graph_with_schema`](Self::graph_with_schema).
    pub fn graph<S, C>(self, name: impl Into<String>, graph: CompiledGraph<S, C>) -> Self
    where
        S: State + Serialize + DeserializeOwned,
        S::Update: Serialize + DeserializeOwned + GraphInput<S>,
        C: Send + Sync + 'static,
    {
        self.register(name.into(), graph, None)
    }

    /// Serves `graph` as [`graph`](Self::graph) does, with its state's JSON Schema at
    /// `GET /assistants/{id}/schemas`, which clients use to build input forms: the state
    /// and output schemas are the state's, and the input schema is the state's with no field
    /// required, since a run's input updates any of the fields.
    ///
    /// ```
    /// use graph_core::prelude::*;
    /// use graph_server::Server;
    ///
    /// #[derive(State, Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
    /// #[derive(schemars::JsonSchema)]
    /// struct Ticket {
    ///     /// What the customer wrote.
    ///     text: String,
    /// }
    ///
    /// # fn main() -> Result<(), graph_core::BuildError> {
    /// let graph = StateGraph::<Ticket>::new()
    ///     .add_node("triage", |_: std::sync::Arc<Ticket>| async { Ticket::update() })
    ///     .add_edge(START, "triage")
    ///     .compile()?;
    /// let router = Server::new().graph_with_schema("tickets", graph).router();
    /// # drop(router);
    /// # Ok(())
    /// # }
    /// ```
    pub fn graph_with_schema<S, C>(
        self,
        name: impl Into<String>,
        graph: CompiledGraph<S, C>,
    ) -> Self
    where
        S: State + Serialize + DeserializeOwned + schemars::JsonSchema,
        S::Update: Serialize + DeserializeOwned + GraphInput<S>,
        C: Send + Sync + 'static,
    {
        let schema = schemars::SchemaGenerator::default().into_root_schema_for::<S>();
        self.register(name.into(), graph, Some(schema.to_value()))
    }

    fn register<S, C>(
        mut self,
        name: String,
        graph: CompiledGraph<S, C>,
        state_schema: Option<Value>,
    ) -> Self
    where
        S: State + Serialize + DeserializeOwned,
        S::Update: Serialize + DeserializeOwned + GraphInput<S>,
        C: Send + Sync + 'static,
    {
        let attach: Attach = Box::new(move |checkpointer, store| {
            Arc::new(graph.with_checkpointer(checkpointer).with_store(store))
        });
        self.graphs.push(Registered {
            name,
            attach,
            state_schema,
            #[cfg(feature = "postgres")]
            task_queue: None,
        });
        self
    }

    /// Serves `graph` as [`graph`](Self::graph) does, its runs sending the tasks of every
    /// step to the [`Worker`](graph_core::distributed::Worker)s of `queue` that register the
    /// graph as `name`: each run's configuration gets
    /// [`Executor::queue(queue, name)`](graph_core::Executor::queue). The graph is the same,
    /// and so are the run's events, its result and its checkpoints; each task's end in the
    /// `tasks` stream mode (and the web view's timeline) names the worker that ran it.
    ///
    /// The workers read each step's checkpoint from the queue's database, so the server keeps
    /// its checkpoints with the queue's checkpointer, [`TaskQueue::saver`]: that is the
    /// server's checkpointer when none is set, and any other (such as the one
    /// [`sqlite`](Self::sqlite) or [`postgres`](Self::postgres) sets) makes
    /// [`try_router`](Self::try_router) fail with [`ConfigError::CheckpointerNotOnQueue`]:
    /// set `.checkpointer(queue.saver())` after them. Serve every graph on a queue with one
    /// `TaskQueue` (or its clones).
    ///
    /// ```no_run
    /// use graph_core::distributed::{TaskQueue, Worker};
    /// use graph_core::prelude::*;
    /// use graph_core::CancellationToken;
    /// use graph_server::Server;
    ///
    /// #[derive(State, Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
    /// struct Count {
    ///     n: u64,
    /// }
    ///
    /// fn graph() -> CompiledGraph<Count> {
    ///     StateGraph::<Count>::new()
    ///         .add_node("one", |_: std::sync::Arc<Count>| async { Count::update().n(1) })
    ///         .add_edge(START, "one")
    ///         .compile()
    ///         .expect("a valid graph")
    /// }
    ///
    /// # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    /// let database = "postgres://postgres@127.0.0.1/test";
    /// let queue = TaskQueue::connect(database, "counts").await?;
    /// // A worker, here or in any process on any machine, runs the steps' tasks.
    /// let worker = Worker::new(queue.clone()).id("worker-a").graph("count", graph());
    /// tokio::spawn(worker.run(CancellationToken::new()));
    /// let router = Server::new()
    ///     .graph_on_queue("count", graph(), &queue)
    ///     .postgres(database)
    ///     .await?
    ///     .checkpointer(queue.saver())
    ///     .try_router()?;
    /// # drop(router);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`TaskQueue::saver`]: graph_core::distributed::TaskQueue::saver
    #[cfg(feature = "postgres")]
    pub fn graph_on_queue<S, C>(
        mut self,
        name: impl Into<String>,
        graph: CompiledGraph<S, C>,
        queue: &graph_core::distributed::TaskQueue,
    ) -> Self
    where
        S: State + Serialize + DeserializeOwned,
        S::Update: Serialize + DeserializeOwned + GraphInput<S>,
        C: Send + Sync + 'static,
    {
        let name = name.into();
        let executor = graph_core::Executor::queue(queue, name.clone());
        let attach: Attach = Box::new(move |checkpointer, store| {
            let graph = graph.with_checkpointer(checkpointer).with_store(store);
            Arc::new(crate::served::OnQueue { graph, executor })
        });
        let task_queue = Some(queue.clone());
        self.graphs.push(Registered { name, attach, state_schema: None, task_queue });
        self
    }

    /// Keeps checkpoints in `saver` (a [`MemorySaver`] when not set, or the task queue's
    /// when a graph is served [on one](Self::graph_on_queue)).
    pub fn checkpointer(mut self, saver: impl Checkpointer) -> Self {
        // A queue's checkpointer (`queue.saver()`) is kept as it is, so that it is known as
        // the queue's.
        #[cfg(feature = "postgres")]
        if let Some(saver) = (&saver as &dyn std::any::Any)
            .downcast_ref::<Arc<graph_core::checkpoint::PostgresSaver>>()
        {
            self.checkpointer = Some(saver.clone());
            return self;
        }
        self.checkpointer = Some(Arc::new(saver));
        self
    }

    /// Serves `store` at `/store` and hands it to the graphs' nodes (a [`MemoryStore`] when
    /// not set).
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Keeps everything in the SQLite file at `path` (created if missing): threads, runs,
    /// checkpoints and the store, so a restarted server carries on where it stopped. Runs
    /// the last server left pending or running are carried on when [`router`](Self::router)
    /// is called within a Tokio runtime: each resumes from its thread's last checkpoint when
    /// its input was applied, and starts over when it was not.
    ///
    /// Fails when the file cannot be opened or its tables created.
    #[cfg(feature = "sqlite")]
    pub fn sqlite(mut self, path: impl AsRef<std::path::Path>) -> Result<Self, ApiError> {
        use graph_core::checkpoint::SqliteSaver;
        use graph_core::store::SqliteStore;
        let path = path.as_ref();
        let saver = SqliteSaver::open(path).map_err(graph_core::GraphError::from)?;
        self.checkpointer = Some(Arc::new(saver));
        self.store = Some(Arc::new(SqliteStore::open(path)?));
        self.records = Some(Records::new(crate::records::SqliteRecords::open(path)?));
        self.sole_owner = true;
        Ok(self)
    }

    /// Keeps everything in the PostgreSQL database at `url` (a URL or a libpq-style string):
    /// threads, runs, checkpoints and the store, shared by every server that connects to it,
    /// with a run queue they share too. A run started on any server runs on whichever
    /// server's workers take it first (see [`workers`](Self::workers)), one run at a time
    /// per thread, and any server streams it, joins it or cancels it. When a server's
    /// workers stop (the process died, or its machine), their runs go to another server's
    /// after [`worker_timeout`](Self::worker_timeout), and each carries on from its thread's
    /// last checkpoint.
    ///
    /// Fails when the database cannot be reached or its tables created.
    #[cfg(feature = "postgres")]
    pub async fn postgres(mut self, url: &str) -> Result<Self, ApiError> {
        use graph_core::checkpoint::PostgresSaver;
        use graph_core::store::PostgresStore;
        let pool = crate::records::postgres::pool(url)?;
        let saver = PostgresSaver::with_pool(pool.clone()).await;
        self.checkpointer = Some(Arc::new(saver.map_err(graph_core::GraphError::from)?));
        self.store = Some(Arc::new(PostgresStore::with_pool(pool.clone()).await?));
        let records = crate::records::PostgresRecords::with_pool(pool.clone()).await?;
        self.records = Some(Records::new(records));
        self.queue = Some(crate::queue::Queue::connect(url, pool, self.runner.clone()).await?);
        Ok(self)
    }

    /// How many runs this server takes at once from the queue it shares with other servers
    /// (10 when not set); 0 makes a server that only answers requests. The workers start with
    /// the [`router`](Self::router), within a Tokio runtime, and take runs for as long as the
    /// process runs. Only for a server on [`postgres`](Self::postgres): the others run every
    /// run they are asked for.
    pub fn workers(mut self, runs_at_once: usize) -> Self {
        self.workers = runs_at_once;
        self
    }

    /// How long this server's workers may go without a sign of life (a heartbeat every
    /// quarter of it) before another server takes their runs (30 seconds when not set).
    /// Shorter recovers sooner from a dead server; too short gives away the runs of one
    /// that was only slow, which then run twice from the same checkpoint, the first to
    /// save it winning. Only for a server on [`postgres`](Self::postgres).
    pub fn worker_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.worker_timeout = timeout;
        self
    }

    /// Accepts `key` as an API key, sent as the `x-api-key` header or as a bearer token.
    /// Once any key is set, every request needs one, and each thread is seen only with the
    /// key that created it.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_keys.insert(key.into());
        self
    }

    /// The largest request body accepted, in bytes (2 MiB when not set); a larger one is
    /// refused with 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Serves mermaid's browser script (`mermaid.min.js`, read from `path` on each request) at
    /// `/ui/mermaid.min.js`, so the web view draws the graphs; without it the view lists their
    /// nodes and edges.
    pub fn mermaid_script(mut self, path: impl Into<PathBuf>) -> Self {
        self.mermaid = Some(path.into());
        self
    }

    /// The HTTP API as an axum router, with the web view at `/ui`.
    ///
    /// # Panics
    ///
    /// When the server is configured so that it cannot serve, which
    /// [`try_router`](Self::try_router) reports instead: a graph
    /// [on a task queue](Self::graph_on_queue) with a checkpointer that is not the queue's.
    pub fn router(self) -> Router {
        self.try_router().unwrap_or_else(|error| panic!("{error}"))
    }

    /// The HTTP API as an axum router, with the web view at `/ui`, or the mistake in the
    /// server's configuration that keeps it from serving:
    /// [`ConfigError::CheckpointerNotOnQueue`] when a graph served
    /// [on a task queue](Self::graph_on_queue) would not find its checkpoints where the
    /// queue's workers read them.
    pub fn try_router(self) -> Result<Router, ConfigError> {
        let checkpointer = self.checkpointer.clone().unwrap_or_else(|| self.default_checkpointer());
        #[cfg(feature = "postgres")]
        for registered in &self.graphs {
            let Some(queue) = &registered.task_queue else { continue };
            let saver: Arc<dyn Checkpointer> = queue.saver();
            if !Arc::ptr_eq(&saver, &checkpointer) {
                return Err(ConfigError::CheckpointerNotOnQueue {
                    graph: registered.name.clone(),
                    queue: queue.name().to_owned(),
                });
            }
        }
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let mut assistants: Vec<Assistant> = self
            .graphs
            .into_iter()
            .map(|Registered { name, attach, state_schema, .. }| Assistant {
                assistant_id: assistant_uuid(&name),
                graph: attach(checkpointer.clone(), store.clone()),
                graph_id: name,
                state_schema,
                created_at: now(),
            })
            .collect();
        assistants.sort_by(|a, b| a.graph_id.cmp(&b.graph_id));
        let shared = Arc::new(Shared {
            assistants,
            records: self.records.unwrap_or_else(|| Records::new(MemoryRecords::default())),
            runner: self.runner,
            checkpointer,
            store,
            api_keys: self.api_keys,
            #[cfg(feature = "postgres")]
            queue: self.queue.clone(),
        });
        #[cfg(feature = "postgres")]
        if let Some(queue) = self.queue.as_ref().filter(|_| self.workers > 0) {
            crate::queue::start_worker(&shared, queue, self.workers, self.worker_timeout);
        }
        if self.sole_owner {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn(crate::api::recover(shared.clone()))),
                Err(_) => tracing::warn!(
                    "the router was built outside a Tokio runtime: runs left unfinished are not carried on"
                ),
            }
        }
        Ok(crate::api::routes()
            .layer(middleware::from_fn_with_state(shared.clone(), authorize))
            .layer(DefaultBodyLimit::max(self.body_limit))
            .with_state(shared)
            .merge(crate::web::routes(self.mermaid)))
    }

    /// The checkpointer of a server that was given none: the task queue's of the first graph
    /// served on one, else one in memory.
    fn default_checkpointer(&self) -> Arc<dyn Checkpointer> {
        #[cfg(feature = "postgres")]
        if let Some(queue) = self.graphs.iter().find_map(|graph| graph.task_queue.as_ref()) {
            return queue.saver();
        }
        Arc::new(MemorySaver::new())
    }
}

/// The assistant id the LangGraph Platform derives from a graph's name.
fn assistant_uuid(graph_id: &str) -> String {
    // The namespace the LangGraph Platform uses for its default assistants.
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6ba7b821_9dad_11d1_80b4_00c04fd430c8);
    uuid::Uuid::new_v5(&NAMESPACE, graph_id.as_bytes()).to_string()
}

/// A registered graph, served as an assistant.
pub(crate) struct Assistant {
    pub graph_id: String,
    pub assistant_id: String,
    pub graph: Arc<dyn ServedGraph>,
    /// The JSON Schema of the graph's state, if it was served with one.
    pub state_schema: Option<Value>,
    pub created_at: String,
}

/// What every handler shares.
pub(crate) struct Shared {
    pub assistants: Vec<Assistant>,
    pub records: Records,
    pub runner: Arc<Runner>,
    pub checkpointer: Arc<dyn Checkpointer>,
    pub store: Arc<dyn Store>,
    api_keys: HashSet<String>,
    /// The queue this server shares with others, on PostgreSQL.
    #[cfg(feature = "postgres")]
    pub queue: Option<Arc<crate::queue::Queue>>,
}

impl Shared {
    /// The graph a thread's runs use: the one its first run named (kept in its metadata as
    /// `graph_id`), or `None` before any run.
    pub fn thread_graph(&self, thread: &Thread) -> Option<&Arc<dyn ServedGraph>> {
        let graph_id = thread.metadata.get("graph_id")?.as_str()?;
        self.assistant(graph_id).ok().map(|assistant| &assistant.graph)
    }

    /// Starts a run: queued for any server's workers on a shared queue, in this server
    /// otherwise.
    pub async fn launch(&self, launch: Launch) -> Result<Handle, ApiError> {
        #[cfg(feature = "postgres")]
        if let Some(queue) = &self.queue {
            let graph_id = self.assistant(&launch.run.assistant_id)?.graph_id.clone();
            return queue.launch(launch, &graph_id).await;
        }
        self.runner.launch(&self.saved(), launch).await
    }

    /// Where this server's runs keep what they do.
    pub fn saved(&self) -> Saved {
        Saved { records: self.records.clone(), checkpointer: self.checkpointer.clone() }
    }

    /// Run `run_id` while it has not ended or its events are kept, wherever it runs.
    pub async fn handle(&self, run_id: &str) -> Result<Option<Handle>, ApiError> {
        if let Some(handle) = self.runner.handle(run_id) {
            return Ok(Some(handle));
        }
        #[cfg(feature = "postgres")]
        if let Some(queue) = &self.queue {
            return queue.handle(run_id).await;
        }
        Ok(None)
    }

    /// The oldest run of thread `thread_id` not yet ended, if any, wherever it runs.
    pub async fn running(&self, thread_id: &str) -> Result<Option<String>, ApiError> {
        #[cfg(feature = "postgres")]
        if self.queue.is_some() {
            let runs = self.records.runs(thread_id).await?;
            let unfinished = runs.into_iter().filter(|run| run.status.unfinished());
            return Ok(unfinished.map(|run| run.run_id).min());
        }
        Ok(self.runner.running(thread_id))
    }

    /// The assistant named by its graph's name or its id.
    pub fn assistant(&self, id: &str) -> Result<&Assistant, ApiError> {
        self.assistants
            .iter()
            .find(|a| a.graph_id == id || a.assistant_id == id)
            .ok_or_else(|| ApiError::not_found("assistant", id))
    }
}

/// Who made a request: its API key, or `None` on a server without keys.
#[derive(Debug, Clone)]
pub(crate) struct Owner(pub Option<String>);

impl Owner {
    /// The key as the records keep it.
    pub fn key(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// Refuses requests without a known key (when the server has keys), and tells the handlers
/// whose request it is.
async fn authorize(
    Shared_(shared): Shared_<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    if shared.api_keys.is_empty() {
        request.extensions_mut().insert(Owner(None));
        return next.run(request).await;
    }
    let headers = request.headers();
    let key = headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
        .or_else(|| {
            let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
            value.strip_prefix("Bearer ")
        })
        .filter(|key| shared.api_keys.contains(*key))
        .map(str::to_owned);
    match key {
        Some(key) => {
            request.extensions_mut().insert(Owner(Some(key)));
            next.run(request).await
        }
        None => ApiError::Unauthorized.into_response(),
    }
}
