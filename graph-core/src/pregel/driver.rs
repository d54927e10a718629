//! The superstep loop: plan, run, apply and checkpoint, until no task is left.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::algo::{self, Task};
use super::cached;
use super::runner::{self, StepScope, TaskOutput};
use super::{StepRecord, TaskId, TaskPath, TaskRecord};
use crate::checkpoint::PendingRecord;
use crate::config::{Durability, RunConfig};
use crate::error::{GraphError, RouteOrigin, RouteRefusal};
use crate::graph::{
    Command, ErasedContext, GraphInner, Inherit, Interrupt, NodeId, RunOutcome, RunShared,
    Services, TaskInput,
};
use crate::state::{RunInput, State};
use crate::stream::{Emitter, RunWarning, StreamEvent, StreamMode};
use crate::thread::{loop_metadata, stop, Persistence, Session, Start};

/// What a run records beyond its outcome, when asked.
pub(crate) struct Records<'a, S: State> {
    /// The tasks of every superstep.
    pub(crate) steps: Option<&'a mut Vec<StepRecord>>,
    /// Every update the run applies, in order: a shared-state subgraph's writes.
    pub(crate) writes: Option<&'a mut Vec<S::Update>>,
    /// The parent graph's nodes a subgraph's run routed to before it ended.
    pub(crate) parent: Option<&'a mut Vec<String>>,
}

impl<S: State> Records<'_, S> {
    pub(crate) fn none() -> Self {
        Self { steps: None, writes: None, parent: None }
    }
}

/// Runs a graph until no task is left, recording what `records` asks for.
// Each argument comes from a different place at each caller (a root run, a subgraph call, a
// graph run inside a task), so a struct bundling them would only be rebuilt at every call.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run<S: State>(
    graph: &Arc<GraphInner<S>>,
    persistence: Option<&Arc<Persistence<S>>>,
    services: &Services,
    context: &ErasedContext,
    input: RunInput<S>,
    config: &RunConfig,
    emitter: Emitter<S>,
    records: Records<'_, S>,
) -> Result<RunOutcome<S>, GraphError> {
    let Records { steps: mut record, writes: mut applied, parent: routed } = records;
    let namespace = config.parent.as_ref().map(|parent| tracing::field::display(&parent.namespace));
    let span = tracing::info_span!(
        "run",
        nodes = graph.nodes.len(),
        thread_id = config.thread_id.as_deref(),
        namespace
    );
    // The run's own token: cancelled from outside through the config's token, and on exit
    // (failure or drop) so that nodes watching it stop too.
    let cancellation =
        config.cancellation.as_ref().map_or_else(CancellationToken::new, |t| t.child_token());
    let _cancel_on_exit = cancellation.clone().drop_guard();
    // A subgraph's run shares its root run's limit.
    let limit = match &config.parent {
        Some(parent) => parent.limit.clone(),
        None => config.max_concurrency.map(|n| Arc::new(Semaphore::new(n))),
    };
    // A subgraph without a cache of its own uses its parent run's.
    let services = services.or(config.parent.as_ref().map(|parent| &parent.services));
    let cache = services.cache.clone();
    let shared = Arc::new(RunShared {
        cancellation: cancellation.clone(),
        context: Arc::clone(context),
        last_step: std::sync::OnceLock::new(),
        inherit: Inherit {
            config: config.clone(),
            limit,
            saver: persistence.map(|p| Arc::clone(&p.saver)),
            stream: emitter.link(),
            services,
        },
    });
    let run_started = Instant::now();

    if persistence.is_none() {
        if let Some(node) = graph.static_interrupt_node() {
            return Err(GraphError::NoCheckpointer { needed_for: node });
        }
    }
    #[cfg(feature = "distributed")]
    if let crate::config::Executor::Queue(queue) = &config.executor {
        if persistence.is_none() {
            let needed_for = "running tasks on a task queue".to_owned();
            return Err(GraphError::NoCheckpointer { needed_for });
        }
        if config.durability == Durability::Exit {
            let reason = "its workers read each step's checkpoint, so the run needs `Sync` or `Async` durability, not `Exit`";
            return Err(GraphError::Queue {
                queue: queue.queue.name().to_owned(),
                source: reason.into(),
            });
        }
    }
    let run = async {
        let Start { mut state, mut pending, mut step, mut session, mut resumed } =
            Start::prepare(graph, persistence, context, input, config, &emitter).await?;
        let outcome = async {
            let (no_answers, no_child_answers) = (HashMap::new(), HashMap::new());
            let _ = shared
                .last_step
                .set((step.max(0) as usize + config.recursion_limit).saturating_sub(1));
            let mut steps_run = 0;
            // Reused from step to step, so a step of one task allocates little.
            let (mut outputs, mut commands) = (Vec::new(), Vec::new());
            // A step that fails ends the run, so what it left in `routes` is never read.
            let (mut tasks, mut routes) = (Vec::new(), algo::Routes::default());
            // A run that saves, caches, streams and records nothing takes a step of one
            // plain task, the step of a chain or a loop, on a path of its own.
            let plain = persistence.is_none()
                && cache.is_none()
                && config.step_timeout.is_none()
                && !emitter.is_streaming()
                && record.is_none()
                && applied.is_none();
            loop {
                let first = steps_run == 0;
                if !pending.warnings.is_empty() {
                    for warning in std::mem::take(&mut pending.warnings) {
                        warn(&emitter, config, warning).await?;
                    }
                }
                let lone = match plain {
                    true => algo::lone(&pending).filter(|&n| runner::runs_once(&graph.nodes[n])),
                    false => None,
                };
                // A lone task is something left to run.
                if lone.is_none() && pending.is_empty() {
                    break;
                }
                if steps_run >= config.recursion_limit {
                    let upcoming = algo::upcoming(graph, &pending);
                    return Err(GraphError::RecursionLimit {
                        limit: config.recursion_limit,
                        pending: upcoming.iter().map(|&id| graph.name(id).to_string()).collect(),
                    });
                }
                if let Some(node) = lone {
                    pending.triggered.set(node, false);
                    let step_span = tracing::info_span!("superstep", step, tasks = 1);
                    let at = step as usize;
                    let task_id = || TaskId::new(at, TaskPath::Pull(Arc::clone(graph.name(node))));
                    let input = TaskInput::State(Arc::clone(&state));
                    let called = match step_span.is_disabled() {
                        true => runner::call_plain(graph, &shared, input, node, task_id),
                        false => Err(input),
                    };
                    // Each branch builds its own future, so that none is moved into place.
                    let output = match called {
                        Ok(called) => {
                            let outcome = runner::settled(called).await;
                            let none = tracing::Span::none();
                            runner::conclude(&graph.nodes[node], at, outcome, &none)?
                        }
                        Err(input) if step_span.is_disabled() => {
                            runner::run_lone(graph, &shared, input, node, at, task_id, None).await?
                        }
                        Err(input) => {
                            runner::run_lone(graph, &shared, input, node, at, task_id, None)
                                .instrument(step_span.clone())
                                .await?
                        }
                    };
                    let mut command = match output {
                        TaskOutput::Done(command) => command,
                        TaskOutput::Paused(interrupts) => return Err(cannot_pause(&interrupts)),
                    };
                    let to_parent = match command.parent() {
                        [] => None,
                        _ => Some(parent_routes(graph, config, [(node, &command)])?),
                    };
                    let applied = {
                        // Sync code: the guard is gone before the next await.
                        let _in_step = step_span.enter();
                        let (pending, routes) = (&mut pending, &mut routes);
                        algo::apply_lone(
                            graph,
                            &mut state,
                            at,
                            node,
                            &mut command,
                            &**context,
                            pending,
                            routes,
                        )
                    };
                    applied?;
                    if let Some(to_parent) = to_parent {
                        pending.end_in_parent(graph, to_parent);
                    }
                    steps_run += 1;
                    step += 1;
                    continue;
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
                    return pause(&mut session, state, before, step, dedup(stops)).await;
                }

                algo::plan(graph, &mut pending, step as usize, &mut tasks);
                let saved = if first { resumed.take() } else { None };
                outputs.resize_with(tasks.len(), || None);
                if let (Some(saved), Some(session)) = (&saved, &session) {
                    for (task, slot) in tasks.iter().zip(&mut outputs) {
                        if let Some(output) = saved.outputs.get(&task.id.to_string()) {
                            let command = session.persistence.command_from_write(
                                graph,
                                &session.thread_id,
                                session.head.as_deref().unwrap_or_default(),
                                output.clone(),
                            )?;
                            *slot = Some(TaskOutput::Done(command));
                        }
                    }
                }

                let looked_up = match &cache {
                    Some(cache) => {
                        let mut found = cached::keys(graph, &state, &tasks, &outputs);
                        let values = cached::fetch(&**cache, &mut found).await;
                        cached::fill(graph, &tasks, &mut outputs, &mut found, values);
                        Some(found)
                    }
                    None => None,
                };
                let saver = session.as_ref().and_then(Session::task_saver);
                let step_span = tracing::info_span!("superstep", step, tasks = tasks.len());
                let scope = StepScope {
                    graph,
                    state: &state,
                    step: step as usize,
                    emitter: &emitter,
                    run: &shared,
                    run_started,
                    saver: saver.as_ref(),
                    answers: saved.as_ref().map_or(&no_answers, |s| &s.answers),
                    child_answers: saved.as_ref().map_or(&no_child_answers, |s| &s.child_answers),
                    head: session.as_ref().and_then(|s| s.head.as_deref()).map(Arc::from),
                };
                let mut cache_keys = Vec::new();
                if let Some(found) = looked_up {
                    for warning in found.warnings {
                        warn(&emitter, config, warning).await?;
                    }
                    for &hit in &found.hits {
                        let Some(TaskOutput::Done(command)) = &outputs[hit] else { continue };
                        let (node, task_id) = (tasks[hit].node, tasks[hit].id.clone());
                        // Saved like a finished task's output, so a pause in this step does not
                        // depend on the cache still holding it.
                        let write = match (&saver, tasks.len()) {
                            (Some(saver), 2..) => Some(saver.persistence.output_write(
                                graph,
                                &task_id.to_string(),
                                command,
                            )?),
                            _ => None,
                        };
                        let updates = (command.update.as_ref(), command.more());
                        runner::replay(&scope, node, &task_id, updates, runner::Replayed::Cached)
                            .await;
                        if let (Some(saver), Some(write)) = (&saver, write) {
                            saver.put(&write).await?;
                        }
                    }
                    cache_keys = found.keys;
                }
                let queue = remote_queue(config, session.is_some());
                let lone = runner::lone_lean_task(&scope, &tasks, &outputs);
                let outcome = match (queue, config.step_timeout, lone) {
                    // The step of a chain or a loop: its one task runs here, with no future
                    // for the other kinds of step built around it.
                    (None, None, Some(index)) => runner::run_inline(&scope, &mut tasks[index])
                        .instrument(step_span.clone())
                        .await
                        .map(|output| outputs[index] = Some(output)),
                    _ => {
                        let running = async {
                            #[cfg(feature = "distributed")]
                            if let (Some(queue), Some(session)) = (queue, &mut session) {
                                // Boxed: a queued step's future is large, and every local
                                // step would otherwise make room for it and copy it.
                                return Box::pin(super::remote::run_queued(
                                    &scope,
                                    queue,
                                    session,
                                    &mut tasks,
                                    &mut outputs,
                                ))
                                .await;
                            }
                            runner::run_tasks(&scope, &mut tasks, &mut outputs).await
                        }
                        .instrument(step_span.clone());
                        match config.step_timeout {
                            Some(timeout) => {
                                tokio::time::timeout(timeout, running).await.unwrap_or(Err(
                                    GraphError::StepTimedOut { step: step as usize, timeout },
                                ))
                            }
                            None => running.await,
                        }
                    }
                };
                if let Err(error) = outcome {
                    return stop(&mut session, &state, before, step, error).await;
                }

                let interrupts = split(&mut outputs, &mut commands);
                if !interrupts.is_empty() {
                    if session.is_none() {
                        return Err(cannot_pause(&interrupts));
                    }
                    return pause(&mut session, state, before, step, interrupts).await;
                }
                let writes = match &session {
                    Some(session) => encode_writes(&session.persistence, graph, &tasks, &commands)?,
                    None => Vec::new(),
                };
                if let Some(applied) = applied.as_deref_mut() {
                    applied.extend(commands.iter().flat_map(Command::updates).cloned());
                }
                let to_parent =
                    parent_routes(graph, config, tasks.iter().map(|t| t.node).zip(&commands))?;
                let (entries, warnings) = if cache_keys.iter().any(Option::is_some) {
                    cached::entries(graph, &tasks, cache_keys, &commands)
                } else {
                    Default::default()
                };
                step_span.in_scope(|| {
                    let step = step as usize;
                    algo::apply_step(
                        graph,
                        &mut state,
                        step,
                        &tasks,
                        &mut commands,
                        &**context,
                        &mut pending,
                        &mut routes,
                    )
                })?;
                pending.end_in_parent(graph, to_parent);
                steps_run += 1;
                if emitter.wants(StreamMode::Values) {
                    emitter
                        .send(StreamEvent::Values {
                            step: step as usize,
                            state: Arc::clone(&state),
                        })
                        .await;
                }
                if let Some(session) = &mut session {
                    let writers = writes.iter().map(|(w, _)| w.clone()).collect();
                    let next = session.persistence.pending_to_record(graph, &pending)?;
                    let from = session.head.clone();
                    session.checkpoint(&state, writes, next, loop_metadata(step, writers)).await?;
                    #[cfg(feature = "distributed")]
                    if let (Some(queue), Some(from)) = (queue, from) {
                        super::remote::finish(queue, session, &from).await?;
                    }
                    #[cfg(not(feature = "distributed"))]
                    let _ = (queue, from);
                }
                // Results are cached once the step that made them is saved.
                if let Some(cache) = &cache {
                    let failed = cached::store(cache, entries).await;
                    for warning in warnings.into_iter().chain(failed) {
                        warn(&emitter, config, warning).await?;
                    }
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
                    return Ok(RunOutcome::Paused {
                        state: unshare(state),
                        interrupts: dedup(stops),
                    });
                }
                step += 1;
            }
            if let Some(routed) = routed {
                routed.extend(pending.parent.iter().cloned());
            }
            for warning in algo::unfired_joins(graph, &pending) {
                warn(&emitter, config, warning).await?;
            }
            if let Some(session) = &mut session {
                let next = session.persistence.pending_to_record(graph, &pending)?;
                session.finish(&state, next, step - 1).await?;
            }
            Ok(RunOutcome::Finished(unshare(state)))
        }
        .await;
        // A run that failed still waits for the saves it queued, so that nothing of it is
        // written after it returns; its own error is the one reported.
        if let (Err(_), Some(session)) = (&outcome, &mut session) {
            let _ = session.flush().await;
        }
        outcome
    };
    cancellation
        .run_until_cancelled(run)
        .instrument(span)
        .await
        .unwrap_or(Err(GraphError::Cancelled))
}

/// The task queue a root run's steps go to, if the run asked for one. A subgraph's steps
/// run where its task runs.
#[cfg(feature = "distributed")]
fn remote_queue(config: &RunConfig, checkpointed: bool) -> Option<&crate::config::QueueExecutor> {
    match (&config.executor, &config.parent, checkpointed) {
        (crate::config::Executor::Queue(queue), None, true) => Some(queue),
        _ => None,
    }
}

/// Without the `distributed` feature every run is local.
#[cfg(not(feature = "distributed"))]
fn remote_queue(_: &RunConfig, _: bool) -> Option<std::convert::Infallible> {
    None
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

/// Stops the run on `interrupts` in `step`, saving what `stop` saves: the pause is the
/// run's outcome, unless saving it failed.
async fn pause<S: State>(
    session: &mut Option<Session<S>>,
    state: Arc<S>,
    before: Option<PendingRecord>,
    step: i64,
    interrupts: Vec<Interrupt>,
) -> Result<RunOutcome<S>, GraphError> {
    let error = GraphError::Interrupted { interrupts };
    match stop::<S, std::convert::Infallible>(session, &state, before, step, error).await {
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

/// The error of a run without a checkpointer whose task paused on `interrupts`.
fn cannot_pause(interrupts: &[Interrupt]) -> GraphError {
    let node = interrupts.first().map_or("", |interrupt| &interrupt.node);
    GraphError::NoCheckpointer { needed_for: format!("pausing in node `{node}`") }
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

/// Moves finished tasks' commands into `commands` and returns the pauses, both in task order.
fn split<S: State>(
    outputs: &mut Vec<Option<TaskOutput<S>>>,
    commands: &mut Vec<Command<S>>,
) -> Vec<Interrupt> {
    commands.clear();
    commands.reserve(outputs.len());
    let mut paused = Vec::new();
    for output in outputs.drain(..).flatten() {
        match output {
            TaskOutput::Done(command) => commands.push(command),
            TaskOutput::Paused(interrupts) => paused.extend(interrupts),
        }
    }
    paused
}

/// The parent graph's nodes the step's commands route to, in task order; a run that is not a
/// subgraph's may route in no parent.
fn parent_routes<'c, S: State>(
    graph: &GraphInner<S>,
    config: &RunConfig,
    commands: impl IntoIterator<Item = (NodeId, &'c Command<S>)>,
) -> Result<Vec<String>, GraphError> {
    let mut routes = Vec::new();
    for (node, command) in commands {
        if let (Some(target), None) = (command.parent().first(), &config.parent) {
            return Err(GraphError::InvalidRoute {
                origin: RouteOrigin::Command { node: graph.name(node).to_string() },
                target: target.clone(),
                refusal: RouteRefusal::NoParentGraph,
            });
        }
        routes.extend(command.parent().iter().cloned());
    }
    Ok(routes)
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
        for update in command.updates() {
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
