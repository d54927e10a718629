//! The runtime: bulk-synchronous supersteps of concurrent tasks.
//!
//! `algo` is pure (plan tasks, apply writes and route), `runner` runs one step's tasks on
//! tokio, and `driver` loops over supersteps.

mod algo;
mod cached;
mod driver;
#[cfg(feature = "distributed")]
mod remote;
mod runner;

use std::fmt;
use std::sync::Arc;

pub(crate) use algo::{
    after_node, apply_guarded, enter, upcoming, upcoming_tasks, JoinProgress, Pending, PendingSend,
};
pub(crate) use driver::{run, Records};
#[cfg(feature = "distributed")]
pub(crate) use remote::{graph_version, Planner, TaskRunner};
pub(crate) use runner::TaskSaver;

/// Where a task comes from within its superstep; with the step, it identifies the task.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskPath {
    /// The node was triggered by an edge, a join, a router or a `Command` naming it.
    Pull(Arc<str>),
    /// The `index`-th `Send` of the step, in emission order.
    Push(usize),
}

/// A task's deterministic id: its superstep and its path. The same graph and input give the
/// same ids on every run, whatever the timing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    step: usize,
    path: TaskPath,
}

impl TaskId {
    pub(crate) fn new(step: usize, path: TaskPath) -> Self {
        Self { step, path }
    }

    /// The superstep of the task.
    pub fn step(&self) -> usize {
        self.step
    }

    /// The task's path within its step.
    pub fn path(&self) -> &TaskPath {
        &self.path
    }
}

/// Serialized as its display form, `step:node` or `step:send#index`.
impl serde::Serialize for TaskId {
    fn serialize<Ser: serde::Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            TaskPath::Pull(node) => write!(f, "{}:{node}", self.step),
            TaskPath::Push(index) => write!(f, "{}:send#{index}", self.step),
        }
    }
}

/// Where a run sits among subgraphs: the subgraph tasks from the root run down to it, each
/// written `node:task_id` (or `node:task_id/call` for a graph a node runs itself with
/// [`CompiledGraph::invoke_in_task`](crate::CompiledGraph::invoke_in_task)). The root run's
/// namespace is empty.
///
/// Displayed (and serialized) with `|` between levels, such as
/// `research:1:send#0|writer:0:writer`; an interrupt raised inside a subgraph carries its
/// namespace in front of its id, the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Namespace(Vec<String>);

impl Namespace {
    /// The root run's namespace.
    pub fn root() -> Self {
        Self::default()
    }

    /// Whether this is the root run's namespace.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The subgraph tasks from the root down, each `node:task_id`.
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// The namespace of a subgraph run by `node`'s task `task_id` in this run.
    pub(crate) fn child(&self, segment: String) -> Self {
        let mut segments = self.0.clone();
        segments.push(segment);
        Self(segments)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("|"))
    }
}

/// Serialized as its display form.
impl serde::Serialize for Namespace {
    fn serialize<Ser: serde::Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        serializer.collect_str(self)
    }
}

/// One task that ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    /// The task's id.
    pub id: TaskId,
    /// The node it ran.
    pub node: Arc<str>,
}

/// The tasks of one superstep, in task order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// The superstep, counting from 0.
    pub step: usize,
    /// Its tasks, pull tasks by node name first, then Sends in emission order.
    pub tasks: Vec<TaskRecord>,
}

impl StepRecord {
    /// The node of each task, in task order.
    pub fn nodes(&self) -> Vec<&str> {
        self.tasks.iter().map(|t| &*t.node).collect()
    }
}

/// The result of [`CompiledGraph::invoke_with_report`](crate::CompiledGraph::invoke_with_report):
/// how the run ended and what ran in each superstep.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunReport<S> {
    /// Finished or paused, with the state.
    pub outcome: crate::RunOutcome<S>,
    /// Every superstep that ran, in order.
    pub steps: Vec<StepRecord>,
}

impl<S> RunReport<S> {
    /// The final state, or the state where the run paused.
    pub fn state(&self) -> &S {
        self.outcome.state()
    }

    /// The nodes of each superstep, in task order: a compact picture of the run.
    pub fn nodes_per_step(&self) -> Vec<Vec<&str>> {
        self.steps.iter().map(StepRecord::nodes).collect()
    }
}
