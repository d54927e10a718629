//! Ten research sub-agents, each a subgraph, run in parallel:
//! `cargo run -p graph-examples --example research`.

use std::time::Instant;

use graph_core::prelude::*;
use graph_examples::research::{self, Research};

#[tokio::main]
async fn main() -> Result<(), GraphError> {
    let topics: Vec<String> = (1..=10).map(|i| format!("topic {i}")).collect();
    let started = Instant::now();
    let out = research::graph()
        .invoke(Research::update().topics(topics), RunConfig::default())
        .await?
        .finished()?;
    println!("{}", out.answer);
    println!("10 one-second jobs took {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}
