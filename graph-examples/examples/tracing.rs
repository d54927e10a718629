//! The run > superstep > task spans, printed by tracing-subscriber:
//! `cargo run -p graph-examples --example tracing`.

use graph_core::prelude::*;
use graph_examples::briefing::{self, Briefing};
use tracing_subscriber::fmt::format::FmtSpan;

#[tokio::main]
async fn main() -> Result<(), GraphError> {
    tracing_subscriber::fmt().with_span_events(FmtSpan::CLOSE).with_target(false).init();
    briefing::graph()
        .invoke(Briefing::update().city("Lyon"), RunConfig::default())
        .await?
        .finished()?;
    Ok(())
}
