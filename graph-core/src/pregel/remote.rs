//! Steps whose tasks run on workers: the coordinating run's side (dispatch the step, wait
//! for its outputs, apply them as if its tasks had run here) and the worker's (run one task
//! of a step from the step's checkpoint).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::algo::{self, Task};
use super::runner::{self, StepScope, TaskOutput};
use crate::config::QueueExecutor;
use crate::distributed::{
    Limit, Progress, RemoteOutcome, RunSettings, StepKey, TaskMessage, TaskReport,
};
use crate::error::GraphError;
use crate::graph::{ErasedContext, GraphInner, Inherit, RunShared, Services};
use crate::state::State;
use crate::stream::Emitter;
use crate::thread::{Persistence, Session};

/// The version of a graph's structure: a hash of its nodes, its edges and its state's
/// types. A worker runs a task only for the version the coordinator runs.
pub(crate) fn graph_version<S: State>(graph: &GraphInner<S>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(graph.topology.json().to_string());
    hasher.update(std::any::type_name::<S>());
    hasher.update(std::any::type_name::<S::Update>());
    hasher.finalize()[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}

/// How long the coordinator keeps asking a queue that does not answer (its database
/// restarting, a network blip) before the run fails.
const OUTAGE: Duration = Duration::from_secs(30);

/// Calls the queue until it answers, for at most [`OUTAGE`]. Only for calls that may run
/// twice: reads, and writes that do nothing the second time.
async fn patiently<T, F>(mut call: impl FnMut() -> F) -> Result<T, GraphError>
where
    F: std::future::Future<Output = Result<T, GraphError>>,
{
    let started = Instant::now();
    loop {
        match call().await {
            Err(error @ GraphError::Queue { .. }) if started.elapsed() < OUTAGE => {
                tracing::warn!(%error, "the task queue does not answer; asking again");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            answer => return answer,
        }
    }
}

/// How often the coordinator looks for its step's outputs: soon after progress, less and
/// less often while none comes.
const FIRST_POLL: Duration = Duration::from_millis(2);
const LAST_POLL: Duration = Duration::from_millis(50);

/// Runs the step's tasks that have no output yet on the queue's workers, filling their
/// output slots in task order. The step's checkpoint is saved first, since the workers
/// read it.
pub(crate) async fn run_queued<S: State>(
    scope: &StepScope<'_, S>,
    queue: &QueueExecutor,
    session: &mut Session<S>,
    // Mutable only so the future is `Send`: a task's payload is `Send` but not `Sync`.
    tasks: &mut [Task],
    outputs: &mut [Option<TaskOutput<S>>],
) -> Result<(), GraphError> {
    let unrun: Vec<usize> = (0..tasks.len()).filter(|&i| outputs[i].is_none()).collect();
    if unrun.is_empty() {
        return Ok(());
    }
    session.flush().await?;
    let (thread_id, checkpoint_id) = match &session.head {
        Some(head) => (session.thread_id.to_string(), head.clone()),
        None => unreachable!("a checkpointed step starts from a saved checkpoint"),
    };
    let key = StepKey { thread_id: &thread_id, checkpoint_id: &checkpoint_id };
    let ids: Vec<String> = unrun.iter().map(|&i| tasks[i].id.to_string()).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let graph = scope.graph;
    let version = graph_version(graph);

    // A step's dispatch is undone if the run stops waiting for it (cancelled, timed out):
    // its queued tasks are dropped, so no worker runs them for nothing.
    let mut abandon = Abandon::new(&queue.queue, &key);
    let mut progress = patiently(|| queue.queue.progress(key)).await?;
    if progress.stored < ids.len() && !progress.failed {
        let dispatch = uuid::Uuid::now_v7().to_string();
        let last_step = scope.run.last_step.get().copied().unwrap_or(usize::MAX);
        let settings = RunSettings::of(&scope.run.inherit.config);
        // The run's cap and the nodes' caps hold across every worker.
        let run_limit = scope
            .run
            .inherit
            .config
            .max_concurrency
            .map(|size| Limit { key: queue.queue.step_limit_key(key), size });
        let messages: Vec<TaskMessage> = unrun
            .iter()
            .zip(&ids)
            .map(|(&i, task_id)| {
                let node = &graph.nodes[tasks[i].node];
                let node_limit = node.concurrency.map(|size| Limit {
                    key: queue.queue.node_limit_key(&queue.graph, &node.name),
                    size,
                });
                TaskMessage {
                    graph: queue.graph.clone(),
                    version: version.clone(),
                    thread_id: thread_id.clone(),
                    checkpoint_id: checkpoint_id.clone(),
                    dispatch: dispatch.clone(),
                    task_id: (*task_id).to_owned(),
                    node: node.name.to_string(),
                    last_step,
                    limits: run_limit.iter().chain(&node_limit).cloned().collect(),
                    settings: settings.clone(),
                }
            })
            .collect();
        patiently(|| queue.queue.dispatch(key, &messages)).await?;
    }
    let mut delay = FIRST_POLL;
    while progress.stored < ids.len() && !progress.failed {
        tokio::time::sleep(delay).await;
        let now: Progress = patiently(|| queue.queue.progress(key)).await?;
        delay = if now.stored > progress.stored { FIRST_POLL } else { (delay * 2).min(LAST_POLL) };
        progress = now;
    }
    let by_id: HashMap<&str, usize> = ids.iter().zip(&unrun).map(|(id, &i)| (*id, i)).collect();
    if progress.failed {
        let mut failures = patiently(|| queue.queue.outputs(key, true)).await?;
        failures.sort_by_key(|(task_id, ..)| by_id.get(task_id.as_str()).copied());
        patiently(|| queue.queue.abandon(key)).await?;
        abandon.disarm();
        let (task_id, worker, report) = failures.swap_remove(0);
        let node = graph.name(tasks[by_id[task_id.as_str()]].node).to_string();
        return Err(match report.outcome {
            RemoteOutcome::Mismatch { found } => {
                GraphError::GraphMismatch { graph: queue.graph.clone(), version, found, worker }
            }
            RemoteOutcome::Failed { message } => {
                GraphError::RemoteTask { node, task_id, worker, message }
            }
            _ => unreachable!("only failures are asked for"),
        });
    }

    let mut paused = false;
    let saver = session.task_saver();
    let mut stored = patiently(|| queue.queue.outputs(key, false)).await?;
    // Their events go out in task order, whatever order the workers finished in.
    stored.sort_by_key(|(task_id, ..)| by_id.get(task_id.as_str()).copied());
    for (task_id, worker, report) in stored {
        let Some(&i) = by_id.get(task_id.as_str()) else { continue };
        let task = &tasks[i];
        let replayed = ran_remotely(scope, worker, &report);
        outputs[i] = Some(match report.outcome {
            RemoteOutcome::Done { output } => {
                let command = session.persistence.command_from_write(
                    graph,
                    &thread_id,
                    &checkpoint_id,
                    output,
                )?;
                let updates = (command.update.as_ref(), command.more());
                runner::replay(scope, task.node, &task.id, updates, replayed).await;
                TaskOutput::Done(command)
            }
            RemoteOutcome::Paused { interrupts } => {
                if let Some(saver) = &saver {
                    saver.put_pauses(&task_id, &interrupts).await?;
                }
                paused = true;
                TaskOutput::Paused(interrupts)
            }
            RemoteOutcome::Failed { .. } | RemoteOutcome::Mismatch { .. } => {
                unreachable!("a failure ends the wait above")
            }
        });
    }
    if paused {
        // The finished tasks' outputs stay for the resume; the paused tasks run again.
        patiently(|| queue.queue.abandon(key)).await?;
    }
    abandon.disarm();
    Ok(())
}

/// Where in the run a task ran on its worker: its start on the worker's clock, placed on the
/// run's by the two clocks' current times (hosts' clocks agree to NTP's precision).
fn ran_remotely<S: State>(
    scope: &StepScope<'_, S>,
    worker: String,
    report: &TaskReport,
) -> runner::Replayed {
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64);
    let ago = Duration::from_micros(now_us.saturating_sub(report.started_us));
    runner::Replayed::Remote {
        worker: Arc::from(worker),
        started_at: scope.run_started.elapsed().saturating_sub(ago),
        duration: Duration::from_micros(report.duration_us),
    }
}

/// Forgets a step once the checkpoint after it is saved: the checkpoint holds its results.
pub(crate) async fn finish<S: State>(
    queue: &QueueExecutor,
    session: &mut Session<S>,
    checkpoint_id: &str,
) -> Result<(), GraphError> {
    session.flush().await?;
    let key = StepKey { thread_id: &session.thread_id, checkpoint_id };
    patiently(|| queue.queue.finish(key)).await
}

/// Abandons a dispatched step when dropped armed.
struct Abandon {
    armed: Option<(crate::distributed::TaskQueue, String, String)>,
}

impl Abandon {
    fn new(queue: &crate::distributed::TaskQueue, key: &StepKey<'_>) -> Self {
        let key = (queue.clone(), key.thread_id.to_owned(), key.checkpoint_id.to_owned());
        Self { armed: Some(key) }
    }

    fn disarm(&mut self) {
        self.armed = None;
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if let Some((queue, thread_id, checkpoint_id)) = self.armed.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let key = StepKey { thread_id: &thread_id, checkpoint_id: &checkpoint_id };
                    if let Err(error) = queue.abandon(key).await {
                        tracing::warn!(%error, "could not drop the tasks of a stopped step");
                    }
                });
            }
        }
    }
}

/// A step as a worker planned it from its checkpoint, kept for the step's other tasks.
struct Planned<S: State> {
    state: Arc<S>,
    step: usize,
    /// The step's tasks, in task order; a task runs on a copy.
    tasks: Mutex<Vec<Task>>,
    by_id: HashMap<String, usize>,
    answers: HashMap<String, Vec<serde_json::Value>>,
    child_answers: HashMap<String, Vec<(String, serde_json::Value)>>,
}

/// The steps a worker planned lately, by dispatch: each is loaded and planned once however
/// many of its tasks the worker runs.
pub(crate) struct Planner<S: State> {
    steps: Mutex<VecDeque<(String, PlannedSlot<S>)>>,
}

/// A step being planned or planned, shared by the tasks of the step that wait for it.
type PlannedSlot<S> = Arc<OnceCell<Arc<Planned<S>>>>;

impl<S: State> Default for Planner<S> {
    fn default() -> Self {
        Self { steps: Mutex::new(VecDeque::new()) }
    }
}

/// How many planned steps a worker keeps.
const PLANNED_STEPS: usize = 8;

impl<S: State> Planner<S> {
    fn slot(&self, dispatch: &str) -> PlannedSlot<S> {
        let mut steps = self.steps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, slot)) = steps.iter().find(|(key, _)| key == dispatch) {
            return Arc::clone(slot);
        }
        if steps.len() == PLANNED_STEPS {
            steps.pop_front();
        }
        let slot = Arc::new(OnceCell::new());
        steps.push_back((dispatch.to_owned(), Arc::clone(&slot)));
        slot
    }
}

/// What a worker needs of a registered graph to run one of its tasks.
pub(crate) struct TaskRunner<'a, S: State> {
    pub(crate) graph: &'a Arc<GraphInner<S>>,
    pub(crate) persistence: &'a Arc<Persistence<S>>,
    pub(crate) services: &'a Services,
    pub(crate) context: ErasedContext,
    pub(crate) planner: &'a Planner<S>,
}

impl<S: State> TaskRunner<'_, S> {
    /// Runs the task of `message` as the coordinator's run would have: its node with its
    /// retries, timeout and error handler, against the state of the step's checkpoint.
    pub(crate) async fn run(&self, message: &TaskMessage) -> RemoteOutcome {
        match self.try_run(message).await {
            Ok(outcome) => outcome,
            Err(error) => RemoteOutcome::Failed { message: error.to_string() },
        }
    }

    async fn try_run(&self, message: &TaskMessage) -> Result<RemoteOutcome, GraphError> {
        let planned = Arc::clone(
            self.planner.slot(&message.dispatch).get_or_try_init(|| self.plan(message)).await?,
        );
        let Some(&index) = planned.by_id.get(&message.task_id) else {
            let reason = format!("its step has no task `{}`", message.task_id);
            return Ok(RemoteOutcome::Failed { message: reason });
        };
        let mut task = {
            let tasks = planned.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let task = &tasks[index];
            let payload = task.payload.as_ref().map(|payload| payload.clone_payload());
            [Task { node: task.node, id: task.id.clone(), payload }]
        };
        let shared = Arc::new(RunShared {
            cancellation: CancellationToken::new(),
            context: Arc::clone(&self.context),
            last_step: std::sync::OnceLock::from(message.last_step),
            inherit: Inherit {
                config: message.settings.config(message.thread_id.clone()),
                limit: None,
                saver: Some(Arc::clone(&self.persistence.saver)),
                stream: None,
                services: self.services.clone(),
            },
        });
        let emitter = Emitter::none();
        let scope = StepScope {
            graph: self.graph,
            state: &planned.state,
            step: planned.step,
            emitter: &emitter,
            run: &shared,
            run_started: Instant::now(),
            saver: None,
            answers: &planned.answers,
            child_answers: &planned.child_answers,
            head: Some(Arc::from(message.checkpoint_id.as_str())),
        };
        let mut output = [None];
        let _cancel_on_exit = shared.cancellation.clone().drop_guard();
        runner::run_tasks(&scope, &mut task, &mut output).await?;
        Ok(match output[0].take() {
            Some(TaskOutput::Done(command)) => RemoteOutcome::Done {
                output: self.persistence.encode_output(self.graph, &command)?,
            },
            Some(TaskOutput::Paused(interrupts)) => RemoteOutcome::Paused { interrupts },
            None => unreachable!("a task that did not fail has an output"),
        })
    }

    /// Loads the step's checkpoint and plans its tasks as the coordinator did.
    async fn plan(&self, message: &TaskMessage) -> Result<Arc<Planned<S>>, GraphError> {
        let (thread_id, checkpoint_id) = (&message.thread_id, &message.checkpoint_id);
        let loaded =
            crate::thread::load(self.persistence, self.graph, thread_id, Some(checkpoint_id))
                .await?
                .ok_or_else(|| crate::checkpoint::CheckpointError::NotFound {
                    thread_id: thread_id.clone(),
                    checkpoint_id: checkpoint_id.clone(),
                })?;
        let saved = crate::thread::SavedWrites::new(&loaded.stored.writes);
        let step = usize::try_from(loaded.stored.checkpoint.metadata.step + 1).unwrap_or(0);
        let (mut pending, mut tasks) = (loaded.pending, Vec::new());
        algo::plan(self.graph, &mut pending, step, &mut tasks);
        let by_id = tasks.iter().enumerate().map(|(i, task)| (task.id.to_string(), i)).collect();
        Ok(Arc::new(Planned {
            state: Arc::new(loaded.state),
            step,
            tasks: Mutex::new(tasks),
            by_id,
            answers: saved.answers,
            child_answers: saved.child_answers,
        }))
    }
}
