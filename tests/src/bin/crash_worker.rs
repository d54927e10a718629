//! Runs (or resumes) a journey and prints the final state as JSON; the crash tests kill it
//! mid-run. Usage: `crash_worker <store> <thread> <log> <flat|nested>`, where the store is
//! `sqlite:<path>` or `postgres:<connection string>`.

use std::sync::Arc;
use std::time::Duration;

use graph_core::checkpoint::{Checkpointer, PostgresSaver, SqliteSaver};
use graph_core::{Command, RunConfig};
use graph_tests::journey::{self, Journey};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut next = |what: &str| args.next().ok_or(format!("missing argument: {what}"));
    let (store, thread, log, kind) = (next("store")?, next("thread")?, next("log")?, next("kind")?);
    let saver: Arc<dyn Checkpointer> = match store.split_once(':') {
        Some(("sqlite", path)) => Arc::new(SqliteSaver::open(path)?),
        Some(("postgres", url)) => Arc::new(PostgresSaver::connect(url).await?),
        _ => return Err(format!("unknown store {store:?}").into()),
    };
    let delay = Duration::from_millis(40);
    let graph = match kind.as_str() {
        "flat" => journey::graph(delay, log.into()),
        "nested" => journey::nested(delay, log.into()),
        other => return Err(format!("unknown journey {other:?}").into()),
    }
    .with_checkpointer(saver);
    let config = RunConfig::default().thread_id(thread);
    let started = graph.get_state(&config).await?.is_some();
    let state = if started {
        graph.invoke(Command::<Journey>::new(), config).await?.finished()?
    } else {
        graph.invoke(Journey::default(), config).await?.finished()?
    };
    println!("{}", serde_json::to_string(&state)?);
    Ok(())
}
