//! A finished run's timeline, drawn from its `Tasks` events: what ran when, and in parallel.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use super::StreamEvent;
use crate::pregel::TaskId;
use crate::state::State;

/// One attempt of one task on the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// The task's superstep.
    pub step: usize,
    /// The node it ran.
    pub node: Arc<str>,
    /// The task.
    pub task_id: TaskId,
    /// The attempt, counting from 1.
    pub attempt: u32,
    /// When it started, from the start of the run.
    pub started_at: Duration,
    /// How long it ran.
    pub duration: Duration,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Whether the result came from the node cache instead (attempt 0, zero duration).
    pub cached: bool,
    /// The worker process that ran it, in a run on a task queue.
    pub worker: Option<Arc<str>>,
}

/// The attempts of a run's tasks in start order, from [`StreamEvent::TaskEnd`] events
/// (stream with [`StreamMode::Tasks`](super::StreamMode::Tasks)).
///
/// ```
/// use graph_core::prelude::*;
/// use graph_core::{StreamMode, Timeline};
/// use futures::StreamExt;
/// use std::sync::Arc;
///
/// #[derive(State, Clone, Default)]
/// struct Empty {}
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let graph = StateGraph::<Empty>::new()
///     .add_node("a", |_: Arc<Empty>| async {})
///     .add_edge(START, "a")
///     .compile()
///     .unwrap();
/// let events: Vec<_> = graph
///     .stream(Empty::default(), RunConfig::default().stream_mode(StreamMode::Tasks))
///     .collect()
///     .await;
/// let timeline = Timeline::from_events(events.iter().flatten());
/// assert_eq!(timeline.entries().len(), 1);
/// assert!(timeline.to_gantt().starts_with("gantt"));
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    entries: Vec<TimelineEntry>,
}

impl Timeline {
    /// Collects the `TaskEnd` events among `events`; other events are ignored.
    pub fn from_events<'a, S: State>(events: impl IntoIterator<Item = &'a StreamEvent<S>>) -> Self {
        let mut entries: Vec<TimelineEntry> = events
            .into_iter()
            .filter_map(|event| match event {
                StreamEvent::TaskEnd {
                    step,
                    node,
                    task_id,
                    attempt,
                    started_at,
                    duration,
                    error,
                    cached,
                    worker,
                } => Some(TimelineEntry {
                    step: *step,
                    node: Arc::clone(node),
                    task_id: task_id.clone(),
                    attempt: *attempt,
                    started_at: *started_at,
                    duration: *duration,
                    error: error.clone(),
                    cached: *cached,
                    worker: worker.clone(),
                }),
                _ => None,
            })
            .collect();
        entries.sort_by(|a, b| {
            (a.started_at, &a.task_id, a.attempt).cmp(&(b.started_at, &b.task_id, b.attempt))
        });
        Self { entries }
    }

    /// The attempts, in start order.
    pub fn entries(&self) -> &[TimelineEntry] {
        &self.entries
    }

    /// A Mermaid Gantt chart, one section per superstep and one bar per attempt, in
    /// milliseconds from the start of the run. Overlapping bars ran in parallel.
    pub fn to_gantt(&self) -> String {
        let mut out = String::from(
            "gantt\n    title Run timeline (ms)\n    dateFormat x\n    axisFormat %L\n",
        );
        let mut section = None;
        for entry in &self.entries {
            if section != Some(entry.step) {
                section = Some(entry.step);
                let _ = writeln!(out, "    section step {}", entry.step);
            }
            let start = entry.started_at.as_millis();
            let end = (entry.started_at + entry.duration).as_millis().max(start + 1);
            let status = match (&entry.error, entry.cached) {
                (Some(_), _) => "crit, ",
                (None, true) => "done, ",
                (None, false) => "",
            };
            let label =
                if entry.cached { "cached".to_owned() } else { format!("#{}", entry.attempt) };
            let _ = writeln!(out, "    {} {label} :{status}{start}, {end}", entry.node);
        }
        out
    }

    /// A plain-text table: step, node, attempt, start, duration and outcome of each attempt.
    pub fn to_table(&self) -> String {
        let width = self.entries.iter().map(|e| e.node.len()).max().unwrap_or(4).max(4);
        let mut out =
            format!("step  {:width$}  attempt  start (ms)  duration (ms)  outcome\n", "node");
        for e in &self.entries {
            let _ = writeln!(
                out,
                "{:<4}  {:width$}  {:<7}  {:>10.1}  {:>13.1}  {}",
                e.step,
                e.node,
                e.attempt,
                e.started_at.as_secs_f64() * 1e3,
                e.duration.as_secs_f64() * 1e3,
                match (&e.error, e.cached) {
                    (Some(error), _) => error.as_str(),
                    (None, true) => "cached",
                    (None, false) => "ok",
                },
            );
        }
        out
    }
}
