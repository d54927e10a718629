//! Human approval with a durable pause: `cargo run -p graph-examples --example approval`.
//! The person is simulated: they soften the draft and approve it.

use graph_core::checkpoint::SqliteSaver;
use graph_core::prelude::*;
use graph_examples::approval::{self, Outbox};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all("target")?;
    let graph =
        approval::graph().with_checkpointer(SqliteSaver::open("target/approval-demo.sqlite")?);
    let thread = format!("email-{}", std::process::id());
    let config = RunConfig::default().thread_id(thread);

    let outcome = graph.invoke(Outbox::update().to("Ada"), config.clone()).await?;
    match outcome.interrupts() {
        [question] => println!("paused: {}", question.value),
        _ => return Err(format!("expected one question, got {outcome:?}").into()),
    }
    graph
        .update_state(
            &config,
            Outbox::update().draft("Dear Ada, the invoice is attached. Thank you!"),
            None,
        )
        .await?;
    let out = graph.invoke(Command::<Outbox>::resume("approve"), config).await?.finished()?;
    println!("sent: {:?}", out.sent);
    Ok(())
}
