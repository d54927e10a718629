//! Runs one superstep's tasks concurrently on tokio and collects their outputs in task order.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::future::Either;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::task::JoinSet;
use tokio::time::error::Elapsed;
use tokio::time::Instant;
use tracing::Instrument;

use super::algo::Task;
use super::{TaskId, TaskPath};
use crate::checkpoint::PendingWrite;
use crate::error::{catch_panic, panic_message, Callback, GraphError, NodeError, NodeFailure};
use crate::graph::{
    Command, GraphInner, Interrupt, InterruptError, LazyContext, Node, NodeContext, NodeFuture,
    NodeId, ReturnedMessages, RunShared, SubgraphPaused, TaskAnswers, TaskInput,
};
use crate::state::State;
use crate::stream::{Emitter, StreamEvent, StreamMode, TaskSink, TaskStream};
use crate::thread::Persistence;

/// What every task of a step shares.
pub(crate) struct StepScope<'a, S: State> {
    pub(crate) graph: &'a Arc<GraphInner<S>>,
    pub(crate) state: &'a Arc<S>,
    pub(crate) step: usize,
    pub(crate) emitter: &'a Emitter<S>,
    /// The run's cancellation and context, handed to every task.
    pub(crate) run: &'a Arc<RunShared>,
    /// When the run started, for the timeline.
    pub(crate) run_started: Instant,
    /// Where finished tasks save their outputs, when the run is checkpointed.
    pub(crate) saver: Option<&'a TaskSaver<S>>,
    /// Answers to the interrupts of tasks resumed in this step, by task id.
    pub(crate) answers: &'a HashMap<String, Vec<Value>>,
    /// Answers to pauses inside the subgraphs of subgraph tasks, by task id.
    pub(crate) child_answers: &'a HashMap<String, Vec<(String, Value)>>,
    /// The checkpoint the step starts from, in a checkpointed run.
    pub(crate) head: Option<Arc<str>>,
}

/// Saves task outputs and pauses against the checkpoint the step started from.
pub(crate) struct TaskSaver<S: State> {
    pub(crate) persistence: Arc<Persistence<S>>,
    pub(crate) thread_id: Arc<str>,
    pub(crate) checkpoint_id: Arc<str>,
}

impl<S: State> Clone for TaskSaver<S> {
    fn clone(&self) -> Self {
        Self {
            persistence: Arc::clone(&self.persistence),
            thread_id: Arc::clone(&self.thread_id),
            checkpoint_id: Arc::clone(&self.checkpoint_id),
        }
    }
}

impl<S: State> TaskSaver<S> {
    pub(crate) async fn put(&self, write: &PendingWrite) -> Result<(), GraphError> {
        let saver = &self.persistence.saver;
        Ok(saver.put_write(&self.thread_id, &self.checkpoint_id, write).await?)
    }

    /// Saves the pauses of task `task_id`, which a resume answers.
    pub(crate) async fn put_pauses(
        &self,
        task_id: &str,
        interrupts: &[Interrupt],
    ) -> Result<(), GraphError> {
        for interrupt in interrupts {
            let write = PendingWrite::Interrupt {
                task_id: task_id.to_owned(),
                interrupt_id: interrupt.id.clone(),
                node: interrupt.node.clone(),
                value: interrupt.value.clone(),
            };
            self.put(&write).await?;
        }
        Ok(())
    }
}

/// How a task ended, short of failing.
pub(crate) enum TaskOutput<S: State> {
    /// It returned a command.
    Done(Command<S>),
    /// It paused on `NodeContext::interrupt`, or its subgraph paused (with every pause of
    /// the subgraph's step).
    Paused(Vec<Interrupt>),
}

/// Runs every task of the step whose output slot is still empty, filling the slots.
///
/// A single task runs inline, without a spawn. Several run on a `JoinSet`; the first failure
/// returns at once, and dropping the set aborts the siblings still running (fail fast).
pub(crate) async fn run_tasks<S: State>(
    scope: &StepScope<'_, S>,
    tasks: &mut [Task],
    outputs: &mut [Option<TaskOutput<S>>],
) -> Result<(), GraphError> {
    let (Some(first), second) = (unrun(outputs, 0).next(), unrun(outputs, 0).nth(1)) else {
        return Ok(());
    };
    let Some(second) = second else {
        let task = &mut tasks[first];
        let output = match lean(scope, &scope.graph.nodes[task.node]) {
            true => run_inline(scope, task).await?,
            false => start(scope, task, true).await?,
        };
        outputs[first] = Some(output);
        return Ok(());
    };

    let batch_len = batch_len(unrun(outputs, first).count());
    let (mut untraced, mut traced) = (Batch::new(batch_len), Batch::new(batch_len));
    let mut set = JoinSet::new();
    let mut shared = None;
    for index in [first, second].into_iter().chain(unrun(outputs, second + 1)) {
        // Node panics are caught inside the task; this also catches one from code around
        // the node (a checkpointer saving its output), so it names the node rather than
        // passing for a cancellation.
        let task = &mut tasks[index];
        if !lean(scope, &scope.graph.nodes[task.node]) {
            set.spawn(guarded(index, start(scope, task, false)).map(|joined| vec![joined]));
            continue;
        }
        // Each kind of future is batched on its own, so that a task no subscriber traces
        // does not carry a span.
        let span = task_span(scope.graph.name(task.node), || task.id.clone());
        let shared = Arc::clone(shared.get_or_insert_with(|| LeanShared::new(scope)));
        if span.is_disabled() {
            untraced.push(&mut set, guarded(index, spawned_lean(shared, task, false)));
        } else {
            let task = spawned_lean(shared, task, true).instrument(span);
            traced.push(&mut set, guarded(index, task));
        }
    }
    untraced.spawn(&mut set);
    traced.spawn(&mut set);
    while let Some(joined) = set.join_next().await {
        for (index, caught) in joined.map_err(|_| GraphError::Cancelled)? {
            let outcome = caught.map_err(|panic| GraphError::NodePanicked {
                node: scope.graph.name(tasks[index].node).to_string(),
                step: scope.step,
                attempt: 1,
                message: format!("{} (outside the node's own code)", panic_message(&*panic)),
            })?;
            outputs[index] = Some(outcome?);
        }
    }
    Ok(())
}

/// The index of the step's one task still to run, if it is lean: it can run inline.
pub(crate) fn lone_lean_task<S: State>(
    scope: &StepScope<'_, S>,
    tasks: &[Task],
    outputs: &[Option<TaskOutput<S>>],
) -> Option<usize> {
    let mut unrun = unrun(outputs, 0);
    let (Some(index), None) = (unrun.next(), unrun.next()) else { return None };
    lean(scope, &scope.graph.nodes[tasks[index].node]).then_some(index)
}

/// A task's index and how it ended, panics caught.
type Joined<S> = (usize, std::thread::Result<Result<TaskOutput<S>, GraphError>>);

/// How many lean tasks one spawned tokio task runs: one each for a few, more for many, so
/// that a large fan-out pays tokio's per-task cell and scheduling once per batch, while
/// there are still at least eight batches per worker thread to spread over the threads.
fn batch_len(tasks: usize) -> usize {
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    (tasks / (8 * workers)).clamp(1, MAX_BATCH_LEN)
}

/// The most lean tasks one spawned tokio task runs; within a batch they run concurrently,
/// but on one worker thread at a time.
const MAX_BATCH_LEN: usize = 256;

/// Lean tasks of one kind gathered to be spawned together.
struct Batch<F> {
    len: usize,
    futures: FuturesUnordered<F>,
}

impl<S: State, F: Future<Output = Joined<S>> + Send + 'static> Batch<F> {
    fn new(len: usize) -> Self {
        Self { len, futures: FuturesUnordered::new() }
    }

    /// Adds `task`, spawning the batch once it is full.
    fn push(&mut self, set: &mut JoinSet<Vec<Joined<S>>>, task: F) {
        if self.len == 1 {
            set.spawn(task.map(|joined| vec![joined]));
            return;
        }
        self.futures.push(task);
        if self.futures.len() == self.len {
            self.spawn(set);
        }
    }

    /// Spawns the tasks gathered so far as one tokio task, which reports their outputs
    /// once all have finished, or as soon as one fails: the step fails fast on it, and
    /// dropping the set drops the batches still running.
    fn spawn(&mut self, set: &mut JoinSet<Vec<Joined<S>>>) {
        if self.futures.is_empty() {
            return;
        }
        let mut futures = std::mem::take(&mut self.futures);
        set.spawn(async move {
            let mut joined = Vec::with_capacity(futures.len());
            while let Some((index, caught)) = futures.next().await {
                let failed = !matches!(caught, Ok(Ok(_)));
                joined.push((index, caught));
                if failed {
                    break;
                }
            }
            joined
        });
    }
}

/// The tasks from `from` on that are still to run: a resume or the cache may have given
/// some their output already.
fn unrun<S: State>(
    outputs: &[Option<TaskOutput<S>>],
    from: usize,
) -> impl Iterator<Item = usize> + '_ {
    (from..outputs.len()).filter(|&index| outputs[index].is_none())
}

/// A spawned task's future, catching a panic and naming the task's index.
fn guarded<F: Future>(
    index: usize,
    task: F,
) -> impl Future<Output = (usize, std::thread::Result<F::Output>)> {
    AssertUnwindSafe(task).catch_unwind().map(move |caught| (index, caught))
}

/// What the spawned lean tasks of one step share, in one allocation, so that each keeps
/// one pointer to it.
struct LeanShared<S: State> {
    step: usize,
    graph: Arc<GraphInner<S>>,
    run: Arc<RunShared>,
    state: Arc<S>,
    head: Option<Arc<str>>,
}

impl<S: State> LeanShared<S> {
    fn new(scope: &StepScope<'_, S>) -> Arc<Self> {
        Arc::new(Self {
            step: scope.step,
            graph: Arc::clone(scope.graph),
            run: Arc::clone(scope.run),
            state: Arc::clone(scope.state),
            head: scope.head.clone(),
        })
    }
}

/// A lean task to spawn: its one attempt, as small a future as can be, since a million of
/// them may wait at once. It keeps only what it needs to build the node's input and
/// context, and builds them when it starts. A `traced` task runs in its own span and
/// records its attempt and outcome there; an untraced one has no span to record in.
fn spawned_lean<S: State>(
    shared: Arc<LeanShared<S>>,
    task: &mut Task,
    traced: bool,
) -> impl Future<Output = Result<TaskOutput<S>, GraphError>> + Send + 'static {
    // The task id is made again from these when the task starts: a Send's index is all it
    // adds to the step and the node, and this takes a quarter of the id's space.
    let node_id = task.node as u32;
    let send = match task.id.path() {
        TaskPath::Push(index) => Some(*index as u32),
        TaskPath::Pull(_) => None,
    };
    let payload = task.payload.take();
    async move {
        let node = &shared.graph.nodes[node_id as usize];
        // The span is looked up again at the end rather than kept: kept, it would take
        // space in every waiting task.
        if traced {
            tracing::Span::current().record("attempt", 1);
        }
        let _permits = permits(node, shared.run.inherit.limit.as_deref()).await;
        // Made and called in a block of its own, so that the waiting future keeps neither.
        let called = {
            let mut make = || {
                let path = match send {
                    Some(index) => TaskPath::Push(index as usize),
                    None => TaskPath::Pull(Arc::clone(&node.name)),
                };
                NodeContext {
                    node: Arc::clone(&node.name),
                    task_id: TaskId::new(shared.step, path),
                    attempt: 1,
                    run: Arc::clone(&shared.run),
                    sink: None,
                    answers: None,
                    head: shared.head.clone(),
                }
            };
            let ctx = LazyContext { run_context: &shared.run.context, make: &mut make };
            call(node, TaskInput::new(payload, Arc::clone(&shared.state)), ctx)
        };
        let outcome = match called {
            Ok(future) => {
                let finished = finish(future, node.timeout).await;
                settle(finished, shared.graph.nodes[node_id as usize].timeout)
            }
            Err(error) => Err(error),
        };
        // Looked up again, so that the future does not keep the reference while it waits.
        let node = &shared.graph.nodes[node_id as usize];
        let span = if traced { tracing::Span::current() } else { tracing::Span::none() };
        conclude(node, shared.step, outcome, &span)
    }
}

/// Builds a task's future: every attempt of the node, its events, and on final failure its
/// error handler, inside the task's span.
///
/// A task `alone` in its step does not save its output as a pending write: with no sibling
/// to protect from re-running, the step's checkpoint saves it, at half the I/O.
fn start<S: State>(
    scope: &StepScope<'_, S>,
    task: &mut Task,
    alone: bool,
) -> Pin<Box<dyn Future<Output = Result<TaskOutput<S>, GraphError>> + Send + 'static>> {
    let graph = Arc::clone(scope.graph);
    let state = Arc::clone(scope.state);
    let emitter = scope.emitter.clone();
    let run = Arc::clone(scope.run);
    let run_started = scope.run_started;
    let saver = scope.saver.cloned();
    // Answers exist only on the step a resume continues; skip formatting the id otherwise.
    let (answers, by_id) = if scope.answers.is_empty() && scope.child_answers.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let id = task.id.to_string();
        let answers = scope.answers.get(&id).cloned().unwrap_or_default();
        (answers, scope.child_answers.get(&id).cloned().unwrap_or_default())
    };
    let head = scope.head.clone();
    let (step, node_id, task_id, mut payload) =
        (scope.step, task.node, task.id.clone(), task.payload.take());
    let span = task_span(graph.name(node_id), || task_id.clone());
    let task_span = span.clone();
    let full = async move {
        let node = &graph.nodes[node_id];
        let callback_panicked = |callback, message| GraphError::CallbackPanicked {
            node: node.name.to_string(),
            step,
            callback,
            message,
        };
        let sink = emitter.task_sink(&node.name, &task_id);
        let max_attempts = node.retry.as_ref().map_or(1, |policy| policy.max_attempts());
        let events = TaskEvents {
            emitter: &emitter,
            node: &node.name,
            task_id: &task_id,
            step,
            sink: sink.as_deref(),
            returned_messages: graph.returned_messages,
            worker: None,
        };
        let mut attempt = 1;
        loop {
            let input = match payload.take() {
                None => TaskInput::State(Arc::clone(&state)),
                Some(sent) => {
                    // Keep a copy only while another attempt or the error handler may
                    // need it.
                    if attempt < max_attempts || node.on_error.is_some() {
                        payload = Some(sent.clone_payload());
                    }
                    TaskInput::Payload(sent.into_any())
                }
            };
            let mut make = || NodeContext {
                node: Arc::clone(&node.name),
                task_id: task_id.clone(),
                attempt,
                run: Arc::clone(&run),
                sink: sink.clone().map(|sink| sink as Arc<dyn TaskStream>),
                answers: (!answers.is_empty() || !by_id.is_empty()).then(|| {
                    Arc::new(TaskAnswers {
                        values: answers.clone(),
                        asked: Default::default(),
                        by_id: by_id.clone(),
                    })
                }),
                head: head.clone(),
            };
            let ctx = LazyContext { run_context: &run.context, make: &mut make };
            let started = Instant::now();
            task_span.record("attempt", attempt);
            events.start(attempt).await;
            let error = match run_attempt(node, input, ctx, run.inherit.limit.as_deref()).await {
                Ok(command) => {
                    if let Some(saver) = saver.as_ref().filter(|_| !alone) {
                        saver
                            .put(&saver.persistence.output_write(
                                &graph,
                                &task_id.to_string(),
                                &command,
                            )?)
                            .await?;
                    }
                    events.update(command.update.as_ref(), command.more(), false).await;
                    events
                        .end(attempt, started - run_started, started.elapsed(), None, false)
                        .await;
                    task_span.record("outcome", "ok");
                    return Ok(TaskOutput::Done(command));
                }
                Err(error) => error,
            };
            if let Some(interrupts) = paused(&error) {
                if let Some(saver) = &saver {
                    saver.put_pauses(&task_id.to_string(), &interrupts).await?;
                }
                events.end(attempt, started - run_started, started.elapsed(), None, false).await;
                task_span.record("outcome", "paused");
                return Ok(TaskOutput::Paused(interrupts));
            }
            tracing::warn!(attempt, %error, "task attempt failed");
            let elapsed = started.elapsed();
            let retry = match &node.retry {
                Some(policy) => catch_panic(|| policy.next_delay(attempt, &error))
                    .map_err(|message| callback_panicked(Callback::RetryPredicate, message))?,
                None => None,
            };
            let failure = NodeFailure {
                node: node.name.to_string(),
                task_id: task_id.clone(),
                step,
                attempt,
                error,
                payload: if retry.is_some() { None } else { payload.take() },
            };
            match (retry, &node.on_error) {
                (Some(delay), _) => {
                    events
                        .end(attempt, started - run_started, elapsed, Some(&failure.error), false)
                        .await;
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                (None, Some(handler)) => {
                    let update = catch_panic(|| handler(&failure, &*run.context))
                        .map_err(|message| callback_panicked(Callback::ErrorHandler, message))?;
                    let command = Command::new().update(update);
                    if let Some(saver) = &saver {
                        saver
                            .put(&saver.persistence.output_write(
                                &graph,
                                &task_id.to_string(),
                                &command,
                            )?)
                            .await?;
                    }
                    events.update(command.update.as_ref(), command.more(), false).await;
                    events
                        .end(attempt, started - run_started, elapsed, Some(&failure.error), false)
                        .await;
                    task_span.record("outcome", "handled error");
                    return Ok(TaskOutput::Done(command));
                }
                (None, None) => {
                    events
                        .end(attempt, started - run_started, elapsed, Some(&failure.error), false)
                        .await;
                    task_span.record("outcome", "error");
                    return Err(failure.into());
                }
            }
        }
    };
    Box::pin(full.instrument(span))
}

/// Whether a task of `node` runs once, unobserved and unsaved, so it needs none of the full
/// future's machinery.
fn lean<S: State>(scope: &StepScope<'_, S>, node: &Node<S>) -> bool {
    runs_once(node)
        && scope.saver.is_none()
        && scope.answers.is_empty()
        && scope.child_answers.is_empty()
        && !scope.emitter.is_streaming()
}

/// Whether a task of `node` has one attempt and no error handler.
pub(crate) fn runs_once<S: State>(node: &Node<S>) -> bool {
    node.retry.is_none() && node.on_error.is_none()
}

/// A task's span: its node and id now, its attempt and outcome once known. The id is made
/// by `task_id`, only if a subscriber wants the span.
fn task_span(node: &str, task_id: impl FnOnce() -> TaskId) -> tracing::Span {
    tracing::info_span!(
        "task",
        node = %node,
        task_id = %task_id(),
        attempt = tracing::field::Empty,
        outcome = tracing::field::Empty,
    )
}

/// Runs a lean task alone in its step, in place: it borrows the step's scope, so nothing is
/// cloned or moved for it.
pub(crate) async fn run_inline<S: State>(
    scope: &StepScope<'_, S>,
    task: &mut Task,
) -> Result<TaskOutput<S>, GraphError> {
    let input = TaskInput::new(task.payload.take(), Arc::clone(scope.state));
    let (id, head) = (&task.id, scope.head.as_ref());
    run_lone(scope.graph, scope.run, input, task.node, id.step(), || id.clone(), head).await
}

/// Runs the one attempt of a lean task of `node` in place, in the task's span when a
/// subscriber wants it.
///
/// Its id is made by `task_id`, only if its node takes a context or a subscriber wants its
/// span.
pub(crate) async fn run_lone<S: State>(
    graph: &GraphInner<S>,
    run: &Arc<RunShared>,
    input: TaskInput<S>,
    node: NodeId,
    step: usize,
    task_id: impl Fn() -> TaskId + Send + Sync,
    head: Option<&Arc<str>>,
) -> Result<TaskOutput<S>, GraphError> {
    let node = &graph.nodes[node];
    let span = task_span(&node.name, &task_id);
    let mut make = lone_context(node, run, &task_id, head);
    let ctx = LazyContext { run_context: &run.context, make: &mut make };
    let limit = run.inherit.limit.as_deref();
    // Most runs have no subscriber: their task neither enters a span nor records in one.
    // Each branch builds its own future, so that neither is moved into place.
    if span.is_disabled() {
        return conclude(node, step, run_attempt(node, input, ctx, limit).await, &span);
    }
    span.record("attempt", 1);
    let outcome = run_attempt(node, input, ctx, limit).instrument(span.clone()).await;
    conclude(node, step, outcome, &span)
}

/// Calls the node of a lean task alone in a step with no subscriber's span, when its attempt
/// is no more than awaiting the node's future: no permit to wait for and no timer. Awaited
/// with [`settled`], that future is the whole task, and it is kept in the caller's future
/// rather than in futures of the task's own. A task that needs more gets its input back, for
/// [`run_lone`].
pub(crate) fn call_plain<S: State>(
    graph: &GraphInner<S>,
    run: &Arc<RunShared>,
    input: TaskInput<S>,
    node: NodeId,
    task_id: impl Fn() -> TaskId + Send + Sync,
) -> Result<Result<NodeFuture<S>, NodeError>, TaskInput<S>> {
    let node = &graph.nodes[node];
    let plain = waits_for_nothing(node, run.inherit.limit.as_deref());
    if !plain || !task_span(&node.name, &task_id).is_disabled() {
        return Err(input);
    }
    let mut make = lone_context(node, run, &task_id, None);
    Ok(call(node, input, LazyContext { run_context: &run.context, make: &mut make }))
}

/// Makes the context of a lone task's one attempt, for a node that asks for one.
fn lone_context<'a, S: State>(
    node: &'a Node<S>,
    run: &'a Arc<RunShared>,
    task_id: &'a (impl Fn() -> TaskId + Send + Sync),
    head: Option<&'a Arc<str>>,
) -> impl FnMut() -> NodeContext + Send + 'a {
    move || NodeContext {
        node: Arc::clone(&node.name),
        task_id: task_id(),
        attempt: 1,
        run: Arc::clone(run),
        sink: None,
        answers: None,
        head: head.cloned(),
    }
}

/// What a called node ends with: its future awaited, its panic caught.
pub(crate) fn settled<S: State>(
    called: Result<NodeFuture<S>, NodeError>,
) -> impl Future<Output = Result<Command<S>, NodeError>> + Send {
    match called {
        Ok(future) => Either::Left(
            AssertUnwindSafe(future).catch_unwind().map(|caught| settle(Ok(caught), None)),
        ),
        Err(error) => Either::Right(std::future::ready(Err(error))),
    }
}

/// The output of a lean task's one attempt, recorded in its `span`.
// Always inlined: called, it copies the task's whole output in and out, a sixteenth of a
// loop step.
#[inline(always)]
pub(crate) fn conclude<S: State>(
    node: &Node<S>,
    step: usize,
    outcome: Result<Command<S>, NodeError>,
    span: &tracing::Span,
) -> Result<TaskOutput<S>, GraphError> {
    let error = match outcome {
        Ok(command) => {
            span.record("outcome", "ok");
            return Ok(TaskOutput::Done(command));
        }
        Err(error) => error,
    };
    if let Some(interrupts) = paused(&error) {
        span.record("outcome", "paused");
        return Ok(TaskOutput::Paused(interrupts));
    }
    span.record("outcome", "error");
    // No handler sees this failure, so the output keeps no task id for it.
    Err(error.into_graph_error(node.name.to_string(), step, 1))
}

/// Where the result of a task that did not run here came from.
pub(crate) enum Replayed {
    /// The node cache.
    Cached,
    /// A worker of a distributed run, which ran the task `started_at` into the run for
    /// `duration`.
    #[cfg(feature = "distributed")]
    Remote { worker: Arc<str>, started_at: Duration, duration: Duration },
}

/// Streams the events of a task that did not run here: its updates (and the messages in
/// them) and its end.
pub(crate) async fn replay<S: State>(
    scope: &StepScope<'_, S>,
    node: NodeId,
    task_id: &TaskId,
    (first, more): (Option<&S::Update>, &[S::Update]),
    replayed: Replayed,
) {
    let node = scope.graph.name(node);
    let sink = scope.emitter.task_sink(node, task_id);
    let (attempt, started_at, duration, cached, worker) = match replayed {
        Replayed::Cached => (0, scope.run_started.elapsed(), Duration::ZERO, true, None),
        #[cfg(feature = "distributed")]
        Replayed::Remote { worker, started_at, duration } => {
            (1, started_at, duration, false, Some(worker))
        }
    };
    let events = TaskEvents {
        emitter: scope.emitter,
        node,
        task_id,
        step: scope.step,
        sink: sink.as_deref(),
        returned_messages: scope.graph.returned_messages,
        worker,
    };
    events.update(first, more, cached).await;
    events.end(attempt, started_at, duration, None, cached).await;
}

/// The stream events of one task, sent only in the modes the stream asked for.
struct TaskEvents<'a, S: State> {
    emitter: &'a Emitter<S>,
    node: &'a Arc<str>,
    task_id: &'a TaskId,
    step: usize,
    sink: Option<&'a TaskSink<S>>,
    returned_messages: Option<ReturnedMessages<S>>,
    /// The worker process that ran the task, for a task of a distributed run.
    worker: Option<Arc<str>>,
}

impl<S: State> TaskEvents<'_, S> {
    async fn start(&self, attempt: u32) {
        if self.emitter.wants(StreamMode::Tasks) {
            let (step, node, task_id) = (self.step, Arc::clone(self.node), self.task_id.clone());
            self.emitter.send(StreamEvent::TaskStart { step, node, task_id, attempt }).await;
        }
    }

    /// Sends the task's updates (a subgraph's writes one by one) and the messages in them.
    async fn update(&self, first: Option<&S::Update>, more: &[S::Update], cached: bool) {
        for update in first.into_iter().chain(more) {
            if let (Some(sink), Some(messages)) = (
                self.sink.filter(|_| self.emitter.wants(StreamMode::Messages)),
                self.returned_messages,
            ) {
                sink.returned(messages(update)).await;
            }
            if self.emitter.wants(StreamMode::Updates) {
                let (step, node, task_id) =
                    (self.step, Arc::clone(self.node), self.task_id.clone());
                let update = update.clone();
                let event = StreamEvent::Update { step, node, task_id, update, cached };
                self.emitter.send(event).await;
            }
        }
    }

    async fn end(
        &self,
        attempt: u32,
        started_at: Duration,
        duration: Duration,
        error: Option<&NodeError>,
        cached: bool,
    ) {
        if self.emitter.wants(StreamMode::Tasks) {
            let (step, node, task_id) = (self.step, Arc::clone(self.node), self.task_id.clone());
            let error = error.map(NodeError::to_string);
            let event = StreamEvent::TaskEnd {
                step,
                node,
                task_id,
                attempt,
                started_at,
                duration,
                error,
                cached,
                worker: self.worker.clone(),
            };
            self.emitter.send(event).await;
        }
    }
}

/// One attempt: wait for the node's and the run's permits, then call the node with its
/// timeout, catching panics.
async fn run_attempt<S: State>(
    node: &Node<S>,
    input: TaskInput<S>,
    ctx: LazyContext<'_>,
    run_limit: Option<&Semaphore>,
) -> Result<Command<S>, NodeError> {
    if waits_for_nothing(node, run_limit) {
        // Most nodes wait for no permit and have no timer: their future is awaited as is.
        return settled(call(node, input, ctx)).await;
    }
    let _permits = permits(node, run_limit).await;
    settle(finish(call(node, input, ctx)?, node.timeout).await, node.timeout)
}

/// Whether a task of `node` waits for no permit, its node's or its run's (`run_limit`), and
/// has no timer: its attempt is no more than awaiting its node's future.
fn waits_for_nothing<S: State>(node: &Node<S>, run_limit: Option<&Semaphore>) -> bool {
    node.limit.is_none() && run_limit.is_none() && node.timeout.is_none()
}

/// The permits a task holds while it runs: its node's, then its run's. Boxed, and only for
/// tasks that take any: a task keeps them while its node runs, in its future.
type Permits<'a> = Option<Box<(Option<SemaphorePermit<'a>>, Option<SemaphorePermit<'a>>)>>;

/// Waits for the node's permit, then the run's. Most nodes have no limit: they wait for
/// nothing, and their future does not carry the space a wait takes.
fn permits<'a, S: State>(
    node: &'a Node<S>,
    run_limit: Option<&'a Semaphore>,
) -> impl Future<Output = Permits<'a>> + Send + 'a {
    // A subgraph's task holds no run-wide permit: its subgraph's tasks take them, and
    // holding one while they wait could deadlock a run limited to one task.
    let run_limit = run_limit.filter(|_| !node.func.is_subgraph());
    if node.limit.is_none() && run_limit.is_none() {
        return Either::Left(std::future::ready(None));
    }
    Either::Right(Box::pin(async move {
        // The node's permit first: a task holding a run-wide permit is always running.
        let node_permit = match &node.limit {
            Some(limit) => limit.acquire().await.ok(),
            None => None,
        };
        let run_permit = match run_limit {
            Some(limit) => limit.acquire().await.ok(),
            None => None,
        };
        Some(Box::new((node_permit, run_permit)))
    }))
}

/// Calls the node for its future. Calling may itself run user code (a closure's body), so it
/// is guarded too.
#[inline]
fn call<S: State>(
    node: &Node<S>,
    input: TaskInput<S>,
    ctx: LazyContext<'_>,
) -> Result<NodeFuture<S>, NodeError> {
    std::panic::catch_unwind(AssertUnwindSafe(|| node.func.call(input, ctx)))
        .map_err(|panic| NodeError::Panicked(panic_message(&*panic)))
}

/// What awaiting a node's future ends with: its output, or its panic, or the timeout.
type Finished<S> = Result<std::thread::Result<Result<Command<S>, crate::BoxError>>, Elapsed>;

/// Awaits a node's future within its `timeout`, catching panics. Not an async fn, which
/// would keep its arguments beside the future it awaits: this future is the node's future
/// and no more, and a timer only for nodes with a timeout.
fn finish<S: State>(
    future: NodeFuture<S>,
    timeout: Option<Duration>,
) -> impl Future<Output = Finished<S>> + Send {
    let guarded = AssertUnwindSafe(future).catch_unwind();
    match timeout {
        // Boxed: a timer is large.
        Some(timeout) => Either::Left(Box::pin(tokio::time::timeout(timeout, guarded))),
        None => Either::Right(guarded.map(Ok)),
    }
}

/// A node's finished future as its outcome.
#[inline]
fn settle<S: State>(
    finished: Finished<S>,
    timeout: Option<Duration>,
) -> Result<Command<S>, NodeError> {
    match finished {
        Ok(Ok(Ok(command))) => Ok(command),
        Ok(Ok(Err(source))) => Err(NodeError::Failed(source)),
        Ok(Err(panic)) => Err(NodeError::Panicked(panic_message(&*panic))),
        Err(_) => Err(NodeError::TimedOut(timeout.unwrap_or_default())),
    }
}

/// The pauses inside a failed attempt, if the node stopped on `NodeContext::interrupt` or
/// its subgraph paused.
fn paused(error: &NodeError) -> Option<Vec<Interrupt>> {
    let NodeError::Failed(source) = error else { return None };
    if let Some(InterruptError::Pause(interrupt)) = source.downcast_ref::<InterruptError>() {
        return Some(vec![interrupt.clone()]);
    }
    source.downcast_ref::<SubgraphPaused>().map(|paused| paused.interrupts.clone())
}
