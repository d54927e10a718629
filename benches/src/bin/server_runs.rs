//! What serving a graph over HTTP adds to running it in process: a three-node chain run on a
//! new thread each time, through `POST /threads/{id}/runs/wait` on a loopback socket, against
//! `invoke` with the same checkpointer. Prints, for memory and SQLite storage, the mean time
//! per run of one client (and the difference: the server's added latency) and the runs per
//! second of 50 concurrent clients. Build in release mode; the first argument is the number
//! of runs per measurement (default 2,000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use graph_benches::{runtime, Counter, CounterUpdate};
use graph_core::checkpoint::{Checkpointer, MemorySaver, SqliteSaver};
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

fn main() {
    let runs: usize = std::env::args().nth(1).map_or(2_000, |n| n.parse().expect("a run count"));
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
    let _ = std::fs::remove_dir_all(dir);
}
