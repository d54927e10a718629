//! Parallel code review, best-effort then fail-fast:
//! `cargo run -p graph-examples --example code_review`.

use graph_core::prelude::*;
use graph_core::RunOutcome;
use graph_examples::code_review::{self, Mode, Review};

#[tokio::main]
async fn main() {
    for mode in [Mode::BestEffort, Mode::FailFast] {
        let outcome = code_review::graph(mode)
            .invoke(Review::update().code("fn main() {}"), RunConfig::default())
            .await
            .and_then(RunOutcome::finished);
        match outcome {
            Ok(review) => println!("{mode:?}:\n{}\n", review.report),
            Err(error) => println!("{mode:?}: {error}"),
        }
    }
}
