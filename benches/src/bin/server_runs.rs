//! What serving a graph over HTTP adds to running it in process: a three-node chain run on a
//! new thread each time, through `POST /threads/{id}/runs/wait` on a loopback socket, against
//! `invoke` with the same checkpointer. Prints, for memory and SQLite storage, the mean time
//! per run of one client (and the difference: the server's added latency) and the runs per
//! second of 50 concurrent clients. Build in release mode; the first argument is the number
//! of runs per measurement (default 2,000).
//!
//! With `DATABASE_URL` set (a libpq-style string), it measures PostgreSQL too: `invoke` with
//! the PostgreSQL checkpointer, against a server that only answers requests while 1, 2 or 4
//! worker processes (this binary again, with `--worker`) run the runs from the shared queue,
//! each in a database of its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use graph_benches::{runtime, Counter, CounterUpdate};
use graph_core::checkpoint::{Checkpointer, MemorySaver, PostgresSaver, SqliteSaver};
use graph_core::prelude::*;
use graph_server::Server;
use serde_json::json;

async fn add_one(_: Arc<Counter>) -> CounterUpdate {
    Counter::update().n(1)
}

/// `a`, `b`, `c` in a chain, each adding one.
fn chain() -> CompiledGraph<Counter> {
    StateGraph::<Counter>::new()
        .add_node("a", add_one)
        .add_node("b", add_one)
        .add_node("c", add_one)
        .add_edge(START, "a")
        .add_edge("a", "b")
        .add_edge("b", "c")
        .compile()
        .expect("the chain compiles")
}

const CLIENTS: usize = 50;

/// Runs `run(i)` for i in 0..runs, one at a time or from `CLIENTS` tasks; returns the
/// elapsed time.
async fn timed<F, Fut>(runs: usize, concurrent: bool, run: F) -> Duration
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    if concurrent {
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let run = run.clone();
                tokio::spawn(async move {
                    for i in (client..runs).step_by(CLIENTS) {
                        run(i).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a client");
        }
    } else {
        for i in 0..runs {
            run(i).await;
        }
    }
    started.elapsed()
}

/// In process: one thread per run.
async fn in_process(saver: impl Checkpointer, runs: usize, concurrent: bool) -> Duration {
    let graph = chain().with_checkpointer(saver);
    let prefix = uuid_ish();
    timed(runs, concurrent, move |i| {
        let graph = graph.clone();
        let config = RunConfig::default().thread_id(format!("{prefix}-{i}"));
        async move {
            let out = graph.invoke(Counter::update(), config).await.expect("the run");
            assert_eq!(out.into_state().n, 3);
        }
    })
    .await
}

/// Over HTTP: a thread is made first (not timed), then the run is awaited.
async fn served(server: Server, runs: usize, concurrent: bool) -> Duration {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, server.router()).await });
    let client = reqwest::Client::new();
    let mut threads = Vec::with_capacity(runs);
    for _ in 0..runs {
        let thread: serde_json::Value = client
            .post(format!("{url}/threads"))
            .json(&json!({}))
            .send()
            .await
            .expect("a thread")
            .json()
            .await
            .expect("its JSON");
        threads.push(thread["thread_id"].as_str().expect("an id").to_owned());
    }
    // One run first, so that what starts on demand (connections, workers) has started.
    let body = json!({"assistant_id": "chain", "input": {}});
    let warm_up = client.post(format!("{url}/runs/wait")).json(&body).send().await;
    assert_eq!(
        warm_up.expect("a first run").json::<serde_json::Value>().await.ok(),
        Some(json!({"n": 3}))
    );
    let threads = Arc::new(threads);
    timed(runs, concurrent, move |i| {
        let (client, url, threads) = (client.clone(), url.clone(), threads.clone());
        async move {
            let body = json!({"assistant_id": "chain", "input": {}});
            let response = client
                .post(format!("{url}/threads/{}/runs/wait", threads[i]))
                .json(&body)
                .send()
                .await
                .expect("the run");
            let out: serde_json::Value = response.json().await.expect("its JSON");
            assert_eq!(out, json!({"n": 3}));
        }
    })
    .await
}

/// A prefix that keeps thread ids apart between measurements.
fn uuid_ish() -> String {
    format!("{:?}", Instant::now()).replace(|c: char| !c.is_ascii_alphanumeric(), "")
}

/// How many runs each worker process takes at once.
const RUNS_PER_WORKER: usize = 10;

/// This binary as a worker process on the database `db`, until it is killed.
fn worker(db: &str) {
    runtime().block_on(async {
        let server = Server::new().graph("chain", chain()).workers(RUNS_PER_WORKER);
        // The workers start with the router, and need nothing else.
        let _router = server.postgres(db).await.expect("the database").router();
        std::future::pending::<()>().await;
    });
}

/// A new, empty database named `name` beside the one `admin_url` names; its connection string.
async fn fresh_database(admin_url: &str, name: &str) -> String {
    let (admin, connection) =
        tokio_postgres::connect(admin_url, tokio_postgres::NoTls).await.expect("PostgreSQL");
    tokio::spawn(connection);
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("a database");
    format!("{admin_url} dbname={name}")
}

/// Worker processes on `db`, killed when dropped.
struct Workers(Vec<std::process::Child>);

impl Workers {
    fn start(db: &str, count: usize) -> Self {
        let me = std::env::current_exe().expect("this binary");
        let spawn =
            |_| std::process::Command::new(&me).args(["--worker", db]).spawn().expect("a worker");
        Self((0..count).map(spawn).collect())
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The PostgreSQL rows: `invoke` with its checkpointer, and a server answering requests
/// while 1, 2 or 4 worker processes run the runs.
fn postgres(rt: &tokio::runtime::Runtime, admin_url: &str, runs: usize) {
    let local = |clients: &str| {
        rt.block_on(async {
            let db = fresh_database(admin_url, &format!("graph_bench_local_{clients}")).await;
            let saver = PostgresSaver::connect(&db).await.expect("PostgreSQL");
            in_process(saver, runs, clients == "many").await
        })
    };
    let (one_local, many_local) = (local("one"), local("many"));
    for count in [1, 2, 4] {
        let served_by = |clients: &str| {
            rt.block_on(async {
                let name = format!("graph_bench_workers_{count}_{clients}");
                let db = fresh_database(admin_url, &name).await;
                let front = Server::new().graph("chain", chain()).workers(0);
                let front = front.postgres(&db).await.expect("PostgreSQL");
                let _workers = Workers::start(&db, count);
                served(front, runs, clients == "many").await
            })
        };
        let (one_served, many_served) = (served_by("one"), served_by("many"));
        let processes = if count == 1 { "process" } else { "processes" };
        row(
            &format!("postgres, {count} worker {processes}"),
            runs,
            [one_local, one_served, many_local, many_served],
        );
    }
}

/// Prints one row of the table.
fn row(
    storage: &str,
    runs: usize,
    [one_local, one_served, many_local, many_served]: [Duration; 4],
) {
    let per_run = |d: Duration| d.as_secs_f64() * 1e6 / runs as f64;
    let per_second = |d: Duration| runs as f64 / d.as_secs_f64();
    println!(
        "| {storage} | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} runs/s | {:.0} runs/s |",
        per_run(one_local),
        per_run(one_served),
        per_run(one_served) - per_run(one_local),
        per_second(many_local),
        per_second(many_served),
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--worker") {
        return worker(&args.next().expect("the database"));
    }
    let runs: usize = first.map_or(2_000, |n| n.parse().expect("a run count"));
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("graph-server-runs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    println!("three-node chain, {runs} runs per measurement, {CLIENTS} concurrent clients");
    println!("| storage | in process, 1 client | server, 1 client | added per run | in process, {CLIENTS} clients | server, {CLIENTS} clients |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for storage in ["memory", "sqlite"] {
        let file = |name: &str| dir.join(format!("{storage}-{name}.sqlite"));
        let (one_local, one_served, many_local, many_served) = rt.block_on(async {
            let saver = |name: &str| -> Box<dyn FnOnce() -> Arc<dyn Checkpointer>> {
                let path = file(name);
                match storage {
                    "memory" => Box::new(|| Arc::new(MemorySaver::new())),
                    _ => {
                        Box::new(move || Arc::new(SqliteSaver::open(path).expect("the file opens")))
                    }
                }
            };
            let server = |name: &str| {
                let server = Server::new().graph("chain", chain());
                match storage {
                    "memory" => server,
                    _ => server.sqlite(file(name)).expect("the file opens"),
                }
            };
            (
                in_process(saver("one-local")(), runs, false).await,
                served(server("one-served"), runs, false).await,
                in_process(saver("many-local")(), runs, true).await,
                served(server("many-served"), runs, true).await,
            )
        });
        row(storage, runs, [one_local, one_served, many_local, many_served]);
    }
    let _ = std::fs::remove_dir_all(dir);
    if let Ok(admin_url) = std::env::var("DATABASE_URL") {
        postgres(&rt, &admin_url, runs);
    }
}
