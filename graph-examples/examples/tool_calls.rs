//! Parallel tool calls under a concurrency cap:
//! `cargo run -p graph-examples --example tool_calls`.

use std::time::Instant;

use graph_agent::Message;
use graph_core::prelude::*;
use graph_examples::tool_calls;

#[tokio::main]
async fn main() -> Result<(), GraphError> {
    let started = Instant::now();
    let out = tool_calls::graph(tool_calls::model())
        .invoke(tool_calls::request(), RunConfig::default())
        .await?
        .finished()?;
    for result in out.messages.iter().filter_map(Message::as_tool) {
        println!("{}: {}", result.tool_call_id, result.content);
    }
    println!("{}\n{}", out.summary, out.translation);
    println!(
        "took {} ms (5 calls of 100 ms, {} at a time)",
        started.elapsed().as_millis(),
        tool_calls::MAX_PARALLEL_CALLS
    );
    Ok(())
}
