//! Inspecting and editing a checkpointed thread: its current state, its history, and
//! edits that become new checkpoints.

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{CompiledGraph, Interrupt};
use crate::checkpoint::{
    new_checkpoint_id, Checkpoint, CheckpointMetadata, CheckpointSource, Checkpointer,
    PendingWrite, StateRecord,
};
use crate::config::RunConfig;
use crate::error::GraphError;
use crate::pregel::{algo_after_node, algo_upcoming, Loaded, Persistence, SavedWrites};
use crate::state::State;

/// A thread's state at one checkpoint.
#[derive(Debug, Clone)]
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

    fn persistence<'a>(
        &'a self,
        config: &'a RunConfig,
    ) -> Result<(&'a Persistence<S>, &'a str), GraphError> {
        let persistence =
            self.persistence.as_deref().ok_or(GraphError::NothingToResume { thread_id: None })?;
        let thread_id = config.thread_id.as_deref().ok_or(GraphError::MissingThreadId)?;
        Ok((persistence, thread_id))
    }

    /// The thread's state at its latest checkpoint (or [`RunConfig::checkpoint_id`]), with
    /// what would run next and the pauses waiting; `None` for a thread never run.
    pub async fn get_state(
        &self,
        config: &RunConfig,
    ) -> Result<Option<StateSnapshot<S>>, GraphError> {
        let (persistence, thread_id) = self.persistence(config)?;
        let loaded =
            persistence.load(&self.inner, thread_id, config.checkpoint_id.as_deref()).await?;
        Ok(loaded.map(|loaded| {
            let saved = SavedWrites::new(&loaded.stored.writes);
            let interrupts = saved.interrupts.into_iter().map(|(_, interrupt)| interrupt).collect();
            let next = algo_upcoming(&self.inner, &loaded.pending)
                .iter()
                .map(|&id| self.inner.name(id).to_string())
                .collect();
            let Loaded { stored, state, .. } = loaded;
            let Checkpoint { id, parent_id, metadata, .. } = stored.checkpoint;
            StateSnapshot {
                values: state,
                next,
                interrupts,
                checkpoint_id: id,
                parent_id,
                metadata,
            }
        }))
    }

    /// Every checkpoint of the thread, newest first, each with its state.
    pub async fn get_state_history(
        &self,
        config: &RunConfig,
    ) -> Result<Vec<StateSnapshot<S>>, GraphError> {
        let (persistence, thread_id) = self.persistence(config)?;
        let checkpoints = persistence.saver.list(thread_id).await?;
        let by_id: HashMap<&str, &Checkpoint> =
            checkpoints.iter().map(|c| (c.id.as_str(), c)).collect();
        // Ids are ordered by creation, so parents come before children oldest-first.
        let mut states: HashMap<&str, S> = HashMap::new();
        let mut history = Vec::with_capacity(checkpoints.len());
        for checkpoint in checkpoints.iter().rev() {
            let state = match (&checkpoint.state, &checkpoint.parent_id) {
                (StateRecord::Delta { .. }, Some(parent))
                    if states.contains_key(parent.as_str()) =>
                {
                    let base = states[parent.as_str()].clone();
                    persistence.replay_onto(thread_id, base, checkpoint)?
                }
                _ => {
                    let mut chain = vec![checkpoint];
                    while let (StateRecord::Delta { .. }, Some(parent)) =
                        (&chain[chain.len() - 1].state, &chain[chain.len() - 1].parent_id)
                    {
                        match by_id.get(parent.as_str()) {
                            Some(parent) => chain.push(parent),
                            None => break,
                        }
                    }
                    persistence.replay(thread_id, chain.into_iter().rev())?
                }
            };
            let pending = persistence.pending_from_record(&self.inner, thread_id, checkpoint)?;
            let next = algo_upcoming(&self.inner, &pending)
                .iter()
                .map(|&id| self.inner.name(id).to_string())
                .collect();
            history.push(StateSnapshot {
                values: state.clone(),
                next,
                interrupts: Vec::new(),
                checkpoint_id: checkpoint.id.clone(),
                parent_id: checkpoint.parent_id.clone(),
                metadata: checkpoint.metadata.clone(),
            });
            states.insert(&checkpoint.id, state);
        }
        history.reverse();
        Ok(history)
    }

    /// Edits the thread's state: applies `update` through the reducers as if written by
    /// `as_node` (whose edges then fire, so its successors run next), or by a person when
    /// `None`: then what would run next stays as it was, and questions a paused node asked
    /// stay open for the resume. The edit is a new checkpoint, whose id is returned. Started
    /// from an older [`RunConfig::checkpoint_id`], it forks the thread.
    pub async fn update_state(
        &self,
        config: &RunConfig,
        update: S::Update,
        as_node: Option<&str>,
    ) -> Result<String, GraphError> {
        let (persistence, thread_id) = self.persistence(config)?;
        let latest = persistence.saver.get(thread_id, None).await?.map(|s| s.checkpoint.id);
        let base_id = config.checkpoint_id.clone().or_else(|| latest.clone());
        let nothing = || GraphError::NothingToResume { thread_id: Some(thread_id.to_owned()) };
        let base = match &base_id {
            Some(id) => {
                persistence.load(&self.inner, thread_id, Some(id)).await?.ok_or_else(nothing)?
            }
            None => return Err(nothing()),
        };
        let node = match as_node {
            Some(name) => Some(
                self.inner
                    .id(name)
                    .ok_or_else(|| GraphError::UnknownNode { node: name.to_owned() })?,
            ),
            None => None,
        };
        let writer = as_node.unwrap_or("__update__").to_owned();
        let encoded = persistence.encode_update(&update)?;
        let Loaded { mut state, mut pending, mut depth, stored } = base;
        state.apply([(writer.as_str(), update)]).map_err(GraphError::InvalidInput)?;
        if let Some(node) = node {
            let context = self.erased_context();
            algo_after_node(&self.inner, node, &state, &*context, &mut pending)?;
        }
        let source =
            if base_id == latest { CheckpointSource::Update } else { CheckpointSource::Fork };
        let checkpoint = Checkpoint {
            id: new_checkpoint_id(),
            thread_id: thread_id.to_owned(),
            parent_id: base_id,
            state: persistence.state_record(
                &state,
                vec![(writer.clone(), encoded)],
                &mut depth,
                false,
            )?,
            pending: persistence.pending_to_record(&self.inner, &pending)?,
            // A person's edit keeps the step, so the paused tasks keep their ids.
            metadata: CheckpointMetadata {
                source,
                step: stored.checkpoint.metadata.step + i64::from(node.is_some()),
                writers: vec![writer],
            },
        };
        persistence.saver.put(&checkpoint, latest.as_deref()).await?;
        if node.is_none() {
            let open = stored.writes.iter().filter(|w| {
                matches!(w, PendingWrite::Interrupt { .. } | PendingWrite::Resume { .. })
            });
            for write in open {
                persistence.saver.put_write(thread_id, &checkpoint.id, write).await?;
            }
        }
        Ok(checkpoint.id)
    }
}
