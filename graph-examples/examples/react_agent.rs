//! A travel agent: four lookups in parallel (one of them on an MCP server that runs as a child
//! process), a hotel booking that waits for your approval (checkpointed in a local SQLite
//! file), the answer streamed word by word, and each run's timeline.
//!
//! `cargo run -p graph-examples --example react_agent` runs on a real model when one is
//! configured (`OPENAI_API_KEY`, `OPENAI_BASE_URL` for any OpenAI-compatible server,
//! `ANTHROPIC_API_KEY`, `GEMINI_API_KEY`, or `GRAPH_MODEL=provider:model`; `-- --model SPEC`),
//! on a local GGUF model with `--features local -- --local`, and otherwise says so and runs
//! on a scripted model. It asks you to approve the booking when run in a terminal (press Enter,
//! or type another number of nights); otherwise it approves on its own. `-- --nights 3`
//! answers with an edit instead of asking.

// ANCHOR: uses
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use graph_agent::mcp::McpClient;
use graph_agent::{
    init_model, AgentState, ApprovalRequest, ChatModel, Message, ModelError, ToolDecision,
    ToolErrorPolicy,
};
use graph_core::checkpoint::SqliteSaver;
use graph_core::prelude::*;
use graph_core::{GraphInput, NodeOptions, StreamEvent, StreamMode, Timeline};
use graph_examples::agent_demo::{self, Brain};
use graph_examples::react_agent::{self, Narrator};
use graph_examples::travel_mcp;
// ANCHOR_END: uses

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--mcp-server") {
        // The MCP server this demo starts as its child process: this same program.
        return travel_mcp::serve_stdio(false).await;
    }
    let database = match args.iter().position(|a| a == "--db") {
        Some(at) => std::path::PathBuf::from(args.get(at + 1).ok_or("--db needs a path")?),
        None => std::path::Path::new("target").join("react-agent-demo.sqlite"),
    };
    if let Some(dir) = database.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // ANCHOR: main
    let model = model(&args)?;
    // ANCHOR: mcp
    // The currency tool lives on an MCP server, run as a child process over stdio.
    let mut server = tokio::process::Command::new(std::env::current_exe()?);
    server.arg("--mcp-server");
    let mcp = McpClient::spawn(server).named("travel-mcp");
    let mcp_tools = mcp.toolbox::<AgentState>().await?;
    println!("MCP server travel-mcp (a child process) offers {:?}", mcp_tools);
    let agent = react_agent::agent(model)
        .tools(mcp_tools)
        // ANCHOR_END: mcp
        // A failed tool call is an error message the model can read, not the end of the run;
        // a rate-limited model is asked again when the provider says.
        .tool_errors(ToolErrorPolicy::catch_all())
        .model_options(NodeOptions::new().retry(ModelError::retry_policy(4)))
        .compile()?
        .with_checkpointer(SqliteSaver::open(&database)?);
    let thread = format!("trip-{}", SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis());
    let config = RunConfig::default()
        .thread_id(&thread)
        .stream_mode(StreamMode::Messages)
        .stream_mode(StreamMode::Tasks);

    println!("you: {}\n", agent_demo::QUESTION);
    let mut narrator = Narrator::new();
    let question = Message::user(agent_demo::QUESTION);
    let mut paused = run(&agent, question, config.clone(), &mut narrator).await?;
    // A real model may book more than once, or not at all: answer every approval it asks for.
    while let Some(request) = paused {
        let decisions = decide(&request)?;
        narrator.decided(&request, &decisions);
        println!("\nresuming thread {thread} from {}\n", database.display());
        paused = run(&agent, Command::resume(decisions), config.clone(), &mut narrator).await?;
    }
    // ANCHOR_END: main
    mcp.close().await;
    Ok(())
}

// ANCHOR: model
/// The model the command line and environment choose, or the scripted one.
fn model(args: &[String]) -> Result<Arc<dyn ChatModel>, BoxError> {
    let env = |var: &str| std::env::var(var).ok().filter(|value| !value.is_empty());
    Ok(match agent_demo::choose(args, env) {
        Brain::Provider(spec) => {
            let model = init_model(&spec)?;
            println!("model: {spec}");
            model
        }
        Brain::Local(path) => local_model(path)?,
        Brain::Scripted => {
            println!("{}", agent_demo::NO_MODEL);
            Arc::new(agent_demo::scripted_model())
        }
    })
}
// ANCHOR_END: model

#[cfg(feature = "local")]
fn local_model(path: Option<std::path::PathBuf>) -> Result<Arc<dyn ChatModel>, BoxError> {
    let path = path.or_else(agent_demo::cached_local_model).ok_or(
        "--local needs a model file: run scripts/fetch-local-model (or pass --local PATH)",
    )?;
    println!("model: {} (in-process, llama.cpp)", path.display());
    Ok(Arc::new(graph_agent::local::LocalModel::load(path)?))
}

#[cfg(not(feature = "local"))]
fn local_model(_: Option<std::path::PathBuf>) -> Result<Arc<dyn ChatModel>, BoxError> {
    Err("--local needs the local feature: cargo run -p graph-examples --features local --example react_agent -- --local".into())
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
    let (mut request, mut seen) = (None, Vec::new());
    while let Some(event) = events.next().await {
        let event = event?;
        print!("{}", narrator.narrate(started.elapsed(), &event));
        stdout.flush()?;
        if let StreamEvent::Paused { interrupts, .. } = &event {
            let interrupt = interrupts.first().ok_or("paused without a question")?;
            request = Some(serde_json::from_value(interrupt.value.clone())?);
        }
        seen.push(event);
    }
    println!("\n{}", Timeline::from_events(&seen).to_table());
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
