//! What a run promises about the state itself: a cleared `Option` field stays cleared through
//! every checkpointer, a router's view of the state (its own update on the step's snapshot)
//! matches a copy with that update applied and leaves the state as it was, and a panic in a
//! router or a reducer becomes a typed error naming the node.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use graph_core::checkpoint::{CheckpointError, Checkpointer, MemorySaver};
use graph_core::prelude::*;
use graph_core::Callback;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use support::backends::{on_every_backend, thread};

on_every_backend!(
    a_cleared_option_stays_cleared_live_in_get_state_and_on_resume,
    a_cleared_option_saved_as_a_pending_write_stays_cleared_on_resume,
);

/// A draft whose note and score a node clears. (A score of `Some(None)` would not survive
/// JSON in the state itself, so the tests clear it to `None`.)
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Draft {
    note: Option<String>,
    #[reducer(overwrite)]
    score: Option<Option<u32>>,
    #[reducer(append)]
    log: Vec<String>,
}

/// A node that logs `name` and what it saw of the note and score.
fn observe(
    name: &'static str,
) -> impl Fn(Arc<Draft>) -> std::future::Ready<DraftUpdate> + Send + Sync + 'static {
    move |s| {
        std::future::ready(
            Draft::update().log(vec![format!("{name} saw {:?} {:?}", s.note, s.score)]),
        )
    }
}

/// `set` writes a note and a score, `clear` clears both, `finish` logs what it sees.
fn clearing_graph() -> StateGraph<Draft> {
    StateGraph::<Draft>::new()
        .add_node("set", |_: Arc<Draft>| async {
            Draft::update().note(Some("draft".into())).score(Some(Some(3)))
        })
        .add_node("clear", |_: Arc<Draft>| async { Draft::update().note(None).score(None) })
        .add_node("finish", observe("finish"))
        .add_edge(START, "set")
        .add_edge("set", "clear")
        .add_edge("clear", "finish")
}

fn cleared(log: &[&str]) -> Draft {
    Draft { note: None, score: None, log: log.iter().map(|l| l.to_string()).collect() }
}

async fn a_cleared_option_stays_cleared_live_in_get_state_and_on_resume(
    saver: Arc<dyn Checkpointer>,
) {
    let live = clearing_graph().compile().unwrap().with_checkpointer(Arc::clone(&saver));
    let config = thread();
    let out = live.invoke(Draft::default(), config.clone()).await.unwrap().into_state();
    assert_eq!(out, cleared(&["finish saw None None"]));
    let snapshot = live.get_state(&config).await.unwrap().unwrap();
    assert_eq!(snapshot.values, out);

    let paused =
        clearing_graph().interrupt_after(["clear"]).compile().unwrap().with_checkpointer(saver);
    let config = thread();
    let err =
        paused.invoke(Draft::default(), config.clone()).await.unwrap().finished().unwrap_err();
    assert_eq!(err.to_string(), "the run paused at after:clear; resume it with Command::resume");
    let snapshot = paused.get_state(&config).await.unwrap().unwrap();
    assert_eq!((snapshot.values, snapshot.next), (cleared(&[]), vec!["finish".to_owned()]));

    let out = paused.invoke(Command::<Draft>::new(), config.clone()).await.unwrap().into_state();
    assert_eq!(out, cleared(&["finish saw None None"]));
    assert_eq!(paused.get_state(&config).await.unwrap().unwrap().values, out);
}

async fn a_cleared_option_saved_as_a_pending_write_stays_cleared_on_resume(
    saver: Arc<dyn Checkpointer>,
) {
    // `clear` finishes while its sibling `flaky` fails, so its update waits in a pending
    // write; the resume must apply it as a clearing, not as "nothing written".
    let fails = Arc::new(AtomicUsize::new(1));
    let graph = StateGraph::<Draft>::new()
        .add_node("set", |_: Arc<Draft>| async { Draft::update().note(Some("draft".into())) })
        .add_node("clear", |_: Arc<Draft>| async { Draft::update().note(None) })
        .add_node("flaky", move |_: Arc<Draft>| {
            let failing = fails
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if failing {
                    return Err("flaky failed");
                }
                Ok(Draft::update().log(vec!["flaky".into()]))
            }
        })
        .add_node("finish", observe("finish"))
        .add_edge(START, "set")
        .add_edge("set", "clear")
        .add_edge("set", "flaky")
        .add_join(["clear", "flaky"], "finish")
        .compile()
        .unwrap()
        .with_checkpointer(saver);
    let config = thread();
    let err = graph.invoke(Draft::default(), config.clone()).await.unwrap_err();
    assert_eq!(err.to_string(), "node `flaky` failed in step 1 (attempt 1): flaky failed");

    let out = graph.invoke(Command::<Draft>::new(), config.clone()).await.unwrap().into_state();
    let log = ["flaky".to_owned(), "finish saw None None".to_owned()];
    assert_eq!(out, Draft { note: None, score: None, log: log.to_vec() });
    assert_eq!(graph.get_state(&config).await.unwrap().unwrap().values, out);
}

/// Keeps the longer string; panics on "boom".
fn longer(current: &mut String, new: String) {
    assert_ne!(new, "boom", "a reducer refused its input");
    if new.len() > current.len() {
        *current = new;
    }
}

/// Every reducer, each on the types it supports.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Every {
    last: Option<u8>,
    #[reducer(append)]
    list: Vec<u8>,
    #[reducer(append)]
    queue: VecDeque<u8>,
    #[reducer(append)]
    text: String,
    #[reducer(add)]
    total: i64,
    #[reducer(merge)]
    hashed: HashMap<u8, u8>,
    #[reducer(merge)]
    ordered: BTreeMap<u8, u8>,
    #[reducer(union)]
    tags: HashSet<u8>,
    #[reducer(union)]
    sorted: BTreeSet<u8>,
    #[reducer(max)]
    best: Option<u8>,
    #[reducer(min)]
    lowest: i16,
    #[reducer(overwrite)]
    status: String,
    #[reducer(with = longer)]
    longest: String,
}

/// The values of every field of [`Every`], grouped so each group fits a proptest tuple.
type Values = (
    (Option<u8>, Vec<u8>, VecDeque<u8>, String, i64, HashMap<u8, u8>, BTreeMap<u8, u8>),
    (HashSet<u8>, BTreeSet<u8>, Option<u8>, i16, String, String),
);

fn values() -> impl Strategy<Value = Values> {
    use proptest::collection::{btree_map, btree_set, hash_map, hash_set, vec, vec_deque};
    let small = || 0..6_u8;
    (
        (
            proptest::option::of(small()),
            vec(small(), 0..4),
            vec_deque(small(), 0..4),
            "[ab]{0,3}",
            -50..50_i64,
            hash_map(small(), small(), 0..4),
            btree_map(small(), small(), 0..4),
        ),
        (
            hash_set(small(), 0..4),
            btree_set(small(), 0..4),
            proptest::option::of(small()),
            -50..50_i16,
            "[ab]{0,3}",
            "[ab]{0,4}",
        ),
    )
}

fn state(values: Values) -> Every {
    let ((last, list, queue, text, total, hashed, ordered), rest) = values;
    let (tags, sorted, best, lowest, status, longest) = rest;
    Every {
        last,
        list,
        queue,
        text,
        total,
        hashed,
        ordered,
        tags,
        sorted,
        best,
        lowest,
        status,
        longest,
    }
}

/// An update that writes the fields `written` selects, bit by bit in declaration order.
fn update(values: Values, written: u16) -> EveryUpdate {
    let all = state(values).into_update();
    let pick = |bit: u16| written & (1 << bit) != 0;
    EveryUpdate {
        last: all.last.filter(|_| pick(0)),
        list: all.list.filter(|_| pick(1)),
        queue: all.queue.filter(|_| pick(2)),
        text: all.text.filter(|_| pick(3)),
        total: all.total.filter(|_| pick(4)),
        hashed: all.hashed.filter(|_| pick(5)),
        ordered: all.ordered.filter(|_| pick(6)),
        tags: all.tags.filter(|_| pick(7)),
        sorted: all.sorted.filter(|_| pick(8)),
        best: all.best.filter(|_| pick(9)),
        lowest: all.lowest.filter(|_| pick(10)),
        status: all.status.filter(|_| pick(11)),
        longest: all.longest.filter(|_| pick(12)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_view_is_the_state_with_the_update_applied_and_the_state_comes_back(
        before in values(),
        written in values(),
        mask in 0..(1_u16 << 13),
    ) {
        let original = state(before);
        let update = update(written, mask);
        let mut expected = original.clone();
        expected.apply([("node", update.clone())]).unwrap();

        let mut live = original.clone();
        let seen = live.with_update("node", &update, Every::clone).unwrap();
        prop_assert_eq!(seen, expected);
        prop_assert_eq!(live, original);
    }
}

#[test]
fn a_panicking_reducer_in_a_view_leaves_the_state_as_it_was() {
    let original = Every { list: vec![1], total: 5, longest: "ab".into(), ..Default::default() };
    let mut live = original.clone();
    let update = Every::update().list(vec![2, 3]).total(4).longest("boom");
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        live.with_update("node", &update, |_| ()).unwrap();
    }));
    assert!(panic.is_err());
    assert_eq!(live, original);
}

/// The fields of a `GraphError::CallbackPanicked`, or a panic naming what came instead.
fn callback_panicked(err: GraphError) -> (String, usize, Callback, String) {
    match err {
        GraphError::CallbackPanicked { node, step, callback, message } => {
            (node, step, callback, message)
        }
        other => panic!("expected CallbackPanicked, got {other:?}"),
    }
}

fn panicked(
    node: &str,
    step: usize,
    callback: Callback,
    message: &str,
) -> (String, usize, Callback, String) {
    (node.to_owned(), step, callback, message.to_owned())
}

fn noop(_: Arc<Every>) -> std::future::Ready<EveryUpdate> {
    std::future::ready(Every::update())
}

fn refuse(_: &Every) -> &'static str {
    panic!("no route")
}

#[tokio::test]
async fn a_panicking_router_in_a_step_of_several_tasks_names_its_node() {
    let graph = StateGraph::<Every>::new()
        .add_node("a", |_: Arc<Every>| async { Every::update().list(vec![1]) })
        .add_node("b", noop)
        .add_node("c", noop)
        .add_edge(START, "a")
        .add_edge(START, "b")
        .add_conditional_edges("a", refuse, ["c"])
        .compile()
        .unwrap();
    let err = graph.invoke(Every::default(), RunConfig::default()).await.unwrap_err();
    assert_eq!(err.to_string(), "the router of node `a` panicked in step 0: no route");
    assert_eq!(callback_panicked(err), panicked("a", 0, Callback::Router, "no route"));
}

#[tokio::test]
async fn a_panicking_router_in_a_step_of_one_task_names_its_node() {
    let graph = StateGraph::<Every>::new()
        .add_node("a", noop)
        .add_node("b", noop)
        .add_node("c", noop)
        .add_edge(START, "a")
        .add_edge("a", "b")
        .add_conditional_edges("b", refuse, ["c"])
        .compile()
        .unwrap();
    let err = graph.invoke(Every::default(), RunConfig::default()).await.unwrap_err();
    assert_eq!(callback_panicked(err), panicked("b", 1, Callback::Router, "no route"));
}

#[tokio::test]
async fn a_panicking_router_from_start_names_start() {
    let graph = StateGraph::<Every>::new()
        .add_node("a", noop)
        .add_conditional_edges(START, refuse, ["a"])
        .compile()
        .unwrap();
    let err = graph.invoke(Every::default(), RunConfig::default()).await.unwrap_err();
    assert_eq!(callback_panicked(err), panicked("__start__", 0, Callback::Router, "no route"));
}

#[tokio::test]
async fn a_panicking_router_after_update_state_names_the_node_written_as() {
    let graph = StateGraph::<Every>::new()
        .add_node("a", noop)
        .add_node("b", noop)
        .add_edge(START, "a")
        .add_conditional_edges("a", refuse, ["b"])
        .interrupt_before(["a"])
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new());
    let config = thread();
    let err = graph.invoke(Every::default(), config.clone()).await.unwrap().finished().unwrap_err();
    assert_eq!(err.to_string(), "the run paused at before:a; resume it with Command::resume");
    let err = graph.update_state(&config, Every::update().total(1), Some("a")).await.unwrap_err();
    assert_eq!(callback_panicked(err), panicked("a", 0, Callback::Router, "no route"));
}

#[tokio::test]
async fn a_panicking_reducer_names_the_node_whose_update_it_was_merging() {
    let graph = StateGraph::<Every>::new()
        .add_node("a", |_: Arc<Every>| async { Every::update().longest("fine") })
        .add_node("b", |_: Arc<Every>| async { Every::update().longest("boom") })
        .add_node("c", |_: Arc<Every>| async { Every::update().longest("also fine") })
        .add_edge(START, "a")
        .add_edge(START, "b")
        .add_edge(START, "c")
        .compile()
        .unwrap();
    let err = graph.invoke(Every::default(), RunConfig::default()).await.unwrap_err();
    let message = "assertion `left != right` failed: a reducer refused its input\n  left: \"boom\"\n right: \"boom\"";
    assert_eq!(callback_panicked(err), panicked("b", 0, Callback::Reducer, message));
}

#[tokio::test]
async fn a_reducer_panicking_in_a_routers_view_names_the_routed_node() {
    let graph = StateGraph::<Every>::new()
        .add_node("a", noop)
        .add_node("b", |_: Arc<Every>| async { Every::update().longest("boom") })
        .add_node("c", noop)
        .add_edge(START, "a")
        .add_edge(START, "b")
        .add_conditional_edges("b", |_: &Every| "c", ["c"])
        .compile()
        .unwrap();
    let err = graph.invoke(Every::default(), RunConfig::default()).await.unwrap_err();
    let (node, step, callback, message) = callback_panicked(err);
    assert_eq!((node.as_str(), step, callback), ("b", 0, Callback::Reducer));
    assert!(message.contains("a reducer refused its input"), "{message}");
}

#[tokio::test]
async fn a_router_sees_its_own_update_and_not_its_siblings() {
    let graph = StateGraph::<Every>::new()
        .add_node("a", |_: Arc<Every>| async { Every::update().list(vec![1]).last(Some(1)) })
        .add_node("b", |_: Arc<Every>| async { Every::update().list(vec![2]).total(2) })
        .add_node("check", |s: Arc<Every>| async move {
            Every::update().status(format!("{:?} {:?} {}", s.list, s.last, s.total))
        })
        .add_node("wrong", noop)
        .add_edge(START, "a")
        .add_edge(START, "b")
        .add_conditional_edges(
            "a",
            |s: &Every| {
                let own = s.list == [1] && s.last == Some(1) && s.total == 0;
                if own {
                    "check"
                } else {
                    "wrong"
                }
            },
            ["check", "wrong"],
        )
        .add_conditional_edges(
            "b",
            |s: &Every| {
                if s.list == [2] && s.last.is_none() && s.total == 2 {
                    END
                } else {
                    "wrong"
                }
            },
            ["wrong", END],
        )
        .compile()
        .unwrap();
    let out = graph.invoke(Every::default(), RunConfig::default()).await.unwrap().into_state();
    assert_eq!(out.status, "[1, 2] Some(1) 2");
}

/// A review whose verdict is "not asked", "asked, no answer yet" or an answer.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Review {
    verdict: Option<Option<bool>>,
}

#[tokio::test]
async fn a_some_none_that_json_would_turn_into_none_fails_the_save_by_name() {
    let graph = StateGraph::<Review>::new()
        .add_node("ask", |_: Arc<Review>| async { Review::update().verdict(Some(None)) })
        .add_edge(START, "ask")
        .compile()
        .unwrap();
    // Without a checkpointer nothing is saved, and the value is kept as written.
    let live = graph.invoke(Review::default(), RunConfig::default()).await.unwrap();
    assert_eq!(live.into_state().verdict, Some(None));

    let saved = graph.with_checkpointer(MemorySaver::new());
    let err = saved.invoke(Review::default(), thread()).await.unwrap_err();
    assert!(
        matches!(&err, GraphError::Checkpoint(CheckpointError::NullInSome { path }) if path == "verdict"),
        "{err:?}"
    );
}
