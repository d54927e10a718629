//! Property test: the real runtime against a sequential reference interpreter.
//!
//! Random graphs are described as plain data ([`Spec`]). The same description is built into a
//! real [`StateGraph`] and run on a multi-thread runtime with random task latencies, and it is
//! interpreted by [`reference`], a deliberately naive, single-threaded transcription of the
//! behaviour contract (the superstep rules documented on `StateGraph`). Both must agree on the
//! final state, the nodes of every superstep and the error, if any.
//!
//! A node may be a generated graph of its own, added with `add_subgraph` over the same state
//! (two levels deep at most). The reference interprets such a child from its parent's snapshot
//! (or from the whole state a Send carried to it) and applies every update the child applied,
//! in order, as the writes of the parent task, keeping only the child's last write of a field
//! without a reducer (the rules documented on `Subgraph`).
//!
//! What nodes and routers *compute* ([`node_behaviour`], [`worker_write`], [`route`]) is user
//! code shared by both sides; everything the framework decides (planning, deferral, reducers,
//! conflicts, edges, joins, gotos, Sends, routing checks, the recursion limit) is reimplemented
//! by hand in the reference.

mod support;

use std::any::type_name;
use std::collections::BTreeSet;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::{Child, Command as Process};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use graph_core::distributed::TaskQueue;
use graph_core::prelude::*;
use graph_core::{Executor, InvalidUpdate, RouteOrigin, RouteRefusal};
use graph_tests::generated::{
    build, node_behaviour, node_name, route, sent_state, worker_write, Branch, Dest, NodeSpec,
    Payload, Seen, Spec, Trace, Write, GHOST, WORKER,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::subsequence;
use support::backends::{postgres_url, unique};
use support::process::start_ready;

/// A run's final state and the nodes of each step, or its error.
type Outcome = Result<(Trace, Vec<Vec<String>>), Failure>;

/// Small enough that looping graphs stop quickly, large enough for long acyclic runs.
const LIMIT: usize = 12;
/// The most tasks a generated run may take, its subgraphs' included. Sends that multiply
/// step after step can ask for millions of tasks within the recursion limit, each copying a
/// growing state: such a graph is set aside, not run.
const TASK_BUDGET: usize = 1_000;

// ---------------------------------------------------------------------------------------------
// The reference interpreter: the superstep rules, one at a time, no concurrency
// ---------------------------------------------------------------------------------------------

/// A task of one superstep.
#[derive(Debug, Clone)]
enum Task {
    /// A triggered node; it reads the state.
    Pull(String),
    /// A Send to `w` with its payload.
    Push(u32),
    /// A Send to a state node with the seed of the whole state it runs from.
    PushState(String, u64),
}

impl Task {
    fn node(&self) -> &str {
        match self {
            Task::Pull(node) | Task::PushState(node, _) => node,
            Task::Push(_) => WORKER,
        }
    }
}

/// The reducers, by hand: append, add, last value (one writer per step) and overwrite.
fn apply(state: &mut Trace, writes: &[(&str, &Write)]) -> Result<(), InvalidUpdate> {
    let mut last_writers = Vec::new();
    for (writer, write) in writes {
        state.log.push(write.log.clone());
        state.count += write.count;
        if let Some(last) = &write.last {
            state.last = Some(last.clone());
            last_writers.push(writer.to_string());
        }
        if let Some(stamp) = write.stamp {
            state.stamp = stamp;
        }
    }
    if last_writers.len() > 1 {
        return Err(InvalidUpdate::ConflictingWrites { field: "last", writers: last_writers });
    }
    Ok(())
}

/// What the next superstep will run, and how far each join has got.
struct Pending<'a> {
    spec: &'a Spec,
    /// Triggered nodes: a set, so a node triggered several times runs once; sorted by name.
    triggered: BTreeSet<String>,
    /// The delivered Sends, in emission order (every other Send is rejected).
    sends: Vec<Task>,
    /// Per join, the sources that ran since it last fired.
    seen: Vec<BTreeSet<String>>,
}

impl Pending<'_> {
    /// Plan: triggered nodes by name, then Sends in emission order. A deferred node waits
    /// while any other task is ready.
    fn plan(&mut self) -> Vec<Task> {
        let spec = self.spec;
        let others_ready =
            !self.sends.is_empty() || self.triggered.iter().any(|n| !spec.node(n).defer);
        let pulls: Vec<String> = self
            .triggered
            .iter()
            .filter(|n| !others_ready || !spec.node(n).defer)
            .cloned()
            .collect();
        for node in &pulls {
            self.triggered.remove(node);
        }
        let pushes = std::mem::take(&mut self.sends);
        pulls.into_iter().map(Task::Pull).chain(pushes).collect()
    }

    /// Everything leaving `origin` after it ran: static edges, joins, its `Command`'s gotos,
    /// then its routers' destinations in declaration order.
    fn fire(
        &mut self,
        origin: &str,
        gotos: Vec<Dest>,
        routes: Vec<(&Branch, Vec<Dest>)>,
    ) -> Result<(), GraphError> {
        let spec = self.spec;
        for (from, to) in &spec.edges {
            if from == origin && to != END {
                self.triggered.insert(to.clone());
            }
        }
        for ((sources, target), seen) in spec.joins.iter().zip(&mut self.seen) {
            if sources.iter().any(|s| s == origin) {
                seen.insert(origin.to_owned());
                // Fires once every source has run, in any steps; then re-arms.
                if sources.iter().all(|s| seen.contains(s)) {
                    seen.clear();
                    if target != END {
                        self.triggered.insert(target.clone());
                    }
                }
            }
        }

        // A Command may go to any node of the graph; END goes nowhere.
        let by = RouteOrigin::Command { node: origin.to_owned() };
        for dest in gotos {
            if dest.target() == END {
                continue;
            }
            if !spec.has_node(dest.target()) {
                return Err(invalid_route(by, dest.target(), RouteRefusal::UnknownNode));
            }
            self.deliver(&by, dest)?;
        }

        // A router may only go to its declared targets (END included only if declared).
        let by = RouteOrigin::Router { node: origin.to_owned() };
        for (branch, dests) in routes {
            let declared = || {
                let mut declared: Vec<String> =
                    branch.targets.iter().filter(|t| *t != END).cloned().collect();
                declared.sort();
                declared.dedup();
                if branch.targets.iter().any(|t| t == END) {
                    declared.push(END.to_owned());
                }
                RouteRefusal::Undeclared { declared }
            };
            for dest in dests {
                let target = dest.target();
                if dest == Dest::Goto(END.to_owned()) {
                    if branch.targets.iter().any(|t| t == END) {
                        continue;
                    }
                    return Err(invalid_route(by.clone(), target, declared()));
                }
                if target == END || !branch.targets.iter().any(|t| t == target) {
                    return Err(invalid_route(by.clone(), target, declared()));
                }
                self.deliver(&by, dest)?;
            }
        }
        Ok(())
    }

    /// Triggers a node or queues a Send, if the node can take what it is given.
    fn deliver(&mut self, by: &RouteOrigin, dest: Dest) -> Result<(), GraphError> {
        match dest {
            Dest::Goto(node) if node == WORKER => {
                let refusal = RouteRefusal::NeedsPayload { input_type: "u32" };
                Err(invalid_route(by.clone(), &node, refusal))
            }
            Dest::Goto(node) => {
                self.triggered.insert(node);
                Ok(())
            }
            Dest::Send(node, Payload::Num(n)) if node == WORKER => {
                self.sends.push(Task::Push(n));
                Ok(())
            }
            Dest::Send(node, Payload::State(seed)) if node != WORKER => {
                self.sends.push(Task::PushState(node, seed));
                Ok(())
            }
            Dest::Send(node, payload) => {
                let expected = if node == WORKER { "u32" } else { type_name::<Trace>() };
                let found = match payload {
                    Payload::Num(_) => "u32",
                    Payload::State(_) => type_name::<Trace>(),
                    Payload::Text => type_name::<String>(),
                };
                Err(GraphError::PayloadType { node, expected, found })
            }
        }
    }
}

fn invalid_route(origin: RouteOrigin, target: &str, refusal: RouteRefusal) -> GraphError {
    GraphError::InvalidRoute { origin, target: target.to_owned(), refusal }
}

/// The routers of `origin`, each with what it chooses when it sees `view`.
fn routes_of<'a>(spec: &'a Spec, origin: &str, view: &Trace) -> Vec<(&'a Branch, Vec<Dest>)> {
    spec.branches.iter().filter(|b| b.source == origin).map(|b| (b, route(b, view))).collect()
}

/// Runs `spec` from the default state: the final state and the nodes of every step. Records
/// what every task saw in `seen`.
fn reference(spec: &Spec, seen: &mut Vec<Seen>) -> Outcome {
    let run = interpret(spec, Trace::default(), seen)?;
    Ok((run.state, run.steps))
}

/// A finished run of the reference.
struct Run {
    state: Trace,
    steps: Vec<Vec<String>>,
    /// Every update the run applied, step by step in task order.
    applied: Vec<Write>,
}

/// Runs `spec` from `input`, the way a parent runs it from its snapshot as a subgraph.
fn interpret(spec: &Spec, input: Trace, seen: &mut Vec<Seen>) -> Result<Run, Failure> {
    let mut state = input;
    let mut pending = Pending {
        spec,
        triggered: BTreeSet::new(),
        sends: Vec::new(),
        seen: vec![BTreeSet::new(); spec.joins.len()],
    };
    // START's edges and routers fire on the input state before step 0.
    pending.fire(START, Vec::new(), routes_of(spec, START, &state))?;

    let mut steps = Vec::new();
    let mut applied = Vec::new();
    for step in 0.. {
        let tasks = pending.plan();
        if tasks.is_empty() {
            break;
        }
        // Every task, a child run's included, leaves one record in `seen`.
        if seen.len() + tasks.len() > TASK_BUDGET {
            return Err(Failure::TooBig);
        }
        if step >= LIMIT {
            let pending = tasks.iter().map(|t| t.node().to_owned()).collect();
            return Err(Failure::RecursionLimit { limit: LIMIT, pending });
        }

        // Run: every task sees the same snapshot. A failing task fails the step; with several,
        // the runtime reports whichever fails first.
        let mut outputs = Vec::new();
        let mut failures = Vec::new();
        for task in &tasks {
            match run_task(spec, task, &state, step, seen) {
                Ok(output) => outputs.push(output),
                Err(error) => failures.push(Failure::NodeFailed {
                    node: task.node().to_owned(),
                    step,
                    attempt: 1,
                    error: Box::new(error),
                }),
            }
        }
        match failures.len() {
            0 => {}
            1 => return Err(failures.remove(0)),
            _ => return Err(Failure::OneOf(failures)),
        }

        // Routers see the snapshot plus their own task's updates, not their siblings'.
        let mut routes = Vec::new();
        for (task, (writes, _)) in tasks.iter().zip(&outputs) {
            let mut view = state.clone();
            let writes: Vec<_> = writes.iter().map(|write| (task.node(), write)).collect();
            apply(&mut view, &writes).expect("one writer never conflicts");
            routes.push(routes_of(spec, task.node(), &view));
        }

        // Apply: every update in task order, through the reducers.
        let writes: Vec<(&str, &Write)> = tasks
            .iter()
            .zip(&outputs)
            .flat_map(|(task, (writes, _))| writes.iter().map(|write| (task.node(), write)))
            .collect();
        apply(&mut state, &writes).map_err(|source| GraphError::InvalidUpdate { step, source })?;
        applied.extend(writes.into_iter().map(|(_, write)| write.clone()));

        // Then edges, task by task in task order.
        for ((task, (_, gotos)), routes) in tasks.iter().zip(outputs).zip(routes) {
            pending.fire(task.node(), gotos, routes)?;
        }
        steps.push(tasks.iter().map(|t| t.node().to_owned()).collect());
    }
    Ok(Run { state, steps, applied })
}

/// What a task returns in a step whose snapshot is `state`: its updates, in order, and its
/// gotos.
fn run_task(
    spec: &Spec,
    task: &Task,
    state: &Trace,
    step: usize,
    seen: &mut Vec<Seen>,
) -> Result<(Vec<Write>, Vec<Dest>), Failure> {
    let scope = &spec.scope;
    let (node, input) = match task {
        Task::Pull(node) => (node, state.clone()),
        Task::PushState(node, seed) => (node, sent_state(*seed)),
        Task::Push(payload) => {
            seen.push((step, format!("{scope}{WORKER}:{payload}"), None));
            return Ok((vec![worker_write(spec, *payload, step)], Vec::new()));
        }
    };
    if let Some(child) = &spec.node(node).subgraph {
        // The child starts from the task's input; what it applied reaches the parent.
        let run = interpret(child, input, seen)?;
        return Ok((keep_last_writes(run.applied), Vec::new()));
    }
    seen.push((step, format!("{scope}{node}"), Some(input.clone())));
    let (write, gotos) = node_behaviour(spec, node, &input, step);
    Ok((write.into_iter().collect(), gotos))
}

/// A child's updates as one parent task's writes: of `last`, which has no reducer, only the
/// child's last write counts (written in two of the child's steps is no conflict).
fn keep_last_writes(mut writes: Vec<Write>) -> Vec<Write> {
    let mut later = false;
    for write in writes.iter_mut().rev() {
        if write.last.is_some() {
            if later {
                write.last = None;
            }
            later = true;
        }
    }
    writes
}

// ---------------------------------------------------------------------------------------------
// The real runtime
// ---------------------------------------------------------------------------------------------

/// One runtime for every case: multi-threaded, so a step's tasks really run in parallel.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Runs `spec` on the real runtime, like [`reference`].
fn run_runtime(spec: &Arc<Spec>, seen: &Arc<Mutex<Vec<Seen>>>) -> Outcome {
    let graph = build(spec, seen);
    let config = RunConfig::default().recursion_limit(LIMIT);
    let run = graph.invoke_with_report(Trace::default(), config);
    let report = runtime()
        .block_on(async { tokio::time::timeout(Duration::from_secs(20), run).await })
        .expect("the run finishes")
        .map_err(Failure::from)?;
    let steps =
        report.nodes_per_step().iter().map(|s| s.iter().map(|n| n.to_string()).collect()).collect();
    Ok((report.outcome.into_state(), steps))
}

// ---------------------------------------------------------------------------------------------
// The same graphs, their tasks run by worker processes
// ---------------------------------------------------------------------------------------------

const GENERATED_WORKER: &str = env!("CARGO_BIN_EXE_generated_worker");
/// How many worker processes run each case's tasks.
const WORKERS: usize = 3;

/// The task queue the queued runs use, in the checkpoints' PostgreSQL: this process's own,
/// so that no other process's workers take its tasks.
fn queue() -> &'static TaskQueue {
    static QUEUE: OnceLock<TaskQueue> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (url, name) = (postgres_url(), format!("generated_{}", std::process::id()));
        runtime().block_on(TaskQueue::connect(&url, &name)).expect("the task queue")
    })
}

/// Worker processes serving one generated graph.
struct Workers {
    processes: Vec<Child>,
    spec_file: PathBuf,
    seen_files: Vec<PathBuf>,
}

impl Workers {
    /// Starts [`WORKERS`] processes building `spec`, once each is ready to claim.
    fn start(spec: &Spec) -> Self {
        let dir = std::env::temp_dir().join("graph-generated");
        std::fs::create_dir_all(&dir).unwrap();
        let name = unique("spec");
        let spec_file = dir.join(format!("{name}.json"));
        std::fs::write(&spec_file, serde_json::to_string(spec).unwrap()).unwrap();
        let mut workers = Workers { processes: Vec::new(), spec_file, seen_files: Vec::new() };
        for i in 0..WORKERS {
            let seen_file = dir.join(format!("{name}.w{i}.json"));
            let mut command = Process::new(GENERATED_WORKER);
            command.arg(postgres_url()).arg(queue().name()).arg(format!("w{i}"));
            command.arg(&workers.spec_file).arg(&seen_file);
            workers.processes.push(start_ready(&mut command, &format!("worker w{i}")));
            workers.seen_files.push(seen_file);
        }
        workers
    }

    /// Stops the workers (their input closes) and gathers what their tasks saw.
    fn finish(mut self) -> Vec<Seen> {
        let mut seen = Vec::new();
        for (child, file) in self.processes.iter_mut().zip(&self.seen_files) {
            drop(child.stdin.take());
            assert!(child.wait().unwrap().success(), "a worker failed");
            let text = std::fs::read_to_string(file).unwrap();
            seen.extend(serde_json::from_str::<Vec<Seen>>(&text).unwrap());
        }
        seen
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
        }
        for file in self.seen_files.iter().chain([&self.spec_file]) {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Runs `spec` as a plain `invoke`, which records no steps: its final state or failure.
fn run_plain(spec: &Arc<Spec>, seen: &Arc<Mutex<Vec<Seen>>>) -> Result<Trace, Failure> {
    let graph = build(spec, seen);
    let config = RunConfig::default().recursion_limit(LIMIT);
    let run = graph.invoke(Trace::default(), config);
    let outcome = runtime()
        .block_on(async { tokio::time::timeout(Duration::from_secs(20), run).await })
        .expect("the run finishes")
        .map_err(Failure::from)?;
    Ok(outcome.into_state())
}

/// Runs `spec` with its tasks on [`WORKERS`] worker processes, checkpointing on PostgreSQL:
/// its outcome, like [`run_runtime`]'s, and what the workers' tasks saw.
fn run_queued(spec: &Arc<Spec>) -> (Outcome, Vec<Seen>) {
    let workers = Workers::start(spec);
    // Every task runs on a worker: the coordinating graph's must record nothing.
    let here = Arc::new(Mutex::new(Vec::new()));
    let graph = build(spec, &here).with_checkpointer(queue().saver());
    let config = RunConfig::default()
        .recursion_limit(LIMIT)
        .thread_id(unique("generated"))
        .executor(Executor::queue(queue(), "generated"));
    let run = graph.invoke_with_report(Trace::default(), config);
    let outcome = runtime()
        .block_on(async { tokio::time::timeout(Duration::from_secs(60), run).await })
        .expect("the run finishes")
        .map_err(Failure::from)
        .map(|report| {
            let steps = report.nodes_per_step();
            let steps = steps.iter().map(|s| s.iter().map(|n| n.to_string()).collect()).collect();
            (report.outcome.into_state(), steps)
        });
    assert!(here.lock().unwrap().is_empty(), "a task ran in the coordinating process");
    (outcome, workers.finish())
}

/// The errors generated graphs can produce, comparable field by field (`GraphError` is not
/// `PartialEq`: it can hold a node's boxed error). `NodeFailed` is a subgraph node failing
/// with its child run's error; `OneOf` comes only from the reference, when several tasks of
/// one step fail and the run reports whichever fails first.
#[derive(Debug, PartialEq)]
enum Failure {
    RecursionLimit {
        limit: usize,
        pending: Vec<String>,
    },
    Conflict {
        step: usize,
        field: &'static str,
        writers: Vec<String>,
    },
    InvalidRoute {
        origin: RouteOrigin,
        target: String,
        refusal: RouteRefusal,
    },
    PayloadType {
        node: String,
        expected: &'static str,
        found: &'static str,
    },
    NodeFailed {
        node: String,
        step: usize,
        attempt: u32,
        error: Box<Failure>,
    },
    OneOf(Vec<Failure>),
    /// A task failed on a worker: its node, and its error as the worker displayed it.
    Remote {
        node: String,
        message: String,
    },
    Other(String),
    /// The reference's run went past [`TASK_BUDGET`].
    TooBig,
}

impl Failure {
    /// Whether the runtime's `actual` failure is one this expected failure allows.
    fn allows(&self, actual: &Failure) -> bool {
        match (self, actual) {
            (Failure::OneOf(options), _) => options.iter().any(|option| option.allows(actual)),
            (
                Failure::NodeFailed { node, step, attempt, error },
                Failure::NodeFailed { node: n, step: s, attempt: a, error: e },
            ) => (node, step, attempt) == (n, s, a) && error.allows(e),
            // A task's error crosses from its worker as its message.
            (Failure::NodeFailed { node, .. }, Failure::Remote { node: n, message }) => {
                node == n && self.to_errors().iter().any(|error| error.to_string() == *message)
            }
            _ => self == actual,
        }
    }

    /// The runtime's errors this failure stands for: one for each way its `OneOf`s resolve.
    fn to_errors(&self) -> Vec<GraphError> {
        let error = match self {
            Failure::RecursionLimit { limit, pending } => {
                GraphError::RecursionLimit { limit: *limit, pending: pending.clone() }
            }
            Failure::Conflict { step, field, writers } => GraphError::InvalidUpdate {
                step: *step,
                source: InvalidUpdate::ConflictingWrites { field, writers: writers.clone() },
            },
            Failure::InvalidRoute { origin, target, refusal } => GraphError::InvalidRoute {
                origin: origin.clone(),
                target: target.clone(),
                refusal: refusal.clone(),
            },
            Failure::PayloadType { node, expected, found } => {
                GraphError::PayloadType { node: node.clone(), expected, found }
            }
            Failure::NodeFailed { node, step, attempt, error } => {
                let failed = |source| GraphError::NodeFailed {
                    node: node.clone(),
                    step: *step,
                    attempt: *attempt,
                    source: Box::new(source),
                };
                return error.to_errors().into_iter().map(failed).collect();
            }
            Failure::OneOf(options) => {
                return options.iter().flat_map(Failure::to_errors).collect()
            }
            Failure::Remote { .. } | Failure::Other(_) | Failure::TooBig => return Vec::new(),
        };
        vec![error]
    }

    /// Whether a run, or a child run below it, reached the recursion limit.
    fn is_recursion_limit(&self) -> bool {
        self.any(&|failure| matches!(failure, Failure::RecursionLimit { .. }))
    }

    /// Whether a run, or a child run below it, went past the task budget.
    fn is_too_big(&self) -> bool {
        self.any(&|failure| matches!(failure, Failure::TooBig))
    }

    /// Whether this failure or one below it is `wanted`.
    fn any(&self, wanted: &impl Fn(&Failure) -> bool) -> bool {
        match self {
            Failure::NodeFailed { error, .. } => error.any(wanted),
            Failure::OneOf(options) => options.iter().any(|option| option.any(wanted)),
            failure => wanted(failure),
        }
    }

    /// The parent step a subgraph node failed in: tasks of that step may have been stopped
    /// before they ran.
    fn failed_step(&self) -> Option<usize> {
        match self {
            Failure::NodeFailed { step, .. } => Some(*step),
            Failure::OneOf(options) => options.iter().find_map(Failure::failed_step),
            _ => None,
        }
    }
}

impl From<GraphError> for Failure {
    fn from(error: GraphError) -> Self {
        match error {
            GraphError::RecursionLimit { limit, pending } => {
                Failure::RecursionLimit { limit, pending }
            }
            GraphError::InvalidUpdate {
                step,
                source: InvalidUpdate::ConflictingWrites { field, writers },
            } => Failure::Conflict { step, field, writers },
            GraphError::InvalidRoute { origin, target, refusal } => {
                Failure::InvalidRoute { origin, target, refusal }
            }
            GraphError::PayloadType { node, expected, found } => {
                Failure::PayloadType { node, expected, found }
            }
            GraphError::NodeFailed { node, step, attempt, source } => {
                match source.downcast::<GraphError>() {
                    Ok(error) => {
                        let error = Box::new(Failure::from(*error));
                        Failure::NodeFailed { node, step, attempt, error }
                    }
                    Err(source) => {
                        let error = GraphError::NodeFailed { node, step, attempt, source };
                        Failure::Other(format!("{error:?}"))
                    }
                }
            }
            GraphError::RemoteTask { node, message, .. } => Failure::Remote { node, message },
            other => Failure::Other(format!("{other:?}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

fn arb_node_name(k: usize) -> BoxedStrategy<String> {
    (0..k).prop_map(node_name).boxed()
}

/// An ordinary destination: a node, END, a Send to `w`, or a Send of a whole state to a node.
fn arb_dest(k: usize) -> BoxedStrategy<Dest> {
    prop_oneof![
        5 => arb_node_name(k).prop_map(Dest::Goto),
        3 => Just(Dest::Goto(END.to_owned())),
        3 => (0u32..5).prop_map(|n| Dest::Send(WORKER.to_owned(), Payload::Num(n))),
        1 => (arb_node_name(k), 0u64..5).prop_map(|(n, seed)| Dest::Send(n, Payload::State(seed))),
    ]
    .boxed()
}

/// A destination that is wrong at least for some routers: the run must fail exactly as the
/// reference says.
fn arb_rogue(k: usize) -> BoxedStrategy<Dest> {
    prop_oneof![
        Just(Dest::Goto(GHOST.to_owned())),
        Just(Dest::Goto(WORKER.to_owned())),
        Just(Dest::Send(WORKER.to_owned(), Payload::Text)),
        Just(Dest::Send(WORKER.to_owned(), Payload::State(0))),
        arb_node_name(k).prop_map(|n| Dest::Send(n, Payload::Num(1))),
        // Fine for a router that declares them, wrong for one that does not.
        arb_node_name(k).prop_map(Dest::Goto),
        Just(Dest::Goto(END.to_owned())),
        (0u32..5).prop_map(|n| Dest::Send(WORKER.to_owned(), Payload::Num(n))),
    ]
    .boxed()
}

fn arb_node(k: usize) -> impl Strategy<Value = NodeSpec> {
    let gotos = vec(prop_oneof![19 => arb_dest(k), 1 => arb_rogue(k)], 1..=3);
    (
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.4),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.2),
        prop_oneof![2 => Just(0u64), 1 => 1u64..=3],
        prop::option::weighted(0.3, gotos),
        0u64..100,
    )
        .prop_map(|(writes_last, writes_stamp, silent, defer, delay_ms, gotos, salt)| {
            NodeSpec {
                subgraph: None,
                writes_last,
                writes_stamp,
                silent,
                defer,
                delay_ms,
                gotos,
                salt,
            }
        })
}

/// State node `scope` + `n{i}` of a graph of `k`: user code or, while `depth` allows, now and
/// then a subgraph of its own.
fn arb_node_or_subgraph(k: usize, depth: usize, scope: String) -> BoxedStrategy<NodeSpec> {
    if depth == 0 {
        return arb_node(k).boxed();
    }
    // Most random graphs loop until the recursion limit; a child should mostly finish, so
    // that its writes reach the parent. From another state it may still loop.
    let child = arb_graph(scope, 1..=3, depth - 1).prop_filter("a child that finishes", |child| {
        interpret(child, Trace::default(), &mut Vec::new())
            .err()
            .is_none_or(|failure| !failure.is_recursion_limit() && !failure.is_too_big())
    });
    let subgraph =
        (arb_node(k), child).prop_map(|(node, child)| NodeSpec { subgraph: Some(child), ..node });
    prop_oneof![5 => arb_node(k), 1 => subgraph].boxed()
}

fn arb_branch(k: usize) -> impl Strategy<Value = Branch> {
    let source = prop_oneof![
        1 => Just(START.to_owned()),
        6 => arb_node_name(k),
        1 => Just(WORKER.to_owned()),
    ];
    let target = prop_oneof![
        5 => arb_node_name(k),
        3 => Just(END.to_owned()),
        2 => Just(WORKER.to_owned()),
    ];
    (source, vec(target, 1..=3), 0u64..100, prop::option::weighted(0.2, arb_rogue(k)))
        .prop_map(|(source, targets, salt, rogue)| Branch { source, targets, salt, rogue })
}

/// Where an edge from `from` (a state node, or else `START` or `w`) goes: mostly forward to a
/// later node, sometimes back (a cycle) or to `END`.
fn arb_successor(k: usize, from: Option<usize>) -> BoxedStrategy<String> {
    let first_forward = from.map_or(0, |i| i + 1);
    if first_forward < k {
        prop_oneof![
            8 => (first_forward..k).prop_map(node_name),
            1 => arb_node_name(k),
            2 => Just(END.to_owned()),
        ]
        .boxed()
    } else {
        prop_oneof![1 => arb_node_name(k), 3 => Just(END.to_owned())].boxed()
    }
}

/// A parent graph of two to five state nodes, plus `w`; subgraphs two levels deep at most.
fn arb_spec() -> impl Strategy<Value = Spec> {
    arb_graph(String::new(), 2..=5, 2)
}

/// A graph at `scope` of `sizes` state nodes, plus `w`, whose nodes may be subgraphs while
/// `depth` allows.
fn arb_graph(scope: String, sizes: RangeInclusive<usize>, depth: usize) -> BoxedStrategy<Spec> {
    sizes
        .prop_flat_map(move |k| {
            let scope = scope.clone();
            let nodes: Vec<_> = (0..k)
                .map(|i| arb_node_or_subgraph(k, depth, format!("{scope}{}/", node_name(i))))
                .collect();
            let node_edges: Vec<_> =
                (0..k).map(|i| vec(arb_successor(k, Some(i)), 1..=2)).collect();
            let mut sources: Vec<String> = (0..k).map(node_name).collect();
            sources.push(WORKER.to_owned());
            let max_sources = sources.len().min(3);
            let join = (subsequence(sources, 2..=max_sources), arb_successor(k, None));
            (
                nodes,
                // Usually n0 and maybe another node: runs that start with parallel tasks.
                vec(prop_oneof![Just(node_name(0)), arb_node_name(k)], 0..=2),
                node_edges,
                vec(arb_successor(k, None), 0..=1),
                vec(join, 0..=2),
                vec(arb_branch(k), 0..=3),
                prop::bool::weighted(0.2),
                any::<bool>(),
            )
                .prop_map(
                    move |(nodes, from_start, from_nodes, from_worker, joins, branches, wl, wd)| {
                        let mut edges: Vec<(String, String)> =
                            from_start.into_iter().map(|to| (START.to_owned(), to)).collect();
                        for (i, targets) in from_nodes.into_iter().enumerate() {
                            edges.extend(targets.into_iter().map(|to| (node_name(i), to)));
                        }
                        edges.extend(from_worker.into_iter().map(|to| (WORKER.to_owned(), to)));
                        // Every graph needs an entry.
                        let entry = edges.iter().any(|(from, _)| from == START)
                            || branches.iter().any(|b| b.source == START);
                        if !entry {
                            edges.insert(0, (START.to_owned(), node_name(0)));
                        }
                        Spec {
                            scope: scope.clone(),
                            nodes,
                            edges,
                            joins,
                            branches,
                            worker_writes_last: wl,
                            worker_delays: wd,
                        }
                    },
                )
        })
        .boxed()
}

/// What tasks saw, in an order both sides share. After a subgraph node failed in some step,
/// only the parent's tasks of earlier steps: a failing task stops its step's other tasks, and
/// a child's records do not say which parent step they belong to.
fn comparable(mut seen: Vec<Seen>, failed_step: Option<usize>) -> Vec<Seen> {
    if let Some(failed) = failed_step {
        seen.retain(|(step, task, _)| *step < failed && !task.contains('/'));
    }
    seen.sort_by_cached_key(|(step, task, state)| (*step, task.clone(), format!("{state:?}")));
    seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn runtime_matches_reference(spec in arb_spec()) {
        let mut expected_seen = Vec::new();
        let expected = reference(&spec, &mut expected_seen);
        prop_assume!(expected.as_ref().err().is_none_or(|failure| !failure.is_too_big()));
        let (spec, seen) = (Arc::new(spec), Arc::new(Mutex::new(Vec::new())));
        let actual = run_runtime(&spec, &seen);
        match (&actual, &expected) {
            (Err(failure), Err(allowed)) => {
                prop_assert!(allowed.allows(failure), "expected {:?}, got {:?}", allowed, failure);
            }
            _ => prop_assert_eq!(&actual, &expected),
        }

        // Tasks finish in any order: compared as sorted lists, by step, task and snapshot.
        let failed_step = expected.as_ref().err().and_then(Failure::failed_step);
        let actual_seen = comparable(std::mem::take(&mut *seen.lock().unwrap()), failed_step);
        let expected_seen = comparable(expected_seen, failed_step);
        prop_assert_eq!(&actual_seen, &expected_seen);

        // A plain run records nothing, and takes its steps of one task on a path of its own.
        let plain = run_plain(&spec, &seen);
        match (&plain, &expected) {
            (Err(failure), Err(allowed)) => {
                prop_assert!(allowed.allows(failure), "expected {:?}, got {:?}", allowed, failure);
            }
            _ => prop_assert_eq!(plain.as_ref().ok(), expected.as_ref().ok().map(|(trace, _)| trace)),
        }
        let plain_seen = comparable(std::mem::take(&mut *seen.lock().unwrap()), failed_step);
        prop_assert_eq!(plain_seen, expected_seen);
    }
}

proptest! {
    // Each case starts three processes and runs its steps through PostgreSQL.
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The same graphs with every task run by three worker processes: the same final state,
    /// steps, error and snapshots as the reference (so as a local run).
    #[test]
    fn queued_runs_match_the_reference(spec in arb_spec()) {
        let mut expected_seen = Vec::new();
        let expected = reference(&spec, &mut expected_seen);
        prop_assume!(expected.as_ref().err().is_none_or(|failure| !failure.is_too_big()));
        let (actual, seen) = run_queued(&Arc::new(spec));
        match (&actual, &expected) {
            (Err(failure), Err(allowed)) => {
                prop_assert!(allowed.allows(failure), "expected {:?}, got {:?}", allowed, failure);
            }
            _ => prop_assert_eq!(&actual, &expected),
        }
        let failed_step = expected.as_ref().err().and_then(Failure::failed_step);
        prop_assert_eq!(comparable(seen, failed_step), comparable(expected_seen, failed_step));
    }
}
