//! Voting: `cargo run -p graph-examples --example voting`.

use graph_core::prelude::*;
use graph_examples::voting::{self, Poll};

#[tokio::main]
async fn main() -> Result<(), GraphError> {
    let out = voting::graph()
        .invoke(Poll::update().text("I love this library"), RunConfig::default())
        .await?
        .finished()?;
    for ballot in &out.ballots {
        println!("{}: {} ({:.0}%)", ballot.voter, ballot.label, ballot.score * 100.0);
    }
    println!("verdict: {}\nmost confident: {}", out.verdict, out.most_confident);
    Ok(())
}
