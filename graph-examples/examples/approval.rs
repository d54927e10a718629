//! Human approval with a durable pause, across two processes:
//!
//! ```sh
//! cargo run -p graph-examples --example approval -- start
//! cargo run -p graph-examples --example approval -- resume --approve
//! cargo run -p graph-examples --example approval -- resume --edit "Dear Ada, ... Thank you!"
//! ```
//!
//! `start` drafts the email, pauses before sending it and exits; the pause lives in a SQLite
//! file (`target/approval-demo.sqlite`, or the path after `--db`). `resume` opens the same file
//! in a new process and continues the same thread: as written, or with the person's edit.

// ANCHOR: uses
use graph_core::checkpoint::SqliteSaver;
use graph_core::prelude::*;
use graph_examples::approval::{self, Outbox};
// ANCHOR_END: uses

// ANCHOR: run
/// The thread both invocations share: the checkpoint file keys the pause by it.
const THREAD: &str = "email-1";
// ANCHOR_END: run

// ANCHOR: answer
/// Starts the thread, or answers its pause, as the command line says.
async fn invoke(
    graph: &CompiledGraph<Outbox>,
    command: &[&str],
) -> Result<RunOutcome<Outbox>, Box<dyn std::error::Error>> {
    let config = RunConfig::default().thread_id(THREAD);
    if command.first() == Some(&"resume") {
        let waiting = match graph.get_state(&config).await {
            Ok(state) => state.is_some_and(|s| !s.interrupts.is_empty()),
            Err(GraphError::NothingToResume { .. }) => false,
            Err(error) => return Err(error.into()),
        };
        if !waiting {
            return Err(
                format!("thread {THREAD} is not waiting for an answer: run `start` first").into()
            );
        }
    }
    Ok(match command {
        ["start"] => graph.invoke(Outbox::update().to("Ada"), config).await?,
        ["resume", "--approve"] => {
            graph.invoke(Command::<Outbox>::resume("approve"), config).await?
        }
        ["resume", "--edit", text] => {
            // The person's edit becomes part of the thread before the review answers.
            graph.update_state(&config, Outbox::update().draft(*text), None).await?;
            graph.invoke(Command::<Outbox>::resume("approve"), config).await?
        }
        _ => return Err("usage: approval start | resume --approve | resume --edit TEXT".into()),
    })
}
// ANCHOR_END: answer

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (args, db) = match args.iter().position(|a| a == "--db") {
        Some(i) if i + 1 < args.len() => {
            ([&args[..i], &args[i + 2..]].concat(), args[i + 1].clone())
        }
        _ => (args, "target/approval-demo.sqlite".to_owned()),
    };
    if let Some(dir) = std::path::Path::new(&db).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let graph = approval::graph().with_checkpointer(SqliteSaver::open(&db)?);
    let command: Vec<&str> = args.iter().map(String::as_str).collect();
    match invoke(&graph, &command).await? {
        RunOutcome::Paused { interrupts, .. } => {
            let question = interrupts[0].value.as_str().unwrap_or_default();
            println!("paused on thread {THREAD}:\n{question}\n");
            println!("Answer in another process, now or later:");
            println!("  cargo run -p graph-examples --example approval -- resume --approve");
            println!("  cargo run -p graph-examples --example approval -- resume --edit \"...\"");
        }
        RunOutcome::Finished(state) => {
            println!("decision: {}", state.decision);
            for email in &state.sent {
                println!("sent {email}");
            }
        }
    }
    Ok(())
}
