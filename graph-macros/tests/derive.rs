//! What `#[derive(State)]` generates, exercised through `graph_core::State`.

use std::collections::BTreeMap;

use graph_core::{Field, InvalidUpdate, ReducerKind, State};
use serde::{Deserialize, Serialize};

fn keep_longest(current: &mut String, new: String) {
    if new.len() > current.len() {
        *current = new;
    }
}

#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Research {
    query: String,
    #[reducer(append)]
    notes: Vec<String>,
    #[reducer(add)]
    tokens: u64,
    #[reducer(merge)]
    sources: BTreeMap<String, u32>,
    #[reducer(max)]
    best: Option<u32>,
    #[reducer(overwrite)]
    status: String,
    #[reducer(with = keep_longest)]
    longest: String,
}

#[test]
fn the_schema_lists_fields_in_order_with_their_reducers_and_types() {
    let fields: Vec<Field> = Research::FIELDS.to_vec();
    let expected = [
        ("query", ReducerKind::LastValue, "String"),
        ("notes", ReducerKind::Append, "Vec<String>"),
        ("tokens", ReducerKind::Add, "u64"),
        ("sources", ReducerKind::Merge, "BTreeMap<String, u32>"),
        ("best", ReducerKind::Max, "Option<u32>"),
        ("status", ReducerKind::Overwrite, "String"),
        ("longest", ReducerKind::With("keep_longest"), "String"),
    ];
    let actual: Vec<(&str, ReducerKind, &str)> =
        fields.iter().map(|f| (f.name, f.reducer, f.ty)).collect();
    assert_eq!(actual, expected);
}

#[test]
fn writes_merge_through_each_reducer_in_order() {
    let mut state = Research { notes: vec!["old".into()], tokens: 1, ..Default::default() };
    state
        .apply([
            (
                "a",
                Research::update()
                    .query("rust")
                    .notes(vec!["a1".into(), "a2".into()])
                    .tokens(10)
                    .sources(BTreeMap::from([("x".into(), 1), ("y".into(), 1)]))
                    .best(Some(3))
                    .status("a")
                    .longest("abc"),
            ),
            (
                "b",
                Research::update()
                    .notes(vec!["b1".into()])
                    .tokens(5)
                    .sources(BTreeMap::from([("y".into(), 2)]))
                    .best(Some(2))
                    .status("b")
                    .longest("ab"),
            ),
        ])
        .unwrap();
    assert_eq!(
        state,
        Research {
            query: "rust".into(),
            notes: vec!["old".into(), "a1".into(), "a2".into(), "b1".into()],
            tokens: 16,
            sources: BTreeMap::from([("x".into(), 1), ("y".into(), 2)]),
            best: Some(3),
            status: "b".into(),
            longest: "abc".into(),
        }
    );
}

#[test]
fn two_writes_to_a_last_value_field_name_every_writer() {
    let mut state = Research::default();
    let err = state
        .apply([
            ("a", Research::update().query("one")),
            ("b", Research::update().tokens(1)),
            ("c", Research::update().query("two")),
            ("d", Research::update().query("three")),
        ])
        .unwrap_err();
    assert_eq!(
        err,
        InvalidUpdate::ConflictingWrites {
            field: "query",
            writers: vec!["a".into(), "c".into(), "d".into()]
        }
    );
}

#[test]
fn updates_compare_print_and_round_trip_through_serde() {
    let update = Research::update().query("rust").tokens(3);
    assert_eq!(update, Research::update().tokens(3).query("rust"));
    assert_ne!(update, Research::update().query("rust"));
    assert_eq!(format!("{update:?}"), r#"ResearchUpdate { query: "rust", tokens: 3 }"#);
    let json = serde_json::to_string(&update).unwrap();
    assert_eq!(json, r#"{"query":"rust","tokens":3}"#);
    let back: ResearchUpdate = serde_json::from_str(&json).unwrap();
    assert_eq!(back, update);
}

#[test]
fn a_whole_state_becomes_an_update_that_sets_every_field() {
    let state = Research { query: "q".into(), tokens: 2, ..Default::default() };
    let mut rebuilt = Research::default();
    rebuilt.apply([("input", state.clone().into_update())]).unwrap();
    assert_eq!(rebuilt, state);
}

#[derive(State, Clone, Debug, Default, PartialEq)]
struct Generic<T: Clone + Send + Sync + 'static> {
    #[reducer(append)]
    items: Vec<T>,
}

#[test]
fn generic_states_derive_too() {
    let mut state = Generic::<u8>::default();
    state.apply([("a", Generic::update().items(vec![1, 2]))]).unwrap();
    assert_eq!(state.items, [1, 2]);
}
