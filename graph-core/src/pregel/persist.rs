//! Between the runtime and a checkpointer: encoding states, updates, pending work and task
//! outputs as JSON, and rebuilding a state from a chain of delta checkpoints.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::algo::{JoinProgress, Pending, PendingSend};
use crate::checkpoint::{
    corrupt, Checkpoint, CheckpointError, CheckpointMetadata, CheckpointSource, Checkpointer,
    GotoRecord, PendingRecord, PendingWrite, SendRecord, StateRecord, StoredCheckpoint,
    FULL_SNAPSHOT_EVERY,
};
use crate::error::GraphError;
use crate::graph::{decode_payload, Command, Goto, GraphInner, InputKind, Interrupt, Payload};
use crate::state::State;

/// A checkpointer, with the functions that (de)serialize this graph's state and updates.
pub(crate) struct Persistence<S: State> {
    pub(crate) saver: Arc<dyn Checkpointer>,
    encode_state: fn(&S) -> serde_json::Result<Value>,
    decode_state: fn(Value) -> serde_json::Result<S>,
    encode_update: fn(&S::Update) -> serde_json::Result<Value>,
    decode_update: fn(Value) -> serde_json::Result<S::Update>,
    decode_state_payload: fn(Value) -> serde_json::Result<Box<dyn Payload>>,
}

fn encode<T: Serialize>(value: &T) -> serde_json::Result<Value> {
    serde_json::to_value(value)
}

fn decode<T: DeserializeOwned>(value: Value) -> serde_json::Result<T> {
    serde_json::from_value(value)
}

fn encode_failed(error: serde_json::Error) -> GraphError {
    GraphError::Checkpoint(CheckpointError::Storage(Box::new(error)))
}

/// A checkpoint rebuilt into runtime values.
pub(crate) struct Loaded<S: State> {
    pub(crate) stored: StoredCheckpoint,
    pub(crate) state: S,
    pub(crate) pending: Pending,
    /// Delta checkpoints since the last full snapshot.
    pub(crate) depth: i64,
}

impl<S: State> Persistence<S> {
    pub(crate) fn new(saver: Arc<dyn Checkpointer>) -> Self
    where
        S: Serialize + DeserializeOwned,
        S::Update: Serialize + DeserializeOwned,
    {
        Self {
            saver,
            encode_state: encode::<S>,
            decode_state: decode::<S>,
            encode_update: encode::<S::Update>,
            decode_update: decode::<S::Update>,
            decode_state_payload: decode_payload::<S>,
        }
    }

    pub(crate) fn encode_update(&self, update: &S::Update) -> Result<Value, GraphError> {
        (self.encode_update)(update).map_err(encode_failed)
    }

    /// The state record of a new checkpoint: the whole state when the chain of deltas has
    /// grown long (or `full` is asked), else the step's writes.
    pub(crate) fn state_record(
        &self,
        state: &S,
        writes: Vec<(String, Value)>,
        depth: &mut i64,
        full: bool,
    ) -> Result<StateRecord, GraphError> {
        if full || *depth + 1 >= FULL_SNAPSHOT_EVERY {
            *depth = 0;
            let values = (self.encode_state)(state).map_err(encode_failed)?;
            Ok(StateRecord::Full { values })
        } else {
            *depth += 1;
            Ok(StateRecord::Delta { writes })
        }
    }

    /// Loads checkpoint `id` (or the thread's latest) and rebuilds its state and pending work.
    pub(crate) async fn load(
        &self,
        graph: &GraphInner<S>,
        thread_id: &str,
        id: Option<&str>,
    ) -> Result<Option<Loaded<S>>, GraphError> {
        let Some(stored) = self.saver.get(thread_id, id).await? else {
            if let Some(id) = id {
                let not_found = CheckpointError::NotFound {
                    thread_id: thread_id.into(),
                    checkpoint_id: id.into(),
                };
                return Err(not_found.into());
            }
            return Ok(None);
        };
        // Walk back to the last full snapshot, then replay the deltas forwards.
        let mut chain = vec![stored.checkpoint.clone()];
        while let StateRecord::Delta { .. } = chain[chain.len() - 1].state {
            let child = &chain[chain.len() - 1];
            let broken = || corrupt(thread_id, &child.id, "a delta checkpoint without its parent");
            let parent_id = child.parent_id.clone().ok_or_else(broken)?;
            let parent = self.saver.get(thread_id, Some(&parent_id)).await?.ok_or_else(broken)?;
            chain.push(parent.checkpoint);
        }
        let depth = chain.len() as i64 - 1;
        let state = self.replay(thread_id, chain.iter().rev())?;
        let pending = self.pending_from_record(graph, thread_id, &stored.checkpoint)?;
        Ok(Some(Loaded { stored, state, pending, depth }))
    }

    /// Applies one delta checkpoint to its parent's state.
    pub(crate) fn replay_onto(
        &self,
        thread_id: &str,
        base: S,
        checkpoint: &Checkpoint,
    ) -> Result<S, GraphError> {
        let mut state = Some(base);
        self.apply_record(thread_id, &mut state, checkpoint)?;
        state.ok_or_else(|| GraphError::NothingToResume { thread_id: Some(thread_id.to_owned()) })
    }

    /// Applies a chain of checkpoints, oldest (a full snapshot) first.
    pub(crate) fn replay<'a>(
        &self,
        thread_id: &str,
        chain: impl Iterator<Item = &'a Checkpoint>,
    ) -> Result<S, GraphError> {
        let mut state: Option<S> = None;
        for checkpoint in chain {
            self.apply_record(thread_id, &mut state, checkpoint)?;
        }
        state.ok_or_else(|| GraphError::NothingToResume { thread_id: Some(thread_id.to_owned()) })
    }

    /// Sets `state` from a full snapshot, or applies a delta to it.
    fn apply_record(
        &self,
        thread_id: &str,
        state: &mut Option<S>,
        checkpoint: &Checkpoint,
    ) -> Result<(), GraphError> {
        let bad = |reason: String| GraphError::from(corrupt(thread_id, &checkpoint.id, reason));
        match &checkpoint.state {
            StateRecord::Full { values } => {
                *state = Some((self.decode_state)(values.clone()).map_err(|e| bad(e.to_string()))?);
            }
            StateRecord::Delta { writes } => {
                let current = state.as_mut().ok_or_else(|| bad("a delta without a base".into()))?;
                let mut updates = Vec::with_capacity(writes.len());
                for (writer, update) in writes {
                    let update =
                        (self.decode_update)(update.clone()).map_err(|e| bad(e.to_string()))?;
                    updates.push((writer.as_str(), update));
                }
                current.apply(updates).map_err(|e| bad(e.to_string()))?;
            }
        }
        Ok(())
    }

    pub(crate) fn pending_to_record(
        &self,
        graph: &GraphInner<S>,
        pending: &Pending,
    ) -> Result<PendingRecord, GraphError> {
        let triggered = pending.triggered.iter().map(|&id| graph.name(id).to_string()).collect();
        let mut sends = Vec::with_capacity(pending.sends.len());
        for send in &pending.sends {
            let payload = send.payload.to_json().map_err(encode_failed)?;
            sends.push(SendRecord { node: graph.name(send.node).to_string(), payload });
        }
        let joins = pending.joins.iter().map(|j| j.seen.clone()).collect();
        Ok(PendingRecord { triggered, sends, joins })
    }

    pub(crate) fn pending_from_record(
        &self,
        graph: &GraphInner<S>,
        thread_id: &str,
        checkpoint: &Checkpoint,
    ) -> Result<Pending, GraphError> {
        let bad = |reason: String| GraphError::from(corrupt(thread_id, &checkpoint.id, reason));
        let record = &checkpoint.pending;
        let node = |name: &str| graph.id(name).ok_or_else(|| bad(format!("unknown node `{name}`")));
        let mut pending = Pending::new(graph);
        for name in &record.triggered {
            pending.triggered.insert(node(name)?);
        }
        for send in &record.sends {
            let id = node(&send.node)?;
            let payload = self
                .decode_payload(graph, id, send.payload.clone())
                .map_err(|e| bad(e.to_string()))?;
            pending.sends.push(PendingSend { node: id, payload });
        }
        if record.joins.len() != graph.joins.len() {
            return Err(bad(format!(
                "{} joins saved, the graph has {}",
                record.joins.len(),
                graph.joins.len()
            )));
        }
        for (progress, seen) in pending.joins.iter_mut().zip(&record.joins) {
            if seen.len() != progress.seen.len() {
                return Err(bad("a join's sources changed".into()));
            }
            *progress =
                JoinProgress { count: seen.iter().filter(|s| **s).count(), seen: seen.clone() };
        }
        Ok(pending)
    }

    /// Restores a Send payload for node `id`: its `Input<T>`, or a whole state.
    fn decode_payload(
        &self,
        graph: &GraphInner<S>,
        id: usize,
        value: Value,
    ) -> serde_json::Result<Box<dyn Payload>> {
        match graph.nodes[id].func.decode {
            Some(decode) => decode(value),
            None => (self.decode_state_payload)(value),
        }
    }

    /// A finished task's output as a pending write.
    pub(crate) fn output_write(
        &self,
        task_id: &str,
        command: &Command<S>,
    ) -> Result<PendingWrite, GraphError> {
        let update = command.update.as_ref().map(|u| self.encode_update(u)).transpose()?;
        let mut goto = Vec::with_capacity(command.goto.len());
        for destination in &command.goto {
            let payload = match destination {
                Goto::Node(_) => None,
                Goto::Send(send) => Some(send.payload.to_json().map_err(encode_failed)?),
            };
            goto.push(GotoRecord { node: destination.target().to_owned(), payload });
        }
        Ok(PendingWrite::Output { task_id: task_id.to_owned(), update, goto })
    }

    /// Rebuilds a finished task's command from its pending write.
    pub(crate) fn command_from_write(
        &self,
        graph: &GraphInner<S>,
        thread_id: &str,
        checkpoint_id: &str,
        update: Option<Value>,
        goto: Vec<GotoRecord>,
    ) -> Result<Command<S>, GraphError> {
        let bad = |reason: String| GraphError::from(corrupt(thread_id, checkpoint_id, reason));
        let mut command = Command::new();
        if let Some(update) = update {
            command = command.update((self.decode_update)(update).map_err(|e| bad(e.to_string()))?);
        }
        for GotoRecord { node, payload } in goto {
            let destination = match payload {
                None => Goto::from(node),
                Some(payload) => {
                    let id =
                        graph.id(&node).ok_or_else(|| bad(format!("unknown node `{node}`")))?;
                    let payload =
                        self.decode_payload(graph, id, payload).map_err(|e| bad(e.to_string()))?;
                    let (type_id, type_name) = match graph.nodes[id].func.input {
                        InputKind::State => (TypeId::of::<S>(), std::any::type_name::<S>()),
                        InputKind::Payload { type_id, type_name } => (type_id, type_name),
                    };
                    Goto::Send(crate::graph::Send::restored(node, payload, type_id, type_name))
                }
            };
            command = command.goto(destination);
        }
        Ok(command)
    }
}

/// The tasks of a checkpoint's next step that already finished, paused or got answers.
#[derive(Default)]
pub(crate) struct SavedWrites {
    pub(crate) outputs: HashMap<String, (Option<Value>, Vec<GotoRecord>)>,
    /// Pauses not yet answered, in the order they were saved.
    pub(crate) interrupts: Vec<(String, Interrupt)>,
    pub(crate) answers: HashMap<String, Vec<Value>>,
}

impl SavedWrites {
    pub(crate) fn new(writes: &[PendingWrite]) -> Self {
        let mut saved = Self::default();
        let mut paused = Vec::new();
        for write in writes {
            match write {
                PendingWrite::Output { task_id, update, goto } => {
                    saved.outputs.insert(task_id.clone(), (update.clone(), goto.clone()));
                }
                PendingWrite::Interrupt { task_id, interrupt_id, node, value } => {
                    let interrupt = Interrupt {
                        id: interrupt_id.clone(),
                        node: node.clone(),
                        value: value.clone(),
                    };
                    paused.push((task_id.clone(), interrupt));
                }
                PendingWrite::Resume { task_id, values } => {
                    saved.answers.insert(task_id.clone(), values.clone());
                }
            }
        }
        // A pause is pending while its task has fewer answers than the pause's index.
        for (task_id, interrupt) in paused {
            let answered = saved.answers.get(&task_id).map_or(0, Vec::len);
            let index = interrupt.id.rsplit('#').next().and_then(|i| i.parse::<usize>().ok());
            if index.is_some_and(|i| i >= answered) && !saved.outputs.contains_key(&task_id) {
                saved.interrupts.push((task_id, interrupt));
            }
        }
        saved
    }
}

/// The metadata of a checkpoint written by the run loop.
pub(crate) fn loop_metadata(step: i64, writers: Vec<String>) -> CheckpointMetadata {
    CheckpointMetadata { source: CheckpointSource::Loop, step, writers }
}
