//! Runs in the background: one active run per thread, the multitask strategies for a busy
//! thread, cancellation, and each run's event log kept for joiners.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use graph_core::{CancellationToken, GraphError, RunConfig};
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use crate::error::ApiError;
use crate::log::RunLog;
use crate::modes::Modes;
use crate::records::{Records, Run, RunStatus, ThreadStatus};
use crate::served::{Events, ServedGraph};

/// What to do when a run is asked for on a thread that is running another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Multitask {
    /// Refuse with 409.
    Reject,
    /// Run after the runs before it.
    Enqueue,
    /// Cancel the runs in progress (their checkpoints stay), then run.
    Interrupt,
    /// Cancel the runs in progress and delete their records, then run.
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
    pub run_id: String,
    pub log: Arc<RunLog>,
    pub cancel: CancellationToken,
    /// The run's result (see [`result`]) once it has ended and its records are written.
    pub ended: watch::Receiver<Option<Arc<Value>>>,
}

impl Handle {
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
    /// The graph the run runs, to find where it starts.
    pub graph: Arc<dyn ServedGraph>,
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
        records: &Records,
        launch: Launch,
    ) -> Result<Handle, ApiError> {
        let Launch { run, graph, events, modes, cancel, multitask } = launch;
        let thread_id = run.thread_id.clone();
        let log = Arc::new(RunLog::default());
        log.push("metadata", json!({"run_id": run.run_id, "attempt": 1}));
        let (ended_tx, ended) = watch::channel(None);
        let handle = Handle { run_id: run.run_id.clone(), log, cancel, ended };
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
        if let Err(error) = records.insert_run(&run).await {
            self.dequeue(&thread_id, &run.run_id);
            self.handles.lock().expect("runner lock").remove(&run.run_id);
            return Err(error);
        }
        if matches!(multitask, Multitask::Interrupt | Multitask::Rollback) {
            for earlier in &before {
                earlier.cancel.cancel();
            }
        }
        let task = Task {
            runner: self.clone(),
            records: records.clone(),
            handle: handle.clone(),
            graph,
            run,
            modes,
            before,
            rollback: multitask == Multitask::Rollback,
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
        records: &Records,
        launch: Launch,
        log: Arc<RunLog>,
    ) -> (Handle, impl std::future::Future<Output = ()> + Send + 'static) {
        let Launch { run, graph, events, modes, cancel, multitask: _ } = launch;
        let (ended_tx, ended) = watch::channel(None);
        let handle = Handle { run_id: run.run_id.clone(), log, cancel, ended };
        self.handles.lock().expect("runner lock").insert(run.run_id.clone(), handle.clone());
        let task = Task {
            runner: self.clone(),
            records: records.clone(),
            handle: handle.clone(),
            graph,
            run,
            modes,
            before: Vec::new(),
            rollback: false,
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

/// One run's work in the background.
struct Task {
    runner: Arc<Runner>,
    records: Records,
    handle: Handle,
    graph: Arc<dyn ServedGraph>,
    run: Run,
    modes: Modes,
    /// The thread's runs that end before this one starts.
    before: Vec<Handle>,
    rollback: bool,
}

impl Task {
    async fn execute(self, mut events: Events, ended: watch::Sender<Option<Arc<Value>>>) {
        let Task { runner, records, handle, graph, run, modes, before, rollback } = self;
        let (thread_id, run_id) = (&run.thread_id, &run.run_id);
        for earlier in &before {
            earlier.wait().await;
        }
        if rollback {
            for earlier in &before {
                logged(records.delete_run(&earlier.run_id).await);
            }
        }
        let outcome = if handle.cancel.is_cancelled() {
            Outcome::Cancelled
        } else {
            // Where the run starts, so that one found unfinished after a restart knows whether
            // its input was applied.
            let latest = graph.state(&RunConfig::default().thread_id(thread_id), false).await;
            let started_from = latest
                .ok()
                .flatten()
                .and_then(|state| state["checkpoint"]["checkpoint_id"].as_str().map(str::to_owned));
            logged(records.start_run(run_id, started_from).await);
            let busy =
                records.update_thread(thread_id, |thread| thread.status = ThreadStatus::Busy);
            logged(busy.await);
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
                                outcome = Outcome::Paused(
                                    event["state"].clone(),
                                    event["interrupts"].clone(),
                                )
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
        };
        // Dropping the stream cancels what is left of the run.
        drop(events);
        let (run_status, thread_status) = match &outcome {
            Outcome::Finished(_) => (RunStatus::Success, ThreadStatus::Idle),
            Outcome::Paused(..) => (RunStatus::Interrupted, ThreadStatus::Interrupted),
            Outcome::Cancelled => (RunStatus::Interrupted, ThreadStatus::Idle),
            Outcome::Failed(_) => (RunStatus::Error, ThreadStatus::Error),
        };
        let result = Arc::new(result(&outcome));
        logged(records.set_run_status(run_id, run_status).await);
        let ended_thread = records.update_thread(thread_id, |thread| {
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
        handle.log.close();
        runner.finish(thread_id, run_id);
        let _ = ended.send(Some(result));
    }
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
