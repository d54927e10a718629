//! Orchestrator-worker: `cargo run -p graph-examples --example report`.

use graph_core::prelude::*;
use graph_examples::report::{self, Report};

#[tokio::main]
async fn main() -> Result<(), GraphError> {
    let out = report::graph()
        .invoke(Report::update().topic("Parallel agents in Rust"), RunConfig::default())
        .await?
        .finished()?;
    println!("{}", out.text);
    Ok(())
}
