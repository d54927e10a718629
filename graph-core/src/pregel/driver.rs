//! The superstep loop: plan, run, apply and checkpoint, until no task is left.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::algo::{self, Pending, Task};
use super::persist::{loop_metadata, Persistence, SavedWrites};
use super::runner::{self, StepScope, TaskOutput, TaskSaver};
use super::{StepRecord, TaskRecord};
use crate::checkpoint::{
    Checkpoint, CheckpointMetadata, CheckpointSource, PendingRecord, PendingWrite, StateRecord,
};
use crate::config::{Durability, RunConfig};
use crate::error::GraphError;
use crate::graph::{Answers, Command, ErasedContext, GraphInner, Interrupt, RunOutcome};
use crate::state::{RunInput, State};
use crate::stream::{Emitter, RunWarning, StreamEvent, StreamMode};

/// The writer name of a run's input update in checkpoints.
const INPUT: &str = "__input__";

/// Runs a graph until no task is left, recording each step if asked.
pub(crate) async fn run<S: State>(
    graph: &Arc<GraphInner<S>>,
    persistence: Option<&Arc<Persistence<S>>>,
    context: &ErasedContext,
    input: RunInput<S>,
    config: &RunConfig,
    emitter: Emitter<S>,
    mut record: Option<&mut Vec<StepRecord>>,
) -> Result<RunOutcome<S>, GraphError> {
    let span = tracing::info_span!(
        "run",
        nodes = graph.nodes.len(),
        thread_id = config.thread_id.as_deref()
    );
    // The run's own token: cancelled from outside through the config's token, and on exit
    // (failure or drop) so that nodes watching it stop too.
    let cancellation =
        config.cancellation.as_ref().map_or_else(CancellationToken::new, |t| t.child_token());
    let _cancel_on_exit = cancellation.clone().drop_guard();
    let limit = config.max_concurrency.map(|n| Arc::new(Semaphore::new(n)));
    let run_started = Instant::now();

    if persistence.is_none() {
        if let Some(node) = graph.static_interrupt_node() {
            return Err(GraphError::NoCheckpointer { needed_for: node });
        }
    }
    let run = async {
        let Start { mut state, mut pending, mut step, mut session, mut resumed } =
            Start::prepare(graph, persistence, context, input, config, &emitter).await?;
        let no_answers = HashMap::new();
        let mut steps_run = 0;
        loop {
            let first = steps_run == 0;
            for warning in std::mem::take(&mut pending.warnings) {
                warn(&emitter, config, warning).await?;
            }
            if pending.is_empty() {
                break;
            }
            if steps_run >= config.get_recursion_limit() {
                let upcoming = algo::upcoming(graph, &pending);
                return Err(GraphError::RecursionLimit {
                    limit: config.get_recursion_limit(),
                    pending: upcoming.iter().map(|&id| graph.name(id).to_string()).collect(),
                });
            }
            // Exit durability keeps the step's pending work to save if the run stops here.
            let before = match &session {
                Some(s) if s.durability == Durability::Exit => {
                    Some(s.persistence.pending_to_record(graph, &pending)?)
                }
                _ => None,
            };
            // Static pauses are checked only where configured, and not again on the step a
            // resume continues.
            let skip_static = (first && resumed.is_some()) || !graph.pauses_before;
            let stops: Vec<Interrupt> = if skip_static {
                Vec::new()
            } else {
                algo::upcoming(graph, &pending)
                    .into_iter()
                    .filter(|&id| graph.interrupt_before[id])
                    .map(|id| static_interrupt("before", graph.name(id)))
                    .collect()
            };
            if !stops.is_empty() {
                let interrupts = dedup(stops);
                let stopped = stop(
                    &mut session,
                    &state,
                    before,
                    step,
                    GraphError::Interrupted { interrupts },
                )
                .await;
                return paused(stopped, state);
            }

            let mut tasks = algo::plan(graph, &mut pending, step as usize);
            let saved = if first { resumed.take() } else { None };
            let mut outputs: Vec<Option<TaskOutput<S>>> = tasks.iter().map(|_| None).collect();
            if let (Some(saved), Some(session)) = (&saved, &session) {
                for (task, slot) in tasks.iter().zip(&mut outputs) {
                    if let Some((update, goto)) = saved.outputs.get(&task.id.to_string()) {
                        let command = session.persistence.command_from_write(
                            graph,
                            &session.thread_id,
                            session.head.as_deref().unwrap_or_default(),
                            update.clone(),
                            goto.clone(),
                        )?;
                        *slot = Some(TaskOutput::Done(command));
                    }
                }
            }

            let saver = session.as_ref().and_then(Session::task_saver);
            let step_span = tracing::info_span!("superstep", step, tasks = tasks.len());
            let scope = StepScope {
                graph,
                state: &state,
                step: step as usize,
                limit: limit.as_ref(),
                cancellation: &cancellation,
                emitter: &emitter,
                context,
                run_started,
                saver: saver.as_ref(),
                answers: saved.as_ref().map_or(&no_answers, |s| &s.answers),
            };
            let running =
                runner::run_tasks(&scope, &mut tasks, &mut outputs).instrument(step_span.clone());
            let outcome = match config.step_timeout {
                Some(timeout) => tokio::time::timeout(timeout, running)
                    .await
                    .unwrap_or(Err(GraphError::StepTimedOut { step: step as usize, timeout })),
                None => running.await,
            };
            if let Err(error) = outcome {
                return stop(&mut session, &state, before, step, error).await;
            }

            let (commands, interrupts) = split(outputs);
            if let Some(first) = interrupts.first() {
                if session.is_none() {
                    let needed_for = format!("pausing in node `{}`", first.node);
                    return Err(GraphError::NoCheckpointer { needed_for });
                }
                let stopped = stop(
                    &mut session,
                    &state,
                    before,
                    step,
                    GraphError::Interrupted { interrupts },
                )
                .await;
                return paused(stopped, state);
            }
            let writes = match &session {
                Some(session) => encode_writes(&session.persistence, graph, &tasks, &commands)?,
                None => Vec::new(),
            };
            step_span.in_scope(|| {
                let step = step as usize;
                algo::apply_step(
                    graph,
                    &mut state,
                    step,
                    &tasks,
                    commands,
                    &**context,
                    &mut pending,
                )
            })?;
            steps_run += 1;
            if emitter.wants(StreamMode::Values) {
                emitter
                    .send(StreamEvent::Values { step: step as usize, state: Arc::clone(&state) })
                    .await;
            }
            if let Some(session) = &mut session {
                let writers = writes.iter().map(|(w, _)| w.clone()).collect();
                let next = session.persistence.pending_to_record(graph, &pending)?;
                session.checkpoint(&state, writes, next, loop_metadata(step, writers)).await?;
            }
            if let Some(steps) = record.as_deref_mut() {
                steps.push(step_record(graph, step as usize, &tasks));
            }
            let stops: Vec<Interrupt> = tasks
                .iter()
                .filter(|t| graph.interrupt_after[t.node])
                .map(|t| static_interrupt("after", graph.name(t.node)))
                .collect();
            if !stops.is_empty() {
                if let Some(session) = &mut session {
                    let next = session.persistence.pending_to_record(graph, &pending)?;
                    session.finish(&state, next, step).await?;
                }
                return Ok(RunOutcome::Paused { state: unshare(state), interrupts: dedup(stops) });
            }
            step += 1;
        }
        for warning in algo::unfired_joins(graph, &pending) {
            warn(&emitter, config, warning).await?;
        }
        if let Some(session) = &mut session {
            let next = session.persistence.pending_to_record(graph, &pending)?;
            session.finish(&state, next, step - 1).await?;
        }
        Ok(RunOutcome::Finished(unshare(state)))
    };
    cancellation
        .run_until_cancelled(run)
        .instrument(span)
        .await
        .unwrap_or(Err(GraphError::Cancelled))
}

/// Where a run begins: its state, pending work and first step, and the thread it saves to.
struct Start<S: State> {
    state: Arc<S>,
    pending: Pending,
    /// The step number of the first superstep (checkpointed threads continue their count).
    step: i64,
    session: Option<Session<S>>,
    /// What the resumed step already finished, paused on, or got answers for.
    resumed: Option<SavedWrites>,
}

impl<S: State> Start<S> {
    async fn prepare(
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
                    state.apply([(INPUT, update)]).map_err(GraphError::InvalidInput)?;
                    state
                }
                RunInput::Resume { .. } => {
                    return Err(GraphError::NothingToResume { thread_id: None })
                }
            };
            let mut pending = Pending::new(graph);
            algo::enter(graph, &state, &**context, &mut pending)?;
            return Ok(Self {
                state: Arc::new(state),
                pending,
                step: 0,
                session: None,
                resumed: None,
            });
        };
        let thread_id = config.thread_id.clone().ok_or(GraphError::MissingThreadId)?;
        let latest = persistence.saver.get(&thread_id, None).await?.map(|s| s.checkpoint.id);
        let base_id = config.checkpoint_id.clone().or_else(|| latest.clone());
        let base = match &base_id {
            Some(id) => persistence.load(graph, &thread_id, Some(id)).await?,
            None => None,
        };
        let mut session = Session {
            persistence: Arc::clone(persistence),
            thread_id: Arc::from(thread_id.as_str()),
            head: base_id.clone(),
            latest,
            depth: base.as_ref().map_or(0, |b| b.depth),
            durability: config.durability,
            saving: None,
            emitter: emitter.clone(),
        };

        let base_step = base.as_ref().map_or(-2, |b| b.stored.checkpoint.metadata.step);
        let (state, record) = match input {
            RunInput::Resume { update, answers, gotos } => {
                if gotos > 0 || update.is_some() {
                    let why = "a Command given as input only resumes: apply updates with update_state first, and route from nodes";
                    return Err(GraphError::InvalidResume(why.into()));
                }
                let base = base.ok_or_else(|| GraphError::NothingToResume {
                    thread_id: Some(thread_id.clone()),
                })?;
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
                    persistence.state_record(&state, Vec::new(), &mut session.depth, true)?;
                (state, record)
            }
            RunInput::Update { update, default } => {
                let encoded = persistence.encode_update(&update)?;
                let has_base = base.is_some();
                let mut state = base.map_or_else(default, |b| b.state);
                state.apply([(INPUT, update)]).map_err(GraphError::InvalidInput)?;
                let record = persistence.state_record(
                    &state,
                    vec![(INPUT.to_owned(), encoded)],
                    &mut session.depth,
                    !has_base,
                )?;
                (state, record)
            }
        };
        let mut pending = Pending::new(graph);
        algo::enter(graph, &state, &**context, &mut pending)?;
        let source = match (&config.checkpoint_id, &session.latest) {
            (Some(from), latest) if Some(from) != latest.as_ref() => CheckpointSource::Fork,
            _ => CheckpointSource::Input,
        };
        let step = base_step + 1;
        let metadata = CheckpointMetadata { source, step, writers: vec![INPUT.to_owned()] };
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

/// A checkpointed run's place in its thread.
struct Session<S: State> {
    persistence: Arc<Persistence<S>>,
    thread_id: Arc<str>,
    /// The checkpoint the next step starts from: its tasks save their writes against it.
    head: Option<String>,
    /// The thread's latest checkpoint as this run knows it, for optimistic concurrency.
    latest: Option<String>,
    /// Delta checkpoints since the last full snapshot.
    depth: i64,
    durability: Durability,
    /// A checkpoint being saved in the background (`Durability::Async`).
    saving: Option<JoinHandle<Result<(), GraphError>>>,
    /// Where `Checkpoints` events go.
    emitter: Emitter<S>,
}

impl<S: State> Session<S> {
    fn task_saver(&self) -> Option<TaskSaver<S>> {
        // With `Exit` durability nothing is saved until the run stops.
        let checkpoint_id = self.head.as_deref().filter(|_| self.durability != Durability::Exit)?;
        Some(TaskSaver {
            persistence: Arc::clone(&self.persistence),
            thread_id: Arc::clone(&self.thread_id),
            checkpoint_id: Arc::from(checkpoint_id),
        })
    }

    /// Records the answers of a resume against the resumed checkpoint.
    async fn answer(
        &mut self,
        saved: &mut SavedWrites,
        answers: Answers,
    ) -> Result<(), GraphError> {
        let pending: Vec<String> = saved.interrupts.iter().map(|(_, i)| i.id.clone()).collect();
        let given: Vec<(String, serde_json::Value)> = match answers {
            Answers::None => {
                if !pending.is_empty() {
                    let why = format!(
                        "interrupts {pending:?} are waiting; answer them with Command::resume"
                    );
                    return Err(GraphError::InvalidResume(why));
                }
                return Ok(());
            }
            Answers::One(value) => match pending.as_slice() {
                [one] => vec![(one.clone(), value)],
                _ => {
                    let why = format!("{} interrupts are waiting ({pending:?}); answer them by id with Command::resume_by_id", pending.len());
                    return Err(GraphError::InvalidResume(why));
                }
            },
            Answers::ById(answers) => answers,
        };
        let saver = self.task_saver();
        for (id, value) in given {
            let Some((task_id, _)) = saved.interrupts.iter().find(|(_, i)| i.id == id) else {
                return Err(GraphError::InvalidResume(format!(
                    "no interrupt {id:?} is waiting; waiting: {pending:?}"
                )));
            };
            let values = saved.answers.entry(task_id.clone()).or_default();
            values.push(value);
            let write = PendingWrite::Resume { task_id: task_id.clone(), values: values.clone() };
            if let Some(saver) = &saver {
                let checkpoint_id = &saver.checkpoint_id;
                self.persistence.saver.put_write(&self.thread_id, checkpoint_id, &write).await?;
            }
        }
        Ok(())
    }

    /// Saves the checkpoint after a step (unless durability is `Exit`).
    async fn checkpoint(
        &mut self,
        state: &S,
        writes: Vec<(String, serde_json::Value)>,
        pending: PendingRecord,
        metadata: CheckpointMetadata,
    ) -> Result<(), GraphError> {
        if self.durability == Durability::Exit {
            return Ok(());
        }
        let record = self.persistence.state_record(state, writes, &mut self.depth, false)?;
        self.put_record(record, pending, metadata).await
    }

    /// Writes a checkpoint after the current head and makes it the head.
    async fn put_record(
        &mut self,
        state: StateRecord,
        pending: PendingRecord,
        metadata: CheckpointMetadata,
    ) -> Result<(), GraphError> {
        let checkpoint = Checkpoint {
            id: crate::checkpoint::new_checkpoint_id(),
            thread_id: self.thread_id.to_string(),
            parent_id: self.head.clone(),
            state,
            pending,
            metadata,
        };
        let expected = self.latest.replace(checkpoint.id.clone());
        self.head = Some(checkpoint.id.clone());
        let announced =
            self.emitter.wants(StreamMode::Checkpoints).then(|| StreamEvent::Checkpoint {
                checkpoint_id: checkpoint.id.clone(),
                parent_id: checkpoint.parent_id.clone(),
                metadata: checkpoint.metadata.clone(),
            });
        // Saves stay in order: the previous one must land before the next is sent.
        self.flush().await?;
        let saver = Arc::clone(&self.persistence.saver);
        let save = async move { Ok(saver.put(&checkpoint, expected.as_deref()).await?) };
        match self.durability {
            Durability::Async => self.saving = Some(tokio::spawn(save)),
            _ => save.await?,
        }
        if let Some(event) = announced {
            self.emitter.send(event).await;
        }
        Ok(())
    }

    /// Waits for a background save.
    async fn flush(&mut self) -> Result<(), GraphError> {
        match self.saving.take() {
            Some(saving) => saving.await.map_err(|_| GraphError::Cancelled)?,
            None => Ok(()),
        }
    }

    /// At the end of a run (or a pause after a step): with `Exit` durability this is the
    /// one save of the run; otherwise it waits for background saves.
    async fn finish(
        &mut self,
        state: &S,
        pending: PendingRecord,
        step: i64,
    ) -> Result<(), GraphError> {
        if self.durability == Durability::Exit {
            let record = self.persistence.state_record(state, Vec::new(), &mut self.depth, true)?;
            self.durability = Durability::Sync;
            self.put_record(record, pending, loop_metadata(step, Vec::new())).await?;
        }
        self.flush().await
    }
}

/// Ends a run that stopped inside a step (pause, failure or timeout): with `Exit`
/// durability, saves the state before the step with the step's work still pending.
async fn stop<S: State, T>(
    session: &mut Option<Session<S>>,
    state: &S,
    before: Option<PendingRecord>,
    step: i64,
    error: GraphError,
) -> Result<T, GraphError> {
    if let Some(session) = session {
        if let Some(pending) = before {
            let record =
                session.persistence.state_record(state, Vec::new(), &mut session.depth, true)?;
            session.durability = Durability::Sync;
            session.put_record(record, pending, loop_metadata(step - 1, Vec::new())).await?;
        }
        session.flush().await?;
    }
    Err(error)
}

/// Reports a warning: a log event and a stream event, or an error under `strict`.
async fn warn<S: State>(
    emitter: &Emitter<S>,
    config: &RunConfig,
    warning: RunWarning,
) -> Result<(), GraphError> {
    if config.strict {
        return Err(GraphError::StrictWarning(warning));
    }
    tracing::warn!(%warning, "run warning");
    if emitter.is_streaming() {
        emitter.send(StreamEvent::Warning { warning }).await;
    }
    Ok(())
}

/// A run that stopped on a pause: the pause is its outcome, unless saving it failed.
fn paused<S: State>(
    stopped: Result<std::convert::Infallible, GraphError>,
    state: Arc<S>,
) -> Result<RunOutcome<S>, GraphError> {
    match stopped {
        Err(GraphError::Interrupted { interrupts }) => {
            Ok(RunOutcome::Paused { state: unshare(state), interrupts })
        }
        Err(error) => Err(error),
        Ok(never) => match never {},
    }
}

/// The state out of its `Arc`, copied only if a node kept a reference to it.
fn unshare<S: State>(state: Arc<S>) -> S {
    Arc::try_unwrap(state).unwrap_or_else(|shared| S::clone(&shared))
}

fn static_interrupt(when: &str, node: &str) -> Interrupt {
    Interrupt {
        id: format!("{when}:{node}"),
        node: node.to_owned(),
        value: serde_json::Value::Null,
    }
}

fn dedup(mut interrupts: Vec<Interrupt>) -> Vec<Interrupt> {
    interrupts.dedup_by(|a, b| a.id == b.id);
    interrupts
}

/// Separates finished tasks' commands from pauses, both in task order.
fn split<S: State>(outputs: Vec<Option<TaskOutput<S>>>) -> (Vec<Command<S>>, Vec<Interrupt>) {
    let mut commands = Vec::with_capacity(outputs.len());
    let mut paused = Vec::new();
    for output in outputs.into_iter().flatten() {
        match output {
            TaskOutput::Done(command) => commands.push(command),
            TaskOutput::Paused(interrupt) => paused.push(*interrupt),
        }
    }
    (commands, paused)
}

/// The step's updates as a checkpoint delta: `(writer, update)` in task order.
fn encode_writes<S: State>(
    persistence: &Persistence<S>,
    graph: &GraphInner<S>,
    tasks: &[Task],
    commands: &[Command<S>],
) -> Result<Vec<(String, serde_json::Value)>, GraphError> {
    let mut writes = Vec::new();
    for (task, command) in tasks.iter().zip(commands) {
        if let Some(update) = &command.update {
            writes.push((graph.name(task.node).to_string(), persistence.encode_update(update)?));
        }
    }
    Ok(writes)
}

fn step_record<S: State>(graph: &GraphInner<S>, step: usize, tasks: &[Task]) -> StepRecord {
    let tasks = tasks
        .iter()
        .map(|t| TaskRecord { id: t.id.clone(), node: Arc::clone(graph.name(t.node)) })
        .collect();
    StepRecord { step, tasks }
}
