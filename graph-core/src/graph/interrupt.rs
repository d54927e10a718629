//! Interrupts: a node pauses the run to ask a person, and a resume hands back the answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A pause: a node (or a static `interrupt_before`/`interrupt_after`) stopped the run and
/// waits for a resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interrupt {
    /// What a resume answers: `step:node#n` for the n-th call of `NodeContext::interrupt`
    /// in a task, `before:node` or `after:node` for static interrupts.
    pub id: String,
    /// The node that paused, or is about to run.
    pub node: String,
    /// The value the node handed out (`null` for static interrupts).
    pub value: Value,
}

/// Returned by [`NodeContext::interrupt`](crate::NodeContext::interrupt); let it propagate
/// with `?` so the run pauses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InterruptError {
    /// No answer yet: the run pauses here, and the node runs again from its start once
    /// resumed.
    #[error("paused for input (interrupt {})", .0.id)]
    Pause(Interrupt),
    /// The value handed out holds a NaN or an infinity, which a checkpoint cannot save
    /// (JSON has neither); the run fails instead of pausing with another value.
    #[error("interrupt {id} cannot pause: its value holds the non-finite float {value} at `{path}`, which a checkpoint cannot save")]
    NonFiniteValue {
        /// The interrupt.
        id: String,
        /// Where the float sits in the value (`.` for the value itself).
        path: String,
        /// The float.
        value: f64,
    },
    /// The value handed out cannot be saved as it is (it fails to serialize, or holds a
    /// `Some(None)` that JSON would read back as `None`); the run fails instead of pausing
    /// with another value.
    #[error("interrupt {id} cannot pause: {reason}")]
    Unsaveable {
        /// The interrupt.
        id: String,
        /// Why its value cannot be saved.
        reason: String,
    },
    /// The answer does not deserialize into the type the node asked for.
    #[error("the answer to interrupt {id} is not a valid `{expected}`: {reason}")]
    BadAnswer {
        /// The interrupt.
        id: String,
        /// The type the node asked for.
        expected: &'static str,
        /// Why it does not fit.
        reason: String,
    },
}

/// The answers passed with a resume.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Answers {
    /// Continue without answering (after a failure or a static interrupt).
    #[default]
    None,
    /// Answer the one pending interrupt.
    One(Value),
    /// Answer pending interrupts by id.
    ById(Vec<(String, Value)>),
    /// An answer that cannot be saved (for example a non-finite float): why.
    Unsaveable(String),
    /// A subgraph task handing its subgraph the answers its parent received, by id within
    /// the subgraph: those already handed on before are skipped, and pauses left without an
    /// answer simply pause again.
    Deliver(Vec<(String, Value)>),
}
