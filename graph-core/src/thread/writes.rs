//! The writes saved against a checkpoint while its next step ran: finished tasks, pauses and
//! the answers given to them.

use std::collections::HashMap;

use serde_json::Value;

use crate::checkpoint::{GotoRecord, PendingWrite};
use crate::graph::Interrupt;

/// A finished task's output, as saved.
#[derive(Clone)]
pub(crate) struct SavedOutput {
    pub(crate) update: Option<Value>,
    pub(crate) more: Vec<Value>,
    pub(crate) goto: Vec<GotoRecord>,
}

/// The tasks of a checkpoint's next step that already finished, paused or got answers.
#[derive(Default)]
pub(crate) struct SavedWrites {
    pub(crate) outputs: HashMap<String, SavedOutput>,
    /// Pauses not yet answered, in task order.
    pub(crate) interrupts: Vec<(String, Interrupt)>,
    pub(crate) answers: HashMap<String, Vec<Value>>,
}

impl SavedWrites {
    pub(crate) fn new(writes: &[PendingWrite]) -> Self {
        let mut saved = Self::default();
        let mut paused = Vec::new();
        for write in writes {
            match write {
                PendingWrite::Output { task_id, update, more, goto } => {
                    let output =
                        SavedOutput { update: update.clone(), more: more.clone(), goto: goto.clone() };
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
            }
        }
        // A pause is pending while its task has fewer answers than the pause's index.
        for (task_id, interrupt) in paused {
            let answered = saved.answers.get(&task_id).map_or(0, Vec::len);
            let index = interrupt.id.rsplit('#').next().and_then(|i| i.parse::<usize>().ok());
            if index.is_some_and(|i| i >= answered) && !saved.outputs.contains_key(&task_id) {
                saved.interrupts.push((task_id, interrupt));
            }
        }
        // Tasks save their pauses as they finish; report them in task order instead.
        saved.interrupts.sort_by(|(_, a), (_, b)| task_order(&a.id).cmp(&task_order(&b.id)));
        saved
    }

    /// The ids of the pauses waiting for an answer, in task order.
    pub(crate) fn waiting(&self) -> Vec<String> {
        self.interrupts.iter().map(|(_, i)| i.id.clone()).collect()
    }
}

/// Where an interrupt id (`step:node#n` or `step:send#i#n`) falls in task order: by step,
/// pull tasks by node name before Sends by index, then by the task's n-th question.
fn task_order(interrupt_id: &str) -> (u64, Option<u64>, &str, u64) {
    let (task, asked) = interrupt_id.rsplit_once('#').unwrap_or((interrupt_id, ""));
    let (step, path) = task.split_once(':').unwrap_or(("", task));
    let send = path.strip_prefix("send#").and_then(|i| i.parse().ok());
    (step.parse().unwrap_or(u64::MAX), send, path, asked.parse().unwrap_or(u64::MAX))
}
