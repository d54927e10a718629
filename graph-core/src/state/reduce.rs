//! How the derive's `State::reduce` merges each written field: [`Apply`] just merges;
//! [`Record`] merges and keeps what undoes the merge, so a router can read a view of the state
//! in place of a copy.

use std::mem;

use super::reducers::{self, Addable, Appendable, Comparable, Mergeable, Unionable};

/// Merges one written field through its reducer. `field` reaches the field from the state, so
/// an undo recorded now can find it again later.
///
/// The derive calls one method per written field; the method named after a reducer carries
/// that reducer's trait bound, so a reducer on an unsuitable type is reported once, here.
pub trait Reduce<S> {
    /// A field without a reducer: the value replaces the current one.
    fn last_value<T: 'static>(&mut self, state: &mut S, field: fn(&mut S) -> &mut T, value: T);
    /// `#[reducer(append)]`.
    fn append<T: Appendable + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    );
    /// `#[reducer(add)]`.
    fn add<T: Addable + Clone + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    );
    /// `#[reducer(merge)]`.
    fn merge<T: Mergeable + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    );
    /// `#[reducer(union)]`.
    fn union<T: Unionable + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    );
    /// `#[reducer(max)]`.
    fn max<T: Comparable + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    );
    /// `#[reducer(min)]`.
    fn min<T: Comparable + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    );
    /// `#[reducer(overwrite)]`.
    fn overwrite<T: 'static>(&mut self, state: &mut S, field: fn(&mut S) -> &mut T, value: T);
    /// `#[reducer(with = path)]`: `reduce` is the user's function; a function returning
    /// `Result` may refuse the write, with the reason returned here.
    fn with<T: Clone + 'static, R: ReducerResult>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
        reduce: fn(&mut T, T) -> R,
    ) -> Result<(), String>;
}

/// Merges and keeps nothing: [`State::apply`](super::State::apply).
pub struct Apply;

impl<S> Reduce<S> for Apply {
    fn last_value<T: 'static>(&mut self, state: &mut S, field: fn(&mut S) -> &mut T, value: T) {
        *field(state) = value;
    }

    fn append<T: Appendable + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    ) {
        reducers::append(field(state), value);
    }

    fn add<T: Addable + Clone + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    ) {
        reducers::add(field(state), value);
    }

    fn merge<T: Mergeable + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    ) {
        reducers::merge(field(state), value);
    }

    fn union<T: Unionable + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    ) {
        reducers::union(field(state), value);
    }

    fn max<T: Comparable + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    ) {
        reducers::max(field(state), value);
    }

    fn min<T: Comparable + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    ) {
        reducers::min(field(state), value);
    }

    fn overwrite<T: 'static>(&mut self, state: &mut S, field: fn(&mut S) -> &mut T, value: T) {
        reducers::overwrite(field(state), value);
    }

    fn with<T: Clone + 'static, R: ReducerResult>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
        reduce: fn(&mut T, T) -> R,
    ) -> Result<(), String> {
        reduce(field(state), value).into_reason()
    }
}

/// Merges and keeps, per written field, what undoes the merge at a cost in proportion to the
/// write: [`State::with_update`](super::State::with_update).
///
/// An undo is recorded before a merge that may panic (`add` overflowing, a user's `with`
/// function), so reverting after a panic still restores the field.
pub struct Record<S> {
    undo: Vec<Undo<S>>,
}

/// Restores one field.
type Undo<S> = Box<dyn FnOnce(&mut S)>;

impl<S> Record<S> {
    /// Nothing recorded yet.
    pub(crate) fn new() -> Self {
        Self { undo: Vec::new() }
    }

    /// Undoes every recorded merge, last first.
    pub(crate) fn revert(self, state: &mut S) {
        for undo in self.undo.into_iter().rev() {
            undo(state);
        }
    }

    fn push(&mut self, undo: impl FnOnce(&mut S) + 'static) {
        self.undo.push(Box::new(undo));
    }

    /// Swaps `value` in; undoing swaps the old value back.
    fn replace<T: 'static>(&mut self, state: &mut S, field: fn(&mut S) -> &mut T, value: T)
    where
        S: 'static,
    {
        let old = mem::replace(field(state), value);
        self.push(move |state| *field(state) = old);
    }
}

impl<S: 'static> Reduce<S> for Record<S> {
    fn last_value<T: 'static>(&mut self, state: &mut S, field: fn(&mut S) -> &mut T, value: T) {
        self.replace(state, field, value);
    }

    fn append<T: Appendable + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    ) {
        let mark = field(state).mark();
        self.push(move |state| field(state).truncate_to(mark));
        field(state).append_from(value);
    }

    fn add<T: Addable + Clone + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    ) {
        let old = field(state).clone();
        self.push(move |state| *field(state) = old);
        field(state).add_from(value);
    }

    fn merge<T: Mergeable + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    ) {
        let replaced = field(state).merge_recorded(value);
        self.push(move |state| field(state).unmerge(replaced));
    }

    fn union<T: Unionable + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    ) {
        let inserted = field(state).union_recorded(value);
        self.push(move |state| field(state).ununion(inserted));
    }

    fn max<T: Comparable + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    ) {
        if value.is_greater(field(state)) {
            self.replace(state, field, value);
        }
    }

    fn min<T: Comparable + 'static>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
    ) {
        if field(state).is_greater(&value) {
            self.replace(state, field, value);
        }
    }

    fn overwrite<T: 'static>(&mut self, state: &mut S, field: fn(&mut S) -> &mut T, value: T) {
        self.replace(state, field, value);
    }

    // The user's function may do anything to the field, so only a copy of it undoes that.
    fn with<T: Clone + 'static, R: ReducerResult>(
        &mut self,
        state: &mut S,
        field: fn(&mut S) -> &mut T,
        value: T,
        reduce: fn(&mut T, T) -> R,
    ) -> Result<(), String> {
        let old = field(state).clone();
        self.push(move |state| *field(state) = old);
        reduce(field(state), value).into_reason()
    }
}

/// What a `with` reducer returns: nothing, or a `Result` whose error refuses the write.
pub trait ReducerResult {
    /// The reason the write was refused, if it was.
    fn into_reason(self) -> Result<(), String>;
}

impl ReducerResult for () {
    fn into_reason(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: std::fmt::Display> ReducerResult for Result<(), E> {
    fn into_reason(self) -> Result<(), String> {
        self.map_err(|error| error.to_string())
    }
}
