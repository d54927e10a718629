//! Inspecting and editing a checkpointed thread: its current state, its history, and
//! edits that become new checkpoints.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{CompiledGraph, Interrupt};
use crate::checkpoint::{CheckpointMetadata, Checkpointer};
use crate::config::RunConfig;
use crate::error::GraphError;
use crate::pregel::Namespace;
use crate::state::State;
use crate::thread::{self, Persistence};

/// A thread's state at one checkpoint.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StateSnapshot<S> {
    /// The state.
    pub values: S,
    /// The nodes the next step would run, in task order.
    pub next: Vec<String>,
    /// Pauses waiting for an answer (filled for the checkpoint asked for, empty in history).
    pub interrupts: Vec<Interrupt>,
    /// The checkpoint.
    pub checkpoint_id: String,
    /// The checkpoint it follows.
    pub parent_id: Option<String>,
    /// How it came to be.
    pub metadata: CheckpointMetadata,
    /// The subgraphs the next step's tasks called and left unfinished (paused or failed),
    /// when asked for with [`CompiledGraph::get_state_with_subgraphs`]; empty otherwise.
    pub subgraphs: Vec<SubgraphState>,
}

/// A subgraph's state inside a paused (or failed) parent task, from its own checkpoints.
/// The subgraph's state type is its own, so its values come as JSON.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SubgraphState {
    /// The subgraph run: the parent task it runs in.
    pub namespace: Namespace,
    /// Its state, as JSON.
    pub values: serde_json::Value,
    /// The nodes its next step would run, in task order.
    pub next: Vec<String>,
    /// Its pauses waiting for an answer, with their ids within the subgraph.
    pub interrupts: Vec<Interrupt>,
    /// Its latest checkpoint, in its own namespace.
    pub checkpoint_id: String,
    /// Its own unfinished subgraphs.
    pub subgraphs: Vec<SubgraphState>,
}

impl<S: State, C: Send + Sync + 'static> CompiledGraph<S, C> {
    /// Saves checkpoints through `saver`: every run then needs
    /// [`RunConfig::thread_id`], and can be resumed, inspected, edited and replayed.
    pub fn with_checkpointer(mut self, saver: impl Checkpointer) -> Self
    where
        S: Serialize + DeserializeOwned,
        S::Update: Serialize + DeserializeOwned,
    {
        self.persistence = Some(Arc::new(Persistence::new(Arc::new(saver))));
        self
    }

    /// The thread that reading or editing needs: the checkpointer and the thread id.
    fn thread<'a>(
        &'a self,
        config: &'a RunConfig,
        needed_for: &str,
    ) -> Result<(&'a Persistence<S>, &'a str), GraphError> {
        let persistence = self
            .persistence
            .as_deref()
            .ok_or_else(|| GraphError::NoCheckpointer { needed_for: needed_for.to_owned() })?;
        let thread_id = config.thread_id.as_deref().ok_or(GraphError::MissingThreadId)?;
        crate::thread::check_thread_id(thread_id)?;
        Ok((persistence, thread_id))
    }

    /// The thread's state at its latest checkpoint (or [`RunConfig::checkpoint_id`]), with
    /// what would run next and the pauses waiting; `None` for a thread never run.
    ///
    /// Fails with [`GraphError::NoCheckpointer`] on a graph without a checkpointer, and with
    /// [`CheckpointError::Corrupt`](crate::checkpoint::CheckpointError::Corrupt) or
    /// [`CheckpointError::CorruptChain`](crate::checkpoint::CheckpointError::CorruptChain)
    /// when the stored thread is damaged.
    pub async fn get_state(
        &self,
        config: &RunConfig,
    ) -> Result<Option<StateSnapshot<S>>, GraphError> {
        let (persistence, thread_id) = self.thread(config, "get_state")?;
        thread::snapshot(&self.inner, persistence, thread_id, config).await
    }

    /// [`get_state`](Self::get_state), with the state of every subgraph its next step's tasks
    /// called and left unfinished (paused inside, or failed), read from the subgraphs' own
    /// checkpoints, recursively: where a pause inside a subgraph sits, and what it saw.
    pub async fn get_state_with_subgraphs(
        &self,
        config: &RunConfig,
    ) -> Result<Option<StateSnapshot<S>>, GraphError> {
        let (persistence, thread_id) = self.thread(config, "get_state_with_subgraphs")?;
        let Some(mut snapshot) =
            thread::snapshot(&self.inner, persistence, thread_id, config).await?
        else {
            return Ok(None);
        };
        let saver = &persistence.saver;
        let stored = saver.get(thread_id, Some(&snapshot.checkpoint_id)).await?;
        if let Some(stored) = stored {
            let (graph, root) = (&self.inner, Namespace::root());
            snapshot.subgraphs =
                thread::subgraph_states(graph, saver, thread_id, &stored.checkpoint, &root).await?;
        }
        Ok(Some(snapshot))
    }

    /// Every checkpoint of the thread, newest first, each with its state. Fails like
    /// [`get_state`](Self::get_state).
    pub async fn get_state_history(
        &self,
        config: &RunConfig,
    ) -> Result<Vec<StateSnapshot<S>>, GraphError> {
        let (persistence, thread_id) = self.thread(config, "get_state_history")?;
        thread::history(&self.inner, persistence, thread_id).await
    }

    /// Edits the thread's state: applies `update` through the reducers as if written by
    /// `as_node` (whose edges then fire, so its successors run next), or by a person when
    /// `None`: then what would run next stays as it was, and questions a paused node asked
    /// stay open for the resume. The edit is a new checkpoint, whose id is returned. Started
    /// from an older [`RunConfig::checkpoint_id`], it forks the thread.
    ///
    /// Fails with [`GraphError::UnknownThread`] for a thread never run, and otherwise like
    /// [`get_state`](Self::get_state).
    pub async fn update_state(
        &self,
        config: &RunConfig,
        update: S::Update,
        as_node: Option<&str>,
    ) -> Result<String, GraphError> {
        let (persistence, thread_id) = self.thread(config, "update_state")?;
        let context = self.erased_context();
        thread::update(&self.inner, persistence, thread_id, config, &*context, update, as_node)
            .await
    }
}
