//! `Command`: a node's update together with where to go next.

use serde::Serialize;

use super::interrupt::Answers;
use super::send::{Goto, IntoRoute};
use crate::state::{GraphInput, RunInput, State};

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
    /// What few commands carry, boxed: every task's output is a command, and a fan-out of a
    /// million tasks holds a million of them.
    pub(crate) extra: Option<Box<Extra<S>>>,
}

/// The rarer parts of a [`Command`].
pub(crate) struct Extra<S: State> {
    /// Further updates of the same task, applied after `update` in order: a subgraph's
    /// writes, which reach the parent one by one.
    pub(crate) more: Vec<S::Update>,
    /// Nodes of the parent graph to run next, from inside a subgraph.
    pub(crate) parent: Vec<String>,
    pub(crate) answers: Answers,
}

impl<S: State> Default for Extra<S> {
    fn default() -> Self {
        Self { more: Vec::new(), parent: Vec::new(), answers: Answers::None }
    }
}

impl<S: State> Command<S> {
    /// A command with no update and no destinations.
    pub fn new() -> Self {
        Self { update: None, goto: Vec::new(), extra: None }
    }

    /// The rarer parts, made on first use.
    pub(crate) fn extra_mut(&mut self) -> &mut Extra<S> {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The updates that follow `update`.
    pub(crate) fn more(&self) -> &[S::Update] {
        self.extra.as_ref().map_or(&[], |extra| &extra.more)
    }

    /// Takes the updates that follow `update`.
    pub(crate) fn take_more(&mut self) -> Vec<S::Update> {
        self.extra.as_mut().map(|extra| std::mem::take(&mut extra.more)).unwrap_or_default()
    }

    /// The parent graph's nodes to run next.
    pub(crate) fn parent(&self) -> &[String] {
        self.extra.as_ref().map_or(&[], |extra| &extra.parent)
    }

    fn answering(answers: Answers) -> Self {
        let mut command = Self::new();
        command.extra_mut().answers = answers;
        command
    }

    /// As a run's input: resumes the thread, answering its one pending interrupt with
    /// `value` (what [`NodeContext::interrupt`](crate::NodeContext::interrupt) returns).
    ///
    /// `Command::new()` as input resumes without an answer: after a failure, or after
    /// `interrupt_before`/`interrupt_after`. An update set on the command is applied first.
    pub fn resume(value: impl Serialize) -> Self {
        let answers = match crate::checkpoint::to_json(&value) {
            Ok(value) => Answers::One(value),
            Err(error) => Answers::Unsaveable(error.to_string()),
        };
        Self::answering(answers)
    }

    /// As a run's input: resumes the thread, answering several pending interrupts by id.
    pub fn resume_by_id<I, V>(answers: I) -> Self
    where
        I: IntoIterator<Item = (String, V)>,
        V: Serialize,
    {
        let answers: Result<Vec<_>, _> = answers
            .into_iter()
            .map(|(id, value)| {
                crate::checkpoint::to_json(&value)
                    .map(|value| (id.clone(), value))
                    .map_err(|error| format!("the answer to `{id}`: {error}"))
            })
            .collect();
        let answers = answers.map_or_else(Answers::Unsaveable, Answers::ById);
        Self::answering(answers)
    }

    /// Sets the update to apply.
    pub fn update(mut self, update: S::Update) -> Self {
        self.update = Some(update);
        self
    }

    /// Adds destinations: node names, `END`, or [`Send`](crate::Send)s.
    pub fn goto(mut self, route: impl IntoRoute) -> Self {
        route.append_to(&mut self.goto);
        self
    }

    /// Routes in the parent graph, from a node of a [`Subgraph`](crate::Subgraph): the
    /// subgraph's run ends after this step (its update applied, its other pending work
    /// dropped), and the parent runs `node` next, besides what follows the subgraph node
    /// anyway. A hand-off from one agent to another, say.
    ///
    /// In a graph that does not run as a subgraph, the run fails with
    /// [`GraphError::InvalidRoute`](crate::GraphError::InvalidRoute); a node the parent does
    /// not have fails the parent's run the same way.
    ///
    /// ```
    /// use graph_core::prelude::*;
    /// use std::sync::Arc;
    ///
    /// #[derive(State, Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
    /// struct Desk {
    ///     #[reducer(append)]
    ///     log: Vec<String>,
    /// }
    ///
    /// async fn triage(_: Arc<Desk>) -> Command<Desk> {
    ///     Command::new().update(Desk::update().log(vec!["needs billing".into()])).goto_parent("billing")
    /// }
    /// async fn billing(_: Arc<Desk>) -> DeskUpdate {
    ///     Desk::update().log(vec!["billing answered".into()])
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let support = StateGraph::<Desk>::new()
    ///     .add_node("triage", triage)
    ///     .add_node("never", |_: Arc<Desk>| async { Desk::update().log(vec!["never".into()]) })
    ///     .add_edge(START, "triage")
    ///     .add_edge("triage", "never")
    ///     .compile()?;
    /// let desk = StateGraph::<Desk>::new()
    ///     .add_subgraph("support", support)
    ///     .add_node("billing", billing)
    ///     .add_edge(START, "support")
    ///     .compile()?;
    /// let out = desk.invoke(Desk::default(), RunConfig::default()).await?.finished()?;
    /// assert_eq!(out.log, ["needs billing", "billing answered"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn goto_parent(mut self, node: impl Into<String>) -> Self {
        self.extra_mut().parent.push(node.into());
        self
    }

    /// The update the command applies, if it has one: for code that checks a command before
    /// passing it on (a tool's command must answer its call, say).
    ///
    /// ```
    /// use graph_core::prelude::*;
    ///
    /// #[derive(State, Clone, Default)]
    /// struct Counter {
    ///     #[reducer(add)]
    ///     n: u32,
    /// }
    ///
    /// let command = Command::<Counter>::new().update(Counter::update().n(2));
    /// assert_eq!(command.update_ref().and_then(|u| u.n), Some(2));
    /// assert!(Command::<Counter>::new().update_ref().is_none());
    /// ```
    pub fn update_ref(&self) -> Option<&S::Update> {
        self.update.as_ref()
    }

    /// Every update of the command, in the order they apply.
    pub(crate) fn updates(&self) -> impl Iterator<Item = &S::Update> {
        self.update.iter().chain(self.more())
    }
}

impl<S: State> GraphInput<S> for Command<S> {
    fn into_input(self) -> RunInput<S> {
        let answers = self.extra.map_or(Answers::None, |extra| extra.answers);
        RunInput::Resume { update: self.update, answers, gotos: self.goto.len() }
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
