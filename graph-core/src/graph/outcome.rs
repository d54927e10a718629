//! How a run ends when it does not fail: finished, or paused for a person.

use super::Interrupt;
use crate::error::GraphError;

/// How a run ended, short of failing: it finished, or it paused to wait for a person.
///
/// A pause (a node called [`NodeContext::interrupt`](crate::NodeContext::interrupt), or the
/// run reached a node of `interrupt_before`/`interrupt_after`) is a planned outcome, not an
/// error: `invoke(..).await?` returns it, with the state and the open questions. Resume the
/// thread with [`Command::resume`](crate::Command::resume).
///
/// ```
/// use graph_core::prelude::*;
/// use graph_core::checkpoint::MemorySaver;
/// use std::sync::Arc;
///
/// #[derive(State, Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
/// struct Draft {
///     text: String,
/// }
///
/// async fn review(s: Arc<Draft>, ctx: NodeContext) -> Result<DraftUpdate, graph_core::InterruptError> {
///     let edited: String = ctx.interrupt(&s.text)?;
///     Ok(Draft::update().text(edited))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let graph = StateGraph::<Draft>::new()
///     .add_node("review", review)
///     .add_edge(START, "review")
///     .compile()?
///     .with_checkpointer(MemorySaver::new());
/// let thread = RunConfig::default().thread_id("draft-1");
///
/// let outcome = graph.invoke(Draft::update().text("helo"), thread.clone()).await?;
/// assert!(outcome.is_paused());
/// assert_eq!(outcome.interrupts()[0].value, "helo");
///
/// let outcome = graph.invoke(Command::resume("hello"), thread).await?;
/// assert_eq!(outcome.finished()?.text, "hello");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a run may have paused: check the outcome"]
pub enum RunOutcome<S> {
    /// No task is left to run.
    Finished(S),
    /// The run waits for answers to `interrupts`; `state` is where it stopped.
    Paused {
        /// The state when it paused.
        state: S,
        /// The open questions, in task order.
        interrupts: Vec<Interrupt>,
    },
}

impl<S> RunOutcome<S> {
    /// The final state, or the state where the run paused.
    pub fn state(&self) -> &S {
        match self {
            RunOutcome::Finished(state) | RunOutcome::Paused { state, .. } => state,
        }
    }

    /// The final state, or the state where the run paused.
    pub fn into_state(self) -> S {
        match self {
            RunOutcome::Finished(state) | RunOutcome::Paused { state, .. } => state,
        }
    }

    /// The open questions of a paused run; empty when it finished.
    pub fn interrupts(&self) -> &[Interrupt] {
        match self {
            RunOutcome::Finished(_) => &[],
            RunOutcome::Paused { interrupts, .. } => interrupts,
        }
    }

    /// Whether the run finished.
    pub fn is_finished(&self) -> bool {
        matches!(self, RunOutcome::Finished(_))
    }

    /// Whether the run paused.
    pub fn is_paused(&self) -> bool {
        matches!(self, RunOutcome::Paused { .. })
    }

    /// The final state, or [`GraphError::Interrupted`] when the run paused: for callers that
    /// never expect a pause and want `?` to say so.
    pub fn finished(self) -> Result<S, GraphError> {
        match self {
            RunOutcome::Finished(state) => Ok(state),
            RunOutcome::Paused { interrupts, .. } => Err(GraphError::Interrupted { interrupts }),
        }
    }
}
