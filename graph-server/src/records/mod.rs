//! The server's own records: threads and runs, with their status and metadata, kept by a
//! backend (memory, SQLite or PostgreSQL). The states themselves live in the checkpointer.

use std::sync::Arc;

use async_trait::async_trait;
use graph_core::checkpoint::ThreadMark;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;

mod memory;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub(crate) use memory::MemoryRecords;
#[cfg(feature = "postgres")]
pub(crate) use postgres::PostgresRecords;
#[cfg(feature = "sqlite")]
pub(crate) use sqlite::SqliteRecords;

/// The records' tables, the same in SQLite and PostgreSQL: each record's JSON body, with the
/// columns the backends look records up by.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS graph_server_threads (
    thread_id TEXT PRIMARY KEY,
    owner TEXT,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS graph_server_runs (
    run_id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS graph_server_runs_by_thread ON graph_server_runs (thread_id);
CREATE INDEX IF NOT EXISTS graph_server_runs_by_status ON graph_server_runs (status);
";

/// An RFC 3339 timestamp of now, as the API shows times.
pub(crate) fn now() -> String {
    rfc3339(std::time::SystemTime::now())
}

/// A time in RFC 3339, to the microsecond.
pub(crate) fn rfc3339(time: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time)
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

/// A thread's status: `busy` while a run of it runs, then what its last run left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ThreadStatus {
    Idle,
    Busy,
    Interrupted,
    Error,
}

/// A thread as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Thread {
    pub thread_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub metadata: Map<String, Value>,
    pub status: ThreadStatus,
    /// The state its last run left.
    pub values: Value,
    /// Pending interrupts, by the node that raised them.
    pub interrupts: Map<String, Value>,
    /// Why its last run failed, if it did.
    pub error: Option<Value>,
    /// Who made it: only the same API key sees it. `None` when the server has no keys. Kept
    /// beside the thread by the backends, never shown.
    #[serde(skip)]
    pub owner: Option<String>,
}

/// A run's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RunStatus {
    Pending,
    Running,
    Success,
    Error,
    Interrupted,
}

impl RunStatus {
    /// Whether a run of this status has yet to end.
    pub fn unfinished(self) -> bool {
        matches!(self, RunStatus::Pending | RunStatus::Running)
    }
}

/// A run as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Run {
    pub run_id: String,
    pub thread_id: String,
    pub assistant_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub status: RunStatus,
    pub metadata: Map<String, Value>,
    pub kwargs: Value,
    pub multitask_strategy: String,
    /// Where the thread stood when the run first started (absent before it starts): what
    /// a rollback takes the thread back to. Kept by the server, never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<ThreadMark>,
}

impl Run {
    /// The thread's latest checkpoint when the run first started (`None` before it starts,
    /// and on a thread that had none): a run found unfinished after a restart resumes from
    /// its last checkpoint when the thread moved on since, and starts over when it did not.
    pub fn started_from(&self) -> Option<&str> {
        self.started_at.as_ref()?.latest.get(&self.thread_id).map(String::as_str)
    }

    /// The run as the API shows it: without what the server keeps for itself.
    pub fn shown(&self) -> Value {
        let mut shown = serde_json::to_value(self).unwrap_or_default();
        if let Value::Object(fields) = &mut shown {
            fields.remove("started_at");
        }
        shown
    }
}

/// Where records are kept: rows of JSON by id, nothing more. [`Records`] adds the rules.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// Adds `thread`; `false` (and nothing written) when its id is taken.
    async fn insert_thread(&self, thread: &Thread) -> Result<bool, ApiError>;
    /// Replaces the stored thread of the same id.
    async fn update_thread(&self, thread: &Thread) -> Result<(), ApiError>;
    /// The thread `id`, whoever owns it.
    async fn thread(&self, id: &str) -> Result<Option<Thread>, ApiError>;
    /// Every thread of `owner`.
    async fn threads(&self, owner: Option<&str>) -> Result<Vec<Thread>, ApiError>;
    /// Deletes thread `id` and its runs.
    async fn delete_thread(&self, id: &str) -> Result<(), ApiError>;
    /// Adds or replaces `run`.
    async fn put_run(&self, run: &Run) -> Result<(), ApiError>;
    /// The run `id`.
    async fn run(&self, id: &str) -> Result<Option<Run>, ApiError>;
    /// The runs of thread `thread_id`, in any order.
    async fn runs(&self, thread_id: &str) -> Result<Vec<Run>, ApiError>;
    /// Deletes run `id`.
    async fn delete_run(&self, id: &str) -> Result<(), ApiError>;
    /// Every run still pending or running, in any order.
    async fn unfinished_runs(&self) -> Result<Vec<Run>, ApiError>;

    /// Reads thread `id`, changes it, and writes it back; `None` when there is none. A
    /// backend shared by several processes makes this atomic across them; the default, a
    /// read then a write, relies on [`Records`]' lock within one process.
    async fn change_thread(
        &self,
        id: &str,
        change: &mut Change<'_, Thread>,
    ) -> Result<Option<Thread>, ApiError> {
        let Some(mut thread) = self.thread(id).await? else { return Ok(None) };
        change(&mut thread);
        self.update_thread(&thread).await?;
        Ok(Some(thread))
    }

    /// Reads run `id`, changes it, and writes it back, as [`change_thread`](Self::change_thread)
    /// does a thread; nothing when there is no such run.
    async fn change_run(&self, id: &str, change: &mut Change<'_, Run>) -> Result<(), ApiError> {
        let Some(mut run) = self.run(id).await? else { return Ok(()) };
        change(&mut run);
        self.put_run(&run).await
    }
}

/// A change to a record, applied while it is read and written back.
pub(crate) type Change<'a, T> = dyn FnMut(&mut T) + Send + 'a;

/// `change` as a [`Change`], stamping the record's update time.
fn stamped<T>(
    change: impl FnOnce(&mut T) + Send,
    updated_at: impl Fn(&mut T) -> &mut String + Send,
) -> impl FnMut(&mut T) + Send {
    let mut change = Some(change);
    move |record| {
        if let Some(change) = change.take() {
            change(record);
        }
        *updated_at(record) = now();
    }
}

/// Threads and runs, with their owners checked, on a backend.
#[derive(Clone)]
pub(crate) struct Records {
    backend: Arc<dyn Backend>,
    /// Changes of one server are read, changed and written one at a time, so two never
    /// overwrite each other's fields.
    changes: Arc<tokio::sync::Mutex<()>>,
}

impl Records {
    /// Records kept in `backend`.
    pub fn new(backend: impl Backend) -> Self {
        Self { backend: Arc::new(backend), changes: Arc::default() }
    }

    /// Adds a thread; fails with 409 if its id is taken.
    pub async fn insert_thread(&self, thread: Thread) -> Result<Thread, ApiError> {
        if self.backend.insert_thread(&thread).await? {
            Ok(thread)
        } else {
            Err(ApiError::Exists(thread.thread_id))
        }
    }

    /// The thread `id`, if `owner` may see it (a 404 otherwise, as if it did not exist).
    pub async fn thread(&self, id: &str, owner: Option<&str>) -> Result<Thread, ApiError> {
        let thread = self.backend.thread(id).await?;
        thread
            .filter(|thread| thread.owner.as_deref() == owner)
            .ok_or_else(|| ApiError::not_found("thread", id))
    }

    /// Every thread `owner` may see.
    pub async fn threads(&self, owner: Option<&str>) -> Result<Vec<Thread>, ApiError> {
        self.backend.threads(owner).await
    }

    /// Changes thread `id`; returns the changed thread, or `None` when there is none.
    pub async fn update_thread(
        &self,
        id: &str,
        change: impl FnOnce(&mut Thread) + Send,
    ) -> Result<Option<Thread>, ApiError> {
        let _one_at_a_time = self.changes.lock().await;
        let mut change = stamped(change, |thread: &mut Thread| &mut thread.updated_at);
        self.backend.change_thread(id, &mut change).await
    }

    /// Deletes thread `id` and its runs.
    pub async fn delete_thread(&self, id: &str) -> Result<(), ApiError> {
        self.backend.delete_thread(id).await
    }

    /// Adds a run.
    pub async fn insert_run(&self, run: &Run) -> Result<(), ApiError> {
        self.backend.put_run(run).await
    }

    /// Run `run_id` of thread `thread_id`.
    pub async fn run(&self, thread_id: &str, run_id: &str) -> Result<Run, ApiError> {
        let run = self.backend.run(run_id).await?;
        run.filter(|run| run.thread_id == thread_id)
            .ok_or_else(|| ApiError::not_found("run", run_id))
    }

    /// Run `run_id`, whichever thread it is of.
    #[cfg(feature = "postgres")]
    pub async fn find_run(&self, run_id: &str) -> Result<Option<Run>, ApiError> {
        self.backend.run(run_id).await
    }

    /// The state thread `id`'s last run left (`null` when there is no such thread), whoever
    /// owns it.
    #[cfg(feature = "postgres")]
    pub async fn values(&self, id: &str) -> Result<Value, ApiError> {
        Ok(self.backend.thread(id).await?.map(|thread| thread.values).unwrap_or_default())
    }

    /// The runs of a thread, newest first.
    pub async fn runs(&self, thread_id: &str) -> Result<Vec<Run>, ApiError> {
        let mut runs = self.backend.runs(thread_id).await?;
        runs.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.run_id.cmp(&a.run_id)));
        Ok(runs)
    }

    /// Sets a run's status.
    pub async fn set_run_status(&self, run_id: &str, status: RunStatus) -> Result<(), ApiError> {
        self.change_run(run_id, |run| run.status = status).await
    }

    /// Marks a run as running, from where its thread stands (`mark`); returns where the run
    /// first started. A later attempt of a run (after its worker or server died) keeps the
    /// first attempt's mark: whether the run's input was applied is judged against where it
    /// first started (so a second attempt that dies before saving anything cannot make a
    /// third apply the input again), and a rollback goes back to before the first attempt.
    pub async fn start_run(&self, run_id: &str, mark: ThreadMark) -> Result<ThreadMark, ApiError> {
        let mut first = None;
        self.change_run(run_id, |run| {
            if run.status != RunStatus::Running || run.started_at.is_none() {
                run.started_at = Some(mark.clone());
            }
            run.status = RunStatus::Running;
            first.clone_from(&run.started_at);
        })
        .await?;
        Ok(first.unwrap_or(mark))
    }

    async fn change_run(
        &self,
        run_id: &str,
        change: impl FnOnce(&mut Run) + Send,
    ) -> Result<(), ApiError> {
        let _one_at_a_time = self.changes.lock().await;
        let mut change = stamped(change, |run: &mut Run| &mut run.updated_at);
        self.backend.change_run(run_id, &mut change).await
    }

    /// Every run still pending or running, oldest first.
    pub async fn unfinished_runs(&self) -> Result<Vec<Run>, ApiError> {
        let mut runs = self.backend.unfinished_runs().await?;
        runs.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.run_id.cmp(&b.run_id)));
        Ok(runs)
    }

    /// Deletes a run's record.
    pub async fn delete_run(&self, run_id: &str) -> Result<(), ApiError> {
        self.backend.delete_run(run_id).await
    }
}

/// A record's JSON from its row.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn decode<T: serde::de::DeserializeOwned>(kind: &str, id: &str, body: &str) -> Result<T, ApiError> {
    serde_json::from_str(body)
        .map_err(|error| ApiError::Storage(format!("{kind} `{id}` is corrupt: {error}")))
}

/// A run's status as its row keeps it, for finding unfinished runs.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Pending => "pending",
        RunStatus::Running => "running",
        RunStatus::Success => "success",
        RunStatus::Error => "error",
        RunStatus::Interrupted => "interrupted",
    }
}

/// A record's row from its JSON.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn encode(record: &impl Serialize) -> String {
    serde_json::to_string(record).expect("records are JSON values and strings")
}

#[cfg(test)]
pub(crate) mod conformance;
