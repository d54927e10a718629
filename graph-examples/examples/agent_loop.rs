//! An agent loop over tools, guarded by the recursion limit:
//! `cargo run -p graph-examples --example agent_loop`.

use graph_agent::Message;
use graph_core::prelude::*;
use graph_core::RunOutcome;
use graph_examples::agent_loop;

#[tokio::main]
async fn main() {
    let graph = agent_loop::graph(agent_loop::decisive_model());
    match graph
        .invoke(agent_loop::question(), RunConfig::default())
        .await
        .and_then(RunOutcome::finished)
    {
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
    let stubborn = agent_loop::graph(agent_loop::stubborn_model());
    match stubborn.invoke(agent_loop::question(), RunConfig::default().recursion_limit(10)).await {
        Ok(_) => println!("the stubborn agent finished?"),
        Err(error) => println!("stubborn agent stopped: {error}"),
    }
}

fn role(message: &Message) -> &'static str {
    match message {
        Message::User(_) => "user",
        Message::Assistant(_) => "model",
        _ => "other",
    }
}
