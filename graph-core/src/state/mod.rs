//! The graph's state: the [`State`] trait that `#[derive(State)]` implements, its field schema,
//! and the reducers that merge parallel updates.

pub(crate) mod reduce;
pub mod reducers;
pub mod written;

use std::panic::{self, AssertUnwindSafe};

use crate::error::InvalidUpdate;
use reduce::{Apply, Record, Reduce};

/// A graph's state: a struct whose fields each merge updates through a reducer.
///
/// Implement it with `#[derive(State)]`, which also generates the partial-update type
/// (`FooUpdate`, every field optional) returned by nodes:
///
/// ```
/// use graph_core::prelude::*;
///
/// #[derive(State, Clone, Debug, Default, PartialEq)]
/// struct Briefing {
///     query: String,
///     #[reducer(append)]
///     sections: Vec<String>,
///     #[reducer(add)]
///     tokens: u64,
/// }
///
/// let mut state = Briefing::default();
/// state
///     .apply([
///         ("weather", Briefing::update().sections(vec!["sunny".into()]).tokens(3)),
///         ("news", Briefing::update().sections(vec!["calm".into()]).tokens(4)),
///     ])
///     .unwrap();
/// assert_eq!(state.sections, ["sunny", "calm"]);
/// assert_eq!(state.tokens, 7);
/// ```
pub trait State: Clone + Send + Sync + 'static {
    /// The partial update nodes return: every field optional.
    type Update: Clone + Default + Send + Sync + 'static;

    /// One entry per field, in declaration order.
    const FIELDS: &'static [Field];

    /// Applies one superstep's updates, in task order, through each field's reducer.
    ///
    /// Each write is `(writer, update)`, where the writer names the node that produced it.
    /// A field without a reducer accepts one write per call; more fail with
    /// [`InvalidUpdate::ConflictingWrites`] naming the field and every writer.
    fn apply<'w, I>(&mut self, writes: I) -> Result<(), InvalidUpdate>
    where
        I: IntoIterator<Item = (&'w str, Self::Update)>,
    {
        self.reduce(writes, &mut Apply)
    }

    /// Calls `read` on the state as it would be after `writer`'s `update`, without copying
    /// the state: the update is applied in place, then undone exactly, even if `read` panics.
    ///
    /// Costs in proportion to the update, not to the state: a field without a reducer, or with
    /// `overwrite`, `max` or `min`, swaps values back; `append` truncates to the old length;
    /// `merge` and `union` restore the keys and elements they touched; `add` and a `with`
    /// function restore a copy of the one field they wrote.
    ///
    /// ```
    /// use graph_core::prelude::*;
    ///
    /// #[derive(State, Clone, Debug, Default, PartialEq)]
    /// struct Chat {
    ///     #[reducer(append)]
    ///     messages: Vec<String>,
    ///     topic: Option<String>,
    /// }
    ///
    /// let mut state = Chat { messages: vec!["hi".into()], topic: None };
    /// let update = Chat::update().messages(vec!["hello".into()]).topic(Some("rust".into()));
    /// let seen = state.with_update("reply", &update, |view| view.clone()).unwrap();
    /// assert_eq!(seen, Chat { messages: vec!["hi".into(), "hello".into()], topic: Some("rust".into()) });
    /// assert_eq!(state, Chat { messages: vec!["hi".into()], topic: None });
    /// ```
    fn with_update<R>(
        &mut self,
        writer: &str,
        update: &Self::Update,
        read: impl FnOnce(&Self) -> R,
    ) -> Result<R, InvalidUpdate> {
        with_updates(self, writer, [update], read)
    }

    /// Merges `writes` field by field through `reduce`, which either just merges or also
    /// records how to undo. What the derive implements; call [`apply`](State::apply) or
    /// [`with_update`](State::with_update) instead.
    #[doc(hidden)]
    fn reduce<'w, I, R>(&mut self, writes: I, reduce: &mut R) -> Result<(), InvalidUpdate>
    where
        I: IntoIterator<Item = (&'w str, Self::Update)>,
        R: Reduce<Self>;

    /// Clears, in updates written one after another (a subgraph's steps), every write of a
    /// field without a reducer but the last, so that all of them can be applied as the
    /// writes of one superstep with the same result. What the derive implements.
    #[doc(hidden)]
    fn keep_last_writes(updates: &mut [Self::Update]);

    /// Converts a whole state into an update that sets every field.
    fn into_update(self) -> Self::Update;
}

/// [`State::with_update`] for several updates of one writer, applied in order.
pub(crate) fn with_updates<'u, S: State, R>(
    state: &mut S,
    writer: &str,
    updates: impl IntoIterator<Item = &'u S::Update>,
    read: impl FnOnce(&S) -> R,
) -> Result<R, InvalidUpdate> {
    let mut journal = Record::new();
    let writes = updates.into_iter().map(|update| (writer, update.clone()));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        state.reduce(writes, &mut journal).map(|()| read(state))
    }));
    journal.revert(state);
    outcome.unwrap_or_else(|panic| panic::resume_unwind(panic))
}

/// Describes one field of a [`State`]: its name, reducer and type, as written in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field's name.
    pub name: &'static str,
    /// How the field merges writes.
    pub reducer: ReducerKind,
    /// The field's type as written in the struct.
    pub ty: &'static str,
}

/// How a field merges the writes of one superstep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReducerKind {
    /// No reducer: one write per superstep replaces the value.
    LastValue,
    /// `#[reducer(append)]`: extends a sequence.
    Append,
    /// `#[reducer(add)]`: adds with `+=`.
    Add,
    /// `#[reducer(merge)]`: inserts map entries, later keys win.
    Merge,
    /// `#[reducer(union)]`: set union.
    Union,
    /// `#[reducer(max)]`: keeps the greatest value.
    Max,
    /// `#[reducer(min)]`: keeps the least value.
    Min,
    /// `#[reducer(overwrite)]`: many writes allowed, the last in task order wins.
    Overwrite,
    /// `#[reducer(with = path)]`: a user function `fn(&mut T, T)`; holds the path as written.
    With(&'static str),
}

/// What a run starts from: a whole state, an update of `S::default()` (or, on a thread
/// that already has a state, of that state), or a [`Command`](crate::Command) resuming a
/// paused or failed thread.
///
/// Implemented for every [`State`], by the derive for its update type, and for `Command<S>`.
pub trait GraphInput<S: State> {
    #[doc(hidden)]
    fn into_input(self) -> RunInput<S>;
}

impl<S: State> GraphInput<S> for S {
    fn into_input(self) -> RunInput<S> {
        RunInput::State(self)
    }
}

/// A run's input, sorted by kind.
#[doc(hidden)]
pub enum RunInput<S: State> {
    /// Replace the state.
    State(S),
    /// Apply an update to the thread's state, or to `default()` when there is none.
    Update {
        /// The update.
        update: S::Update,
        /// Builds the state an update applies to when there is none yet.
        default: fn() -> S,
    },
    /// Continue a thread where it stopped.
    Resume {
        /// An update applied before continuing.
        update: Option<S::Update>,
        /// Answers to pending interrupts.
        answers: crate::graph::Answers,
        /// A `Command` input may not `goto`: this is its destination count, to reject it.
        gotos: usize,
    },
}

/// Tracks the writers of one field without a reducer during [`State::apply`], so a second write
/// in the same superstep becomes [`InvalidUpdate::ConflictingWrites`] naming every writer.
#[doc(hidden)]
#[derive(Debug)]
pub struct LastValue<'w> {
    field: &'static str,
    first: Option<&'w str>,
    others: Vec<&'w str>,
}

impl<'w> LastValue<'w> {
    /// Starts tracking `field`.
    pub fn new(field: &'static str) -> Self {
        Self { field, first: None, others: Vec::new() }
    }

    /// Records a write by `writer`.
    pub fn write(&mut self, writer: &'w str) {
        match self.first {
            None => self.first = Some(writer),
            Some(_) => self.others.push(writer),
        }
    }

    /// Fails if the field was written more than once.
    pub fn finish(self) -> Result<(), InvalidUpdate> {
        match self.first {
            Some(first) if !self.others.is_empty() => Err(InvalidUpdate::ConflictingWrites {
                field: self.field,
                writers: std::iter::once(first).chain(self.others).map(str::to_owned).collect(),
            }),
            _ => Ok(()),
        }
    }
}
