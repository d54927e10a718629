//! The behaviour contract of the superstep runtime, one behaviour per test: which nodes run in
//! each step, and the exact final state. Each run also runs with its tasks on three workers
//! of a task queue ([`queued`]), which must end alike.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use graph_core::prelude::*;
use graph_core::{Input, InvalidUpdate, NodeOptions};
use support::{queued, visit, visit_after, visited, Log, LogUpdate};

#[tokio::test]
async fn a_chain_runs_one_node_per_step() {
    let graph = StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("b", visit("b"))
        .add_edge(START, "a")
        .add_edge("a", "b")
        .add_edge("b", END)
        .compile()
        .unwrap();
    let report =
        queued::invoke_with_report(&graph, Log::default(), RunConfig::default()).await.unwrap();
    assert_eq!(report.nodes_per_step(), [["a"], ["b"]]);
    assert_eq!(*report.state(), Log { visited: visited(&["a", "b"]), n: 2, last: None });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_runs_in_one_step_and_applies_in_name_order_not_completion_order() {
    // `a` finishes last and `c` first, yet updates apply by node name.
    let graph = StateGraph::<Log>::new()
        .add_node("c", visit_after("c", 0))
        .add_node("a", visit_after("a", 30))
        .add_node("b", visit_after("b", 15))
        .add_edge(START, "c")
        .add_edge(START, "a")
        .add_edge(START, "b")
        .compile()
        .unwrap();
    let report =
        queued::invoke_with_report(&graph, Log::default(), RunConfig::default()).await.unwrap();
    assert_eq!(report.nodes_per_step(), [["a", "b", "c"]]);
    assert_eq!(report.state().visited, visited(&["a", "b", "c"]));
    assert_eq!(report.state().n, 3);
}

#[tokio::test]
async fn sources_in_one_step_trigger_a_shared_target_once() {
    let graph = StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("b", visit("b"))
        .add_node("c", visit("c"))
        .add_edge(START, "a")
        .add_edge(START, "b")
        .add_edge("a", "c")
        .add_edge("b", "c")
        .compile()
        .unwrap();
    let report =
        queued::invoke_with_report(&graph, Log::default(), RunConfig::default()).await.unwrap();
    assert_eq!(report.nodes_per_step(), vec![vec!["a", "b"], vec!["c"]]);
    assert_eq!(report.state().visited, visited(&["a", "b", "c"]));
}

/// `a` -> `c` directly; `b` -> `b2` -> `c`: the two paths reach `c` in different steps.
fn uneven_branches() -> StateGraph<Log> {
    StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("b", visit("b"))
        .add_node("b2", visit("b2"))
        .add_node("c", visit("c"))
        .add_edge(START, "a")
        .add_edge(START, "b")
        .add_edge("b", "b2")
}

#[tokio::test]
async fn separate_edges_from_different_steps_run_the_target_after_each() {
    let graph = uneven_branches().add_edge("a", "c").add_edge("b2", "c").compile().unwrap();
    let report =
        queued::invoke_with_report(&graph, Log::default(), RunConfig::default()).await.unwrap();
    assert_eq!(report.nodes_per_step(), vec![vec!["a", "b"], vec!["b2", "c"], vec!["c"]]);
    assert_eq!(report.state().visited, visited(&["a", "b", "b2", "c", "c"]));
}

#[tokio::test]
async fn a_join_waits_for_every_source_across_steps() {
    let graph = uneven_branches().add_join(["a", "b2"], "c").compile().unwrap();
    let report =
        queued::invoke_with_report(&graph, Log::default(), RunConfig::default()).await.unwrap();
    assert_eq!(report.nodes_per_step(), vec![vec!["a", "b"], vec!["b2"], vec!["c"]]);
    assert_eq!(report.state().visited, visited(&["a", "b", "b2", "c"]));
}

#[tokio::test]
async fn a_join_re_arms_inside_a_loop() {
    // Each round runs `a` and `b`, joins into `c`, and `c` loops back until three rounds ran.
    let graph = StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("b", visit("b"))
        .add_node("c", visit("c"))
        .add_node("start", visit("start"))
        .add_edge(START, "start")
        .add_edge("start", "a")
        .add_edge("start", "b")
        .add_join(["a", "b"], "c")
        .add_conditional_edges(
            "c",
            |s: &Log| if s.n < 9 { vec!["a", "b"] } else { vec![END] },
            ["a", "b", END],
        )
        .compile()
        .unwrap();
    let report =
        queued::invoke_with_report(&graph, Log::default(), RunConfig::default()).await.unwrap();
    let round = [vec!["a", "b"], vec!["c"]];
    let expected: Vec<Vec<&str>> =
        std::iter::once(vec!["start"]).chain(round.iter().cloned().cycle().take(6)).collect();
    assert_eq!(report.nodes_per_step(), expected);
    assert_eq!(report.state().n, 10);
}

#[tokio::test]
async fn a_join_source_running_twice_before_the_others_fires_the_join_once() {
    // `a` runs in steps 0 and 1 (it loops once), `b` only in step 2.
    let graph = StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("b0", visit("b0"))
        .add_node("b1", visit("b1"))
        .add_node("b", visit("b"))
        .add_node("c", visit("c"))
        .add_edge(START, "a")
        .add_edge(START, "b0")
        .add_edge("b0", "b1")
        .add_edge("b1", "b")
        .add_conditional_edges(
            "a",
            |s: &Log| if s.visited.iter().filter(|v| *v == "a").count() < 2 { "a" } else { END },
            ["a", END],
        )
        .add_join(["a", "b"], "c")
        .compile()
        .unwrap();
    let report =
        queued::invoke_with_report(&graph, Log::default(), RunConfig::default()).await.unwrap();
    assert_eq!(
        report.nodes_per_step(),
        vec![vec!["a", "b0"], vec!["a", "b1"], vec!["b"], vec!["c"]]
    );
}

#[tokio::test]
async fn a_router_sees_the_snapshot_plus_only_its_own_update() {
    // `a` adds 1 and `b` adds 10 in the same step; `a`'s router must see n == 1.
    let graph = StateGraph::<Log>::new()
        .add_node("a", |_: Arc<Log>| async { Log::update().n(1) })
        .add_node("b", |_: Arc<Log>| async { Log::update().n(10) })
        .add_node("saw_own", visit("saw_own"))
        .add_node("saw_all", visit("saw_all"))
        .add_edge(START, "a")
        .add_edge(START, "b")
        .add_conditional_edges(
            "a",
            |s: &Log| if s.n == 1 { "saw_own" } else { "saw_all" },
            ["saw_own", "saw_all"],
        )
        .compile()
        .unwrap();
    let report =
        queued::invoke_with_report(&graph, Log::default(), RunConfig::default()).await.unwrap();
    assert_eq!(report.nodes_per_step(), vec![vec!["a", "b"], vec!["saw_own"]]);
    assert_eq!(report.state().n, 12);
}

#[tokio::test]
async fn a_router_of_a_lone_task_sees_its_update() {
    let graph = StateGraph::<Log>::new()
        .add_node("a", |_: Arc<Log>| async { Log::update().n(5) })
        .add_node("five", visit("five"))
        .add_edge(START, "a")
        .add_conditional_edges("a", |s: &Log| (s.n == 5).then_some("five"), ["five"])
        .compile()
        .unwrap();
    let report =
        queued::invoke_with_report(&graph, Log::default(), RunConfig::default()).await.unwrap();
    assert_eq!(report.nodes_per_step(), vec![vec!["a"], vec!["five"]]);
}

/// A planner sending one task per topic to `write`, whose results `collect` reads.
fn map_reduce(topics: &'static [&'static str]) -> StateGraph<Log> {
    StateGraph::<Log>::new()
        .add_node("plan", visit("plan"))
        .add_node("write", |Input(topic): Input<String>| async move {
            // Later topics finish first, so completion order is the reverse of task order.
            let delay = 10 * (5 - topic.len().min(5)) as u64;
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            Log::update().visited(vec![format!("write:{topic}")]).n(1)
        })
        .add_node("collect", visit("collect"))
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            move |_: &Log| {
                topics
                    .iter()
                    .map(|t| graph_core::Send::new("write", t.to_string()))
                    .collect::<Vec<_>>()
            },
            ["write"],
        )
        .add_edge("write", "collect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_run_one_task_each_and_apply_in_emission_order() {
    let graph = map_reduce(&["a", "bb", "a", "dddd"]).compile().unwrap();
    let report =
        queued::invoke_with_report(&graph, Log::default(), RunConfig::default()).await.unwrap();
    assert_eq!(
        report.nodes_per_step(),
        vec![vec!["plan"], vec!["write", "write", "write", "write"], vec!["collect"]]
    );
    assert_eq!(
        report.state().visited,
        visited(&["plan", "write:a", "write:bb", "write:a", "write:dddd", "collect"])
    );
    let ids: Vec<String> = report.steps[1].tasks.iter().map(|t| t.id.to_string()).collect();
    assert_eq!(ids, ["1:send#0", "1:send#1", "1:send#2", "1:send#3"]);
}

#[tokio::test]
async fn pull_tasks_come_before_sends_in_one_step() {
    let graph = map_reduce(&["x"]).add_node("side", visit("side")).add_edge("plan", "side");
    let graph = graph.compile().unwrap();
    let report =
        queued::invoke_with_report(&graph, Log::default(), RunConfig::default()).await.unwrap();
    assert_eq!(report.nodes_per_step(), vec![vec!["plan"], vec!["side", "write"], vec!["collect"]]);
    assert_eq!(report.state().visited, visited(&["plan", "side", "write:x", "collect"]));
}

#[tokio::test]
async fn a_send_with_the_wrong_payload_type_names_node_and_types() {
    let graph = StateGraph::<Log>::new()
        .add_node("plan", visit("plan"))
        .add_node("write", |Input(_): Input<String>| async {})
        .add_edge(START, "plan")
        .add_conditional_edges("plan", |_: &Log| graph_core::Send::new("write", 7_u32), ["write"])
        .compile()
        .unwrap();
    let err = queued::invoke(&graph, Log::default(), RunConfig::default()).await.unwrap_err();
    assert!(
        matches!(&err, GraphError::PayloadType { node, expected, found }
            if node == "write" && *expected == "alloc::string::String" && *found == "u32"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "Send to `write` carries a `u32`, but the node takes `alloc::string::String`"
    );
}

#[tokio::test]
async fn a_send_to_a_state_node_carries_a_whole_state() {
    let graph = StateGraph::<Log>::new()
        .add_node("plan", visit("plan"))
        .add_node("echo", |s: Arc<Log>| async move { Log::update().visited(s.visited.clone()) })
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            |_: &Log| {
                graph_core::Send::new("echo", Log { visited: visited(&["sent"]), n: 0, last: None })
            },
            ["echo"],
        )
        .compile()
        .unwrap();
    let out =
        queued::invoke(&graph, Log::default(), RunConfig::default()).await.unwrap().into_state();
    assert_eq!(out.visited, visited(&["plan", "sent"]));
}

#[tokio::test]
async fn a_command_updates_and_goes_to_its_target_while_static_edges_still_fire() {
    let graph = StateGraph::<Log>::new()
        .add_node_with(
            "a",
            |_: Arc<Log>| async {
                Command::new().update(Log::update().visited(vec!["a".into()])).goto("c")
            },
            NodeOptions::new().destinations(["c"]),
        )
        .add_node("b", visit("b"))
        .add_node("c", visit("c"))
        .add_edge(START, "a")
        .add_edge("a", "b")
        .compile()
        .unwrap();
    let report =
        queued::invoke_with_report(&graph, Log::default(), RunConfig::default()).await.unwrap();
    assert_eq!(report.nodes_per_step(), vec![vec!["a"], vec!["b", "c"]]);
    assert_eq!(report.state().visited, visited(&["a", "b", "c"]));
}

#[tokio::test]
async fn a_command_can_send() {
    let graph = StateGraph::<Log>::new()
        .add_node_with(
            "a",
            |_: Arc<Log>| async {
                Command::<Log>::new()
                    .goto([graph_core::Send::new("w", 1_u8), graph_core::Send::new("w", 2_u8)])
            },
            NodeOptions::new().destinations(["w"]),
        )
        .add_node("w", |Input(x): Input<u8>| async move { Log::update().n(u64::from(x)) })
        .add_edge(START, "a")
        .compile()
        .unwrap();
    let report =
        queued::invoke_with_report(&graph, Log::default(), RunConfig::default()).await.unwrap();
    assert_eq!(report.nodes_per_step(), vec![vec!["a"], vec!["w", "w"]]);
    assert_eq!(report.state().n, 3);
}

#[tokio::test]
async fn a_command_to_an_unknown_node_is_an_error() {
    let graph = StateGraph::<Log>::new()
        .add_node("a", |_: Arc<Log>| async { Command::<Log>::new().goto("nowhere") })
        .add_edge(START, "a")
        .compile()
        .unwrap();
    let err = queued::invoke(&graph, Log::default(), RunConfig::default()).await.unwrap_err();
    assert_eq!(err.to_string(), "a Command from `a` routed to `nowhere`: no node has that name");
}

#[tokio::test]
async fn a_router_returning_an_undeclared_target_is_an_error() {
    let graph = StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("b", visit("b"))
        .add_node("c", visit("c"))
        .add_edge(START, "a")
        .add_conditional_edges("a", |_: &Log| "c", ["b"])
        .compile()
        .unwrap();
    let err = queued::invoke(&graph, Log::default(), RunConfig::default()).await.unwrap_err();
    assert!(matches!(&err, GraphError::InvalidRoute { target, .. } if target == "c"));
    assert_eq!(
        err.to_string(),
        "the router of `a` routed to `c`: it is not among the declared targets [b]; declare it in add_conditional_edges"
    );
    // END must be declared too.
    let graph = StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("b", visit("b"))
        .add_edge(START, "a")
        .add_conditional_edges("a", |_: &Log| END, ["b"])
        .compile()
        .unwrap();
    let err = queued::invoke(&graph, Log::default(), RunConfig::default()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the router of `a` routed to `__end__`: it is not among the declared targets [b]; declare it in add_conditional_edges"
    );
}

#[tokio::test]
async fn routing_by_name_to_a_node_that_needs_a_payload_is_an_error() {
    let graph = StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("w", |Input(_): Input<u8>| async {})
        .add_edge(START, "a")
        .add_conditional_edges("a", |_: &Log| "w", ["w"])
        .compile()
        .unwrap();
    let err = queued::invoke(&graph, Log::default(), RunConfig::default()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the router of `a` routed to `w`: the node takes `Input<u8>`, so only a Send with a payload can start it"
    );
}

#[tokio::test]
async fn a_deferred_node_waits_until_nothing_else_is_left() {
    let build = |options: NodeOptions<Log>| {
        StateGraph::<Log>::new()
            .add_node("a", visit("a"))
            .add_node("a2", visit("a2"))
            .add_node("a3", visit("a3"))
            .add_node("b", visit("b"))
            .add_node_with("sum", visit("sum"), options)
            .add_edge(START, "a")
            .add_edge(START, "b")
            .add_edge("a", "a2")
            .add_edge("a2", "a3")
            .add_edge("a3", "sum")
            .add_edge("b", "sum")
            .compile()
            .unwrap()
    };
    let eager = build(NodeOptions::new());
    let report =
        queued::invoke_with_report(&eager, Log::default(), RunConfig::default()).await.unwrap();
    assert_eq!(
        report.nodes_per_step(),
        vec![vec!["a", "b"], vec!["a2", "sum"], vec!["a3"], vec!["sum"]]
    );

    let deferred = build(NodeOptions::new().defer());
    let report =
        queued::invoke_with_report(&deferred, Log::default(), RunConfig::default()).await.unwrap();
    assert_eq!(report.nodes_per_step(), vec![vec!["a", "b"], vec!["a2"], vec!["a3"], vec!["sum"]]);
    assert_eq!(report.state().visited, visited(&["a", "b", "a2", "a3", "sum"]));
}

fn endless_loop(runs: Arc<AtomicUsize>) -> CompiledGraph<Log> {
    StateGraph::<Log>::new()
        .add_node("spin", move |_: Arc<Log>| {
            runs.fetch_add(1, Ordering::Relaxed);
            async { Log::update().n(1) }
        })
        .add_edge(START, "spin")
        .add_edge("spin", "spin")
        .compile()
        .unwrap()
}

#[tokio::test]
async fn an_endless_loop_fails_after_exactly_the_recursion_limit() {
    let runs = Arc::new(AtomicUsize::new(0));
    let graph = endless_loop(Arc::clone(&runs));
    let err = queued::invoke(&graph, Log::default(), RunConfig::default().recursion_limit(25))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GraphError::RecursionLimit { limit: 25, pending } if pending == &["spin"]),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "recursion limit of 25 supersteps reached; nodes still pending: spin"
    );
    // 25 in each run: the local one and the queued one.
    assert_eq!(runs.load(Ordering::Relaxed), 2 * 25);
}

#[tokio::test]
async fn the_default_recursion_limit_is_ten_thousand_steps() {
    let runs = Arc::new(AtomicUsize::new(0));
    let graph = endless_loop(Arc::clone(&runs));
    let err = graph.invoke(Log::default(), RunConfig::default()).await.unwrap_err();
    assert!(matches!(err, GraphError::RecursionLimit { limit: 10_000, .. }));
    assert_eq!(runs.load(Ordering::Relaxed), 10_000);
}

#[tokio::test]
async fn a_run_that_fits_the_limit_exactly_succeeds() {
    let graph = StateGraph::<Log>::new()
        .add_node("spin", |_: Arc<Log>| async { Log::update().n(1) })
        .add_edge(START, "spin")
        .add_conditional_edges("spin", |s: &Log| if s.n < 3 { "spin" } else { END }, ["spin", END])
        .compile()
        .unwrap();
    let out = queued::invoke(&graph, Log::default(), RunConfig::default().recursion_limit(3))
        .await
        .unwrap()
        .into_state();
    assert_eq!(out.n, 3);
}

#[tokio::test]
async fn two_writes_to_a_last_value_field_in_one_step_name_the_field_and_writers() {
    let graph = StateGraph::<Log>::new()
        .add_node("b", |_: Arc<Log>| async { Log::update().last(Some("b".into())) })
        .add_node("a", |_: Arc<Log>| async { Log::update().last(Some("a".into())) })
        .add_node("c", visit("c"))
        .add_edge(START, "a")
        .add_edge(START, "b")
        .add_edge(START, "c")
        .compile()
        .unwrap();
    let err = queued::invoke(&graph, Log::default(), RunConfig::default()).await.unwrap_err();
    match &err {
        GraphError::InvalidUpdate {
            step: 0,
            source: InvalidUpdate::ConflictingWrites { field, writers },
        } => {
            assert_eq!(*field, "last");
            assert_eq!(writers, &["a", "b"]);
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "invalid update in step 0: field `last` has no reducer and takes one write per step, but it was written by a, b; add a reducer such as `#[reducer(overwrite)]` or `#[reducer(append)]`"
    );
}

#[tokio::test]
async fn last_value_writes_in_different_steps_replace_each_other() {
    let graph = StateGraph::<Log>::new()
        .add_node("a", |_: Arc<Log>| async { Log::update().last(Some("a".into())) })
        .add_node("b", |_: Arc<Log>| async { Log::update().last(Some("b".into())) })
        .add_edge(START, "a")
        .add_edge("a", "b")
        .compile()
        .unwrap();
    let out =
        queued::invoke(&graph, Log::default(), RunConfig::default()).await.unwrap().into_state();
    assert_eq!(out.last.as_deref(), Some("b"));
}

#[tokio::test]
async fn invoke_takes_a_whole_state_or_an_update_of_the_default() {
    let graph =
        StateGraph::<Log>::new().add_node("a", visit("a")).add_edge(START, "a").compile().unwrap();
    let whole = Log { visited: visited(&["x"]), n: 40, last: Some("kept".into()) };
    let out = queued::invoke(&graph, whole, RunConfig::default()).await.unwrap().into_state();
    assert_eq!(out, Log { visited: visited(&["x", "a"]), n: 41, last: Some("kept".into()) });

    let out = queued::invoke(&graph, Log::update().n(7), RunConfig::default())
        .await
        .unwrap()
        .into_state();
    assert_eq!(out, Log { visited: visited(&["a"]), n: 8, last: None });
}

#[tokio::test]
async fn a_conditional_edge_from_start_routes_on_the_input() {
    let graph = StateGraph::<Log>::new()
        .add_node("small", visit("small"))
        .add_node("big", visit("big"))
        .add_conditional_edges(
            START,
            |s: &Log| if s.n > 10 { "big" } else { "small" },
            ["small", "big"],
        )
        .compile()
        .unwrap();
    let out = queued::invoke(&graph, Log::update().n(11), RunConfig::default())
        .await
        .unwrap()
        .into_state();
    assert_eq!(out.visited, visited(&["big"]));
    let out = queued::invoke(&graph, Log::update().n(1), RunConfig::default())
        .await
        .unwrap()
        .into_state();
    assert_eq!(out.visited, visited(&["small"]));
}

#[tokio::test]
async fn the_node_context_names_the_task() {
    let graph = StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("who", |_: Arc<Log>, ctx: NodeContext| async move {
            let me = format!("{}@{} #{} {}", ctx.node(), ctx.step(), ctx.attempt(), ctx.task_id());
            Log::update().visited(vec![me])
        })
        .add_edge(START, "a")
        .add_edge("a", "who")
        .compile()
        .unwrap();
    let out =
        queued::invoke(&graph, Log::default(), RunConfig::default()).await.unwrap().into_state();
    assert_eq!(out.visited, visited(&["a", "who@1 #1 1:who"]));
}

#[tokio::test]
async fn nodes_may_return_nothing_or_results() {
    #[derive(Debug)]
    struct Boom;
    impl std::fmt::Display for Boom {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("boom")
        }
    }
    impl std::error::Error for Boom {}

    async fn quiet(_: Arc<Log>) {}
    async fn fallible(s: Arc<Log>) -> Result<LogUpdate, Boom> {
        if s.n > 0 {
            Err(Boom)
        } else {
            Ok(Log::update().visited(vec!["ok".into()]))
        }
    }
    let graph = StateGraph::<Log>::new()
        .add_node("quiet", quiet)
        .add_node("fallible", fallible)
        .add_edge(START, "quiet")
        .add_edge("quiet", "fallible")
        .compile()
        .unwrap();
    let out =
        queued::invoke(&graph, Log::default(), RunConfig::default()).await.unwrap().into_state();
    assert_eq!(out.visited, visited(&["ok"]));

    let err = queued::invoke(&graph, Log::update().n(1), RunConfig::default()).await.unwrap_err();
    match &err {
        GraphError::NodeFailed { node, step: 1, attempt: 1, source } => {
            assert_eq!(node, "fallible");
            assert!(source.downcast_ref::<Boom>().is_some());
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(err.to_string(), "node `fallible` failed in step 1 (attempt 1): boom");
    assert!(std::error::Error::source(&err).unwrap().downcast_ref::<Boom>().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_node_fails_its_task_and_the_graph_keeps_working() {
    let graph = StateGraph::<Log>::new()
        .add_node("ok", visit("ok"))
        .add_node("bad", |s: Arc<Log>| async move {
            if s.n == 0 {
                panic!("bad input");
            }
            Log::update()
        })
        .add_edge(START, "ok")
        .add_edge(START, "bad")
        .compile()
        .unwrap();
    let err = queued::invoke(&graph, Log::default(), RunConfig::default()).await.unwrap_err();
    assert!(
        matches!(&err, GraphError::NodePanicked { node, step: 0, attempt: 1, message }
            if node == "bad" && message == "bad input"),
        "{err:?}"
    );
    let out = queued::invoke(&graph, Log::update().n(1), RunConfig::default())
        .await
        .unwrap()
        .into_state();
    assert_eq!(out.visited, visited(&["ok"]));
}

#[tokio::test]
async fn an_unfinished_join_does_not_run_its_target() {
    // `b` never runs, so the join into `c` never fires and the run simply ends.
    let graph = support::half_joined();
    let report =
        queued::invoke_with_report(&graph, Log::default(), RunConfig::default()).await.unwrap();
    assert_eq!(report.nodes_per_step(), vec![vec!["a"]]);
}

#[allow(dead_code)]
fn _update_type_is_named(_: LogUpdate) {}
