//! Reading and editing a thread: the state at a checkpoint, the whole history, and edits
//! that become new checkpoints.

use super::chain::{self, Chain, Loaded};
use super::codec::Persistence;
use super::writes::SavedWrites;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::checkpoint::{
    corrupt, new_checkpoint_id, Checkpoint, CheckpointMetadata, CheckpointSource, Checkpointer,
    PendingWrite,
};
use crate::config::RunConfig;
use crate::error::GraphError;
use crate::graph::{AnyContext, GraphInner, StateSnapshot};
use crate::graph::{Call, SubgraphState};
use crate::pregel::Namespace;
use crate::pregel::{self, Pending};
use crate::state::State;

/// The thread's state at [`RunConfig::checkpoint_id`] or its latest checkpoint.
pub(crate) async fn snapshot<S: State>(
    graph: &GraphInner<S>,
    persistence: &Persistence<S>,
    thread_id: &str,
    config: &RunConfig,
) -> Result<Option<StateSnapshot<S>>, GraphError> {
    let loaded =
        chain::load(persistence, graph, thread_id, config.checkpoint_id.as_deref()).await?;
    Ok(loaded.map(|loaded| {
        let saved = SavedWrites::new(&loaded.stored.writes);
        let interrupts = saved.interrupts.into_iter().map(|(_, interrupt)| interrupt).collect();
        let next = next_nodes(graph, &loaded.pending);
        let Loaded { stored, state, .. } = loaded;
        let Checkpoint { id, parent_id, metadata, .. } = stored.checkpoint;
        let subgraphs = Vec::new();
        StateSnapshot {
            values: state,
            next,
            interrupts,
            checkpoint_id: id,
            parent_id,
            metadata,
            subgraphs,
        }
    }))
}

/// Every checkpoint of the thread, newest first, each with its state.
pub(crate) async fn history<S: State>(
    graph: &GraphInner<S>,
    persistence: &Persistence<S>,
    thread_id: &str,
) -> Result<Vec<StateSnapshot<S>>, GraphError> {
    let checkpoints = persistence.saver.list(thread_id).await?;
    let mut chain = Chain::listed(persistence, thread_id, &checkpoints)?;
    // Ids are ordered by creation, so oldest first every parent is rebuilt before its children.
    let mut history = Vec::with_capacity(checkpoints.len());
    for checkpoint in checkpoints.iter().rev() {
        let (state, _) = chain.state(checkpoint).await?;
        let pending = persistence.pending_from_record(graph, thread_id, checkpoint)?;
        history.push(StateSnapshot {
            values: state,
            next: next_nodes(graph, &pending),
            interrupts: Vec::new(),
            checkpoint_id: checkpoint.id.clone(),
            parent_id: checkpoint.parent_id.clone(),
            metadata: checkpoint.metadata.clone(),
            subgraphs: Vec::new(),
        });
    }
    history.reverse();
    Ok(history)
}

/// Applies `update` as written by `as_node` (or a person) to the thread's checkpoint and
/// saves the result as a new checkpoint; returns its id.
pub(crate) async fn update<S: State>(
    graph: &GraphInner<S>,
    persistence: &Persistence<S>,
    thread_id: &str,
    config: &RunConfig,
    context: &AnyContext,
    update: S::Update,
    as_node: Option<&str>,
) -> Result<String, GraphError> {
    let asked = config.checkpoint_id.as_deref();
    let (base, latest) = chain::load_base(persistence, graph, thread_id, asked).await?;
    let base = base.ok_or_else(|| GraphError::UnknownThread { thread_id: thread_id.to_owned() })?;
    let base_id = base.stored.checkpoint.id.clone();
    let node = match as_node {
        Some(name) => {
            Some(graph.id(name).ok_or_else(|| GraphError::UnknownNode { node: name.to_owned() })?)
        }
        None => None,
    };
    let writer = as_node.unwrap_or("__update__").to_owned();
    let encoded = persistence.encode_update(&update)?;
    let Loaded { mut state, mut pending, mut snapshots, stored } = base;
    let step = (stored.checkpoint.metadata.step + 1).max(0) as usize;
    pregel::apply_guarded(&mut state, [(writer.as_str(), update)], step, GraphError::InvalidInput)?;
    if let Some(node) = node {
        pregel::after_node(graph, node, &state, step, context, &mut pending)?;
    }
    let source = if Some(&base_id) == latest.as_ref() {
        CheckpointSource::Update
    } else {
        CheckpointSource::Fork
    };
    let checkpoint = Checkpoint {
        id: new_checkpoint_id(),
        thread_id: thread_id.to_owned(),
        parent_id: Some(base_id),
        state: persistence.state_record(
            &state,
            vec![(writer.clone(), encoded)],
            &mut snapshots,
            false,
        )?,
        pending: persistence.pending_to_record(graph, &pending)?,
        // A person's edit keeps the step, so the paused tasks keep their ids.
        metadata: CheckpointMetadata {
            source,
            step: stored.checkpoint.metadata.step + i64::from(node.is_some()),
            writers: vec![writer],
            // An edit inside a paused subgraph stays part of its call.
            invocation: stored.checkpoint.metadata.invocation.clone(),
        },
    };
    persistence.saver.put(&checkpoint, latest.as_deref()).await?;
    if node.is_none() {
        let open = stored.writes.iter().filter(|w| {
            matches!(
                w,
                PendingWrite::Interrupt { .. }
                    | PendingWrite::Resume { .. }
                    | PendingWrite::Answer { .. }
            )
        });
        for write in open {
            persistence.saver.put_write(thread_id, &checkpoint.id, write).await?;
        }
    }
    Ok(checkpoint.id)
}

/// The states of the subgraph calls that the tasks of the step after `checkpoint` made and
/// left in their own threads, recursively; `namespace` is the thread's own.
pub(crate) fn subgraph_states<'a, S: State>(
    graph: &'a GraphInner<S>,
    saver: &'a Arc<dyn Checkpointer>,
    thread_id: &'a str,
    checkpoint: &'a Checkpoint,
    namespace: &'a Namespace,
) -> BoxFuture<'a, Result<Vec<SubgraphState>, GraphError>> {
    Box::pin(async move {
        let record = &checkpoint.pending;
        let node = |name: &str| {
            graph
                .id(name)
                .ok_or_else(|| corrupt(thread_id, &checkpoint.id, format!("unknown node `{name}`")))
        };
        let triggered = record.triggered.iter().map(|n| node(n)).collect::<Result<_, _>>()?;
        let sends: Vec<usize> =
            record.sends.iter().map(|s| node(&s.node)).collect::<Result<_, _>>()?;
        let step = (checkpoint.metadata.step + 1).max(0) as usize;
        let mut states = Vec::new();
        for (node, task_id) in pregel::upcoming_tasks(graph, &triggered, &sends, step) {
            let Some(inspect) = &graph.nodes[node].func.inspect else { continue };
            let call = Call {
                thread_id,
                head: &checkpoint.id,
                node: graph.name(node),
                task_id: &task_id,
                namespace,
            };
            if let Some(state) = inspect.state(saver, call).await? {
                states.push(state);
            }
        }
        Ok(states)
    })
}

/// The nodes the next step would run, in task order.
fn next_nodes<S: State>(graph: &GraphInner<S>, pending: &Pending) -> Vec<String> {
    pregel::upcoming(graph, pending).iter().map(|&id| graph.name(id).to_string()).collect()
}
