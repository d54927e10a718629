//! Runs (or resumes) a journey on a SQLite file and prints the final state as JSON.
//! Usage: `crash_worker <database> <thread>`; the crash test kills it mid-run.

use std::time::Duration;

use graph_core::checkpoint::SqliteSaver;
use graph_core::{Command, RunConfig};
use graph_tests::journey::{self, Journey};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (database, thread) = (args.next().ok_or("database path")?, args.next().ok_or("thread id")?);
    let saver = SqliteSaver::open(&database)?;
    let graph = journey::graph(Duration::from_millis(40), format!("{database}.log").into())
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
