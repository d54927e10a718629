//! The main demo: a briefing assembled from three parallel sources.

use std::time::Instant;

use graph_core::prelude::*;
use graph_examples::briefing::{self, Briefing};

#[tokio::main]
async fn main() -> Result<(), GraphError> {
    let graph = briefing::graph();
    let started = Instant::now();
    let report =
        graph.invoke_with_report(Briefing::update().city("Lyon"), RunConfig::default()).await?;
    let elapsed = started.elapsed();

    for record in &report.steps {
        println!("step {}: {}", record.step, record.nodes().join(" | "));
    }
    println!("\n{}\n", report.state.summary);
    println!(
        "sequential would take {} ms; parallel took {} ms",
        report.state.sequential_ms,
        elapsed.as_millis()
    );
    Ok(())
}
