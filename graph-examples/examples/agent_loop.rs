//! An agent loop guarded by the recursion limit:
//! `cargo run -p graph-examples --example agent_loop`.

use graph_core::prelude::*;
use graph_core::RunOutcome;
use graph_examples::agent_loop::{self, Conversation};

#[tokio::main]
async fn main() {
    let question =
        || Conversation::update().question("How far is Paris from London, and is it sunny?");
    match agent_loop::graph(agent_loop::decisive_model())
        .invoke(question(), RunConfig::default())
        .await
        .and_then(RunOutcome::finished)
    {
        Ok(out) => println!("{}\n=> {}", out.transcript.join("\n"), out.answer),
        Err(error) => println!("error: {error}"),
    }
    let stubborn = agent_loop::graph(agent_loop::stubborn_model());
    match stubborn.invoke(question(), RunConfig::default().recursion_limit(10)).await {
        Ok(_) => println!("the stubborn agent finished?"),
        Err(error) => println!("stubborn agent stopped: {error}"),
    }
}
