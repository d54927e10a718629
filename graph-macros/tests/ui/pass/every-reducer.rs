use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use graph_core::{ReducerKind, State};

fn keep_longest(current: &mut String, new: String) {
    if new.len() > current.len() {
        *current = new;
    }
}

#[derive(State, Clone, Default, Debug, PartialEq)]
pub struct Everything {
    pub r#type: String,
    #[reducer(append)]
    log: Vec<u8>,
    #[reducer(append)]
    queue: VecDeque<u8>,
    #[reducer(append)]
    text: String,
    #[reducer(add)]
    total: f64,
    #[reducer(merge)]
    hashed: HashMap<String, u8>,
    #[reducer(merge)]
    ordered: BTreeMap<String, u8>,
    #[reducer(union)]
    tags: HashSet<String>,
    #[reducer(union)]
    sorted_tags: BTreeSet<String>,
    #[reducer(max)]
    best: Option<u32>,
    #[reducer(min)]
    lowest: i64,
    #[reducer(overwrite)]
    status: String,
    #[reducer(with = keep_longest)]
    longest: String,
}

fn main() {
    let kinds: Vec<ReducerKind> = Everything::FIELDS.iter().map(|f| f.reducer).collect();
    assert_eq!(kinds[0], ReducerKind::LastValue);
    assert_eq!(kinds[12], ReducerKind::With("keep_longest"));
    let mut state = Everything::default();
    state
        .apply([
            ("a", Everything::update().r#type("x").longest("ab").status("a")),
            ("b", Everything::update().longest("a").status("b").lowest(-3)),
        ])
        .unwrap();
    assert_eq!((state.r#type.as_str(), state.longest.as_str(), state.status.as_str()), ("x", "ab", "b"));
    assert_eq!(state.lowest, -3);
}
