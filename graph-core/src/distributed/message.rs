//! What travels through the queue: a task to run, and how it ended.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Durability, RunConfig};

use crate::graph::Interrupt;
use crate::thread::SavedOutput;

/// One task of a step, as a queue message: enough for a worker to find the checkpoint,
/// plan its step and pick the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TaskMessage {
    /// The graph's registered name.
    pub(crate) graph: String,
    /// The version hash of the graph's structure the coordinator runs.
    pub(crate) version: String,
    pub(crate) thread_id: String,
    /// The checkpoint the step starts from.
    pub(crate) checkpoint_id: String,
    /// The dispatch that sent it: a step dispatched again (after a pause or a failure) is
    /// planned again, with the answers and outputs saved since.
    pub(crate) dispatch: String,
    /// The task's id, such as `3:send#17`.
    pub(crate) task_id: String,
    /// The task's node, for errors and events.
    pub(crate) node: String,
    /// The last superstep the run may take, which nodes can ask about.
    pub(crate) last_step: usize,
    /// The concurrency caps the task counts towards, shared by every worker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) limits: Vec<Limit>,
    /// The run's settings, which the subgraphs a task runs inherit.
    #[serde(default)]
    pub(crate) settings: RunSettings,
}

/// What a task's subgraph runs inherit from the coordinating run's [`RunConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunSettings {
    recursion_limit: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    step_timeout_ms: Option<u64>,
    #[serde(default)]
    strict: bool,
    #[serde(default)]
    durability: Durability,
}

impl RunSettings {
    /// The settings of the run `config` configures.
    pub(crate) fn of(config: &RunConfig) -> Self {
        Self {
            recursion_limit: config.recursion_limit,
            step_timeout_ms: config.step_timeout.map(|timeout| timeout.as_millis() as u64),
            strict: config.strict,
            durability: config.durability,
        }
    }

    /// A run's configuration with these settings, on `thread_id`.
    pub(crate) fn config(&self, thread_id: String) -> RunConfig {
        let mut config = RunConfig::default()
            .recursion_limit(self.recursion_limit)
            .strict(self.strict)
            .durability(self.durability)
            .thread_id(thread_id);
        if let Some(ms) = self.step_timeout_ms {
            config = config.step_timeout(Duration::from_millis(ms));
        }
        config
    }
}

impl Default for RunSettings {
    fn default() -> Self {
        Self::of(&RunConfig::default())
    }
}

/// A concurrency cap across workers: at most `size` tasks holding a slot of `key` run at
/// once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Limit {
    /// What the cap is on: a node of a graph (across its runs), or one step of a run.
    pub(crate) key: String,
    /// How many tasks may hold its slots at once.
    pub(crate) size: usize,
}

/// How a task ended on its worker, stored with the task's output row.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub(crate) enum RemoteOutcome {
    /// It returned: its update and destinations, as a checkpoint saves them.
    Done {
        /// The task's output.
        output: SavedOutput,
    },
    /// It paused for a person.
    Paused {
        /// Its pauses.
        interrupts: Vec<Interrupt>,
    },
    /// It failed after its node's retries; the run fails as a local one would.
    Failed {
        /// The error, as displayed.
        message: String,
    },
    /// The worker has no graph of this name, or another version of it.
    Mismatch {
        /// The version the worker has, if any.
        found: Option<String>,
    },
}

impl RemoteOutcome {
    /// How the outcome is filed: `done`, `paused`, or `failed` (the step cannot go on).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Done { .. } => "done",
            Self::Paused { .. } => "paused",
            Self::Failed { .. } | Self::Mismatch { .. } => "failed",
        }
    }
}

/// A task's outcome with when and how long it ran on its worker, for the run's events.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TaskReport {
    #[serde(flatten)]
    pub(crate) outcome: RemoteOutcome,
    /// When it started, in microseconds since the Unix epoch on the worker's clock.
    pub(crate) started_us: u64,
    /// How long it ran, retries included, in microseconds.
    pub(crate) duration_us: u64,
}
