//! A graph served on a task queue, on loopback PostgreSQL with `pgmq` (`scripts/ensure-pgmq`):
//! its steps' tasks run on a `Worker` (here in the test's process), the `tasks` events name
//! the worker of each, and the run ends as the same graph's local run does. The server keeps
//! its checkpoints where the queue's workers read them, or refuses to build.
#![cfg(feature = "postgres")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use graph_core::checkpoint::{MemorySaver, PostgresSaver};
use graph_core::distributed::{TaskQueue, Worker};
use graph_core::prelude::*;
use graph_core::CancellationToken;
use graph_server::{ConfigError, Server};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

#[derive(State, Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Sums {
    numbers: Vec<u64>,
    #[reducer(append)]
    parts: Vec<String>,
    total: u64,
}

async fn odd(s: Arc<Sums>) -> SumsUpdate {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let odd: u64 = s.numbers.iter().filter(|n| *n % 2 == 1).sum();
    Sums::update().parts(vec![format!("odd {odd}")]).total(s.total + odd)
}

async fn even(s: Arc<Sums>) -> SumsUpdate {
    let even: u64 = s.numbers.iter().filter(|n| *n % 2 == 0).sum();
    Sums::update().parts(vec![format!("even {even}")])
}

async fn total(s: Arc<Sums>) -> SumsUpdate {
    Sums::update().total(s.numbers.iter().sum::<u64>())
}

/// `odd` and `even` at once, then `total`.
fn graph() -> CompiledGraph<Sums> {
    StateGraph::<Sums>::new()
        .add_node("odd", odd)
        .add_node("even", even)
        .add_node("total", total)
        .add_edge(START, "odd")
        .add_edge(START, "even")
        .add_join(["odd", "even"], "total")
        .compile()
        .unwrap()
}

fn database() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into())
}

/// A queue name no other test uses (letters, digits and `_`).
fn queue_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("server_t{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A worker in this process, stopped when dropped.
struct InProcess(CancellationToken);

impl Drop for InProcess {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

fn in_process(worker: Worker) -> InProcess {
    let stop = CancellationToken::new();
    tokio::spawn(worker.run(stop.clone()));
    InProcess(stop)
}

/// Streams a run of `graph` with `input` on a new thread; returns its events (name, data).
async fn run(app: &Router, graph: &str, input: Value) -> Vec<(String, Value)> {
    let create = Request::post("/threads").body(Body::from("{}")).unwrap();
    let thread = body(app.clone().oneshot(create).await.unwrap()).await;
    let thread: Value = serde_json::from_str(&thread).unwrap();
    let request =
        json!({"assistant_id": graph, "input": input, "stream_mode": ["tasks", "values"]});
    let uri = format!("/threads/{}/runs/stream", thread["thread_id"].as_str().unwrap());
    let request = Request::post(uri).body(Body::from(request.to_string())).unwrap();
    let text = body(app.clone().oneshot(request).await.unwrap()).await;
    text.split("\n\n")
        .filter(|block| block.contains("data:"))
        .map(|block| {
            let field = |name: &str| {
                block.lines().find_map(|line| line.strip_prefix(name)).unwrap().trim().to_owned()
            };
            (field("event:"), serde_json::from_str(&field("data:")).unwrap())
        })
        .collect()
}

async fn body(response: axum::response::Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The `tasks` events, with each task's `started_at` and `duration` (checked to be there)
/// replaced by `"…"`.
fn tasks(events: &[(String, Value)]) -> Vec<Value> {
    events
        .iter()
        .filter(|(name, _)| name == "tasks")
        .map(|(_, data)| {
            let mut data = data.clone();
            for timing in ["started_at", "duration"] {
                if let Some(value) = data.get_mut(timing) {
                    assert!(value["secs"].is_u64() && value["nanos"].is_u64(), "{timing}: {value}");
                    *value = json!("…");
                }
            }
            data
        })
        .collect()
}

/// The last `values` event: the run's final state.
fn last_values(events: &[(String, Value)]) -> Value {
    events.iter().rev().find(|(name, _)| name == "values").unwrap().1.clone()
}

/// A new, empty database named `name` on the tests' server, and its URL.
async fn fresh_database(name: &str) -> String {
    let url = database();
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let (base, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
        let path = base.find("://").map_or(0, |at| at + 3);
        let host = base[path..].find('/').map_or(base, |slash| &base[..path + slash]);
        let query = if query.is_empty() { String::new() } else { format!("?{query}") };
        format!("{host}/{name}{query}")
    } else {
        format!("{url} dbname={name}")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_on_a_task_queue_runs_its_tasks_on_the_worker_its_events_name() {
    let queue = TaskQueue::connect(&database(), &queue_name()).await.unwrap();
    let _worker = in_process(Worker::new(queue.clone()).id("worker-a").graph("sums", graph()));
    // The same graph beside it, run here: the server's checkpointer is the queue's for both.
    let app =
        Server::new().graph_on_queue("sums", graph(), &queue).graph("local", graph()).try_router();
    let app = app.unwrap();
    let input = json!({"numbers": [1, 2, 3, 4, 5]});

    let queued = run(&app, "sums", input.clone()).await;
    let end = |id: &str, name: &str| {
        json!({"id": id, "name": name, "attempt": 1, "error": null,
               "started_at": "…", "duration": "…", "worker": "worker-a"})
    };
    // A task on a worker reaches the stream when its step's outputs come back: its end,
    // naming the worker, in task order.
    assert_eq!(
        tasks(&queued),
        [end("0:even", "even"), end("0:odd", "odd"), end("1:total", "total")]
    );
    // `odd` slept 20 ms on the worker, and its end says so.
    let (_, odd) = queued
        .iter()
        .find(|(_, data)| data["id"] == "0:odd" && data["duration"].is_object())
        .unwrap();
    let nanos = odd["duration"]["secs"].as_u64().unwrap() * 1_000_000_000
        + odd["duration"]["nanos"].as_u64().unwrap();
    assert!(nanos >= 20_000_000, "{odd}");
    let expected = json!({"numbers": [1, 2, 3, 4, 5], "parts": ["even 6", "odd 9"], "total": 15});
    assert_eq!(last_values(&queued), expected);

    // The local run ends in the same state, and its tasks name no worker.
    let local = run(&app, "local", input).await;
    assert_eq!(last_values(&local), expected);
    let local_ends: Vec<Value> =
        tasks(&local).into_iter().filter(|task| task.get("duration").is_some()).collect();
    let mut queued_ends = tasks(&queued);
    for end in &mut queued_ends {
        end.as_object_mut().unwrap().remove("worker");
    }
    assert_eq!(local_ends, queued_ends);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_server_s_run_queue_runs_a_graph_on_a_task_queue_too() {
    // Threads and runs in a database of their own, where the server's run queue takes the
    // run; its steps go to the task queue, in the tests' database.
    let records = fresh_database("graph_server_task_queue").await;
    let queue = TaskQueue::connect(&database(), &queue_name()).await.unwrap();
    let _worker = in_process(Worker::new(queue.clone()).id("worker-b").graph("sums", graph()));
    let server = Server::new().graph_on_queue("sums", graph(), &queue).postgres(&records).await;
    let app = server.unwrap().checkpointer(queue.saver()).try_router().unwrap();
    let events = run(&app, "sums", json!({"numbers": [7, 8]})).await;
    let ran: Vec<&Value> = events
        .iter()
        .filter(|(name, _)| name == "tasks")
        .map(|(_, data)| &data["worker"])
        .collect();
    assert_eq!(ran, [&json!("worker-b"); 3]);
    assert_eq!(
        last_values(&events),
        json!({"numbers": [7, 8], "parts": ["even 8", "odd 7"], "total": 15})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_on_a_task_queue_needs_the_queue_s_checkpointer() {
    let name = queue_name();
    let queue = TaskQueue::connect(&database(), &name).await.unwrap();
    let on_queue = || Server::new().graph("local", graph()).graph_on_queue("sums", graph(), &queue);
    // With none set, the server keeps its checkpoints with the queue's; a clone's is the same.
    assert!(on_queue().try_router().is_ok());
    assert!(on_queue().checkpointer(queue.clone().saver()).try_router().is_ok());

    let refused = |server: Server| match server.try_router() {
        Err(ConfigError::CheckpointerNotOnQueue { graph, queue }) => (graph, queue),
        Err(other) => panic!("another error: {other}"),
        Ok(_) => panic!("a server that keeps its checkpoints away from the queue's workers"),
    };
    assert_eq!(refused(on_queue().checkpointer(MemorySaver::new())), ("sums".into(), name.clone()));
    // The same database through another connection is not the queue's checkpointer either.
    let other = PostgresSaver::connect(&database()).await.unwrap();
    assert_eq!(refused(on_queue().checkpointer(other)), ("sums".into(), name.clone()));
    let error = on_queue().checkpointer(MemorySaver::new()).try_router().err().unwrap();
    assert!(error.to_string().contains("`.checkpointer(queue.saver())`"), "{error}");

    // SQLite keeps its own checkpoints, unless the queue's replace them.
    #[cfg(feature = "sqlite")]
    {
        let file = std::env::temp_dir().join(format!("{name}.sqlite"));
        assert_eq!(refused(on_queue().sqlite(&file).unwrap()), ("sums".into(), name.clone()));
        assert!(on_queue().sqlite(&file).unwrap().checkpointer(queue.saver()).try_router().is_ok());
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }
    }
}
