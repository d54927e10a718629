//! The one walk along a chain of delta checkpoints: from a checkpoint back to the last full
//! snapshot, then forwards, applying each delta. Stored data may be damaged, so the walk
//! checks every link and stops on a loop instead of following it forever.

use std::collections::{HashMap, HashSet};

use super::codec::Persistence;
use super::snapshots::{encoded_len, Snapshots};
use crate::checkpoint::{ChainProblem, Checkpoint, CheckpointError, StateRecord, StoredCheckpoint};
use crate::error::GraphError;
use crate::graph::GraphInner;
use crate::pregel::Pending;
use crate::state::State;

/// The highest step number a checkpoint may carry. Far beyond any real thread, it leaves
/// room to count on without overflow, and stays exact for JSON readers that use doubles.
pub(crate) const MAX_STEP: i64 = 1 << 53;

/// A checkpoint rebuilt into runtime values.
pub(crate) struct Loaded<S: State> {
    pub(crate) stored: StoredCheckpoint,
    pub(crate) state: S,
    pub(crate) pending: Pending,
    /// The deltas from the last full snapshot up to it.
    pub(crate) snapshots: Snapshots,
}

/// Loads checkpoint `id` (or the thread's latest) and rebuilds its state and pending work;
/// `None` when the thread has no checkpoint and none was asked for.
pub(crate) async fn load<S: State>(
    persistence: &Persistence<S>,
    graph: &GraphInner<S>,
    thread_id: &str,
    id: Option<&str>,
) -> Result<Option<Loaded<S>>, GraphError> {
    let Some(stored) = persistence.saver.get(thread_id, id).await? else {
        return match id {
            Some(id) => Err(CheckpointError::NotFound {
                thread_id: thread_id.into(),
                checkpoint_id: id.into(),
            }
            .into()),
            None => Ok(None),
        };
    };
    check(thread_id, id.unwrap_or(&stored.checkpoint.id), &stored.checkpoint)?;
    let (state, snapshots) =
        Chain::fetching(persistence, thread_id).state(&stored.checkpoint).await?;
    let pending = persistence.pending_from_record(graph, thread_id, &stored.checkpoint)?;
    Ok(Some(Loaded { stored, state, pending, snapshots }))
}

/// Loads the checkpoint a run or an edit starts from (`id`, else the thread's latest), with
/// the id of the thread's latest checkpoint, which the next save expects to still be latest.
pub(crate) async fn load_base<S: State>(
    persistence: &Persistence<S>,
    graph: &GraphInner<S>,
    thread_id: &str,
    id: Option<&str>,
) -> Result<(Option<Loaded<S>>, Option<String>), GraphError> {
    if id.is_none() {
        let base = load(persistence, graph, thread_id, None).await?;
        let latest = base.as_ref().map(|b| b.stored.checkpoint.id.clone());
        return Ok((base, latest));
    }
    let latest = persistence.saver.get(thread_id, None).await?.map(|s| s.checkpoint.id);
    Ok((load(persistence, graph, thread_id, id).await?, latest))
}

/// How many parents a walk fetches one by one before it lists the whole thread instead: a
/// thread stores a bounded multiple of its state, so one listing costs less than a long
/// walk of queries.
const FETCHES_BEFORE_LISTING: usize = 32;

/// Rebuilds the states of one thread's checkpoints.
pub(crate) struct Chain<'a, S: State> {
    persistence: &'a Persistence<S>,
    thread_id: &'a str,
    /// Every checkpoint of the thread, by id, when its whole history was listed; otherwise
    /// parents are fetched from the checkpointer.
    listed: Option<HashMap<&'a str, &'a Checkpoint>>,
    /// Parents fetched one by one so far.
    fetches: usize,
    /// The thread's checkpoints, by id, once the walk grew long enough to list them.
    fetched: HashMap<String, Checkpoint>,
    /// States already rebuilt (with the deltas since their snapshot), by checkpoint id,
    /// when listed.
    rebuilt: HashMap<String, (S, Snapshots)>,
}

impl<'a, S: State> Chain<'a, S> {
    /// A walk that fetches parents from the checkpointer: one by one, then, if the walk
    /// grows long, the whole thread at once.
    pub(crate) fn fetching(persistence: &'a Persistence<S>, thread_id: &'a str) -> Self {
        Self {
            persistence,
            thread_id,
            listed: None,
            fetches: 0,
            fetched: HashMap::new(),
            rebuilt: HashMap::new(),
        }
    }

    /// A walk over a thread's listed checkpoints, remembering every state it rebuilds so a
    /// whole history costs one pass.
    pub(crate) fn listed(
        persistence: &'a Persistence<S>,
        thread_id: &'a str,
        checkpoints: &'a [Checkpoint],
    ) -> Result<Self, GraphError> {
        let mut by_id = HashMap::with_capacity(checkpoints.len());
        for checkpoint in checkpoints {
            check(thread_id, &checkpoint.id, checkpoint)?;
            by_id.insert(checkpoint.id.as_str(), checkpoint);
        }
        Ok(Self {
            persistence,
            thread_id,
            listed: Some(by_id),
            fetches: 0,
            fetched: HashMap::new(),
            rebuilt: HashMap::new(),
        })
    }

    /// The state at `checkpoint`, with the deltas since the last full snapshot.
    pub(crate) async fn state(
        &mut self,
        checkpoint: &Checkpoint,
    ) -> Result<(S, Snapshots), GraphError> {
        // Back to a full snapshot or a state already rebuilt; `parents` are newest first.
        let mut parents: Vec<Checkpoint> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let (mut state, mut snapshots) = loop {
            let current = parents.last().unwrap_or(checkpoint);
            if !seen.insert(current.id.clone()) {
                let back_to = current.id.clone();
                return Err(self.broken(checkpoint, ChainProblem::Loop { back_to }));
            }
            let parent_id = match (&current.state, &current.parent_id) {
                (StateRecord::Full { values }, _) => {
                    let state = self.persistence.decode_state(self.thread_id, current, values)?;
                    break (state, Snapshots::after_full(encoded_len(values)));
                }
                (StateRecord::Delta { .. }, Some(parent_id)) => parent_id,
                (StateRecord::Delta { .. }, None) => {
                    return Err(self.broken(current, ChainProblem::NoBase))
                }
            };
            if let Some((state, snapshots)) = self.rebuilt.get(parent_id) {
                break (state.clone(), *snapshots);
            }
            let parent = self.fetch(current, parent_id).await?;
            parents.push(parent);
        };
        // Forwards: every delta walked, oldest first; the full snapshot the walk stopped on
        // is already `state`.
        for checkpoint in parents.iter().rev().chain([checkpoint]) {
            if let StateRecord::Delta { writes } = &checkpoint.state {
                self.persistence.apply_delta(self.thread_id, checkpoint, writes, &mut state)?;
                snapshots.add(encoded_len(writes));
                // Measured where the run measured, so a run continued from here snapshots
                // where one run would have.
                if snapshots.due() {
                    if let Ok(values) = self.persistence.encode_state(&state) {
                        snapshots.outgrown(encoded_len(&values));
                    }
                }
            }
        }
        if self.listed.is_some() {
            self.rebuilt.insert(checkpoint.id.clone(), (state.clone(), snapshots));
        }
        Ok((state, snapshots))
    }

    /// The parent `id` of `child`.
    async fn fetch(&mut self, child: &Checkpoint, id: &str) -> Result<Checkpoint, GraphError> {
        let thread_id = self.thread_id;
        let missing =
            || broken(thread_id, &child.id, ChainProblem::MissingParent { parent_id: id.into() });
        if let Some(by_id) = &self.listed {
            return by_id.get(id).map(|c| (*c).clone()).ok_or_else(missing);
        }
        let parent = if self.fetches < FETCHES_BEFORE_LISTING {
            self.fetches += 1;
            let stored = self.persistence.saver.get(thread_id, Some(id)).await?;
            stored.ok_or_else(missing)?.checkpoint
        } else {
            if self.fetched.is_empty() {
                let listed = self.persistence.saver.list(thread_id).await?;
                self.fetched = listed.into_iter().map(|c| (c.id.clone(), c)).collect();
            }
            self.fetched.get(id).cloned().ok_or_else(missing)?
        };
        check(thread_id, id, &parent)?;
        Ok(parent)
    }

    fn broken(&self, checkpoint: &Checkpoint, problem: ChainProblem) -> GraphError {
        broken(self.thread_id, &checkpoint.id, problem)
    }
}

/// Checks that a stored checkpoint is the one asked for and carries a usable step.
fn check(thread_id: &str, id: &str, checkpoint: &Checkpoint) -> Result<(), GraphError> {
    if checkpoint.thread_id != thread_id || checkpoint.id != id {
        let problem = ChainProblem::Misfiled {
            found_thread_id: checkpoint.thread_id.clone(),
            found_id: checkpoint.id.clone(),
        };
        return Err(broken(thread_id, id, problem));
    }
    let step = checkpoint.metadata.step;
    if !(-1..=MAX_STEP).contains(&step) {
        return Err(broken(thread_id, id, ChainProblem::StepOutOfRange { step }));
    }
    Ok(())
}

fn broken(thread_id: &str, checkpoint_id: &str, problem: ChainProblem) -> GraphError {
    GraphError::Checkpoint(CheckpointError::CorruptChain {
        thread_id: thread_id.to_owned(),
        checkpoint_id: checkpoint_id.to_owned(),
        problem,
    })
}
