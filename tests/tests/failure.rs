//! What failures look like from outside: panics in user code around a node, the failure an
//! error handler sees, and routers that choose nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use graph_core::prelude::*;
use graph_core::{
    Callback, Input, NodeError, NodeFailure, NodeOptions, RetryPolicy, RunWarning, StreamEvent,
    StreamMode,
};

#[derive(State, Clone, Debug, Default, PartialEq)]
struct Work {
    items: Vec<String>,
    #[reducer(append)]
    done: Vec<String>,
    #[reducer(append)]
    failed: Vec<String>,
}

async fn fails(_: Arc<Work>) -> Result<WorkUpdate, NodeError> {
    Err(NodeError::Failed("no answer".into()))
}

#[tokio::test]
async fn a_panicking_error_handler_is_a_typed_error_naming_the_node() {
    let graph = StateGraph::<Work>::new()
        .add_node_with("flaky", fails, NodeOptions::new().on_error(|_| panic!("handler broke")))
        .add_edge(START, "flaky")
        .compile()
        .unwrap();
    let err = graph.invoke(Work::default(), RunConfig::default()).await.unwrap_err();
    assert!(
        matches!(&err, GraphError::CallbackPanicked { node, step: 0, callback: Callback::ErrorHandler, message }
            if node == "flaky" && message == "handler broke"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the error handler of node `flaky` panicked in step 0: handler broke"
    );
}

#[tokio::test]
async fn a_panicking_retry_predicate_is_a_typed_error_naming_the_node() {
    let policy = RetryPolicy::new(3).retry_if(|_| panic!("predicate broke"));
    let graph = StateGraph::<Work>::new()
        .add_node_with("flaky", fails, NodeOptions::new().retry(policy))
        .add_edge(START, "flaky")
        .compile()
        .unwrap();
    let err = graph.invoke(Work::default(), RunConfig::default()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the retry predicate of node `flaky` panicked in step 0: predicate broke"
    );
    assert!(matches!(err, GraphError::CallbackPanicked { callback: Callback::RetryPredicate, .. }));
}

/// Also with siblings running on the join set, so the multi-task path is covered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_among_siblings_is_not_reported_as_a_cancellation() {
    let graph = StateGraph::<Work>::new()
        .add_node_with("flaky", fails, NodeOptions::new().on_error(|_| panic!("handler broke")))
        .add_node("fine", |_: Arc<Work>| async { Work::update().done(vec!["fine".into()]) })
        .add_edge(START, "flaky")
        .add_edge(START, "fine")
        .compile()
        .unwrap();
    let err = graph.invoke(Work::default(), RunConfig::default()).await.unwrap_err();
    assert!(
        matches!(&err, GraphError::CallbackPanicked { node, callback: Callback::ErrorHandler, .. } if node == "flaky"),
        "{err:?}"
    );
}

fn plan(state: &Work) -> Vec<graph_core::Send> {
    state.items.iter().map(|item| graph_core::Send::new("work", item.clone())).collect()
}

async fn work(Input(item): Input<String>) -> Result<WorkUpdate, NodeError> {
    if item.starts_with("bad") {
        return Err(NodeError::Failed(format!("cannot do {item}").into()));
    }
    Ok(Work::update().done(vec![item]))
}

/// A best-effort fan-out: the handler records which work item failed, from its payload and
/// task id.
fn fan_out() -> CompiledGraph<Work> {
    let record = |failure: &NodeFailure| {
        let item = failure.payload::<String>().expect("a String work item");
        assert_eq!(failure.payload::<u32>(), None, "another type gives None");
        Work::update().failed(vec![format!(
            "{item} in task {} ({}; payload {})",
            failure.task_id,
            failure.error,
            failure.payload_json().unwrap()
        )])
    };
    StateGraph::<Work>::new()
        .add_node("plan", |_: Arc<Work>| async {})
        .add_node_with("work", work, NodeOptions::new().on_error(record))
        .add_node("report", |_: Arc<Work>| async {})
        .add_edge(START, "plan")
        .add_conditional_edges("plan", plan, ["work"])
        .add_edge("work", "report")
        .compile()
        .unwrap()
}

#[tokio::test]
async fn an_error_handler_sees_the_task_id_and_the_work_item() {
    let input = Work::update().items(vec!["a".into(), "bad-b".into(), "c".into(), "bad-d".into()]);
    let out = fan_out().invoke(input, RunConfig::default()).await.unwrap().into_state();
    assert_eq!(out.done, ["a", "c"]);
    assert_eq!(
        out.failed,
        [
            r#"bad-b in task 1:send#1 (cannot do bad-b; payload "bad-b")"#,
            r#"bad-d in task 1:send#3 (cannot do bad-d; payload "bad-d")"#,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_payload_survives_retries_for_the_handler() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let graph = StateGraph::<Work>::new()
        .add_node("plan", |_: Arc<Work>| async {})
        .add_node_with(
            "work",
            work,
            NodeOptions::new()
                .retry(RetryPolicy::new(3).initial_interval(Duration::from_millis(10)))
                .on_error(move |failure| {
                    log.lock()
                        .unwrap()
                        .push((failure.attempt, failure.payload::<String>().cloned()));
                    Work::update()
                }),
        )
        .add_edge(START, "plan")
        .add_conditional_edges("plan", plan, ["work"])
        .compile()
        .unwrap();
    graph
        .invoke(Work::update().items(vec!["bad".into()]), RunConfig::default())
        .await
        .unwrap()
        .into_state();
    assert_eq!(*seen.lock().unwrap(), [(3, Some("bad".to_owned()))]);
}

#[tokio::test]
async fn a_router_that_chooses_nothing_is_a_warning() {
    let mut stream = fan_out().stream(Work::default(), RunConfig::default());
    let mut warnings = Vec::new();
    while let Some(event) = stream.next().await {
        if let StreamEvent::Warning { warning } = event.unwrap() {
            warnings.push(warning);
        }
    }
    assert_eq!(warnings, [RunWarning::NoDestination { node: "plan".into() }]);
    assert_eq!(
        warnings[0].to_string(),
        "the router of `plan` chose no destination, so its branch ended; return END to end it on purpose"
    );
}

#[tokio::test]
async fn a_router_that_chooses_nothing_fails_a_strict_run() {
    let err =
        fan_out().invoke(Work::default(), RunConfig::default().strict(true)).await.unwrap_err();
    assert!(
        matches!(&err, GraphError::StrictWarning(RunWarning::NoDestination { node }) if node == "plan"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_router_that_chooses_end_is_not_a_warning() {
    let graph = StateGraph::<Work>::new()
        .add_node("a", |_: Arc<Work>| async {})
        .add_edge(START, "a")
        .add_conditional_edges("a", |_: &Work| END, [END])
        .compile()
        .unwrap();
    let config = RunConfig::default().strict(true).stream_mode(StreamMode::Updates);
    let events: Vec<_> = graph.stream(Work::default(), config).collect().await;
    assert!(events.iter().all(|e| !matches!(e, Ok(StreamEvent::Warning { .. }))));
    assert!(matches!(events.last(), Some(Ok(StreamEvent::Done { .. }))));
}

fn keep_short(current: &mut String, update: String) {
    assert!(update.len() < 10, "too long: {update}");
    *current = update;
}

#[derive(State, Clone, Debug, Default)]
struct Note {
    #[reducer(with = keep_short)]
    text: String,
}

#[tokio::test]
async fn a_reducer_panicking_on_the_run_input_names_the_input() {
    let graph = StateGraph::<Note>::new()
        .add_node("read", |_: Arc<Note>| async {})
        .add_edge(START, "read")
        .compile()
        .unwrap();
    let input = Note::update().text("far too long for this field");
    let err = graph.invoke(input, RunConfig::default()).await.unwrap_err();
    assert!(
        matches!(&err, GraphError::CallbackPanicked { node, step: 0, callback: Callback::Reducer, message }
            if node == "__input__" && message == "too long: far too long for this field"),
        "{err:?}"
    );
}
