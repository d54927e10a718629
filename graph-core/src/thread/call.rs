//! Where a subgraph call stands in its thread: not started, stopped part-way (paused or
//! failed), or finished before its parent task could save the result; and the updates it
//! applied so far, read back from its checkpoints.

use std::collections::HashSet;

use super::chain::{self, Loaded};
use super::codec::Persistence;
use super::inspect::subgraph_states;
use super::start::INPUT;
use super::writes::SavedWrites;
use crate::checkpoint::{
    corrupt, ChainProblem, Checkpoint, CheckpointError, CheckpointSource, StateRecord,
};
use crate::error::GraphError;
use crate::graph::{GraphInner, SubgraphState};
use crate::pregel::{self, Namespace};
use crate::state::State;

/// Where a subgraph call starts.
pub(crate) enum CallStart<S: State> {
    /// The thread holds nothing of this call: start it.
    New,
    /// The call stopped part-way: resume it. `writes` are the updates it applied so far.
    Unfinished {
        /// The updates applied before it stopped, in order.
        writes: Vec<S::Update>,
    },
    /// The call finished, but its parent task did not save the result.
    Finished {
        /// The final state.
        state: S,
        /// Every update it applied, in order.
        writes: Vec<S::Update>,
        /// The parent graph's nodes it routed to.
        parent: Vec<String>,
    },
}

/// Where call `invocation` stands on `thread_id`; its updates are read back only when
/// `writes` asks for them.
pub(crate) async fn call_start<S: State>(
    persistence: &Persistence<S>,
    graph: &GraphInner<S>,
    thread_id: &str,
    invocation: &str,
    writes: bool,
) -> Result<CallStart<S>, GraphError> {
    let Some(latest) = persistence.saver.get(thread_id, None).await? else {
        return Ok(CallStart::New);
    };
    let checkpoint = &latest.checkpoint;
    if checkpoint.metadata.invocation.as_deref() != Some(invocation) {
        return Ok(CallStart::New);
    }
    let writes = match writes {
        true => call_writes(persistence, thread_id, checkpoint, invocation).await?,
        false => Vec::new(),
    };
    let pending = &checkpoint.pending;
    if !pending.triggered.is_empty() || !pending.sends.is_empty() {
        return Ok(CallStart::Unfinished { writes });
    }
    let loaded = chain::load(persistence, graph, thread_id, Some(&checkpoint.id)).await?;
    let Some(Loaded { state, .. }) = loaded else {
        let id = checkpoint.id.clone();
        let missing = CheckpointError::NotFound { thread_id: thread_id.into(), checkpoint_id: id };
        return Err(missing.into());
    };
    Ok(CallStart::Finished { state, writes, parent: checkpoint.pending.parent.clone() })
}

/// The updates call `invocation` applied up to `latest`, oldest first: the writes of every
/// checkpoint back to the call's input, which a call's run stores on each of them.
async fn call_writes<S: State>(
    persistence: &Persistence<S>,
    thread_id: &str,
    latest: &Checkpoint,
    invocation: &str,
) -> Result<Vec<S::Update>, GraphError> {
    let broken = |checkpoint: &Checkpoint, problem| {
        GraphError::from(CheckpointError::CorruptChain {
            thread_id: thread_id.to_owned(),
            checkpoint_id: checkpoint.id.clone(),
            problem,
        })
    };
    let mut newest_first = Vec::new();
    let mut seen = HashSet::new();
    let mut current = latest.clone();
    loop {
        if !seen.insert(current.id.clone()) {
            let back_to = current.id.clone();
            return Err(broken(latest, ChainProblem::Loop { back_to }));
        }
        let input = current.metadata.source == CheckpointSource::Input;
        match &current.state {
            StateRecord::Delta { writes } => {
                let writes = writes.iter().rev().filter(|(writer, _)| writer != INPUT);
                for (_, update) in writes {
                    newest_first.push((current.id.clone(), update.clone()));
                }
            }
            StateRecord::Full { .. } if !input => {
                let reason =
                    "a subgraph call's checkpoint holds a full snapshot instead of its writes";
                return Err(corrupt(thread_id, &current.id, reason).into());
            }
            StateRecord::Full { .. } => {}
        }
        if input {
            break;
        }
        let Some(parent_id) = current.parent_id.clone() else {
            return Err(broken(&current, ChainProblem::NoBase));
        };
        let parent = persistence.saver.get(thread_id, Some(&parent_id)).await?;
        let missing =
            || broken(&current, ChainProblem::MissingParent { parent_id: parent_id.clone() });
        let parent = parent.ok_or_else(missing)?.checkpoint;
        if parent.metadata.invocation.as_deref() != Some(invocation) {
            let reason =
                "a subgraph call's checkpoints lead to another call's before reaching its input";
            return Err(corrupt(thread_id, &parent.id, reason).into());
        }
        current = parent;
    }
    newest_first
        .into_iter()
        .rev()
        .map(|(checkpoint_id, update)| persistence.decode_update(thread_id, &checkpoint_id, update))
        .collect()
}

/// The state of call `invocation` in `thread_id`, if the thread holds it: values, next nodes,
/// open pauses and its own subgraphs' states.
pub(crate) async fn call_snapshot<S: State>(
    persistence: &Persistence<S>,
    graph: &GraphInner<S>,
    thread_id: &str,
    invocation: &str,
    namespace: Namespace,
    values: fn(&S) -> serde_json::Value,
) -> Result<Option<SubgraphState>, GraphError> {
    let Some(latest) = persistence.saver.get(thread_id, None).await? else { return Ok(None) };
    if latest.checkpoint.metadata.invocation.as_deref() != Some(invocation) {
        return Ok(None);
    }
    let id = latest.checkpoint.id.clone();
    let Some(loaded) = chain::load(persistence, graph, thread_id, Some(&id)).await? else {
        return Ok(None);
    };
    let saved = SavedWrites::new(&loaded.stored.writes);
    let checkpoint = &loaded.stored.checkpoint;
    let subgraphs =
        subgraph_states(graph, &persistence.saver, thread_id, checkpoint, &namespace).await?;
    let next = pregel::upcoming(graph, &loaded.pending);
    Ok(Some(SubgraphState {
        namespace,
        values: values(&loaded.state),
        next: next.iter().map(|&node| graph.name(node).to_string()).collect(),
        interrupts: saved.interrupts.into_iter().map(|(_, interrupt)| interrupt).collect(),
        checkpoint_id: id,
        subgraphs,
    }))
}
