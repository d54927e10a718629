//! `Command`: a node's update together with where to go next.

use super::send::{Goto, IntoRoute};
use crate::state::State;

/// A node's update together with destinations chosen at run time.
///
/// Static edges from the node still fire; `goto` adds to them.
///
/// ```
/// use graph_core::prelude::*;
/// use std::sync::Arc;
///
/// #[derive(State, Clone, Default)]
/// struct Counter {
///     #[reducer(add)]
///     n: u32,
/// }
///
/// async fn step(s: Arc<Counter>) -> Command<Counter> {
///     let next = if s.n < 3 { "step" } else { END };
///     Command::new().update(Counter::update().n(1)).goto(next)
/// }
/// # let _ = StateGraph::<Counter>::new().add_node("step", step);
/// ```
#[must_use]
pub struct Command<S: State> {
    pub(crate) update: Option<S::Update>,
    pub(crate) goto: Vec<Goto>,
}

impl<S: State> Command<S> {
    /// A command with no update and no destinations.
    pub fn new() -> Self {
        Self { update: None, goto: Vec::new() }
    }

    /// Sets the update to apply.
    pub fn update(mut self, update: S::Update) -> Self {
        self.update = Some(update);
        self
    }

    /// Adds destinations: node names, `END`, or [`Send`](crate::Send)s.
    pub fn goto(mut self, route: impl IntoRoute) -> Self {
        self.goto.extend(route.into_route());
        self
    }
}

impl<S: State> Default for Command<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: State> std::fmt::Debug for Command<S>
where
    S::Update: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command").field("update", &self.update).field("goto", &self.goto).finish()
    }
}
