//! Serves the example graphs over HTTP, the LangGraph Platform API that the official
//! clients speak: `approval` (pauses for a person) and `briefing` (three parallel fetches and
//! a join).
//!
//! `cargo run -p graph-examples --bin serve` listens on `127.0.0.1:2024` and keeps threads,
//! runs, checkpoints and the store in `graph-server.sqlite`. Set `GRAPH_SERVER_ADDR` to listen
//! elsewhere, `GRAPH_SERVER_DB` for another SQLite file, `DATABASE_URL` to use PostgreSQL
//! instead, and `GRAPH_API_KEYS` (comma-separated) to require keys. On PostgreSQL, servers share
//! a run queue: `GRAPH_SERVER_WORKERS` sets how many runs this one takes at once (10; 0 for a
//! server that only answers requests), and `GRAPH_SERVER_WORKER_TIMEOUT` the seconds after
//! which a silent server's runs go to another (30). The web view at `/ui`
//! draws the graphs with mermaid's script: the one `scripts/fetch-mermaid` puts in
//! `docs/mermaid`, or the file `GRAPH_SERVER_MERMAID` names.
//!
//! With `GRAPH_SERVER_TASK_QUEUE` naming a PostgreSQL database (with `pgmq`, which
//! `tools/pgmq-install` installs), the server also serves `briefing_on_workers`: `briefing`
//! with its steps' tasks sent to the workers of the task queue `graph_server_examples` in that
//! database, one of which (`worker-a`) runs in this process. The server then keeps its
//! checkpoints there, where the workers read them.

// ANCHOR: uses
use graph_core::distributed::{TaskQueue, Worker};
use graph_core::CancellationToken;
use graph_examples::{approval, briefing};
use graph_server::Server;
// ANCHOR_END: uses

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("GRAPH_SERVER_ADDR").unwrap_or_else(|_| "127.0.0.1:2024".into());
    let mut server = Server::new()
        .graph_with_schema("approval", approval::graph())
        .graph_with_schema("briefing", briefing::graph());
    server = match std::env::var("DATABASE_URL") {
        Ok(url) => {
            if let Some(workers) = number("GRAPH_SERVER_WORKERS")? {
                server = server.workers(workers as usize);
            }
            if let Some(seconds) = number("GRAPH_SERVER_WORKER_TIMEOUT")? {
                server = server.worker_timeout(std::time::Duration::from_secs_f64(seconds));
            }
            server.postgres(&url).await?
        }
        Err(_) => {
            let file = std::env::var("GRAPH_SERVER_DB");
            server.sqlite(file.as_deref().unwrap_or("graph-server.sqlite"))?
        }
    };
    let mut graphs = "approval and briefing";
    if let Ok(database) = std::env::var("GRAPH_SERVER_TASK_QUEUE") {
        server = on_task_queue(server, &database).await?;
        graphs = "approval, briefing and briefing_on_workers";
    }
    if let Some(mermaid) = mermaid_script() {
        server = server.mermaid_script(mermaid);
    }
    for key in std::env::var("GRAPH_API_KEYS").unwrap_or_default().split(',') {
        if !key.trim().is_empty() {
            server = server.api_key(key.trim());
        }
    }
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let addr = listener.local_addr()?;
    println!("serving {graphs} on http://{addr} (the web view: http://{addr}/ui)");
    axum::serve(listener, server.try_router()?).await?;
    Ok(())
}

/// The number in environment variable `name`, if it is set.
fn number(name: &str) -> Result<Option<f64>, String> {
    let Ok(text) = std::env::var(name) else { return Ok(None) };
    match text.trim().parse::<f64>() {
        Ok(number) if number >= 0.0 && number.is_finite() => Ok(Some(number)),
        _ => Err(format!("{name} must be a number of at least 0, not {text:?}")),
    }
}

/// Mermaid's browser script: the file `GRAPH_SERVER_MERMAID` names, else the repository's
/// fetched copy when there is one.
fn mermaid_script() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("GRAPH_SERVER_MERMAID") {
        return Some(path.into());
    }
    let fetched =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/mermaid/mermaid.min.js");
    fetched.is_file().then_some(fetched)
}
// ANCHOR_END: main

// ANCHOR: task_queue
/// Serves `briefing` again as `briefing_on_workers`, its steps' tasks running on the workers
/// of the task queue `graph_server_examples` in PostgreSQL `database`, one of them in this
/// process. The server keeps its checkpoints with the queue's saver, where the workers read
/// them.
async fn on_task_queue(server: Server, database: &str) -> Result<Server, graph_core::GraphError> {
    let queue = TaskQueue::connect(database, "graph_server_examples").await?;
    // Any process that registers the graph under the same name works for the queue too.
    let worker =
        Worker::new(queue.clone()).id("worker-a").graph("briefing_on_workers", briefing::graph());
    tokio::spawn(async move {
        if let Err(error) = worker.run(CancellationToken::new()).await {
            eprintln!("worker-a stopped: {error}");
        }
    });
    let server = server.graph_on_queue("briefing_on_workers", briefing::graph(), &queue);
    Ok(server.checkpointer(queue.saver()))
}
// ANCHOR_END: task_queue
