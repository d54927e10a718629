//! Streaming: the exact event sequences of each mode, per-task ordering, values between
//! steps, back-pressure, cancellation on drop, join warnings and the run timeline.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use graph_core::prelude::*;
use graph_core::{Input, RunWarning, StreamEvent, StreamMode, Timeline};
use serde_json::{json, Value};
use support::{half_joined, visit, visit_after, Log, LogUpdate};

/// Collects a run's stream as JSON, the error (if any) as `{"error": ...}`.
async fn events(graph: &CompiledGraph<Log>, config: RunConfig) -> Vec<Value> {
    graph
        .stream(Log::default(), config)
        .map(|item| match item {
            Ok(event) => serde_json::to_value(&event).unwrap(),
            Err(error) => json!({ "error": error.to_string() }),
        })
        .collect()
        .await
}

fn modes(modes: &[StreamMode]) -> RunConfig {
    modes.iter().fold(RunConfig::default(), |config, &mode| config.stream_mode(mode))
}

/// `a` (20 ms) and `b` (10 ms, sends a custom value) in parallel, then `c`.
fn fan_out() -> CompiledGraph<Log> {
    StateGraph::<Log>::new()
        .add_node("a", visit_after("a", 20))
        .add_node("b", |_: Arc<Log>, ctx: NodeContext| async move {
            ctx.emit(json!({ "progress": "half way" })).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            Log::update().visited(vec!["b".into()]).n(1)
        })
        .add_node("c", visit("c"))
        .add_edge(START, "a")
        .add_edge(START, "b")
        .add_join(["a", "b"], "c")
        .compile()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_fan_out_in_each_mode() {
    let graph = fan_out();
    insta::assert_json_snapshot!("fan_out_values", events(&graph, RunConfig::default()).await);
    insta::assert_json_snapshot!(
        "fan_out_updates",
        events(&graph, modes(&[StreamMode::Updates])).await
    );
    insta::assert_json_snapshot!(
        "fan_out_custom",
        events(&graph, modes(&[StreamMode::Custom])).await
    );
    insta::assert_json_snapshot!(
        "fan_out_tasks",
        events(&graph, modes(&[StreamMode::Tasks])).await
    );
    insta::assert_json_snapshot!(
        "fan_out_debug",
        events(&graph, modes(&[StreamMode::Debug])).await
    );
}

#[tokio::test(start_paused = true)]
async fn a_send_map_reduce_streams_every_task() {
    let graph = StateGraph::<Log>::new()
        .add_node("plan", visit("plan"))
        .add_node("work", |Input(i): Input<u64>| async move {
            tokio::time::sleep(Duration::from_millis(10 * (3 - i))).await;
            Log::update().n(i)
        })
        .add_node("sum", visit("sum"))
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            |_: &Log| (0..3_u64).map(|i| graph_core::Send::new("work", i)).collect::<Vec<_>>(),
            ["work"],
        )
        .add_edge("work", "sum")
        .compile()
        .unwrap();
    let config = modes(&[StreamMode::Updates, StreamMode::Tasks]);
    insta::assert_json_snapshot!("map_reduce_updates_tasks", events(&graph, config).await);
}

#[tokio::test(start_paused = true)]
async fn a_failing_task_ends_the_stream_with_its_error() {
    let graph = StateGraph::<Log>::new()
        .add_node("ok", visit_after("ok", 5))
        .add_node("bad", |_: Arc<Log>| async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Err::<LogUpdate, _>("the tool is down")
        })
        .add_edge(START, "ok")
        .add_edge(START, "bad")
        .compile()
        .unwrap();
    insta::assert_json_snapshot!(
        "failure_debug",
        events(&graph, modes(&[StreamMode::Debug])).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_one_task_arrive_in_order() {
    let graph = StateGraph::<Log>::new()
        .add_node("plan", visit("plan"))
        .add_node("work", |Input(i): Input<u64>, ctx: NodeContext| async move {
            ctx.emit(i).await;
            tokio::time::sleep(Duration::from_micros(i % 7 * 100)).await;
            Log::update().n(i)
        })
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            |_: &Log| (0..50_u64).map(|i| graph_core::Send::new("work", i)).collect::<Vec<_>>(),
            ["work"],
        )
        .compile()
        .unwrap();
    let mut stream = graph.stream(Log::default(), modes(&[StreamMode::Debug]));
    let mut seen: std::collections::HashMap<String, Vec<&str>> = Default::default();
    while let Some(event) = stream.next().await {
        let (task, kind) = match event.unwrap() {
            StreamEvent::TaskStart { task_id, .. } => (task_id.to_string(), "start"),
            StreamEvent::Custom { task_id, .. } => (task_id.to_string(), "custom"),
            StreamEvent::Update { task_id, .. } => (task_id.to_string(), "update"),
            StreamEvent::TaskEnd { task_id, .. } => (task_id.to_string(), "end"),
            _ => continue,
        };
        seen.entry(task).or_default().push(kind);
    }
    assert_eq!(seen.len(), 51);
    for (task, kinds) in &seen {
        let expected: &[&str] = if task == "0:plan" {
            &["start", "update", "end"]
        } else {
            &["start", "custom", "update", "end"]
        };
        assert_eq!(kinds, expected, "{task}");
    }
}

#[tokio::test]
async fn values_after_each_step_are_what_the_next_step_sees() {
    // Each node records the state it saw in `last`; `n` counts the steps.
    let seen = |name: &'static str| {
        move |s: Arc<Log>| async move {
            Log::update().visited(vec![format!("{name} saw n={}", s.n)]).n(1)
        }
    };
    let graph = StateGraph::<Log>::new()
        .add_node("a", seen("a"))
        .add_node("b", seen("b"))
        .add_node("c", seen("c"))
        .add_edge(START, "a")
        .add_edge("a", "b")
        .add_edge("b", "c")
        .compile()
        .unwrap();
    let values: Vec<(usize, Arc<Log>)> = graph
        .stream(Log::default(), RunConfig::default())
        .filter_map(|event| async move {
            match event.unwrap() {
                StreamEvent::Values { step, state } => Some((step, state)),
                _ => None,
            }
        })
        .collect()
        .await;
    assert_eq!(values.len(), 3);
    for (step, state) in &values {
        assert_eq!(state.n, *step as u64 + 1);
    }
    // The state after step 0 is what `b` saw in step 1, and so on.
    assert_eq!(values[2].1.visited, ["a saw n=0", "b saw n=1", "c saw n=2"]);
}

#[tokio::test(start_paused = true)]
async fn a_consumer_that_stops_reading_holds_the_run_at_the_buffer_bound() {
    let emitted = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    struct Guard(Arc<AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let (counter, drops) = (Arc::clone(&emitted), Arc::clone(&dropped));
    let graph = StateGraph::<Log>::new()
        .add_node("chatty", move |_: Arc<Log>, ctx: NodeContext| {
            let (counter, guard) = (Arc::clone(&counter), Guard(Arc::clone(&drops)));
            async move {
                let _guard = guard;
                for i in 0..10_000 {
                    ctx.emit(i).await;
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
        .add_node("other", visit_after("other", 1))
        .add_edge(START, "chatty")
        .add_edge(START, "other")
        .compile()
        .unwrap();
    let config = modes(&[StreamMode::Custom]).stream_buffer(16);
    let mut stream = graph.stream(Log::default(), config);
    let first = stream.next().await.unwrap().unwrap();
    assert!(matches!(first, StreamEvent::Custom { .. }));
    // The spawned task keeps running, but only until the buffer is full again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = emitted.load(Ordering::SeqCst);
    assert!(sent <= 16 + 1, "{sent} events sent past a 16-event buffer");
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    drop(stream);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "dropping the stream ends the run's tasks");
    assert!(emitted.load(Ordering::SeqCst) <= 16 + 1);
}

#[tokio::test]
async fn a_join_left_waiting_is_reported() {
    let graph = half_joined();
    let warning = RunWarning::JoinNeverFired {
        target: "c".into(),
        ran: vec!["a".into()],
        waiting_for: vec!["b".into()],
    };
    let warnings: Vec<RunWarning> = graph
        .stream(Log::default(), RunConfig::default())
        .filter_map(|e| async move {
            match e.unwrap() {
                StreamEvent::Warning { warning } => Some(warning),
                _ => None,
            }
        })
        .collect()
        .await;
    assert_eq!(warnings, std::slice::from_ref(&warning));
    assert_eq!(warning.to_string(), "join into `c` never fired: a ran, but b never did");

    let err = graph.invoke(Log::default(), RunConfig::default().strict(true)).await.unwrap_err();
    assert!(matches!(&err, GraphError::StrictWarning(w) if *w == warning));
    // Without the strict option, invoke succeeds.
    graph.invoke(Log::default(), RunConfig::default()).await.unwrap().into_state();
}

#[tokio::test(start_paused = true)]
async fn the_timeline_of_a_fan_out_shows_overlapping_bars() {
    let graph = StateGraph::<Log>::new()
        .add_node("weather", visit_after("weather", 120))
        .add_node("news", visit_after("news", 200))
        .add_node("calendar", visit_after("calendar", 80))
        .add_node("summary", visit_after("summary", 10))
        .add_edge(START, "weather")
        .add_edge(START, "news")
        .add_edge(START, "calendar")
        .add_join(["weather", "news", "calendar"], "summary")
        .compile()
        .unwrap();
    let events: Vec<_> = graph.stream(Log::default(), modes(&[StreamMode::Tasks])).collect().await;
    let timeline = Timeline::from_events(events.iter().flatten());
    insta::assert_snapshot!("fan_out_gantt", timeline.to_gantt());
    insta::assert_snapshot!("fan_out_table", timeline.to_table());
}

/// Messages mode with plain JSON values: what a node sends, then what it returns that it did
/// not send (by `id`); nothing at all when the mode is off.
#[tokio::test]
async fn the_messages_mode_sends_values_and_returned_messages_once_each() {
    fn returned(update: &LogUpdate) -> Vec<Value> {
        update
            .visited
            .iter()
            .flatten()
            .map(|name| json!({ "id": name, "text": format!("returned {name}") }))
            .collect()
    }
    let graph = StateGraph::<Log>::new()
        .add_node("talk", |_: Arc<Log>, ctx: NodeContext| async move {
            ctx.send_message(json!({ "id": "m1", "text": "Hel" })).await;
            ctx.send_message(json!({ "id": "m1", "text": "lo" })).await;
            ctx.send_message(json!({ "text": "no id" })).await;
            Log::update().visited(vec!["m1".into(), "m2".into()])
        })
        .add_edge(START, "talk")
        .stream_messages_from(returned)
        .compile()
        .unwrap();
    let event = |message: Value| json!({ "event": "message", "step": 0, "node": "talk", "task_id": "0:talk", "message": message });
    assert_eq!(
        events(&graph, modes(&[StreamMode::Messages])).await,
        vec![
            event(json!({ "id": "m1", "text": "Hel" })),
            event(json!({ "id": "m1", "text": "lo" })),
            event(json!({ "text": "no id" })),
            event(json!({ "id": "m2", "text": "returned m2" })),
            json!({ "event": "done", "state": { "last": null, "n": 0, "visited": ["m1", "m2"] } }),
        ]
    );
    let without: Vec<Value> = events(&graph, modes(&[StreamMode::Updates]))
        .await
        .into_iter()
        .map(|e| e["event"].clone())
        .collect();
    assert_eq!(without, vec![json!("update"), json!("done")]);
}
