//! A public state in a crate that denies missing docs and unused code: the generated items are
//! documented and warning-free.

#![deny(missing_docs, unused, rust_2018_idioms)]

use graph_core::State;

/// A state.
#[derive(State, Clone, Default)]
pub struct Briefing {
    /// The question.
    pub query: String,
    /// Sections, appended.
    #[reducer(append)]
    pub sections: Vec<String>,
    /// Private, but still settable through the public update.
    #[reducer(add)]
    tokens: u64,
}

/// A state with only reducer fields, so `apply` tracks no writer.
#[derive(State, Clone, Default)]
pub struct Counter {
    /// The count.
    #[reducer(add)]
    pub n: u32,
}

/// A state with no fields at all.
#[derive(State, Clone, Default)]
pub struct Empty {}

fn main() {
    let mut state = Briefing::default();
    state.apply([("a", Briefing::update().query("q").sections(vec![]).tokens(1))]).unwrap();
    assert_eq!(state.tokens, 1);
    Counter::default().apply([("a", Counter::update().n(1))]).unwrap();
    Empty::default().apply([("a", Empty::update())]).unwrap();
}
