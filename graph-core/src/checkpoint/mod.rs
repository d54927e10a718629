//! Checkpoints: a run's state and pending work saved after every superstep, so it can be
//! resumed after a crash or a pause, inspected, edited, replayed and forked.
//!
//! A checkpoint stores the writes its step applied (a delta), not the whole state. It
//! stores the whole state (a full snapshot) once loading it would otherwise read more than
//! about twice the state, the last snapshot and the deltas since: a thread's storage grows
//! in proportion to its state, not with the square of its length, and loading any
//! checkpoint reads at most about twice the state.

mod body;
mod finite;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "test-util")]
pub mod conformance;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use body::{decode_checkpoint, encode_checkpoint};
pub(crate) use finite::to_json;
pub use memory::MemorySaver;
#[cfg(feature = "postgres")]
pub use postgres::PostgresSaver;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteSaver;

/// The state as a checkpoint records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StateRecord {
    /// The whole state.
    Full {
        /// The serialized state.
        values: Value,
    },
    /// The writes applied on top of the parent checkpoint's state, in task order.
    Delta {
        /// `(writer, serialized update)` pairs.
        writes: Vec<(String, Value)>,
    },
}

/// A `Send` waiting for the next step, with its serialized payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SendRecord {
    /// The target node.
    pub node: String,
    /// The serialized payload.
    pub payload: Value,
}

impl SendRecord {
    /// A Send to `node` carrying `payload`.
    pub fn new(node: impl Into<String>, payload: Value) -> Self {
        Self { node: node.into(), payload }
    }
}

/// The work a checkpoint leaves for the next step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingRecord {
    /// Nodes triggered for the next step (including deferred ones still waiting).
    pub triggered: Vec<String>,
    /// Sends for the next step, in emission order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sends: Vec<SendRecord>,
    /// For each join, in declaration order, which sources have run since it last fired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub joins: Vec<Vec<bool>>,
    /// On a subgraph's last checkpoint: the nodes of the parent graph it routed to
    /// ([`Command::goto_parent`](crate::Command::goto_parent)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parent: Vec<String>,
}

impl PendingRecord {
    /// The work of a next step: triggered nodes, Sends in emission order, and for each join
    /// the sources seen.
    pub fn new(triggered: Vec<String>, sends: Vec<SendRecord>, joins: Vec<Vec<bool>>) -> Self {
        Self { triggered, sends, joins, parent: Vec::new() }
    }
}

/// Why a checkpoint was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckpointSource {
    /// A run's input.
    Input,
    /// A superstep of the run loop.
    Loop,
    /// An edit through `update_state`.
    Update,
    /// A new branch of history started from an older checkpoint.
    Fork,
}

/// What a checkpoint records about how it came to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckpointMetadata {
    /// Why it was written.
    pub source: CheckpointSource,
    /// The step it follows: -1 for an input, then 0, 1, ...
    pub step: i64,
    /// The nodes whose updates it applied, in task order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writers: Vec<String>,
    /// On a subgraph's checkpoint: the call that wrote it, as `checkpoint/task`, the parent
    /// checkpoint and task the call ran in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<String>,
}

impl CheckpointMetadata {
    /// Metadata of a checkpoint written for `source` after `step` by `writers`.
    pub fn new(source: CheckpointSource, step: i64, writers: Vec<String>) -> Self {
        Self { source, step, writers, invocation: None }
    }
}

/// One saved checkpoint of a thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Checkpoint {
    /// Unique and ordered by creation time.
    pub id: String,
    /// The thread it belongs to.
    pub thread_id: String,
    /// The checkpoint it follows, if any.
    pub parent_id: Option<String>,
    /// The state, whole or as a delta.
    pub state: StateRecord,
    /// The work left for the next step.
    pub pending: PendingRecord,
    /// How it came to be.
    pub metadata: CheckpointMetadata,
}

impl Checkpoint {
    /// A checkpoint `id` of `thread_id`, following `parent_id`. A checkpointer backend
    /// builds records like this when it reads them back in its own format:
    ///
    /// ```
    /// use graph_core::checkpoint::{
    ///     Checkpoint, CheckpointMetadata, CheckpointSource, PendingRecord, StateRecord,
    ///     StoredCheckpoint,
    /// };
    ///
    /// let checkpoint = Checkpoint::new(
    ///     "0001",
    ///     "thread-1",
    ///     None,
    ///     StateRecord::Full { values: serde_json::json!({ "count": 1 }) },
    ///     PendingRecord::new(vec!["next".into()], Vec::new(), Vec::new()),
    ///     CheckpointMetadata::new(CheckpointSource::Input, -1, vec!["__input__".into()]),
    /// );
    /// let stored = StoredCheckpoint::new(checkpoint, Vec::new());
    /// assert_eq!(stored.checkpoint.pending.triggered, ["next"]);
    /// ```
    pub fn new(
        id: impl Into<String>,
        thread_id: impl Into<String>,
        parent_id: Option<String>,
        state: StateRecord,
        pending: PendingRecord,
        metadata: CheckpointMetadata,
    ) -> Self {
        Self { id: id.into(), thread_id: thread_id.into(), parent_id, state, pending, metadata }
    }
}

/// Something a task left behind while the step after a checkpoint was running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PendingWrite {
    /// A task finished: its update and `Command` destinations, so a resume does not run it again.
    Output {
        /// The task's id.
        task_id: String,
        /// The serialized update, if any.
        update: Option<Value>,
        /// Further updates of the task, applied after `update` in order: the writes of a
        /// subgraph, which reach its parent one by one.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        more: Vec<Value>,
        /// `Command` destinations: node names, or Sends with their payloads.
        goto: Vec<GotoRecord>,
    },
    /// A task paused on `NodeContext::interrupt`.
    Interrupt {
        /// The task's id.
        task_id: String,
        /// The interrupt's id: what a resume answers.
        interrupt_id: String,
        /// The node that paused.
        node: String,
        /// The value the node handed out.
        value: Value,
    },
    /// The answers a paused task has received so far, in the order it asked.
    Resume {
        /// The task's id.
        task_id: String,
        /// Its answers.
        values: Vec<Value>,
    },
    /// An answer to a pause inside a subgraph task's subgraph: the task hands it on to its
    /// subgraph when it runs again.
    Answer {
        /// The subgraph task's id.
        task_id: String,
        /// The pause's whole id, its namespace first.
        interrupt_id: String,
        /// The answer.
        value: Value,
    },
}

/// A `Command` destination as saved in a pending write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GotoRecord {
    /// The node.
    pub node: String,
    /// The Send payload, or `None` for a plain trigger.
    pub payload: Option<Value>,
    /// The Send payload's type when the node does not take it (or there is no such node),
    /// so that a restored run refuses the Send as the run that saved it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_type: Option<String>,
}

impl GotoRecord {
    /// A destination: `node`, with a Send payload or `None` for a plain trigger.
    pub fn new(node: impl Into<String>, payload: Option<Value>) -> Self {
        Self { node: node.into(), payload, payload_type: None }
    }
}

/// A checkpoint together with the writes saved against it: what a [`Checkpointer`] loads.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Writes of the step that followed it, in the order they were saved.
    pub writes: Vec<PendingWrite>,
}

impl StoredCheckpoint {
    /// `checkpoint` with the `writes` saved against it, in the order they were saved.
    pub fn new(checkpoint: Checkpoint, writes: Vec<PendingWrite>) -> Self {
        Self { checkpoint, writes }
    }
}

/// Where a thread and its subgraphs' threads stand at one moment: what
/// [`Checkpointer::rewind`] takes them back to. The server takes one as a run starts, so a
/// run cancelled with `rollback` leaves no trace in the thread.
///
/// ```
/// use std::sync::Arc;
///
/// use graph_core::checkpoint::{Checkpointer, MemorySaver};
/// use graph_core::prelude::*;
///
/// #[derive(State, Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
/// struct Notes {
///     #[reducer(append)]
///     items: Vec<String>,
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let saver = Arc::new(MemorySaver::new());
/// let graph = StateGraph::<Notes>::new()
///     .add_node("note", |_: Arc<Notes>| async { Notes::update().items(vec!["noted".into()]) })
///     .add_edge(START, "note")
///     .compile()?
///     .with_checkpointer(saver.clone());
/// let thread = RunConfig::default().thread_id("notes-1");
/// graph.invoke(Notes::update().items(vec!["kept".into()]), thread.clone()).await?;
///
/// let mark = saver.mark("notes-1").await?;
/// graph.invoke(Notes::update().items(vec!["undone".into()]), thread.clone()).await?;
/// saver.rewind("notes-1", &mark).await?;
///
/// let state = graph.get_state(&thread).await?.expect("the thread's state");
/// assert_eq!(state.values.items, ["kept", "noted"]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ThreadMark {
    /// Each thread's latest checkpoint, by thread id: the thread's own and its subgraphs'.
    /// A thread that is not here had nothing saved.
    pub latest: BTreeMap<String, String>,
    /// The storage's last write so far (its sequence number, 0 for none): the writes saved
    /// later number higher.
    pub last_write: u64,
}

impl ThreadMark {
    /// A mark of the threads whose latest checkpoints are `latest`, after write `last_write`.
    pub fn new(latest: BTreeMap<String, String>, last_write: u64) -> Self {
        Self { latest, last_write }
    }
}

/// Why a checkpointer operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Another worker advanced the thread first: the thread's latest checkpoint is no longer
    /// the one this run started from.
    #[error("thread `{thread_id}` moved on: expected its latest checkpoint to be {expected:?}, found {found:?}")]
    Conflict {
        /// The thread.
        thread_id: String,
        /// The latest checkpoint this worker expected.
        expected: Option<String>,
        /// The latest checkpoint actually stored.
        found: Option<String>,
    },
    /// A stored checkpoint cannot be read back.
    #[error(
        "checkpoint `{checkpoint_id}` of thread `{thread_id}` is corrupt or incompatible: {reason}"
    )]
    Corrupt {
        /// The thread.
        thread_id: String,
        /// The unreadable checkpoint.
        checkpoint_id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A checkpoint's chain of parents cannot be followed back to a full snapshot: the
    /// stored data is damaged.
    #[error("checkpoint `{checkpoint_id}` of thread `{thread_id}` cannot be rebuilt: {problem}; the stored thread is damaged: load an earlier checkpoint with RunConfig::checkpoint_id, or delete the thread")]
    CorruptChain {
        /// The thread.
        thread_id: String,
        /// The checkpoint whose link is broken.
        checkpoint_id: String,
        /// What is wrong with the link.
        problem: ChainProblem,
    },
    /// A checkpoint that should exist does not.
    #[error("thread `{thread_id}` has no checkpoint `{checkpoint_id}`")]
    NotFound {
        /// The thread.
        thread_id: String,
        /// The missing checkpoint.
        checkpoint_id: String,
    },
    /// A value to save holds a NaN or an infinity, which JSON cannot represent: saving it
    /// would change it silently.
    #[error("cannot save the non-finite float {value} at `{path}`: checkpoints are JSON, which has no NaN or infinity; keep such values out of the state, its updates, Send payloads and interrupt values (for example as `Option<f64>`)")]
    NonFiniteFloat {
        /// Where it sits in the value, such as `scores[2]` or `best.score` (`.` for the
        /// value itself).
        path: String,
        /// The float.
        value: f64,
    },
    /// A value to save holds `Some(None)` (or a `Some` of another value JSON writes as
    /// `null`): it would read back as `None`, changing it silently.
    #[error("cannot save `Some(None)` at `{path}`: checkpoints are JSON, where it reads back as `None`; use an enum or a struct instead of a nested Option")]
    NullInSome {
        /// Where it sits in the value, such as `answer` or `drafts[1].score` (`.` for the
        /// value itself).
        path: String,
    },
    /// A thread a copy was to go to already has checkpoints or writes, itself or one of its
    /// subgraphs: [`Checkpointer::copy_thread`] copies only to an unused thread id.
    #[error(
        "thread `{thread_id}` already has checkpoints or writes: a thread is copied only to an unused id"
    )]
    ThreadInUse {
        /// The thread the copy was to go to.
        thread_id: String,
    },
    /// The checkpointer's connection is gone: the thread that served it stopped.
    #[error("the checkpointer's connection has stopped")]
    Disconnected,
    /// The storage itself failed.
    #[error("checkpoint storage failed: {0}")]
    Storage(#[source] crate::error::BoxError),
}

/// What is wrong with a link of a checkpoint chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainProblem {
    /// Following parents leads back to a checkpoint already passed.
    #[error("its parents loop back to checkpoint `{back_to}`")]
    Loop {
        /// The checkpoint met twice.
        back_to: String,
    },
    /// A delta checkpoint names a parent that is not stored.
    #[error("its parent `{parent_id}` is missing")]
    MissingParent {
        /// The missing parent.
        parent_id: String,
    },
    /// A delta checkpoint has no parent to apply its writes to.
    #[error("it holds a delta but has no parent to apply it to")]
    NoBase,
    /// Its step number is outside `-1..=2^53`.
    #[error("its step number {step} is out of range")]
    StepOutOfRange {
        /// The stored step.
        step: i64,
    },
    /// The stored record belongs to another id or thread than the one it is stored under.
    #[error("it is stored as checkpoint `{found_id}` of thread `{found_thread_id}`")]
    Misfiled {
        /// The thread the record names.
        found_thread_id: String,
        /// The id the record names.
        found_id: String,
    },
}

/// Where checkpoints live. Implementations: [`MemorySaver`], [`SqliteSaver`] (the embedded
/// default), `PostgresSaver` (feature `postgres`; many workers on many machines).
///
/// Every backend passes the same conformance suite (`checkpoint::conformance`, feature
/// `test-util`).
#[async_trait]
pub trait Checkpointer: Send + Sync + 'static {
    /// Saves `checkpoint` as the thread's new latest checkpoint, if the thread's latest is
    /// still `expected_latest` (`None`: the thread has none). Otherwise fails with
    /// [`CheckpointError::Conflict`] and saves nothing: optimistic concurrency, so two workers
    /// resuming one thread cannot both advance it.
    async fn put(
        &self,
        checkpoint: &Checkpoint,
        expected_latest: Option<&str>,
    ) -> Result<(), CheckpointError>;

    /// Saves `checkpoints`, all of one thread, as [`put`](Self::put) would one after
    /// another: the first if the thread's latest is still `expected_latest`, each next one
    /// after the one before. On a [`CheckpointError::Conflict`] nothing is saved.
    ///
    /// The default calls `put` in order, so a storage error part-way keeps the checkpoints
    /// before it; [`SqliteSaver`] and `PostgresSaver` save the whole batch in one
    /// transaction, or nothing.
    async fn put_batch(
        &self,
        checkpoints: &[Checkpoint],
        expected_latest: Option<&str>,
    ) -> Result<(), CheckpointError> {
        let mut expected = expected_latest;
        for checkpoint in checkpoints {
            self.put(checkpoint, expected).await?;
            expected = Some(&checkpoint.id);
        }
        Ok(())
    }

    /// Saves a task's write against checkpoint `checkpoint_id` of `thread_id`.
    async fn put_write(
        &self,
        thread_id: &str,
        checkpoint_id: &str,
        write: &PendingWrite,
    ) -> Result<(), CheckpointError>;

    /// Loads checkpoint `checkpoint_id` of `thread_id`, or the latest when `None`, with its
    /// pending writes. `Ok(None)` when there is no such checkpoint.
    async fn get(
        &self,
        thread_id: &str,
        checkpoint_id: Option<&str>,
    ) -> Result<Option<StoredCheckpoint>, CheckpointError>;

    /// Every checkpoint of `thread_id`, newest first.
    async fn list(&self, thread_id: &str) -> Result<Vec<Checkpoint>, CheckpointError>;

    /// Deletes a thread and everything saved for it, its subgraphs' checkpoints included
    /// (the threads whose id starts with the thread's and [`SUBGRAPH_SEPARATOR`]).
    async fn delete_thread(&self, thread_id: &str) -> Result<(), CheckpointError>;

    /// Copies thread `thread_id` to the unused thread `new_thread_id`: every checkpoint with
    /// its id, parent and pending writes, and its subgraphs' threads (the ids that start
    /// with the thread's and [`SUBGRAPH_SEPARATOR`]) under the new id followed by the same
    /// namespace. Loading, listing and resuming the copy then give what they give on the
    /// original, apart from the thread id, and later saves to either leave the other as it
    /// is. A thread with nothing saved copies to nothing.
    ///
    /// Fails with [`CheckpointError::ThreadInUse`] and copies nothing when `new_thread_id`
    /// or one of its subgraphs' threads has checkpoints or writes already.
    async fn copy_thread(
        &self,
        thread_id: &str,
        new_thread_id: &str,
    ) -> Result<(), CheckpointError>;
    /// Where thread `thread_id` and its subgraphs' threads stand now, for
    /// [`rewind`](Self::rewind).
    async fn mark(&self, thread_id: &str) -> Result<ThreadMark, CheckpointError>;

    /// Takes thread `thread_id` and its subgraphs' threads back to `mark`: deletes each
    /// thread's checkpoints saved after its marked latest (checkpoint ids are time-ordered),
    /// every checkpoint of a thread the mark does not name, and every write saved after the
    /// mark; each marked latest is the latest again. Loading and listing then give what they
    /// gave when the mark was taken. Meant for a thread nothing else is saving to.
    async fn rewind(&self, thread_id: &str, mark: &ThreadMark) -> Result<(), CheckpointError>;
}

/// A shared saver is a saver: one `Arc` can serve several graphs.
#[async_trait]
impl<C: Checkpointer + ?Sized> Checkpointer for std::sync::Arc<C> {
    async fn put(
        &self,
        checkpoint: &Checkpoint,
        expected_latest: Option<&str>,
    ) -> Result<(), CheckpointError> {
        (**self).put(checkpoint, expected_latest).await
    }

    async fn put_batch(
        &self,
        checkpoints: &[Checkpoint],
        expected_latest: Option<&str>,
    ) -> Result<(), CheckpointError> {
        (**self).put_batch(checkpoints, expected_latest).await
    }

    async fn put_write(
        &self,
        thread_id: &str,
        checkpoint_id: &str,
        write: &PendingWrite,
    ) -> Result<(), CheckpointError> {
        (**self).put_write(thread_id, checkpoint_id, write).await
    }

    async fn get(
        &self,
        thread_id: &str,
        checkpoint_id: Option<&str>,
    ) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        (**self).get(thread_id, checkpoint_id).await
    }

    async fn list(&self, thread_id: &str) -> Result<Vec<Checkpoint>, CheckpointError> {
        (**self).list(thread_id).await
    }

    async fn delete_thread(&self, thread_id: &str) -> Result<(), CheckpointError> {
        (**self).delete_thread(thread_id).await
    }

    async fn copy_thread(
        &self,
        thread_id: &str,
        new_thread_id: &str,
    ) -> Result<(), CheckpointError> {
        (**self).copy_thread(thread_id, new_thread_id).await
    }

    async fn mark(&self, thread_id: &str) -> Result<ThreadMark, CheckpointError> {
        (**self).mark(thread_id).await
    }

    async fn rewind(&self, thread_id: &str, mark: &ThreadMark) -> Result<(), CheckpointError> {
        (**self).rewind(thread_id, mark).await
    }
}

/// What separates a thread id from the namespace of a subgraph's checkpoints: a subgraph
/// saves under its parent's thread id, this separator, then its namespace
/// (`thread|node:task@checkpoint`, or `thread|node` for one that remembers per thread). A
/// root thread id may not contain it.
pub const SUBGRAPH_SEPARATOR: char = '|';

/// The start of every subgraph thread id under `thread_id`.
pub(crate) fn subgraph_prefix(thread_id: &str) -> String {
    format!("{thread_id}{SUBGRAPH_SEPARATOR}")
}

/// The bounds of the subgraph thread ids under `thread_id`, for an indexed range scan: every
/// such id is at least the first and below the second (the separator's successor).
pub(crate) fn subgraph_range(thread_id: &str) -> (String, String) {
    (subgraph_prefix(thread_id), format!("{thread_id}}}"))
}

/// The id that thread `id` (`thread_id` or one of its subgraphs' threads) takes in the copy
/// of `thread_id` named `new_thread_id`: the new id, then the same namespace.
pub(crate) fn copied_thread_id(id: &str, thread_id: &str, new_thread_id: &str) -> String {
    format!("{new_thread_id}{}", id.get(thread_id.len()..).unwrap_or_default())
}

/// A new checkpoint id: time-ordered and unique across processes.
pub(crate) fn new_checkpoint_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Decodes stored JSON, naming the thread and checkpoint when it does not fit.
pub(crate) fn corrupt(
    thread_id: &str,
    checkpoint_id: &str,
    reason: impl ToString,
) -> CheckpointError {
    CheckpointError::Corrupt {
        thread_id: thread_id.to_owned(),
        checkpoint_id: checkpoint_id.to_owned(),
        reason: reason.to_string(),
    }
}

/// A storage failure, boxed.
pub(crate) fn storage(error: impl std::error::Error + Send + Sync + 'static) -> CheckpointError {
    CheckpointError::Storage(Box::new(error))
}

/// Reads a stored JSON body, naming the thread and checkpoint when it does not fit. Bytes
/// that are not UTF-8 or not JSON are corrupt, never a panic: `serde_json` checks both and
/// bounds nesting.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    thread_id: &str,
    id: &str,
    body: &[u8],
) -> Result<T, CheckpointError> {
    serde_json::from_slice(body).map_err(|e| corrupt(thread_id, id, e))
}

/// A thread whose latest checkpoint is not stored.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn latest_missing(thread_id: &str, id: &str) -> CheckpointError {
    corrupt(thread_id, id, "the thread names it as its latest checkpoint, but it is not stored")
}
