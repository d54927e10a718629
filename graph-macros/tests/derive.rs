//! What `#[derive(State)]` generates, exercised through `graph_core::State`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::marker::PhantomData;

use graph_core::__private::RunInput;
use graph_core::{Field, GraphInput, InvalidUpdate, NodeOutput, ReducerKind, State};
use serde::de::DeserializeOwned;
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
    #[reducer(union)]
    tags: BTreeSet<String>,
    #[reducer(max)]
    best: Option<u32>,
    #[reducer(min)]
    cheapest: i64,
    #[reducer(overwrite)]
    status: String,
    #[reducer(with = keep_longest)]
    longest: String,
    r#type: u8,
}

#[test]
fn the_schema_lists_fields_in_order_with_their_reducers_and_types() {
    let fields: Vec<Field> = Research::FIELDS.to_vec();
    let expected = [
        ("query", ReducerKind::LastValue, "String"),
        ("notes", ReducerKind::Append, "Vec<String>"),
        ("tokens", ReducerKind::Add, "u64"),
        ("sources", ReducerKind::Merge, "BTreeMap<String, u32>"),
        ("tags", ReducerKind::Union, "BTreeSet<String>"),
        ("best", ReducerKind::Max, "Option<u32>"),
        ("cheapest", ReducerKind::Min, "i64"),
        ("status", ReducerKind::Overwrite, "String"),
        ("longest", ReducerKind::With("keep_longest"), "String"),
        ("type", ReducerKind::LastValue, "u8"),
    ];
    let actual: Vec<(&str, ReducerKind, &str)> =
        fields.iter().map(|f| (f.name, f.reducer, f.ty)).collect();
    assert_eq!(actual, expected);
}

#[test]
fn writes_merge_through_each_reducer_in_order() {
    let mut state = Research {
        notes: vec!["old".into()],
        tokens: 1,
        tags: BTreeSet::from(["t0".into()]),
        cheapest: 5,
        ..Default::default()
    };
    state
        .apply([
            (
                "a",
                Research::update()
                    .query("rust")
                    .notes(vec!["a1".into(), "a2".into()])
                    .tokens(10)
                    .sources(BTreeMap::from([("x".into(), 1), ("y".into(), 1)]))
                    .tags(BTreeSet::from(["t1".into()]))
                    .best(Some(3))
                    .cheapest(2)
                    .status("a")
                    .longest("abc"),
            ),
            (
                "b",
                Research::update()
                    .notes(vec!["b1".into()])
                    .tokens(5)
                    .sources(BTreeMap::from([("y".into(), 2)]))
                    .tags(BTreeSet::from(["t0".into(), "t2".into()]))
                    .best(Some(2))
                    .cheapest(3)
                    .status("b")
                    .longest("ab")
                    .r#type(7),
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
            tags: BTreeSet::from(["t0".into(), "t1".into(), "t2".into()]),
            best: Some(3),
            cheapest: 2,
            status: "b".into(),
            longest: "abc".into(),
            r#type: 7,
        }
    );
}

#[test]
fn fields_an_update_leaves_unset_keep_their_value() {
    let mut state = Research { query: "kept".into(), tokens: 4, ..Default::default() };
    state.apply([("a", Research::update()), ("b", Research::update().status("s"))]).unwrap();
    assert_eq!(
        state,
        Research { query: "kept".into(), tokens: 4, status: "s".into(), ..Default::default() }
    );
}

#[test]
fn two_writes_to_a_last_value_field_conflict() {
    let mut state = Research::default();
    let err = state
        .apply([("a", Research::update().query("one")), ("b", Research::update().query("two"))])
        .unwrap_err();
    assert_eq!(
        err,
        InvalidUpdate::ConflictingWrites { field: "query", writers: vec!["a".into(), "b".into()] }
    );
}

#[test]
fn a_conflict_names_every_writer_in_task_order() {
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
fn one_write_per_last_value_field_is_fine_across_calls() {
    let mut state = Research::default();
    state.apply([("a", Research::update().query("one"))]).unwrap();
    state.apply([("b", Research::update().query("two"))]).unwrap();
    assert_eq!(state.query, "two");
}

#[test]
fn setters_take_string_like_values_for_strings_and_the_exact_type_otherwise() {
    let owned = String::from("owned");
    let update = Research::update().query("literal").status(owned).tokens(3).r#type(1);
    assert_eq!(update.query.as_deref(), Some("literal"));
    assert_eq!(update.status.as_deref(), Some("owned"));
    assert_eq!(update.tokens, Some(3_u64));
    assert_eq!(update.r#type, Some(1_u8));
    assert_eq!(update.notes, None);
}

#[test]
fn updates_compare_print_and_round_trip_through_serde() {
    let update = Research::update().query("rust").tokens(3).r#type(2);
    assert_eq!(update, Research::update().r#type(2).tokens(3).query("rust"));
    assert_ne!(update, Research::update().query("rust"));
    assert_eq!(format!("{update:?}"), r#"ResearchUpdate { query: "rust", tokens: 3, type: 2 }"#);
    let json = serde_json::to_string(&update).unwrap();
    assert_eq!(json, r#"{"query":"rust","tokens":3,"type":2}"#);
    let back: ResearchUpdate = serde_json::from_str(&json).unwrap();
    assert_eq!(back, update);
    let empty: ResearchUpdate = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, Research::update());
}

#[test]
fn a_whole_state_becomes_an_update_that_sets_every_field() {
    let state = Research { query: "q".into(), tokens: 2, r#type: 9, ..Default::default() };
    let update = state.clone().into_update();
    assert_eq!(update.query.as_deref(), Some("q"));
    assert_eq!(update.notes, Some(vec![]));
    let mut rebuilt = Research::default();
    rebuilt.apply([("input", update)]).unwrap();
    assert_eq!(rebuilt, state);
}

#[test]
fn an_update_is_a_graph_input_over_the_default_state() {
    let RunInput::Update { update, default } = Research::update().tokens(1).into_input() else {
        panic!("an update is an `Update` input");
    };
    assert_eq!(update, Research::update().tokens(1));
    assert_eq!(default(), Research::default());
}

#[test]
fn an_update_is_a_node_output() {
    let command = NodeOutput::<Research>::into_command(Research::update().tokens(1)).unwrap();
    assert_eq!(
        format!("{command:?}"),
        "Command { update: Some(ResearchUpdate { tokens: 1 }), goto: [] }"
    );
}

/// Neither `Debug`, `PartialEq` nor serde.
#[derive(Clone, Default)]
struct Client;

#[derive(State, Clone, Default)]
struct WithClient {
    client: Option<Client>,
    #[reducer(append)]
    answers: Vec<String>,
}

/// Tells, at compile time, which traits a type implements: the inherent methods apply only
/// when their bound holds, and otherwise method lookup falls back to the trait's.
struct Probe<T>(PhantomData<T>);

/// The fallback answers of [`Probe`].
trait Lacks {
    fn debug(&self) -> bool {
        false
    }
    fn eq(&self) -> bool {
        false
    }
    fn serde(&self) -> bool {
        false
    }
}

impl<T> Lacks for Probe<T> {}

impl<T: Debug> Probe<T> {
    fn debug(&self) -> bool {
        true
    }
}

impl<T: PartialEq> Probe<T> {
    fn eq(&self) -> bool {
        true
    }
}

impl<T: Serialize + DeserializeOwned> Probe<T> {
    fn serde(&self) -> bool {
        true
    }
}

#[test]
fn a_field_without_debug_or_serde_still_derives_and_the_update_lacks_them() {
    let mut state = WithClient::default();
    let update = WithClient::update().client(Some(Client)).answers(vec!["hi".into()]);
    state.apply([("n", update.clone())]).unwrap();
    assert!(state.client.is_some());
    assert_eq!(state.answers, ["hi"]);

    let without = Probe::<WithClientUpdate>(PhantomData);
    assert_eq!((without.debug(), without.eq(), without.serde()), (false, false, false));
    let with = Probe::<ResearchUpdate>(PhantomData);
    assert_eq!((with.debug(), with.eq(), with.serde()), (true, true, true));
}

#[derive(State, Clone, Debug, Default, PartialEq)]
struct Generic<T>
where
    T: Clone + Send + Sync + 'static,
{
    #[reducer(append)]
    items: Vec<T>,
    latest: Option<T>,
}

#[test]
fn generic_states_derive_too() {
    let mut state = Generic::<u8>::default();
    state.apply([("a", Generic::update().items(vec![1, 2]).latest(Some(2)))]).unwrap();
    assert_eq!(state, Generic { items: vec![1, 2], latest: Some(2) });
    assert_eq!(
        format!("{:?}", Generic::update().latest(Some(1))),
        "GenericUpdate { latest: Some(1) }"
    );
    assert_eq!(Generic::<u8>::FIELDS[0].ty, "Vec<T>");
}

fn keep_first(current: &mut Option<String>, new: Option<String>) {
    if current.is_none() {
        *current = new;
    }
}

/// Every kind of field whose value can be `None`.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Clearable<T>
where
    T: Clone + Send + Sync + 'static,
{
    plain: Option<u32>,
    nested: Option<Option<u32>>,
    #[reducer(overwrite)]
    overwritten: Option<String>,
    #[reducer(max)]
    best: Option<u32>,
    #[reducer(with = keep_first)]
    first: Option<String>,
    generic: Option<T>,
}

/// Through JSON and back.
fn round_trip<U: Serialize + DeserializeOwned>(update: &U) -> (String, U) {
    let json = serde_json::to_string(update).unwrap();
    let back = serde_json::from_str(&json).unwrap();
    (json, back)
}

#[test]
fn writing_none_survives_serde_as_a_write() {
    let cleared = Clearable::<u8>::update()
        .plain(None)
        .nested(None)
        .overwritten(None)
        .best(None)
        .first(None)
        .generic(None);
    let (json, back) = round_trip(&cleared);
    assert_eq!(
        json,
        r#"{"plain":null,"nested":null,"overwritten":null,"best":null,"first":null,"generic":null}"#
    );
    assert_eq!(back, cleared);
    assert_eq!(back.plain, Some(None));
    assert_eq!(back.generic, Some(None));
}

#[test]
fn nested_options_keep_every_level_through_serde() {
    // `Some(Some(None))` and `Some(None)` both print as `null`: the encoding tells a written
    // field from an unwritten one, and serde's own `Option` decides the level below.
    for nested in [None, Some(None), Some(Some(3))] {
        let update = Clearable::<u8>::update().nested(nested);
        let (_, back) = round_trip(&update);
        let expected = if nested == Some(None) { Some(None) } else { Some(nested) };
        assert_eq!(back.nested, expected, "writing {nested:?}");
    }
    let (json, back) = round_trip(&Clearable::<u8>::update().nested(Some(Some(3))));
    assert_eq!((json.as_str(), back.nested), (r#"{"nested":3}"#, Some(Some(Some(3)))));
}

#[test]
fn absent_keys_are_not_written_and_values_round_trip() {
    let update = Clearable::<String>::update().plain(Some(7)).generic(Some("g".into()));
    let (json, back) = round_trip(&update);
    assert_eq!(json, r#"{"plain":7,"generic":"g"}"#);
    assert_eq!(back, update);
    let empty: ClearableUpdate<String> = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, Clearable::update());
}

#[test]
fn a_decoded_clearing_update_clears_the_state() {
    let mut state = Clearable::<u8> {
        plain: Some(1),
        nested: Some(Some(2)),
        overwritten: Some("o".into()),
        generic: Some(4),
        ..Default::default()
    };
    let cleared =
        Clearable::<u8>::update().plain(None).nested(None).overwritten(None).generic(None);
    let (_, decoded) = round_trip(&cleared);
    state.apply([("clear", decoded)]).unwrap();
    assert_eq!(state, Clearable::default());
}
