//! Between the runtime and a checkpointer: states, updates, pending work and task outputs
//! as JSON records, and back.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::snapshots::{encoded_len, Snapshots};
use super::writes::SavedOutput;
use crate::checkpoint::{
    corrupt, to_json, Checkpoint, CheckpointError, Checkpointer, GotoRecord, PendingRecord,
    PendingWrite, SendRecord, StateRecord,
};
use crate::error::GraphError;
use crate::graph::{decode_payload, Command, Goto, GraphInner, Payload};
use crate::pregel::{JoinProgress, Pending, PendingSend};
use crate::state::State;

/// The functions that (de)serialize a graph's state, updates and task outputs, for
/// checkpoints and the node cache.
pub(crate) struct Codec<S: State> {
    encode_state: fn(&S) -> Result<Value, CheckpointError>,
    decode_state: fn(Value) -> serde_json::Result<S>,
    encode_update: fn(&S::Update) -> Result<Value, CheckpointError>,
    decode_update: fn(Value) -> serde_json::Result<S::Update>,
    decode_state_payload: fn(Value) -> serde_json::Result<Box<dyn Payload>>,
}

impl<S: State> Clone for Codec<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: State> Copy for Codec<S> {}

/// A checkpointer, with the functions that (de)serialize this graph's state and updates.
pub(crate) struct Persistence<S: State> {
    pub(crate) saver: Arc<dyn Checkpointer>,
    codec: Codec<S>,
}

impl<S: State> std::ops::Deref for Persistence<S> {
    type Target = Codec<S>;

    fn deref(&self) -> &Codec<S> {
        &self.codec
    }
}

fn decode<T: DeserializeOwned>(value: Value) -> serde_json::Result<T> {
    serde_json::from_value(value)
}

impl<S: State> Persistence<S> {
    pub(crate) fn new(saver: Arc<dyn Checkpointer>) -> Self
    where
        S: Serialize + DeserializeOwned,
        S::Update: Serialize + DeserializeOwned,
    {
        Self { saver, codec: Codec::new() }
    }
}

impl<S: State> Codec<S> {
    pub(crate) fn new() -> Self
    where
        S: Serialize + DeserializeOwned,
        S::Update: Serialize + DeserializeOwned,
    {
        Self {
            encode_state: to_json::<S>,
            decode_state: decode::<S>,
            encode_update: to_json::<S::Update>,
            decode_update: decode::<S::Update>,
            decode_state_payload: decode_payload::<S>,
        }
    }

    pub(crate) fn encode_state(&self, state: &S) -> Result<Value, GraphError> {
        Ok((self.encode_state)(state)?)
    }

    pub(crate) fn encode_update(&self, update: &S::Update) -> Result<Value, GraphError> {
        Ok((self.encode_update)(update)?)
    }

    /// The state record of a new checkpoint: the whole state when `full` is asked or the
    /// last full snapshot and the deltas since outgrew twice the state, else the step's
    /// writes.
    pub(crate) fn state_record(
        &self,
        state: &S,
        writes: Vec<(String, Value)>,
        snapshots: &mut Snapshots,
        full: bool,
    ) -> Result<StateRecord, GraphError> {
        if !full {
            snapshots.add(encoded_len(&writes));
            if !snapshots.due() {
                return Ok(StateRecord::Delta { writes });
            }
        }
        let values = (self.encode_state)(state)?;
        let size = encoded_len(&values);
        if full || snapshots.outgrown(size) {
            *snapshots = Snapshots::after_full(size);
            Ok(StateRecord::Full { values })
        } else {
            Ok(StateRecord::Delta { writes })
        }
    }

    /// An update saved in checkpoint `checkpoint_id`.
    pub(crate) fn decode_update(
        &self,
        thread_id: &str,
        checkpoint_id: &str,
        update: Value,
    ) -> Result<S::Update, GraphError> {
        (self.decode_update)(update).map_err(|e| corrupt(thread_id, checkpoint_id, e).into())
    }

    /// The state a full snapshot holds.
    pub(crate) fn decode_state(
        &self,
        thread_id: &str,
        checkpoint: &Checkpoint,
        values: &Value,
    ) -> Result<S, GraphError> {
        (self.decode_state)(values.clone())
            .map_err(|e| corrupt(thread_id, &checkpoint.id, e).into())
    }

    /// Applies a delta checkpoint's writes to its parent's state.
    pub(crate) fn apply_delta(
        &self,
        thread_id: &str,
        checkpoint: &Checkpoint,
        writes: &[(String, Value)],
        state: &mut S,
    ) -> Result<(), GraphError> {
        let bad = |reason: String| GraphError::from(corrupt(thread_id, &checkpoint.id, reason));
        let mut updates = Vec::with_capacity(writes.len());
        for (writer, update) in writes {
            let update = (self.decode_update)(update.clone()).map_err(|e| bad(e.to_string()))?;
            updates.push((writer.as_str(), update));
        }
        // Damaged writes may overflow a reducer (`add`) or upset a user's one: a panic here
        // means the checkpoint is unusable, not that the process should stop.
        match crate::error::catch_panic(|| state.apply(updates)) {
            Ok(applied) => applied.map_err(|e| bad(e.to_string())),
            Err(panic) => Err(bad(format!("applying its writes panicked: {panic}"))),
        }
    }

    pub(crate) fn pending_to_record(
        &self,
        graph: &GraphInner<S>,
        pending: &Pending,
    ) -> Result<PendingRecord, GraphError> {
        let triggered = pending.triggered.ones().map(|id| graph.name(id).to_string()).collect();
        let mut sends = Vec::with_capacity(pending.sends.len());
        for send in &pending.sends {
            let payload = send.payload.to_json()?;
            sends.push(SendRecord { node: graph.name(send.node).to_string(), payload });
        }
        let joins = pending.joins.iter().map(|j| j.seen.clone()).collect();
        Ok(PendingRecord { triggered, sends, joins, parent: pending.parent.clone() })
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
        pending.parent.clone_from(&record.parent);
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
        graph: &GraphInner<S>,
        task_id: &str,
        command: &Command<S>,
    ) -> Result<PendingWrite, GraphError> {
        let SavedOutput { update, more, goto } = self.encode_output(graph, command)?;
        Ok(PendingWrite::Output { task_id: task_id.to_owned(), update, more, goto })
    }

    /// A finished task's output as saved: its updates and destinations as JSON.
    pub(crate) fn encode_output(
        &self,
        graph: &GraphInner<S>,
        command: &Command<S>,
    ) -> Result<SavedOutput, GraphError> {
        let update = command.update.as_ref().map(|u| self.encode_update(u)).transpose()?;
        let more =
            command.more().iter().map(|u| self.encode_update(u)).collect::<Result<_, _>>()?;
        let mut goto = Vec::with_capacity(command.goto.len());
        for destination in &command.goto {
            let (payload, payload_type) = match destination {
                Goto::Node(_) => (None, None),
                Goto::Send(send) => {
                    // A Send its node does not take fails the run when applied; its type is
                    // kept so that a run restored from here fails the same way.
                    let taken = graph.id(&send.node).map(|id| graph.input_type(id).0);
                    let refused = taken != Some(send.type_id);
                    (Some(send.payload.to_json()?), refused.then(|| send.type_name.to_owned()))
                }
            };
            let node = destination.target().to_owned();
            goto.push(GotoRecord { node, payload, payload_type });
        }
        Ok(SavedOutput { update, more, goto })
    }

    /// Rebuilds a finished task's command from its pending write.
    pub(crate) fn command_from_write(
        &self,
        graph: &GraphInner<S>,
        thread_id: &str,
        checkpoint_id: &str,
        output: SavedOutput,
    ) -> Result<Command<S>, GraphError> {
        self.decode_output(graph, output)
            .map_err(|reason| GraphError::from(corrupt(thread_id, checkpoint_id, reason)))
    }

    /// Rebuilds a finished task's command from its saved output, or says what is wrong
    /// with it.
    pub(crate) fn decode_output(
        &self,
        graph: &GraphInner<S>,
        SavedOutput { update, more, goto }: SavedOutput,
    ) -> Result<Command<S>, String> {
        let decode = |update| (self.decode_update)(update).map_err(|e| e.to_string());
        let mut command = Command::new();
        if let Some(update) = update {
            command = command.update(decode(update)?);
        }
        let more: Vec<_> = more.into_iter().map(decode).collect::<Result<_, _>>()?;
        if !more.is_empty() {
            command.extra_mut().more = more;
        }
        for GotoRecord { node, payload, payload_type } in goto {
            let destination = match (payload, payload_type) {
                (None, _) => Goto::from(node),
                (Some(payload), Some(found)) => {
                    Goto::Send(crate::graph::Send::refused(node, payload, &found))
                }
                (Some(payload), None) => {
                    let id = graph.id(&node).ok_or_else(|| format!("unknown node `{node}`"))?;
                    let payload =
                        self.decode_payload(graph, id, payload).map_err(|e| e.to_string())?;
                    let (type_id, type_name) = graph.input_type(id);
                    Goto::Send(crate::graph::Send::restored(node, payload, type_id, type_name))
                }
            };
            command = command.goto(destination);
        }
        Ok(command)
    }
}
