//! Runs in the background: one active run per thread, the multitask strategies for a busy
//! thread, cancellation, and each run's event log kept for joiners.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use graph_core::checkpoint::{Checkpointer, ThreadMark};
use graph_core::{CancellationToken, GraphError};
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use crate::error::ApiError;
use crate::log::RunLog;
use crate::modes::Modes;
use crate::records::{Records, Run, RunStatus, Thread, ThreadStatus};
use crate::served::Events;

/// What to do when a run is asked for on a thread that is running another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Multitask {
    /// Refuse with 409.
    Reject,
    /// Run after the runs before it.
    Enqueue,
    /// Cancel the runs in progress (their checkpoints stay), then run.
    Interrupt,
    /// Cancel the runs in progress and undo them (their records and checkpoints go), then
    /// run.
    Rollback,
}

impl Multitask {
    /// The strategies by name, the default (as in the LangGraph Platform) first.
    pub const NAMES: [(&'static str, Multitask); 4] = [
        ("enqueue", Multitask::Enqueue),
        ("reject", Multitask::Reject),
        ("interrupt", Multitask::Interrupt),
        ("rollback", Multitask::Rollback),
    ];

    /// Its name in the API.
    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, strategy)| *strategy == self).map_or("", |(name, _)| name)
    }
}

/// How long a finished run's events stay for late joiners.
pub(crate) const KEEP_FINISHED: Duration = Duration::from_secs(120);

/// A run the server knows in memory: running, waiting, or recently finished.
#[derive(Debug, Clone)]
pub(crate) struct Handle {
    pub log: Arc<RunLog>,
    pub cancel: CancellationToken,
    /// Whether a cancelled run is to be undone: set before `cancel` fires.
    pub rollback: Arc<AtomicBool>,
    /// The run's result (see [`result`]) once it has ended and its records are written.
    pub ended: watch::Receiver<Option<Arc<Value>>>,
}

impl Handle {
    /// A handle on a run not ended, whose events go to `log`.
    pub fn new(
        log: Arc<RunLog>,
        cancel: CancellationToken,
    ) -> (Self, watch::Sender<Option<Arc<Value>>>) {
        let (ended_tx, ended) = watch::channel(None);
        let rollback = Arc::default();
        (Self { log, cancel, rollback, ended }, ended_tx)
    }

    /// Asks the run to stop; with `rollback`, to undo what it did as well.
    pub fn stop(&self, rollback: bool) {
        if rollback {
            self.rollback.store(true, Ordering::SeqCst);
        }
        self.cancel.cancel();
    }

    /// Whether the run was asked to undo what it did.
    pub fn rolling_back(&self) -> bool {
        self.rollback.load(Ordering::SeqCst)
    }

    /// Waits until the run has ended; returns its result.
    pub async fn wait(&self) -> Arc<Value> {
        let mut ended = self.ended.clone();
        // The sender goes away only once the run's task has ended, after sending.
        let _ = ended.wait_for(Option::is_some).await;
        let result = ended.borrow().clone();
        result.unwrap_or_default()
    }
}

/// A run ready to start: its record, its events, and how to stream them.
pub(crate) struct Launch {
    pub run: Run,
    pub events: Events,
    pub modes: Modes,
    pub cancel: CancellationToken,
    pub multitask: Multitask,
}

/// The server's runs in memory.
#[derive(Debug, Default)]
pub(crate) struct Runner {
    handles: Mutex<HashMap<String, Handle>>,
    /// Per thread, the runs not yet ended, oldest first.
    queued: Mutex<HashMap<String, Vec<String>>>,
}

impl Runner {
    /// The run `run_id`, while the server keeps it in memory.
    pub fn handle(&self, run_id: &str) -> Option<Handle> {
        self.handles.lock().expect("runner lock").get(run_id).cloned()
    }

    /// Starts a run in the background after the thread's earlier runs, as its strategy says.
    pub async fn launch(
        self: &Arc<Self>,
        saved: &Saved,
        launch: Launch,
    ) -> Result<Handle, ApiError> {
        let Launch { run, events, modes, cancel, multitask } = launch;
        let thread_id = run.thread_id.clone();
        let log = Arc::new(RunLog::default());
        log.push("metadata", json!({"run_id": run.run_id, "attempt": 1}));
        let (handle, ended_tx) = Handle::new(log, cancel);
        let before = {
            let mut queued = self.queued.lock().expect("runner lock");
            let mut handles = self.handles.lock().expect("runner lock");
            let waiting = queued.entry(thread_id.clone()).or_default();
            let before: Vec<Handle> =
                waiting.iter().filter_map(|id| handles.get(id)).cloned().collect();
            if let Some(busy) = waiting.first().filter(|_| multitask == Multitask::Reject) {
                return Err(ApiError::Busy { thread_id, run_id: busy.clone() });
            }
            waiting.push(run.run_id.clone());
            // In the same critical section, so a run launched next on this thread finds
            // this one to wait for.
            handles.insert(run.run_id.clone(), handle.clone());
            before
        };
        if let Err(error) = saved.records.insert_run(&run).await {
            self.dequeue(&thread_id, &run.run_id);
            self.handles.lock().expect("runner lock").remove(&run.run_id);
            return Err(error);
        }
        if matches!(multitask, Multitask::Interrupt | Multitask::Rollback) {
            for earlier in &before {
                earlier.stop(multitask == Multitask::Rollback);
            }
        }
        let task = Task {
            runner: self.clone(),
            saved: saved.clone(),
            handle: handle.clone(),
            run,
            modes,
            before,
        };
        tokio::spawn(task.execute(events, ended_tx));
        Ok(handle)
    }

    /// Runs here and now a run whose record exists and whose thread's earlier runs have
    /// ended, logging its events to `log`: the shared run queue hands a worker its runs
    /// this way. Returns the run's handle, and the run itself to await.
    #[cfg(feature = "postgres")]
    pub fn adopt(
        self: &Arc<Self>,
        saved: &Saved,
        launch: Launch,
        log: Arc<RunLog>,
    ) -> (Handle, impl std::future::Future<Output = ()> + Send + 'static) {
        let Launch { run, events, modes, cancel, .. } = launch;
        let (handle, ended_tx) = Handle::new(log, cancel);
        self.handles.lock().expect("runner lock").insert(run.run_id.clone(), handle.clone());
        let task = Task {
            runner: self.clone(),
            saved: saved.clone(),
            handle: handle.clone(),
            run,
            modes,
            before: Vec::new(),
        };
        (handle, task.execute(events, ended_tx))
    }

    /// Forgets a run's place in its thread's queue.
    fn dequeue(&self, thread_id: &str, run_id: &str) {
        let mut queued = self.queued.lock().expect("runner lock");
        if let Some(waiting) = queued.get_mut(thread_id) {
            waiting.retain(|id| id != run_id);
            if waiting.is_empty() {
                queued.remove(thread_id);
            }
        }
    }

    /// Forgets a run's place in its thread's queue, and later its events.
    fn finish(self: &Arc<Self>, thread_id: &str, run_id: &str) {
        self.dequeue(thread_id, run_id);
        let runner = self.clone();
        let run_id = run_id.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(KEEP_FINISHED).await;
            runner.handles.lock().expect("runner lock").remove(&run_id);
        });
    }

    /// The oldest run of thread `thread_id` not yet ended, if any.
    pub fn running(&self, thread_id: &str) -> Option<String> {
        let queued = self.queued.lock().expect("runner lock");
        queued.get(thread_id).and_then(|runs| runs.first()).cloned()
    }
}

/// Where runs keep what they do: the server's records and its checkpointer.
#[derive(Clone)]
pub(crate) struct Saved {
    pub records: Records,
    pub checkpointer: Arc<dyn Checkpointer>,
}

/// One run's work in the background.
struct Task {
    runner: Arc<Runner>,
    saved: Saved,
    handle: Handle,
    run: Run,
    modes: Modes,
    /// The thread's runs that end before this one starts.
    before: Vec<Handle>,
}

impl Task {
    async fn execute(self, mut events: Events, ended: watch::Sender<Option<Arc<Value>>>) {
        let Task { runner, saved, handle, run, modes, before } = self;
        let Saved { records, checkpointer } = &saved;
        let (thread_id, run_id) = (&run.thread_id, &run.run_id);
        for earlier in &before {
            earlier.wait().await;
        }
        // Where the thread stood before the run, and its record: what a rollback restores.
        let mut undo: Option<(ThreadMark, Option<Thread>)> = None;
        let outcome = if handle.cancel.is_cancelled() {
            Outcome::Cancelled
        } else {
            match checkpointer.mark(thread_id).await {
                Err(error) => {
                    // A run whose start cannot be recorded does not start: it could be
                    // neither carried on after a crash nor undone.
                    let error = error_json(&GraphError::from(error));
                    handle.log.push("error", error.clone());
                    Outcome::Failed(error)
                }
                Ok(mark) => {
                    let mark = match records.start_run(run_id, mark.clone()).await {
                        Ok(first) => first,
                        Err(error) => {
                            logged(Err::<(), _>(error));
                            mark
                        }
                    };
                    let mut before = None;
                    let busy = records.update_thread(thread_id, |thread| {
                        before = Some(thread.clone());
                        thread.status = ThreadStatus::Busy;
                    });
                    logged(busy.await);
                    undo = Some((mark, before));
                    stream(&handle, &modes, &mut events).await
                }
            }
        };
        // Dropping the stream cancels what is left of the run.
        drop(events);
        let result = Arc::new(result(&outcome));
        if matches!(outcome, Outcome::Cancelled) && handle.rolling_back() {
            roll_back(&saved, &run, undo).await;
        } else {
            record_end(records, &run, outcome).await;
        }
        handle.log.close();
        runner.finish(thread_id, run_id);
        let _ = ended.send(Some(result));
    }
}

/// Runs a run: logs its events as `modes` shows them, until it ends or `handle` stops it.
async fn stream(handle: &Handle, modes: &Modes, events: &mut Events) -> Outcome {
    let mut outcome = Outcome::Cancelled;
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            () = handle.cancel.cancelled() => Some(Err(GraphError::Cancelled)),
        };
        match event {
            None => break,
            Some(Ok(event)) => {
                for (name, data) in modes.events(&event) {
                    handle.log.push(name, data);
                }
                match event["event"].as_str() {
                    Some("done") => outcome = Outcome::Finished(event["state"].clone()),
                    Some("paused") => {
                        outcome =
                            Outcome::Paused(event["state"].clone(), event["interrupts"].clone())
                    }
                    _ => {}
                }
            }
            Some(Err(GraphError::Cancelled)) => {
                outcome = Outcome::Cancelled;
                break;
            }
            Some(Err(error)) => {
                let error = error_json(&error);
                handle.log.push("error", error.clone());
                outcome = Outcome::Failed(error);
                break;
            }
        }
    }
    outcome
}

/// Records how a run ended, on the run and on its thread.
async fn record_end(records: &Records, run: &Run, outcome: Outcome) {
    let (run_status, thread_status) = match &outcome {
        Outcome::Finished(_) => (RunStatus::Success, ThreadStatus::Idle),
        Outcome::Paused(..) => (RunStatus::Interrupted, ThreadStatus::Interrupted),
        Outcome::Cancelled => (RunStatus::Interrupted, ThreadStatus::Idle),
        Outcome::Failed(_) => (RunStatus::Error, ThreadStatus::Error),
    };
    logged(records.set_run_status(&run.run_id, run_status).await);
    let ended_thread = records.update_thread(&run.thread_id, |thread| {
        thread.status = thread_status;
        match outcome {
            Outcome::Finished(state) => {
                thread.values = state;
                thread.interrupts = Map::new();
                thread.error = None;
            }
            Outcome::Paused(state, interrupts) => {
                thread.values = state;
                thread.interrupts = interrupts_by_node(&interrupts);
            }
            Outcome::Failed(error) => thread.error = Some(error),
            Outcome::Cancelled => {}
        }
    });
    logged(ended_thread.await);
}

/// Undoes a cancelled run: its thread's checkpoints go back to `mark`, where they stood
/// before the run first started, and its thread's record to `before`, what it was as this
/// attempt started (`undo` is `None` if the run never started); the run's record goes.
async fn roll_back(saved: &Saved, run: &Run, undo: Option<(ThreadMark, Option<Thread>)>) {
    let thread_id = &run.thread_id;
    if let Some((mark, before)) = undo {
        let rewound = saved.checkpointer.rewind(thread_id, &mark).await;
        logged(rewound.map_err(|error| ApiError::from(GraphError::from(error))));
        if let Some(before) = before {
            let restored = saved.records.update_thread(thread_id, |thread| {
                // A later attempt found the thread busy with the run's first: the rest of
                // the record is still what it was before the run.
                thread.status = match before.status {
                    ThreadStatus::Busy if !before.interrupts.is_empty() => {
                        ThreadStatus::Interrupted
                    }
                    ThreadStatus::Busy if before.error.is_some() => ThreadStatus::Error,
                    ThreadStatus::Busy => ThreadStatus::Idle,
                    status => status,
                };
                thread.values = before.values;
                thread.interrupts = before.interrupts;
                thread.error = before.error;
            });
            logged(restored.await);
        }
    }
    logged(saved.records.delete_run(&run.run_id).await);
}

/// Reports a failure to keep a run's records: the run goes on (its events and checkpoints are
/// unaffected), and the failure is not silent.
fn logged<T>(result: Result<T, ApiError>) {
    if let Err(error) = result {
        tracing::error!(%error, "could not record a run's progress");
    }
}

/// How a run ended.
enum Outcome {
    Finished(Value),
    Paused(Value, Value),
    Cancelled,
    /// The run failed; the `error` event's data.
    Failed(Value),
}

/// What `wait` and `join` answer for a run that ended: its final state; where it paused, the
/// state with the pending interrupts under `__interrupt__`; where it failed, the failure under
/// `__error__`; where it was cancelled, `null`.
fn result(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Finished(state) => state.clone(),
        Outcome::Paused(state, interrupts) => {
            let mut state = state.clone();
            let shown: Vec<Value> = interrupts
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| json!({"value": i["value"], "id": i["id"]}))
                .collect();
            if let Value::Object(fields) = &mut state {
                fields.insert("__interrupt__".into(), Value::Array(shown));
            }
            state
        }
        Outcome::Cancelled => Value::Null,
        Outcome::Failed(error) => json!({"__error__": error}),
    }
}

/// A run's failure as the `error` event carries it.
pub(crate) fn error_json(error: &GraphError) -> Value {
    let kind = format!("{error:?}");
    let kind = kind.split([' ', '(', '{']).next().unwrap_or("GraphError");
    json!({"error": kind, "message": error.to_string()})
}

/// Pending interrupts grouped by the node that raised them, as a thread shows them.
fn interrupts_by_node(interrupts: &Value) -> Map<String, Value> {
    let mut by_node = Map::new();
    for interrupt in interrupts.as_array().into_iter().flatten() {
        let node = interrupt["node"].as_str().unwrap_or_default().to_owned();
        let shown = json!({"value": interrupt["value"], "id": interrupt["id"]});
        let list = by_node.entry(node).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.push(shown);
        }
    }
    by_node
}
