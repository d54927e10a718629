//! Agent loop: a model decides between calling a tool and finishing, looping until done;
//! the recursion limit stops a model that never finishes.

// ANCHOR: uses
use std::sync::Arc;
use std::time::Duration;

use graph_core::prelude::*;
use graph_core::BoxError;
use serde::{Deserialize, Serialize};

use crate::llm::{ChatModel, FnTool, ScriptedModel, Tool};
// ANCHOR_END: uses

/// The conversation so far.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// The question.
    pub question: String,
    /// Every model decision and tool result, in order.
    #[reducer(append)]
    pub transcript: Vec<String>,
    /// The model's last decision: `call <tool> <input>` or `finish <answer>`.
    pub decision: String,
    /// The final answer.
    pub answer: String,
}

/// A model that looks up two facts, then answers.
pub fn decisive_model() -> ScriptedModel {
    ScriptedModel::new(
        "finish Paris is 344 km from London, and it is sunny there.",
        Duration::from_millis(20),
    )
    .on("step 0", "call distance London-Paris")
    .on("step 1", "call weather Paris")
}

/// A model that never stops calling tools.
pub fn stubborn_model() -> ScriptedModel {
    ScriptedModel::new("call weather Paris", Duration::from_millis(20))
}

// ANCHOR: graph
/// The agent graph: `agent` decides, `tools` acts, until the agent finishes.
pub fn graph(model: ScriptedModel) -> CompiledGraph<Conversation> {
    let model = Arc::new(model);
    let tools: Arc<Vec<FnTool>> = Arc::new(vec![
        FnTool::new("distance", Duration::from_millis(30), |_| Ok("344 km".into())),
        FnTool::new("weather", Duration::from_millis(30), |_| Ok("sunny".into())),
    ]);
    StateGraph::<Conversation>::new()
        .add_node("agent", move |s: Arc<Conversation>| {
            let model = Arc::clone(&model);
            async move {
                let calls = s.transcript.iter().filter(|t| t.starts_with("tool")).count();
                let decision = model.complete(&format!("{} (step {calls})", s.question)).await?;
                let mut update =
                    Conversation::update().transcript(vec![format!("agent: {decision}")]);
                if let Some(answer) = decision.strip_prefix("finish ") {
                    update = update.answer(answer.to_owned());
                }
                Ok::<_, BoxError>(update.decision(decision))
            }
        })
        .add_node("tools", move |s: Arc<Conversation>| {
            let tools = Arc::clone(&tools);
            async move {
                let mut words = s.decision.splitn(3, ' ').skip(1);
                let (name, input) =
                    (words.next().unwrap_or_default(), words.next().unwrap_or_default());
                let tool = tools
                    .iter()
                    .find(|t| t.name() == name)
                    .ok_or_else(|| format!("no tool {name}"))?;
                let result = tool.call(input).await?;
                Ok::<_, BoxError>(
                    Conversation::update().transcript(vec![format!("tool {name}: {result}")]),
                )
            }
        })
        .add_edge(START, "agent")
        .add_conditional_edges(
            "agent",
            |s: &Conversation| if s.decision.starts_with("call ") { "tools" } else { END },
            ["tools", END],
        )
        .add_edge("tools", "agent")
        .compile()
        .expect("the agent graph is valid")
}
// ANCHOR_END: graph
