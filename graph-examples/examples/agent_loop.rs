//! An agent loop over tools, guarded by the recursion limit:
//! `cargo run -p graph-examples --example agent_loop`.
//!
//! With `--local`, a real model drives the loop, in-process: SmolLM2-135M through llama.cpp.
//! `GRAPH_LOCAL_MODEL="$(scripts/fetch-local-model)" cargo run -p graph-examples --features local --example agent_loop -- --local`

use graph_agent::{Message, MessagesState};
use graph_core::prelude::*;
use graph_core::{GraphError, RunOutcome};
use graph_examples::agent_loop;

#[tokio::main]
async fn main() {
    if std::env::args().any(|arg| arg == "--local") {
        return run_local().await;
    }
    let graph = agent_loop::graph(agent_loop::decisive_model());
    print_run(graph.invoke(agent_loop::question(), RunConfig::default()).await);
    let stubborn = agent_loop::graph(agent_loop::stubborn_model());
    match stubborn.invoke(agent_loop::question(), RunConfig::default().recursion_limit(10)).await {
        Ok(_) => println!("the stubborn agent finished?"),
        Err(error) => println!("stubborn agent stopped: {error}"),
    }
}

/// The same loop on the local model: it calls the tools on its first turn (forced by the
/// grammar) and answers in text once it has their results.
#[cfg(feature = "local")]
async fn run_local() {
    let path = std::env::var_os("GRAPH_LOCAL_MODEL")
        .expect("set GRAPH_LOCAL_MODEL: export GRAPH_LOCAL_MODEL=\"$(scripts/fetch-local-model)\"");
    let model =
        graph_agent::local::LocalModel::load(path).expect("the model loads").max_tokens(128);
    let graph = agent_loop::graph(model);
    print_run(graph.invoke(agent_loop::question(), RunConfig::default().recursion_limit(10)).await);
}

#[cfg(not(feature = "local"))]
async fn run_local() {
    println!("--local needs the local model: add `--features local`");
}

fn print_run(run: Result<RunOutcome<MessagesState>, GraphError>) {
    match run.and_then(RunOutcome::finished) {
        Ok(out) => {
            for message in out.messages.iter() {
                match message {
                    Message::Assistant(m) if !m.tool_calls.is_empty() => {
                        let calls: Vec<String> = m
                            .tool_calls
                            .iter()
                            .map(|c| format!("{}({})", c.name, c.args))
                            .collect();
                        println!("model: calls {}", calls.join(", "));
                    }
                    Message::Tool(m) => println!("tool:  {}", m.content),
                    other => println!("{}: {}", role(other), other.content()),
                }
            }
        }
        Err(error) => println!("error: {error}"),
    }
}

fn role(message: &Message) -> &'static str {
    match message {
        Message::User(_) => "user",
        Message::Assistant(_) => "model",
        _ => "other",
    }
}
