//! Parallel tool calls under a concurrency cap:
//! `cargo run -p graph-examples --example tool_calls`.

use std::time::Instant;

use graph_core::prelude::*;
use graph_examples::tool_calls::{self, Turn};

#[tokio::main]
async fn main() -> Result<(), GraphError> {
    let started = Instant::now();
    let out = tool_calls::graph()
        .invoke(Turn::update().request("Plan a trip to Lisbon"), RunConfig::default())
        .await?
        .finished()?;
    for (index, result) in &out.results {
        println!("call {index}: {result}");
    }
    println!("{}\n{}", out.summary, out.translation);
    println!(
        "took {} ms (5 calls of 100 ms, {} at a time)",
        started.elapsed().as_millis(),
        tool_calls::MAX_PARALLEL_CALLS
    );
    Ok(())
}
