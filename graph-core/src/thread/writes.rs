//! The writes saved against a checkpoint while its next step ran: finished tasks, pauses and
//! the answers given to them.

use std::collections::HashMap;

use serde_json::Value;

use crate::checkpoint::{GotoRecord, PendingWrite};
use crate::graph::Interrupt;

/// The tasks of a checkpoint's next step that already finished, paused or got answers.
#[derive(Default)]
pub(crate) struct SavedWrites {
    pub(crate) outputs: HashMap<String, (Option<Value>, Vec<GotoRecord>)>,
    /// Pauses not yet answered, in the order they were saved.
    pub(crate) interrupts: Vec<(String, Interrupt)>,
    pub(crate) answers: HashMap<String, Vec<Value>>,
}

impl SavedWrites {
    pub(crate) fn new(writes: &[PendingWrite]) -> Self {
        let mut saved = Self::default();
        let mut paused = Vec::new();
        for write in writes {
            match write {
                PendingWrite::Output { task_id, update, goto } => {
                    saved.outputs.insert(task_id.clone(), (update.clone(), goto.clone()));
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
        saved
    }

    /// The ids of the pauses waiting for an answer, in the order they were saved.
    pub(crate) fn waiting(&self) -> Vec<String> {
        self.interrupts.iter().map(|(_, i)| i.id.clone()).collect()
    }
}
