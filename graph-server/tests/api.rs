//! The HTTP API end to end, through the router: exact bodies, statuses and event sequences.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use graph_core::prelude::*;
use graph_core::InterruptError;
use graph_server::Server;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

#[derive(
    State, Clone, Debug, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
struct Notes {
    #[reducer(append)]
    items: Vec<String>,
    answer: Option<String>,
}

async fn add(_: Arc<Notes>) -> NotesUpdate {
    Notes::update().items(vec!["a".into()])
}

async fn ask(_: Arc<Notes>, ctx: NodeContext) -> Result<NotesUpdate, InterruptError> {
    let answer: String = ctx.interrupt(json!({"question": "ok?"}))?;
    Ok(Notes::update().answer(Some(answer)))
}

async fn slow(_: Arc<Notes>) -> NotesUpdate {
    tokio::time::sleep(Duration::from_millis(1000)).await;
    Notes::update().items(vec!["slow".into()])
}

/// `notes`: `a` then `ask`, which asks a question. `slow`: one node that takes a second, so
/// a test can act while it runs.
fn server() -> Server {
    let notes = StateGraph::<Notes>::new()
        .add_node("a", add)
        .add_node("ask", ask)
        .add_edge(START, "a")
        .add_edge("a", "ask")
        .compile()
        .unwrap();
    let slow = StateGraph::<Notes>::new()
        .add_node("slow", slow)
        .add_edge(START, "slow")
        .compile()
        .unwrap();
    Server::new().graph("notes", notes).graph("slow", slow)
}

/// Sends a request; returns the status and the body as JSON (`null` when empty).
async fn call(app: &Router, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    call_as(app, None, method, uri, body).await
}

async fn call_as(
    app: &Router,
    key: Option<&str>,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let body = body.map_or(Body::empty(), |body| Body::from(body.to_string()));
    let response = app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    (status, body)
}

/// A server-sent event: its id, name and data.
type Sse = (u64, String, Value);

/// Posts a run and reads its whole event stream.
async fn stream(app: &Router, uri: &str, body: Value) -> Vec<Sse> {
    let request = Request::post(uri).body(Body::from(body.to_string())).unwrap();
    read_events(app.clone().oneshot(request).await.unwrap()).await
}

async fn read_events(response: axum::response::Response) -> Vec<Sse> {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    text.split("\n\n")
        .filter(|block| block.contains("data:"))
        .map(|block| {
            let field = |name: &str| {
                block.lines().find_map(|line| line.strip_prefix(name)).unwrap().trim().to_owned()
            };
            (
                field("id:").parse().unwrap(),
                field("event:"),
                serde_json::from_str(&field("data:")).unwrap(),
            )
        })
        .collect()
}

/// The events without their ids, and the metadata event's run id replaced.
fn named(events: &[Sse]) -> Vec<(String, Value)> {
    events
        .iter()
        .map(|(_, name, data)| match name.as_str() {
            "metadata" => (name.clone(), json!({"attempt": data["attempt"]})),
            _ => (name.clone(), data.clone()),
        })
        .collect()
}

/// Waits until thread `thread`'s next nodes are `next`: its run has saved the checkpoint
/// before them.
async fn until_next(app: &Router, thread: &str, next: Value) {
    for _ in 0..2000 {
        let (_, state) = call(app, "GET", &format!("/threads/{thread}/state"), None).await;
        if state["next"] == next {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("thread {thread} never reached {next}");
}

async fn new_thread(app: &Router) -> String {
    let (status, thread) = call(app, "POST", "/threads", Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    thread["thread_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn each_graph_is_an_assistant_under_its_name_and_its_derived_uuid() {
    let app = server().router();
    let (status, found) = call(&app, "POST", "/assistants/search", Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<(&str, &str)> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["graph_id"].as_str().unwrap(), a["assistant_id"].as_str().unwrap()))
        .collect();
    // The LangGraph Platform's ids for these names: uuid5 of the name in its namespace.
    assert_eq!(
        ids,
        [
            ("notes", "d5041ea1-17e3-5fca-acb5-2dd80987bcfc"),
            ("slow", "cad1b5ad-d177-59d1-ab39-5e327188ed3a")
        ]
    );
    let (status, by_uuid) = call(&app, "GET", &format!("/assistants/{}", ids[1].1), None).await;
    assert_eq!((status, &by_uuid["graph_id"]), (StatusCode::OK, &json!("slow")));
    let (status, graph) = call(&app, "GET", "/assistants/notes/graph", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        graph["edges"],
        json!([{"source": "__start__", "target": "a", "conditional": false},
               {"source": "a", "target": "ask", "conditional": false}])
    );
    assert!(graph["mermaid"].as_str().unwrap().starts_with("flowchart TD"));
    let (status, error) = call(&app, "GET", "/assistants/nope", None).await;
    assert_eq!(
        (status, error),
        (StatusCode::NOT_FOUND, json!({"detail": "assistant `nope` not found"}))
    );
}

#[tokio::test]
async fn a_streamed_run_pauses_and_a_waited_resume_finishes_it() {
    let app = server().router();
    let thread = new_thread(&app).await;
    let events = stream(
        &app,
        &format!("/threads/{thread}/runs/stream"),
        json!({"assistant_id": "notes", "input": {"items": ["x"]}, "stream_mode": ["updates", "values"]}),
    )
    .await;
    let ids: Vec<u64> = events.iter().map(|(id, ..)| *id).collect();
    assert_eq!(ids, (0..events.len() as u64).collect::<Vec<_>>());
    let interrupt = json!([{"value": {"question": "ok?"}, "id": "1:ask#0"}]);
    assert_eq!(
        named(&events),
        [
            ("metadata".into(), json!({"attempt": 1})),
            ("updates".into(), json!({"a": {"items": ["a"]}})),
            ("values".into(), json!({"items": ["x", "a"], "answer": null})),
            ("updates".into(), json!({"__interrupt__": interrupt})),
            (
                "values".into(),
                json!({"items": ["x", "a"], "answer": null, "__interrupt__": interrupt})
            ),
        ]
    );
    let (_, paused) = call(&app, "GET", &format!("/threads/{thread}"), None).await;
    assert_eq!(paused["status"], "interrupted");
    assert_eq!(paused["interrupts"], json!({"ask": interrupt}));
    assert_eq!(paused["metadata"]["graph_id"], "notes");

    let (status, done) = call(
        &app,
        "POST",
        &format!("/threads/{thread}/runs/wait"),
        Some(json!({"assistant_id": "notes", "command": {"resume": "yes"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(done, json!({"items": ["x", "a"], "answer": "yes"}));
    let (_, thread_now) = call(&app, "GET", &format!("/threads/{thread}"), None).await;
    assert_eq!((&thread_now["status"], &thread_now["values"]), (&json!("idle"), &done));

    let (status, state) = call(&app, "GET", &format!("/threads/{thread}/state"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((&state["values"], &state["next"]), (&done, &json!([])));
    let (_, history) =
        call(&app, "GET", &format!("/threads/{thread}/history?limit=100"), None).await;
    let history = history.as_array().unwrap();
    assert_eq!(history[0]["checkpoint"], state["checkpoint"]);
    assert_eq!(history[0]["parent_checkpoint"], history[1]["checkpoint"]);
    let before = &history[0]["checkpoint"]["checkpoint_id"];
    let (_, older) = call(
        &app,
        "POST",
        &format!("/threads/{thread}/history"),
        Some(json!({"limit": 1, "before": {"configurable": {"checkpoint_id": before}}})),
    )
    .await;
    assert_eq!(older, json!([history[1]]));

    let (_, runs) = call(&app, "GET", &format!("/threads/{thread}/runs"), None).await;
    let statuses: Vec<&Value> = runs.as_array().unwrap().iter().map(|r| &r["status"]).collect();
    assert_eq!(statuses, [&json!("success"), &json!("interrupted")]);
}

#[tokio::test]
async fn a_background_run_is_joined_and_its_stream_rejoined_after_any_event() {
    let app = server().router();
    let thread = new_thread(&app).await;
    let (status, run) = call(
        &app,
        "POST",
        &format!("/threads/{thread}/runs"),
        Some(json!({"assistant_id": "slow", "input": {}, "stream_mode": "updates"})),
    )
    .await;
    assert_eq!((status, &run["status"]), (StatusCode::OK, &json!("pending")));
    let run_url = format!("/threads/{thread}/runs/{}", run["run_id"].as_str().unwrap());
    let (status, joined) = call(&app, "GET", &format!("{run_url}/join"), None).await;
    assert_eq!((status, joined), (StatusCode::OK, json!({"items": ["slow"], "answer": null})));
    let (_, run) = call(&app, "GET", &run_url, None).await;
    assert_eq!(run["status"], "success");

    let all = read_events(
        app.clone()
            .oneshot(Request::get(format!("{run_url}/stream")).body(Body::empty()).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        named(&all),
        [
            ("metadata".into(), json!({"attempt": 1})),
            ("updates".into(), json!({"slow": {"items": ["slow"]}}))
        ]
    );
    let request =
        Request::get(format!("{run_url}/stream")).header("last-event-id", "0").body(Body::empty());
    let rest = read_events(app.clone().oneshot(request.unwrap()).await.unwrap()).await;
    assert_eq!(rest, all[1..]);
}

#[tokio::test]
async fn a_busy_thread_rejects_enqueues_or_interrupts_as_asked() {
    busy_thread_strategies(&server().router()).await;
}

async fn busy_thread_strategies(app: &Router) {
    let app = app.clone();
    let thread = new_thread(&app).await;
    let runs = format!("/threads/{thread}/runs");
    let start = |strategy: &str| json!({"assistant_id": "slow", "input": {}, "multitask_strategy": strategy});
    let (_, first) = call(&app, "POST", &runs, Some(start("reject"))).await;
    let (status, refused) = call(&app, "POST", &runs, Some(start("reject"))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        refused["detail"],
        format!("thread `{thread}` is busy with run `{}`", first["run_id"].as_str().unwrap())
    );
    let (_, queued) = call(&app, "POST", &runs, Some(start("enqueue"))).await;
    let (_, after_queue) =
        call(&app, "GET", &format!("{runs}/{}/join", queued["run_id"].as_str().unwrap()), None)
            .await;
    // The queued run started from the first one's state, so both appended.
    assert_eq!(after_queue["items"], json!(["slow", "slow"]));

    let (_, third) = call(&app, "POST", &runs, Some(start("reject"))).await;
    let (_, fourth) = call(&app, "POST", &runs, Some(start("interrupt"))).await;
    let (_, last) =
        call(&app, "GET", &format!("{runs}/{}/join", fourth["run_id"].as_str().unwrap()), None)
            .await;
    assert_eq!(last["items"], json!(["slow", "slow", "slow"]));
    let (_, third) =
        call(&app, "GET", &format!("{runs}/{}", third["run_id"].as_str().unwrap()), None).await;
    assert_eq!(third["status"], "interrupted");
}

#[tokio::test]
async fn a_cancelled_run_stops_and_a_finished_one_cannot_be_cancelled() {
    cancelling(&server().router()).await;
}

async fn cancelling(app: &Router) {
    let app = app.clone();
    let thread = new_thread(&app).await;
    let (_, run) = call(
        &app,
        "POST",
        &format!("/threads/{thread}/runs"),
        Some(json!({"assistant_id": "slow", "input": {}})),
    )
    .await;
    let run_url = format!("/threads/{thread}/runs/{}", run["run_id"].as_str().unwrap());
    let (status, result) = call(&app, "POST", &format!("{run_url}/cancel?wait=true"), None).await;
    assert_eq!((status, result), (StatusCode::OK, Value::Null));
    let (_, run) = call(&app, "GET", &run_url, None).await;
    assert_eq!(run["status"], "interrupted");
    let (status, _) = call(&app, "POST", &format!("{run_url}/cancel"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, thread) = call(&app, "GET", &format!("/threads/{thread}"), None).await;
    assert_eq!((&thread["status"], &thread["values"]), (&json!("idle"), &Value::Null));
}

/// [`server`] with `review` too: it asks a question, then takes a second over the answer.
fn with_review(server: Server) -> Server {
    let review = StateGraph::<Notes>::new()
        .add_node("ask", ask)
        .add_node("slow", slow)
        .add_edge(START, "ask")
        .add_edge("ask", "slow")
        .compile()
        .unwrap();
    server.graph("review", review)
}

#[tokio::test]
async fn a_rolled_back_run_leaves_no_trace_in_its_thread() {
    rolling_back(&with_review(server()).router()).await;
}

/// Each state of thread `thread`'s history, newest first: its values and next nodes.
async fn history(app: &Router, thread: &str) -> Vec<(Value, Value)> {
    let uri = format!("/threads/{thread}/history");
    let (status, history) = call(app, "POST", &uri, Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    let states = history.as_array().unwrap().iter();
    states.map(|state| (state["values"].clone(), state["next"].clone())).collect()
}

async fn rolling_back(app: &Router) {
    let app = app.clone();
    // As a strategy: the run in progress is undone, and the next starts as if it never ran.
    let thread = new_thread(&app).await;
    let runs = format!("/threads/{thread}/runs");
    let start = |item: &str, strategy: &str| json!({"assistant_id": "slow", "input": {"items": [item]}, "multitask_strategy": strategy});
    let (_, undone) = call(&app, "POST", &runs, Some(start("y", "enqueue"))).await;
    until_next(&app, &thread, json!(["slow"])).await;
    let (_, next) = call(&app, "POST", &runs, Some(start("z", "rollback"))).await;
    let next_id = next["run_id"].as_str().unwrap();
    let (_, joined) = call(&app, "GET", &format!("{runs}/{next_id}/join"), None).await;
    assert_eq!(joined, json!({"items": ["z", "slow"], "answer": null}));
    let undone_url = format!("{runs}/{}", undone["run_id"].as_str().unwrap());
    let (status, _) = call(&app, "GET", &undone_url, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the undone run's record is gone");
    let (_, listed) = call(&app, "GET", &runs, None).await;
    let listed: Vec<&Value> = listed.as_array().unwrap().iter().map(|r| &r["run_id"]).collect();
    assert_eq!(listed, [&next["run_id"]]);
    let (_, shown) = call(&app, "GET", &format!("{runs}/{next_id}"), None).await;
    assert_eq!(shown["run_id"], next["run_id"]);
    assert!(shown.get("started_at").is_none(), "where a run started is the server's own");
    let only_z = new_thread(&app).await;
    let body = json!({"assistant_id": "slow", "input": {"items": ["z"]}});
    call(&app, "POST", &format!("/threads/{only_z}/runs/wait"), Some(body)).await;
    assert_eq!(
        history(&app, &thread).await,
        history(&app, &only_z).await,
        "the thread's history is that of a thread where only the second run ran"
    );

    // Asked of a run resuming a pause: the thread is paused again, exactly as before, and
    // the answer the run was given is gone with it.
    let thread = new_thread(&app).await;
    let runs = format!("/threads/{thread}/runs");
    let ask = json!({"assistant_id": "review", "input": {}});
    let (_, paused) = call(&app, "POST", &format!("{runs}/wait"), Some(ask)).await;
    assert_eq!(paused["__interrupt__"][0]["value"], json!({"question": "ok?"}));
    let state_url = format!("/threads/{thread}/state");
    let (_, paused_state) = call(&app, "GET", &state_url, None).await;
    let (_, paused_thread) = call(&app, "GET", &format!("/threads/{thread}"), None).await;
    let paused_history = history(&app, &thread).await;
    let resume = |answer: &str| json!({"assistant_id": "review", "command": {"resume": answer}});
    let (_, resumed) = call(&app, "POST", &runs, Some(resume("yes"))).await;
    until_next(&app, &thread, json!(["slow"])).await;
    let resumed_url = format!("{runs}/{}", resumed["run_id"].as_str().unwrap());
    let cancel = format!("{resumed_url}/cancel?action=rollback&wait=true");
    assert_eq!(call(&app, "POST", &cancel, None).await, (StatusCode::OK, Value::Null));
    assert_eq!(call(&app, "GET", &resumed_url, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(call(&app, "GET", &state_url, None).await.1, paused_state);
    assert_eq!(history(&app, &thread).await, paused_history);
    let (_, thread_now) = call(&app, "GET", &format!("/threads/{thread}"), None).await;
    for field in ["status", "values", "interrupts"] {
        assert_eq!(thread_now[field], paused_thread[field], "the thread's {field} is as before");
    }
    let (_, answered) = call(&app, "POST", &format!("{runs}/wait"), Some(resume("no"))).await;
    assert_eq!(answered, json!({"items": ["slow"], "answer": "no"}));
}

#[tokio::test]
async fn bad_requests_get_typed_errors_naming_the_field() {
    let app = server().router();
    let thread = new_thread(&app).await;
    let runs = format!("/threads/{thread}/runs/wait");
    let cases = [
        (json!({"assistant_id": "notes", "input": {"items": "x"}}), "input"),
        (json!({"assistant_id": "notes", "stream_mode": "everything"}), "stream_mode"),
        (json!({"assistant_id": "notes", "multitask_strategy": "later"}), "multitask_strategy"),
        (json!({"assistant_id": "notes", "command": {"goto": "a"}}), "command.goto"),
        (json!({"input": {}}), "body"),
    ];
    for (body, field) in cases {
        let (status, error) = call(&app, "POST", &runs, Some(body.clone())).await;
        assert_eq!(
            (status, &error["field"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!(field)),
            "{body}"
        );
    }
    let (status, error) =
        call(&app, "POST", "/threads/nope/runs", Some(json!({"assistant_id": "notes"}))).await;
    assert_eq!(
        (status, error),
        (StatusCode::NOT_FOUND, json!({"detail": "thread `nope` not found"}))
    );
    let request = Request::post("/threads").body(Body::from("{not json")).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(&app, "POST", "/threads", Some(json!({"thread_id": thread}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, same) = call(
        &app,
        "POST",
        "/threads",
        Some(json!({"thread_id": thread, "if_exists": "do_nothing"})),
    )
    .await;
    assert_eq!((status, &same["thread_id"]), (StatusCode::OK, &json!(thread)));
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let app = server().body_limit(1024).router();
    let big = json!({"metadata": {"pad": "x".repeat(2048)}});
    let (status, error) = call(&app, "POST", "/threads", Some(big)).await;
    assert_eq!(
        (status, error),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"detail": "the request body is over the server's limit"})
        )
    );
    let (status, _) = call(&app, "POST", "/threads", Some(json!({"metadata": {"pad": "x"}}))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn threads_are_seen_only_with_the_key_that_made_them() {
    let app = server().api_key("alice").api_key("bob").router();
    let (status, _) = call(&app, "POST", "/threads", Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call_as(&app, Some("mallory"), "POST", "/threads", Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, thread) = call_as(&app, Some("alice"), "POST", "/threads", Some(json!({}))).await;
    let url = format!("/threads/{}", thread["thread_id"].as_str().unwrap());
    let wait = json!({"assistant_id": "slow", "input": {}});
    for (method, uri, body) in [
        ("GET", url.clone(), None),
        ("GET", format!("{url}/state"), None),
        ("GET", format!("{url}/history"), None),
        ("POST", format!("{url}/runs/wait"), Some(wait.clone())),
        ("DELETE", url.clone(), None),
    ] {
        let (status, _) = call_as(&app, Some("bob"), method, &uri, body.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}");
        let (status, _) = call_as(&app, None, method, &uri, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}");
    }
    let (_, found) = call_as(&app, Some("bob"), "POST", "/threads/search", Some(json!({}))).await;
    assert_eq!(found, json!([]));
    let (status, done) =
        call_as(&app, Some("alice"), "POST", &format!("{url}/runs/wait"), Some(wait)).await;
    assert_eq!((status, &done["items"]), (StatusCode::OK, &json!(["slow"])));
}

#[tokio::test]
async fn store_items_are_put_found_and_deleted() {
    let app = server().router();
    let put = json!({"namespace": ["users", "u1"], "key": "k1", "value": {"a": 1}});
    let (status, _) = call(&app, "PUT", "/store/items", Some(put)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, item) = call(&app, "GET", "/store/items?namespace=users.u1&key=k1", None).await;
    assert_eq!(
        (status, &item["value"], &item["namespace"]),
        (StatusCode::OK, &json!({"a": 1}), &json!(["users", "u1"]))
    );
    let (_, found) = call(
        &app,
        "POST",
        "/store/items/search",
        Some(json!({"namespace_prefix": ["users"], "filter": {"a": 1}})),
    )
    .await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    let (_, namespaces) = call(&app, "POST", "/store/namespaces", Some(json!({}))).await;
    assert_eq!(namespaces, json!({"namespaces": [["users", "u1"]]}));
    let (status, _) = call(
        &app,
        "DELETE",
        "/store/items",
        Some(json!({"namespace": ["users", "u1"], "key": "k1"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, gone) = call(&app, "GET", "/store/items?namespace=users.u1&key=k1", None).await;
    assert_eq!((status, gone), (StatusCode::OK, Value::Null));
    let (status, error) = call(
        &app,
        "PUT",
        "/store/items",
        Some(json!({"namespace": ["a"], "key": "k", "value": 3})),
    )
    .await;
    assert_eq!((status, &error["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("value")));
}

#[tokio::test]
async fn a_run_without_a_thread_gets_one_that_is_deleted_when_it_ends() {
    let app = server().router();
    let (status, done) =
        call(&app, "POST", "/runs/wait", Some(json!({"assistant_id": "slow", "input": {}}))).await;
    assert_eq!((status, done), (StatusCode::OK, json!({"items": ["slow"], "answer": null})));
    let body = json!({"assistant_id": "slow", "input": {}, "stream_mode": "updates"});
    let events = stream(&app, "/runs/stream", body).await;
    assert_eq!(named(&events)[1], ("updates".into(), json!({"slow": {"items": ["slow"]}})));
    // Without an input there is nothing to start from: the run fails, saying so.
    let events = stream(&app, "/runs/stream", json!({"assistant_id": "slow"})).await;
    assert_eq!(named(&events)[1].0, "error");
    assert_eq!(named(&events)[1].1["error"], "UnknownThread");
    // The temporary threads go once their runs have ended, just after their clients hear.
    let mut threads = json!(null);
    for _ in 0..500 {
        threads = call(&app, "POST", "/threads/count", Some(json!({}))).await.1;
        if threads == json!(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(threads, json!(0));
    let kept = json!({"assistant_id": "slow", "input": {}, "on_completion": "keep"});
    let (_, _) = call(&app, "POST", "/runs/wait", Some(kept)).await;
    let (_, threads) = call(&app, "POST", "/threads/count", Some(json!({}))).await;
    assert_eq!(threads, json!(1));
    let resume = json!({"assistant_id": "notes", "command": {"resume": "yes"}});
    let (status, error) = call(&app, "POST", "/runs/wait", Some(resume)).await;
    assert_eq!(
        (status, &error["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("command.resume"))
    );
}

#[tokio::test]
async fn thread_metadata_merges_and_counts_follow_searches() {
    let app = server().router();
    let thread = new_thread(&app).await;
    let body = json!({"metadata": {"user": "ann", "topic": "mail"}});
    let (status, patched) = call(&app, "PATCH", &format!("/threads/{thread}"), Some(body)).await;
    assert_eq!(
        (status, &patched["metadata"]),
        (StatusCode::OK, &json!({"user": "ann", "topic": "mail"}))
    );
    let (_, patched) = call(
        &app,
        "PATCH",
        &format!("/threads/{thread}"),
        Some(json!({"metadata": {"topic": "bills"}})),
    )
    .await;
    assert_eq!(patched["metadata"], json!({"user": "ann", "topic": "bills"}));
    new_thread(&app).await;
    let (_, all) = call(&app, "POST", "/threads/count", Some(json!({}))).await;
    let (_, anns) =
        call(&app, "POST", "/threads/count", Some(json!({"metadata": {"user": "ann"}}))).await;
    assert_eq!((all, anns), (json!(2), json!(1)));
    let (_, assistants) =
        call(&app, "POST", "/assistants/count", Some(json!({"graph_id": "slow"}))).await;
    assert_eq!(assistants, json!(1));
    let (status, schemas) = call(&app, "GET", "/assistants/notes/schemas", None).await;
    assert_eq!(
        (status, &schemas["graph_id"], &schemas["state_schema"]),
        (StatusCode::OK, &json!("notes"), &Value::Null)
    );
}

#[tokio::test]
async fn a_graph_served_with_its_schema_describes_its_state_and_input() {
    let graph =
        StateGraph::<Notes>::new().add_node("a", add).add_edge(START, "a").compile().unwrap();
    let app = Server::new().graph_with_schema("described", graph).router();
    let (status, schemas) = call(&app, "GET", "/assistants/described/schemas", None).await;
    assert_eq!(status, StatusCode::OK);
    let properties = json!({
        "items": {"type": "array", "items": {"type": "string"}},
        "answer": {"type": ["string", "null"]},
    });
    let state = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Notes",
        "type": "object",
        "properties": properties,
        "required": ["items"],
    });
    let mut input = state.clone();
    input.as_object_mut().unwrap().remove("required");
    assert_eq!(
        schemas,
        json!({"graph_id": "described", "input_schema": input, "output_schema": state,
               "state_schema": state, "config_schema": null, "context_schema": null})
    );
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_server_restarted_on_its_sqlite_file_carries_on_where_it_stopped() {
    let path = std::env::temp_dir().join(format!("graph-server-{}.sqlite", uuid::Uuid::new_v4()));
    let app = server().sqlite(&path).unwrap().router();
    let thread = new_thread(&app).await;
    let body = json!({"assistant_id": "notes", "input": {"items": ["x"]}, "metadata": {"m": 1}});
    let (_, paused) = call(&app, "POST", &format!("/threads/{thread}/runs/wait"), Some(body)).await;
    drop(app);

    let app = server().sqlite(&path).unwrap().router();
    let (status, stored) = call(&app, "GET", &format!("/threads/{thread}"), None).await;
    assert_eq!((status, &stored["status"]), (StatusCode::OK, &json!("interrupted")));
    let (_, state) = call(&app, "GET", &format!("/threads/{thread}/state"), None).await;
    assert_eq!((&state["values"]["items"], &state["next"]), (&json!(["x", "a"]), &json!(["ask"])));
    let (_, runs) = call(&app, "GET", &format!("/threads/{thread}/runs"), None).await;
    assert_eq!(runs[0]["status"], "interrupted");
    assert_eq!(runs[0]["metadata"], json!({"m": 1}));
    let resume = json!({"assistant_id": "notes", "command": {"resume": "yes"}});
    let (_, done) = call(&app, "POST", &format!("/threads/{thread}/runs/wait"), Some(resume)).await;
    assert_eq!(done, json!({"items": ["x", "a"], "answer": "yes"}));
    assert_eq!(paused["__interrupt__"][0]["id"], "1:ask#0");
    let (_, item) = call(
        &app,
        "PUT",
        "/store/items",
        Some(json!({"namespace": ["n"], "key": "k", "value": {"v": 1}})),
    )
    .await;
    assert_eq!(item, Value::Null);
    drop(app);
    let app = server().sqlite(&path).unwrap().router();
    let (_, item) = call(&app, "GET", "/store/items?namespace=n&key=k", None).await;
    assert_eq!(item["value"], json!({"v": 1}));
    let (_, thread_now) = call(&app, "GET", &format!("/threads/{thread}"), None).await;
    assert_eq!((&thread_now["status"], &thread_now["values"]), (&json!("idle"), &done));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn two_servers_on_one_postgres_database_share_threads_and_states() {
    let url = fresh_database("graph_server_api_two").await;
    // Started at once on a new database: each creates the tables, one at a time.
    let (one, two) = tokio::join!(server().postgres(&url), server().postgres(&url));
    let (one, two) = (one.unwrap().router(), two.unwrap().router());
    let thread = new_thread(&one).await;
    let body = json!({"assistant_id": "notes", "input": {"items": ["x"]}});
    call(&one, "POST", &format!("/threads/{thread}/runs/wait"), Some(body)).await;
    let resume = json!({"assistant_id": "notes", "command": {"resume": "yes"}});
    let (status, done) =
        call(&two, "POST", &format!("/threads/{thread}/runs/wait"), Some(resume)).await;
    assert_eq!((status, done), (StatusCode::OK, json!({"items": ["x", "a"], "answer": "yes"})));
    let (_, runs) = call(&one, "GET", &format!("/threads/{thread}/runs"), None).await;
    let statuses: Vec<&Value> = runs.as_array().unwrap().iter().map(|r| &r["status"]).collect();
    assert_eq!(statuses, [&json!("success"), &json!("interrupted")]);
    let (status, _) = call(&two, "DELETE", &format!("/threads/{thread}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&one, "GET", &format!("/threads/{thread}/state"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn runs_asked_of_one_postgres_server_run_on_another_and_stream_from_either() {
    let url = fresh_database("graph_server_api_queue").await;
    // `front` only answers requests; `back`'s workers run the runs.
    let front = with_review(server()).workers(0).postgres(&url).await.unwrap().router();
    let back = with_review(server()).postgres(&url).await.unwrap().router();
    let thread = new_thread(&front).await;
    let body =
        json!({"assistant_id": "notes", "input": {"items": ["x"]}, "stream_mode": ["updates"]});
    let events = stream(&front, &format!("/threads/{thread}/runs/stream"), body).await;
    let ids: Vec<u64> = events.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(ids, [0, 1, 2]);
    assert_eq!(
        named(&events),
        [
            ("metadata".into(), json!({"attempt": 1})),
            ("updates".into(), json!({"a": {"items": ["a"]}})),
            (
                "updates".into(),
                json!({"__interrupt__": [{"value": {"question": "ok?"}, "id": events[2].2["__interrupt__"][0]["id"]}]})
            ),
        ]
    );
    let (_, thread_now) = call(&back, "GET", &format!("/threads/{thread}"), None).await;
    assert_eq!(thread_now["status"], "interrupted");
    let resume = json!({"assistant_id": "notes", "command": {"resume": "yes"}});
    let (status, run) =
        call(&front, "POST", &format!("/threads/{thread}/runs"), Some(resume)).await;
    assert_eq!(status, StatusCode::OK);
    let run_url = format!("/threads/{thread}/runs/{}", run["run_id"].as_str().unwrap());
    let (_, joined) = call(&back, "GET", &format!("{run_url}/join"), None).await;
    assert_eq!(joined, json!({"items": ["x", "a"], "answer": "yes"}));
    // Its events stay for a while, from any server.
    let request = Request::get(format!("{run_url}/stream")).body(Body::empty()).unwrap();
    let rejoined = read_events(front.clone().oneshot(request).await.unwrap()).await;
    assert_eq!(named(&rejoined)[0], ("metadata".into(), json!({"attempt": 1})));
    assert_eq!(rejoined.last().unwrap().1, "values");

    busy_thread_strategies(&front).await;
    cancelling(&front).await;
    rolling_back(&front).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_run_that_cannot_be_read_for_a_while_keeps_its_place_in_its_thread() {
    let url = fresh_database("graph_server_api_unreadable").await;
    let front = server().workers(0).postgres(&url).await.unwrap().router();
    let thread = new_thread(&front).await;
    let runs = format!("/threads/{thread}/runs");
    let start = |item: &str| json!({"assistant_id": "slow", "input": {"items": [item]}});
    let (_, first) = call(&front, "POST", &runs, Some(start("x"))).await;
    let (_, second) = call(&front, "POST", &runs, Some(start("y"))).await;
    // The first run's record cannot be read for a while after a worker takes it.
    let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let first_id = first["run_id"].as_str().unwrap();
    let select = "SELECT body FROM graph_server_runs WHERE run_id = $1";
    let body: String = db.query_one(select, &[&first_id]).await.unwrap().get(0);
    let set = "UPDATE graph_server_runs SET body = $2 WHERE run_id = $1";
    db.execute(set, &[&first_id, &"unreadable"]).await.unwrap();
    let _back = server().postgres(&url).await.unwrap().router();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    db.execute(set, &[&first_id, &body]).await.unwrap();
    let second_url = format!("{runs}/{}", second["run_id"].as_str().unwrap());
    let (_, joined) = call(&front, "GET", &format!("{second_url}/join"), None).await;
    assert_eq!(joined["items"], json!(["x", "slow", "y", "slow"]), "the first run ran first");
}

#[cfg(feature = "postgres")]
/// A new, empty database named `name` on the test server (`DATABASE_URL`), and its URL. Each
/// test has its own, so that one test's workers never take another's runs: a test's
/// workers stop with its runtime, and runs they had taken would wait for another worker to
/// find them dead.
async fn fresh_database(name: &str) -> String {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let (base, query) = url.split_once('?').map_or((url.as_str(), ""), |(b, q)| (b, q));
        let path = base.find("://").map_or(0, |at| at + 3);
        let host = base[path..].find('/').map_or(base, |slash| &base[..path + slash]);
        let query = if query.is_empty() { String::new() } else { format!("?{query}") };
        format!("{host}/{name}{query}")
    } else {
        format!("{url} dbname={name}")
    }
}

#[cfg(feature = "postgres")]
/// Ends every PostgreSQL connection named `name`, as a server restart would, and waits until
/// they are gone (the queue's listeners open new ones at once). Returns how many there were.
/// On the test's one thread, each ended connection's task has read the server's goodbye by
/// then, so the pools know it is closed.
async fn terminate_connections(url: &str, name: &str) -> usize {
    let (admin, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let ended: Vec<i32> = admin
        .query(
            "SELECT pid FROM pg_stat_activity, pg_terminate_backend(pid)
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    // `pg_terminate_backend` only signals; each backend leaves `pg_stat_activity` as it
    // exits, after telling its client so.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 = admin
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", &[&ended])
            .await
            .unwrap()
            .get(0);
        if left == 0 {
            return ended.len();
        }
        assert!(std::time::Instant::now() < deadline, "{left} connections named {name} remain");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[cfg(feature = "postgres")]
/// `url` with the connections it opens named `name`.
fn named_url(url: &str, name: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}application_name={name}")
    } else {
        format!("{url} application_name={name}")
    }
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_run_goes_on_when_postgres_ends_its_connections_in_the_middle_of_it() {
    let url = fresh_database("graph_server_api_mid_run").await;
    let name = format!("graph-server-{}", uuid::Uuid::new_v4().simple());
    let app = server().postgres(&named_url(&url, &name)).await.unwrap().router();
    let thread = new_thread(&app).await;
    let body = json!({"assistant_id": "slow", "input": {}, "stream_mode": ["updates"]});
    let uri = format!("/threads/{thread}/runs/stream");
    let streamed = tokio::spawn({
        let app = app.clone();
        async move { stream(&app, &uri, body).await }
    });
    // While its node sleeps (the checkpoint before it saved), every connection goes: the
    // pool's, the queue's workers', and the listeners'. A call in flight at that moment
    // would fail.
    until_next(&app, &thread, json!(["slow"])).await;
    assert!(terminate_connections(&url, &name).await >= 3);

    let events = streamed.await.unwrap();
    assert_eq!(
        named(&events),
        [
            ("metadata".into(), json!({"attempt": 1})),
            ("updates".into(), json!({"slow": {"items": ["slow"]}}))
        ]
    );
    let (_, runs) = call(&app, "GET", &format!("/threads/{thread}/runs"), None).await;
    assert_eq!(runs[0]["status"], "success");
    let (_, state) = call(&app, "GET", &format!("/threads/{thread}/state"), None).await;
    assert_eq!(state["values"], json!({"items": ["slow"], "answer": null}));
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_postgres_server_keeps_answering_after_its_connections_are_ended() {
    let url = fresh_database("graph_server_api_reconnect").await;
    let name = format!("graph-server-{}", uuid::Uuid::new_v4().simple());
    let app = server().postgres(&named_url(&url, &name)).await.unwrap().router();
    let metadata = json!({"test": name});
    let (_, thread) = call(&app, "POST", "/threads", Some(json!({"metadata": metadata}))).await;
    let thread = thread["thread_id"].as_str().unwrap().to_owned();
    let body = json!({"assistant_id": "notes", "input": {"items": ["x"]}});
    let (status, _) = call(&app, "POST", &format!("/threads/{thread}/runs/wait"), Some(body)).await;
    assert_eq!(status, StatusCode::OK);

    // The checkpointer, the store and the records each hold at least one.
    assert!(terminate_connections(&url, &name).await >= 3);

    let resume = json!({"assistant_id": "notes", "command": {"resume": "yes"}});
    let (status, done) =
        call(&app, "POST", &format!("/threads/{thread}/runs/wait"), Some(resume)).await;
    let finished = json!({"items": ["x", "a"], "answer": "yes"});
    assert_eq!((status, &done), (StatusCode::OK, &finished));
    let (status, state) = call(&app, "GET", &format!("/threads/{thread}/state"), None).await;
    assert_eq!((status, &state["values"], &state["next"]), (StatusCode::OK, &finished, &json!([])));
    let search = json!({"metadata": metadata});
    let (status, found) = call(&app, "POST", "/threads/search", Some(search)).await;
    assert_eq!(status, StatusCode::OK);
    let found: Vec<(&Value, &Value, &Value)> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (&t["thread_id"], &t["status"], &t["values"]))
        .collect();
    assert_eq!(found, [(&json!(thread), &json!("idle"), &finished)]);
}

#[tokio::test]
async fn no_input_makes_the_server_fail_or_answer_anything_but_json() {
    let app = server().router();
    let thread = new_thread(&app).await;
    let (_, run) = call(
        &app,
        "POST",
        &format!("/threads/{thread}/runs/wait"),
        Some(json!({"assistant_id": "notes", "input": {}})),
    )
    .await;
    assert!(run.is_object());
    let (_, runs) = call(&app, "GET", &format!("/threads/{thread}/runs"), None).await;
    let run = runs[0]["run_id"].as_str().unwrap().to_owned();
    let t = format!("/threads/{thread}");
    let r = format!("{t}/runs/{run}");
    let routes = [
        ("POST", "/assistants/search".to_owned()),
        ("POST", "/assistants/count".to_owned()),
        ("GET", "/assistants/notes".to_owned()),
        ("GET", "/assistants/notes/graph".to_owned()),
        ("GET", "/assistants/%FF%FE/graph".to_owned()),
        ("GET", "/threads/%FF".to_owned()),
        ("POST", "/threads".to_owned()),
        ("POST", "/threads/search".to_owned()),
        ("POST", "/threads/count".to_owned()),
        ("PATCH", t.clone()),
        ("POST", format!("{t}/state")),
        ("GET", format!("{t}/state/nope")),
        ("GET", format!("{t}/history?limit=x&before=3")),
        ("POST", format!("{t}/history")),
        ("POST", "/runs/wait".to_owned()),
        ("POST", format!("{t}/runs")),
        ("GET", format!("{t}/runs?limit=-1")),
        ("POST", format!("{t}/runs/wait")),
        ("GET", format!("{r}/join")),
        ("POST", format!("{r}/cancel?wait=maybe&action=9")),
        ("GET", "/store/items?namespace=..&key=".to_owned()),
        ("PUT", "/store/items".to_owned()),
        ("DELETE", "/store/items".to_owned()),
        ("POST", "/store/items/search".to_owned()),
        ("POST", "/store/namespaces".to_owned()),
    ];
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies: [&[u8]; 12] = [
        b"",
        b"null",
        b"[]",
        b"7",
        b"\"text\"",
        b"{\"assistant_id\": 5, \"input\": [], \"command\": 3, \"stream_mode\": {}}",
        b"{\"assistant_id\": \"notes\", \"input\": {\"items\": [1e400]}}",
        b"{\"assistant_id\": \"notes\", \"command\": {\"resume\": null, \"update\": 1}}",
        b"{\"namespace\": [\"\"], \"key\": \"\", \"value\": {}, \"ttl\": -1}",
        b"{\"filter\": {\"a\": {\"$regex\": 1}}, \"limit\": 18446744073709551616}",
        b"\xff\xfe not utf-8",
        deep.as_bytes(),
    ];
    for (method, uri) in &routes {
        for body in bodies {
            let request =
                Request::builder().method(*method).uri(uri).body(Body::from(body.to_vec()));
            let response = app.clone().oneshot(request.unwrap()).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let shown = String::from_utf8_lossy(&body[..body.len().min(60)]);
            assert!(status.as_u16() < 500, "{method} {uri} with {shown}: {status} {bytes:?}");
            let json: Result<Value, _> = serde_json::from_slice(&bytes);
            assert!(
                bytes.is_empty() || json.is_ok(),
                "{method} {uri} with {shown}: {status} {bytes:?}"
            );
        }
    }
}

/// `value` with every mention of thread `from` made one of thread `to`.
fn moved(value: &Value, from: &str, to: &str) -> Value {
    serde_json::from_str(&value.to_string().replace(from, to)).unwrap()
}

#[tokio::test]
async fn a_copied_thread_has_the_originals_history_and_goes_its_own_way() {
    copy_and_diverge(server().router()).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_thread_copied_on_postgres_goes_its_own_way_too() {
    let url = fresh_database("graph_server_api_copy").await;
    copy_and_diverge(server().postgres(&url).await.unwrap().router()).await;
}

/// Copies a thread paused after three runs, checks the copy reads as the original, resumes
/// each and checks neither saw the other's answer.
async fn copy_and_diverge(app: Router) {
    let thread = new_thread(&app).await;
    let url = format!("/threads/{thread}");
    call(&app, "PATCH", &url, Some(json!({"metadata": {"topic": "copies"}}))).await;
    // Three runs: the first pauses, the second answers, the third pauses again.
    for body in [
        json!({"assistant_id": "notes", "input": {"items": ["x"]}}),
        json!({"assistant_id": "notes", "command": {"resume": "yes"}}),
        json!({"assistant_id": "notes", "input": {"items": ["y"]}}),
    ] {
        let (status, _) = call(&app, "POST", &format!("{url}/runs/wait"), Some(body)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let read = |thread: String| {
        let app = app.clone();
        async move {
            let (_, record) = call(&app, "GET", &format!("/threads/{thread}"), None).await;
            let (_, state) = call(&app, "GET", &format!("/threads/{thread}/state"), None).await;
            let (_, nested) =
                call(&app, "GET", &format!("/threads/{thread}/state?subgraphs=true"), None).await;
            let (_, history) =
                call(&app, "GET", &format!("/threads/{thread}/history?limit=100"), None).await;
            (record, state, nested, history)
        }
    };
    let (record, state, nested, history) = read(thread.clone()).await;
    assert_eq!(record["status"], "interrupted");
    assert_eq!(state["values"], json!({"items": ["x", "a", "y", "a"], "answer": "yes"}));
    assert_eq!(state["next"], json!(["ask"]));
    assert_eq!(history.as_array().unwrap().len(), 5);

    let (status, copy) = call(&app, "POST", &format!("{url}/copy"), None).await;
    assert_eq!(status, StatusCode::OK);
    let copy_id = copy["thread_id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&copy_id).is_ok() && copy_id != thread, "{copy_id}");
    assert_eq!(copy["metadata"], record["metadata"]);
    assert_eq!(copy["metadata"]["topic"], "copies");
    assert_eq!(
        (&copy["status"], &copy["values"], &copy["interrupts"], &copy["error"]),
        (&json!("idle"), &Value::Null, &json!({}), &Value::Null),
        "the copy starts idle, as the LangGraph Platform's does"
    );
    assert_eq!(copy["created_at"], copy["updated_at"]);
    let (copy_record, copy_state, copy_nested, copy_history) = read(copy_id.clone()).await;
    assert_eq!(copy_record, copy, "the copy is a thread like any other");
    assert_eq!(copy_state, moved(&state, &thread, &copy_id), "the same state");
    assert_eq!(copy_nested, moved(&nested, &thread, &copy_id));
    assert_eq!(copy_history, moved(&history, &thread, &copy_id), "the same history");
    let (_, runs) = call(&app, "GET", &format!("/threads/{copy_id}/runs"), None).await;
    assert_eq!(runs, json!([]), "runs stay with the original");

    let resume = |answer: &str| json!({"assistant_id": "notes", "command": {"resume": answer}});
    let (status, done) =
        call(&app, "POST", &format!("/threads/{copy_id}/runs/wait"), Some(resume("the copy's")))
            .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(done, json!({"items": ["x", "a", "y", "a"], "answer": "the copy's"}));
    let (_, copy_record) = call(&app, "GET", &format!("/threads/{copy_id}"), None).await;
    assert_eq!((&copy_record["status"], &copy_record["values"]), (&json!("idle"), &done));
    assert_eq!(
        read(thread.clone()).await,
        (record, state, nested, history),
        "resuming the copy leaves the original as it was"
    );

    let (status, done) =
        call(&app, "POST", &format!("{url}/runs/wait"), Some(resume("the original's"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(done, json!({"items": ["x", "a", "y", "a"], "answer": "the original's"}));
    let (_, copy_now) = call(&app, "GET", &format!("/threads/{copy_id}/state"), None).await;
    assert_eq!(copy_now["values"]["answer"], "the copy's", "and the original leaves the copy");

    let (status, _) = call(&app, "DELETE", &url, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, copy_history) =
        call(&app, "GET", &format!("/threads/{copy_id}/history?limit=100"), None).await;
    assert_eq!(copy_history.as_array().unwrap().len(), 6, "deleting the original keeps the copy");
    let (status, _) = call(&app, "POST", &format!("{url}/copy"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_thread_is_copied_only_with_its_key_and_the_copy_is_the_callers() {
    let app = server().api_key("alice").api_key("bob").router();
    let (_, thread) = call_as(&app, Some("alice"), "POST", "/threads", Some(json!({}))).await;
    let url = format!("/threads/{}", thread["thread_id"].as_str().unwrap());
    let run = json!({"assistant_id": "notes", "input": {"items": ["x"]}});
    call_as(&app, Some("alice"), "POST", &format!("{url}/runs/wait"), Some(run)).await;
    let (status, _) = call_as(&app, Some("bob"), "POST", &format!("{url}/copy"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call_as(&app, None, "POST", &format!("{url}/copy"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, count) = call_as(&app, Some("bob"), "POST", "/threads/count", Some(json!({}))).await;
    assert_eq!(count, json!(0), "a refused copy makes no thread");

    let (status, copy) = call_as(&app, Some("alice"), "POST", &format!("{url}/copy"), None).await;
    assert_eq!(status, StatusCode::OK);
    let copy_url = format!("/threads/{}", copy["thread_id"].as_str().unwrap());
    let (status, _) = call_as(&app, Some("bob"), "GET", &copy_url, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, state) =
        call_as(&app, Some("alice"), "GET", &format!("{copy_url}/state"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["values"], json!({"items": ["x", "a"], "answer": null}));
    let (_, count) = call_as(&app, Some("alice"), "POST", "/threads/count", Some(json!({}))).await;
    assert_eq!(count, json!(2));
}
