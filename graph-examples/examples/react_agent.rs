//! A travel agent: three lookups in parallel, a hotel booking that waits for your approval
//! (checkpointed in a local SQLite file), and the answer streamed word by word.
//!
//! `cargo run -p graph-examples --example react_agent` asks you to approve the booking when
//! run in a terminal (press Enter, or type another number of nights); otherwise it approves
//! on its own. `-- --nights 3` answers with an edit instead of asking.

// ANCHOR: uses
use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use graph_agent::{AgentState, ApprovalRequest, ToolDecision};
use graph_core::checkpoint::SqliteSaver;
use graph_core::prelude::*;
use graph_core::{GraphInput, StreamEvent, StreamMode};
use graph_examples::react_agent::{self, Narrator};
// ANCHOR_END: uses

type BoxError = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let database = std::path::Path::new("target").join("react-agent-demo.sqlite");
    std::fs::create_dir_all("target")?;
    // ANCHOR: main
    let agent =
        react_agent::graph(react_agent::model()).with_checkpointer(SqliteSaver::open(&database)?);
    let thread = format!("trip-{}", SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis());
    let config = RunConfig::default()
        .thread_id(&thread)
        .stream_mode(StreamMode::Messages)
        .stream_mode(StreamMode::Tasks);

    println!("you: {}\n", react_agent::QUESTION);
    let mut narrator = Narrator::new();
    let paused = run(&agent, react_agent::question(), config.clone(), &mut narrator).await?;
    let Some(request) = paused else {
        return Err("the agent answered without asking to book".into());
    };

    let decisions = decide(&request)?;
    narrator.decided(&request, &decisions);
    println!("\nresuming thread {thread} from {}\n", database.display());
    let done = run(&agent, Command::resume(decisions), config, &mut narrator).await?;
    if done.is_some() {
        return Err("the agent asked for approval twice".into());
    }
    // ANCHOR_END: main
    Ok(())
}

// ANCHOR: run
/// Streams one run to the terminal; returns the approval request when the run paused.
async fn run(
    agent: &CompiledGraph<AgentState>,
    input: impl GraphInput<AgentState>,
    config: RunConfig,
    narrator: &mut Narrator,
) -> Result<Option<ApprovalRequest>, BoxError> {
    let started = std::time::Instant::now();
    let mut stdout = std::io::stdout();
    let mut events = agent.stream(input, config);
    let mut request = None;
    while let Some(event) = events.next().await {
        let event = event?;
        print!("{}", narrator.narrate(started.elapsed(), &event));
        stdout.flush()?;
        if let StreamEvent::Paused { interrupts, .. } = &event {
            let interrupt = interrupts.first().ok_or("paused without a question")?;
            request = Some(serde_json::from_value(interrupt.value.clone())?);
        }
    }
    Ok(request)
}
// ANCHOR_END: run

/// Shows the calls waiting for approval and asks for a decision on each: from the command
/// line (`--nights N`), from the person at the terminal, or approving on our own.
fn decide(request: &ApprovalRequest) -> Result<Vec<ToolDecision>, BoxError> {
    let nights = std::env::args().skip_while(|a| a != "--nights").nth(1);
    let mut decisions = Vec::new();
    for call in &request.calls {
        println!("\n⏸  The agent wants to run {}: {}", call.name, call.args);
        let decision = if let Some(nights) = &nights {
            println!("   --nights {nights}: edited to stay {nights} night(s)");
            react_agent::decision(call, nights)?
        } else if std::io::stdin().is_terminal() {
            ask(call)?
        } else {
            std::thread::sleep(Duration::from_millis(500));
            println!("   approved (stdin is not a terminal, so no one can be asked)");
            ToolDecision::Approve
        };
        decisions.push(decision);
    }
    Ok(decisions)
}

/// Asks at the terminal until the reply is a decision.
fn ask(call: &graph_agent::ToolCall) -> Result<ToolDecision, BoxError> {
    loop {
        print!("   Approve? [Enter] yes, or type another number of nights: ");
        std::io::stdout().flush()?;
        let mut reply = String::new();
        if std::io::stdin().read_line(&mut reply)? == 0 {
            return Ok(ToolDecision::Approve);
        }
        match react_agent::decision(call, &reply) {
            Ok(decision) => return Ok(decision),
            Err(reason) => println!("   {reason}"),
        }
    }
}
