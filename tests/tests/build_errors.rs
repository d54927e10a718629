//! `compile()` rejects every malformed graph with one precise `BuildError`.

mod support;

use graph_core::prelude::*;
use graph_core::{BuildError, Input, NodeOptions};
use support::{visit, Log};

fn base() -> StateGraph<Log> {
    StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("b", visit("b"))
        .add_edge(START, "a")
}

fn error_of(graph: StateGraph<Log>) -> BuildError {
    graph.compile().expect_err("the graph should not compile")
}

async fn worker(Input(_): Input<u32>) {}

#[test]
fn an_edge_to_an_unknown_node() {
    let err = error_of(base().add_edge("a", "ghost"));
    assert_eq!(
        err,
        BuildError::UnknownNode { node: "ghost".into(), edge: "edge `a` -> `ghost`".into() }
    );
    assert_eq!(err.to_string(), "edge `a` -> `ghost` refers to unknown node `ghost`");
}

#[test]
fn an_edge_from_an_unknown_node() {
    let err = error_of(base().add_edge("ghost", "a"));
    assert_eq!(
        err,
        BuildError::UnknownNode { node: "ghost".into(), edge: "edge `ghost` -> `a`".into() }
    );
}

#[test]
fn a_graph_without_an_entry() {
    let err = error_of(StateGraph::<Log>::new().add_node("a", visit("a")).add_edge("a", END));
    assert_eq!(err, BuildError::NoEntry);
    assert_eq!(
        err.to_string(),
        "the graph has no entry: add an edge or a conditional edge from START"
    );
}

#[test]
fn a_duplicate_node_name() {
    let err = error_of(base().add_node("a", visit("again")));
    assert_eq!(err, BuildError::DuplicateNode { node: "a".into() });
    assert_eq!(err.to_string(), "node `a` is added twice");
}

#[test]
fn reserved_node_names() {
    for name in [START, END, ""] {
        let err = error_of(base().add_node(name, visit("x")));
        assert_eq!(err, BuildError::ReservedName { node: name.into() });
    }
    assert_eq!(
        error_of(base().add_node(END, visit("x"))).to_string(),
        "node name `__end__` is reserved; choose another name"
    );
}

#[test]
fn edges_leaving_end_or_entering_start() {
    let err = error_of(base().add_edge(END, "a"));
    assert_eq!(err, BuildError::EdgeOutsideGraph { edge: "edge `__end__` -> `a`".into() });
    assert_eq!(
        err.to_string(),
        "edge `__end__` -> `a` is not allowed: nothing leaves END and nothing enters START"
    );
    let err = error_of(base().add_edge("a", START));
    assert_eq!(err, BuildError::EdgeOutsideGraph { edge: "edge `a` -> `__start__`".into() });
}

#[test]
fn a_conditional_target_that_is_not_a_node() {
    let err = error_of(base().add_conditional_edges("a", |_: &Log| "b", ["b", "ghost"]));
    assert_eq!(
        err,
        BuildError::UnknownConditionalTarget { source_node: "a".into(), target: "ghost".into() }
    );
    assert_eq!(
        err.to_string(),
        "conditional edge from `a` declares target `ghost`, which is not a node"
    );
}

#[test]
fn a_conditional_edge_from_an_unknown_node() {
    let err = error_of(base().add_conditional_edges("ghost", |_: &Log| "b", ["b"]));
    assert_eq!(
        err,
        BuildError::UnknownNode {
            node: "ghost".into(),
            edge: "conditional edge from `ghost`".into()
        }
    );
}

#[test]
fn a_conditional_edge_without_targets() {
    let err = error_of(base().add_conditional_edges("a", |_: &Log| END, Vec::<String>::new()));
    assert_eq!(err, BuildError::NoConditionalTargets { source_node: "a".into() });
    assert_eq!(err.to_string(), "conditional edge from `a` declares no targets");
}

#[test]
fn a_join_with_fewer_than_two_sources() {
    let err = error_of(base().add_join(["a"], "b"));
    assert_eq!(err, BuildError::JoinTooSmall { target: "b".into(), sources: vec!["a".into()] });
    assert_eq!(err.to_string(), "join into `b` needs at least two distinct sources, got [\"a\"]");
    // Repeating a source does not make it two.
    let err = error_of(base().add_join(["a", "a"], "b"));
    assert_eq!(err, BuildError::JoinTooSmall { target: "b".into(), sources: vec!["a".into()] });
}

#[test]
fn a_join_naming_an_unknown_node() {
    let err = error_of(base().add_join(["a", "ghost"], "b"));
    assert_eq!(
        err,
        BuildError::UnknownNode { node: "ghost".into(), edge: "join [`a`, `ghost`] -> `b`".into() }
    );
}

#[test]
fn a_payload_node_on_a_static_edge() {
    let err = error_of(base().add_node("w", worker).add_edge("a", "w").add_conditional_edges(
        "b",
        |_: &Log| END,
        ["w", END],
    ));
    assert_eq!(
        err,
        BuildError::InputNodeOnEdge {
            node: "w".into(),
            input_type: "u32",
            edge: "edge `a` -> `w`".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "node `w` takes `Input<u32>`, so only a Send can start it, but edge `a` -> `w` would start it without one"
    );
}

#[test]
fn a_payload_node_no_send_can_reach() {
    let err = error_of(base().add_node("w", worker));
    assert_eq!(err, BuildError::UnreachableInputNode { node: "w".into(), input_type: "u32" });
    assert_eq!(
        err.to_string(),
        "node `w` takes `Input<u32>`, but no conditional edge or node destination declares it, so no Send can reach it"
    );
}

#[test]
fn a_payload_node_declared_as_a_destination_compiles() {
    let graph = base().add_node("w", worker).add_node_with(
        "c",
        visit("c"),
        NodeOptions::new().destinations(["w"]),
    );
    assert!(graph.compile().is_ok());
}

#[test]
fn an_unknown_destination() {
    let err =
        error_of(base().add_node_with("c", visit("c"), NodeOptions::new().destinations(["ghost"])));
    assert_eq!(
        err,
        BuildError::UnknownNode { node: "ghost".into(), edge: "destinations of `c`".into() }
    );
}
