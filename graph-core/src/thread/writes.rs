//! The writes saved against a checkpoint while its next step ran: finished tasks, pauses and
//! the answers given to them.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::checkpoint::{GotoRecord, PendingWrite};
use crate::graph::Interrupt;

/// A finished task's output, as saved: in a pending write, or as a node cache entry.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedOutput {
    pub(crate) update: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) more: Vec<Value>,
    pub(crate) goto: Vec<GotoRecord>,
}

/// The tasks of a checkpoint's next step that already finished, paused or got answers.
#[derive(Default)]
pub(crate) struct SavedWrites {
    pub(crate) outputs: HashMap<String, SavedOutput>,
    /// Pauses not yet answered, in task order: `(task id, pause)`.
    pub(crate) interrupts: Vec<(String, Interrupt)>,
    pub(crate) answers: HashMap<String, Vec<Value>>,
    /// Answers to pauses inside subgraphs, by subgraph task: `(id within the subgraph,
    /// answer)`, in the order given.
    pub(crate) child_answers: HashMap<String, Vec<(String, Value)>>,
}

impl SavedWrites {
    pub(crate) fn new(writes: &[PendingWrite]) -> Self {
        let mut saved = Self::default();
        let mut paused = Vec::new();
        let mut answered = HashSet::new();
        for write in writes {
            match write {
                PendingWrite::Output { task_id, update, more, goto } => {
                    let output = SavedOutput {
                        update: update.clone(),
                        more: more.clone(),
                        goto: goto.clone(),
                    };
                    saved.outputs.insert(task_id.clone(), output);
                }
                PendingWrite::Interrupt { task_id, interrupt_id, node, value } => {
                    let interrupt = Interrupt {
                        id: interrupt_id.clone(),
                        node: node.clone(),
                        value: value.clone(),
                    };
                    paused.push((task_id.clone(), interrupt));
                }
                PendingWrite::Resume { task_id, values } => {
                    saved.answers.insert(task_id.clone(), values.clone());
                }
                PendingWrite::Answer { task_id, interrupt_id, value } => {
                    answered.insert(interrupt_id.as_str());
                    let within = within_subgraph(interrupt_id).to_owned();
                    saved
                        .child_answers
                        .entry(task_id.clone())
                        .or_default()
                        .push((within, value.clone()));
                }
            }
        }
        // A pause inside a subgraph is pending until answered by id. A node's own pause is
        // pending while its task has fewer answers than the pause's index. A task that
        // finished has nothing pending, and a task that paused again repeats its pauses.
        let mut seen = HashSet::new();
        for (task_id, interrupt) in paused {
            if saved.outputs.contains_key(&task_id) || !seen.insert(interrupt.id.clone()) {
                continue;
            }
            // A static pause inside a subgraph (`interrupt_before`) waits for no answer.
            let pending = if is_nested(&interrupt.id) {
                !answered.contains(interrupt.id.as_str()) && !is_static(&interrupt.id)
            } else {
                let answered = saved.answers.get(&task_id).map_or(0, Vec::len);
                let index = interrupt.id.rsplit('#').next().and_then(|i| i.parse::<usize>().ok());
                index.is_some_and(|i| i >= answered)
            };
            if pending {
                saved.interrupts.push((task_id, interrupt));
            }
        }
        // Tasks save their pauses as they finish; report them in task order instead.
        saved.interrupts.sort_by(|(a_task, a), (b_task, b)| {
            (task_order(a_task), question(&a.id)).cmp(&(task_order(b_task), question(&b.id)))
        });
        saved
    }

    /// The ids of the pauses waiting for an answer, in task order.
    pub(crate) fn waiting(&self) -> Vec<String> {
        self.interrupts.iter().map(|(_, i)| i.id.clone()).collect()
    }
}

/// Whether an interrupt id names a pause inside a subgraph: `node:task|id within`.
pub(crate) fn is_nested(interrupt_id: &str) -> bool {
    interrupt_id.contains('|')
}

/// Whether a subgraph's pause is a static one (`...|before:node`), which needs no answer.
fn is_static(interrupt_id: &str) -> bool {
    let innermost = interrupt_id.rsplit('|').next().unwrap_or(interrupt_id);
    innermost.starts_with("before:") || innermost.starts_with("after:")
}

/// The id of a subgraph's pause within the subgraph: what follows its first namespace level.
pub(crate) fn within_subgraph(interrupt_id: &str) -> &str {
    interrupt_id.split_once('|').map_or(interrupt_id, |(_, within)| within)
}

/// Where a task id (`step:node` or `step:send#i`) falls in task order: by step, then pull
/// tasks by node name before Sends by index.
fn task_order(task_id: &str) -> (u64, Option<u64>, &str) {
    let (step, path) = task_id.split_once(':').unwrap_or(("", task_id));
    let send = path.strip_prefix("send#").and_then(|i| i.parse().ok());
    (step.parse().unwrap_or(u64::MAX), send, path)
}

/// Where a pause falls among its task's: a node's n-th question by n; a subgraph's pauses
/// by their ids, which start with the same task.
fn question(interrupt_id: &str) -> (u64, &str) {
    if is_nested(interrupt_id) {
        return (0, interrupt_id);
    }
    let asked = interrupt_id.rsplit_once('#').map_or("", |(_, n)| n);
    (asked.parse().unwrap_or(u64::MAX), "")
}
