//! Where a run begins: a fresh state, or a thread's checkpoint with its pending work,
//! and for a resume, the answers to the pauses it left open.

use std::sync::Arc;

use super::chain;
use super::codec::Persistence;
use super::session::Session;
use super::writes::{is_nested, within_subgraph, SavedWrites};
use crate::checkpoint::{CheckpointMetadata, CheckpointSource, PendingWrite};
use crate::config::RunConfig;
use crate::error::{GraphError, InvalidResume};
use crate::graph::{Answers, ErasedContext, GraphInner};
use crate::pregel::{self, Pending};
use crate::state::{RunInput, State};
use crate::stream::Emitter;

/// The writer name of a run's input update in checkpoints.
pub(crate) const INPUT: &str = "__input__";

/// Where a run begins: its state, pending work and first step, and the thread it saves to.
pub(crate) struct Start<S: State> {
    pub(crate) state: Arc<S>,
    pub(crate) pending: Pending,
    /// The step number of the first superstep (checkpointed threads continue their count).
    pub(crate) step: i64,
    pub(crate) session: Option<Session<S>>,
    /// What the resumed step already finished, paused on, or got answers for.
    pub(crate) resumed: Option<SavedWrites>,
}

impl<S: State> Start<S> {
    /// Turns a run's input into its start: a fresh state without a checkpointer; with one,
    /// a new checkpoint on the thread, or for a resume, the thread's checkpoint and answers.
    pub(crate) async fn prepare(
        graph: &GraphInner<S>,
        persistence: Option<&Arc<Persistence<S>>>,
        context: &ErasedContext,
        input: RunInput<S>,
        config: &RunConfig,
        emitter: &Emitter<S>,
    ) -> Result<Self, GraphError> {
        let Some(persistence) = persistence else {
            let state = match input {
                RunInput::State(state) => state,
                RunInput::Update { update, default } => {
                    let mut state = default();
                    pregel::apply_guarded(
                        &mut state,
                        [(INPUT, update)],
                        0,
                        GraphError::InvalidInput,
                    )?;
                    state
                }
                RunInput::Resume { .. } => {
                    let needed_for = "resuming a thread".to_owned();
                    return Err(GraphError::NoCheckpointer { needed_for });
                }
            };
            let mut pending = Pending::new(graph);
            pregel::enter(graph, &state, 0, &**context, &mut pending)?;
            return Ok(Self {
                state: Arc::new(state),
                pending,
                step: 0,
                session: None,
                resumed: None,
            });
        };
        let thread_id = config.thread_id.clone().ok_or(GraphError::MissingThreadId)?;
        // A subgraph's own thread id holds its namespace; a root's may not look like one.
        if config.parent.is_none() {
            check_thread_id(&thread_id)?;
        }
        let asked = config.checkpoint_id.as_deref();
        let (base, latest) = chain::load_base(persistence, graph, &thread_id, asked).await?;
        let base_id = base.as_ref().map(|b| b.stored.checkpoint.id.clone());
        let mut session = Session {
            persistence: Arc::clone(persistence),
            thread_id: Arc::from(thread_id.as_str()),
            head: base_id.clone(),
            latest,
            snapshots: base.as_ref().map(|b| b.snapshots).unwrap_or_default(),
            durability: config.durability,
            saving: None,
            emitter: emitter.clone(),
            invocation: config.parent.as_ref().and_then(|p| p.invocation.clone()),
            keep_writes: config.parent.as_ref().is_some_and(|p| p.keep_writes),
        };

        let base_step = base.as_ref().map_or(-2, |b| b.stored.checkpoint.metadata.step);
        let (state, record) = match input {
            RunInput::Resume { update, answers, gotos } => {
                if gotos > 0 || update.is_some() {
                    return Err(InvalidResume::UpdateOrGoto { thread_id }.into());
                }
                let base =
                    base.ok_or_else(|| GraphError::UnknownThread { thread_id: thread_id.clone() })?;
                if base.pending.is_empty() {
                    let checkpoint_id = base.stored.checkpoint.id;
                    return Err(GraphError::NothingToResume { thread_id, checkpoint_id });
                }
                let mut saved = SavedWrites::new(&base.stored.writes);
                session.answer(&mut saved, answers).await?;
                let step = base.stored.checkpoint.metadata.step + 1;
                let (state, pending) = (Arc::new(base.state), base.pending);
                return Ok(Self {
                    state,
                    pending,
                    step,
                    session: Some(session),
                    resumed: Some(saved),
                });
            }
            RunInput::State(state) => {
                let record =
                    persistence.state_record(&state, Vec::new(), &mut session.snapshots, true)?;
                (state, record)
            }
            RunInput::Update { update, default } => {
                let encoded = persistence.encode_update(&update)?;
                let has_base = base.is_some();
                let mut state = base.map_or_else(default, |b| b.state);
                let step = (base_step + 1).max(0) as usize;
                pregel::apply_guarded(
                    &mut state,
                    [(INPUT, update)],
                    step,
                    GraphError::InvalidInput,
                )?;
                let record = persistence.state_record(
                    &state,
                    vec![(INPUT.to_owned(), encoded)],
                    &mut session.snapshots,
                    !has_base,
                )?;
                (state, record)
            }
        };
        let mut pending = Pending::new(graph);
        let step = (base_step + 1).max(0) as usize;
        pregel::enter(graph, &state, step, &**context, &mut pending)?;
        let source = match (&config.checkpoint_id, &session.latest) {
            (Some(from), latest) if Some(from) != latest.as_ref() => CheckpointSource::Fork,
            _ => CheckpointSource::Input,
        };
        let step = base_step + 1;
        let metadata = CheckpointMetadata::new(source, step, vec![INPUT.to_owned()]);
        let next = persistence.pending_to_record(graph, &pending)?;
        session.put_record(record, next, metadata).await?;
        Ok(Self {
            state: Arc::new(state),
            pending,
            step: step + 1,
            session: Some(session),
            resumed: None,
        })
    }
}

/// Refuses a root thread id that contains the subgraph separator.
pub(crate) fn check_thread_id(thread_id: &str) -> Result<(), GraphError> {
    if thread_id.contains(crate::checkpoint::SUBGRAPH_SEPARATOR) {
        return Err(GraphError::InvalidThreadId { thread_id: thread_id.to_owned() });
    }
    Ok(())
}

impl<S: State> Session<S> {
    /// Records the answers of a resume against the resumed checkpoint.
    async fn answer(
        &mut self,
        saved: &mut SavedWrites,
        answers: Answers,
    ) -> Result<(), GraphError> {
        let thread_id = self.thread_id.to_string();
        let waiting = saved.waiting();
        let given: Vec<(String, serde_json::Value)> = match answers {
            Answers::None if waiting.is_empty() => return Ok(()),
            Answers::None => return Err(InvalidResume::NoAnswer { thread_id, waiting }.into()),
            Answers::One(value) => match waiting.as_slice() {
                [one] => vec![(one.clone(), value)],
                [] => return Err(InvalidResume::NothingWaiting { thread_id }.into()),
                _ => return Err(InvalidResume::OneAnswerForSeveral { thread_id, waiting }.into()),
            },
            Answers::ById(answers) => answers,
            Answers::Unsaveable(reason) => {
                return Err(InvalidResume::UnsaveableAnswer { thread_id, reason }.into())
            }
            Answers::Deliver(answers) => {
                answers.into_iter().filter(|(id, _)| waiting.contains(id)).collect()
            }
        };
        let saver = self.task_saver();
        for (id, value) in given {
            let Some((task_id, _)) = saved.interrupts.iter().find(|(_, i)| i.id == id) else {
                let interrupt_id = id;
                return Err(
                    InvalidResume::UnknownInterrupt { thread_id, interrupt_id, waiting }.into()
                );
            };
            let write = if is_nested(&id) {
                let within = within_subgraph(&id).to_owned();
                saved
                    .child_answers
                    .entry(task_id.clone())
                    .or_default()
                    .push((within, value.clone()));
                PendingWrite::Answer { task_id: task_id.clone(), interrupt_id: id, value }
            } else {
                let values = saved.answers.entry(task_id.clone()).or_default();
                values.push(value);
                PendingWrite::Resume { task_id: task_id.clone(), values: values.clone() }
            };
            if let Some(saver) = &saver {
                let checkpoint_id = &saver.checkpoint_id;
                self.persistence.saver.put_write(&self.thread_id, checkpoint_id, &write).await?;
            }
        }
        Ok(())
    }
}
