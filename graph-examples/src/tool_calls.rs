//! Parallel tool calls in one agent turn: the calls run at once under a cap of two, their
//! results come back in call order, and a dependent call (translate after summarize) waits
//! for its input.

// ANCHOR: uses
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use graph_core::prelude::*;
use graph_core::{BoxError, Input, NodeOptions};
use serde::{Deserialize, Serialize};

use crate::llm::{FnTool, Tool, Toolbox};
// ANCHOR_END: uses

/// One tool call the agent asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Its place in the agent's request.
    pub index: usize,
    /// The tool.
    pub tool: String,
    /// The tool's input.
    pub input: String,
}

/// One agent turn.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// The user's request.
    pub request: String,
    /// The calls the agent made.
    pub calls: Vec<ToolCall>,
    /// Results by call index: in call order whatever order they finish in.
    #[reducer(merge)]
    pub results: BTreeMap<usize, String>,
    /// The summary of the results.
    pub summary: String,
    /// The summary, translated.
    pub translation: String,
}

/// At most this many tool calls run at once (a rate-limited API).
pub const MAX_PARALLEL_CALLS: usize = 2;

fn toolbox() -> Toolbox {
    let tools: Vec<Arc<dyn Tool>> = vec![
        Arc::new(FnTool::new("weather", Duration::from_millis(100), |city| {
            Ok(format!("{city}: 18°C, light rain"))
        })),
        Arc::new(FnTool::new("flights", Duration::from_millis(100), |route| {
            Ok(format!("{route}: 3 direct flights"))
        })),
        Arc::new(FnTool::new("hotels", Duration::from_millis(100), |city| {
            Ok(format!("{city}: 12 hotels under 150 EUR"))
        })),
        Arc::new(FnTool::new("summarize", Duration::from_millis(50), |text| {
            Ok(format!("In short: {text}"))
        })),
        Arc::new(FnTool::new("translate", Duration::from_millis(50), |text| {
            Ok(format!("[fr] {text}"))
        })),
    ];
    tools.into_iter().map(|tool| (tool.name().to_owned(), tool)).collect()
}

// ANCHOR: graph
/// The turn graph: plan the calls, run them (two at a time), summarize, translate.
pub fn graph() -> CompiledGraph<Turn> {
    let tools = Arc::new(toolbox());
    let (for_calls, for_summary, for_translation) = (Arc::clone(&tools), Arc::clone(&tools), tools);
    StateGraph::<Turn>::new()
        .add_node("agent", |s: Arc<Turn>| async move {
            let city = s.request.split_whitespace().last().unwrap_or("Lisbon").to_owned();
            let calls = [
                ("weather", city.clone()),
                ("flights", format!("Paris-{city}")),
                ("hotels", city.clone()),
                ("weather", "Paris".to_owned()),
                ("flights", format!("{city}-Paris")),
            ]
            .into_iter()
            .enumerate()
            .map(|(index, (tool, input))| ToolCall { index, tool: tool.to_owned(), input })
            .collect();
            Turn::update().calls(calls)
        })
        .add_node_with(
            "call_tool",
            move |Input(call): Input<ToolCall>| {
                let tools = Arc::clone(&for_calls);
                async move {
                    let tool =
                        tools.get(&call.tool).ok_or_else(|| format!("no tool {}", call.tool))?;
                    let result = tool.call(&call.input).await?;
                    Ok::<_, BoxError>(
                        Turn::update().results(BTreeMap::from([(call.index, result)])),
                    )
                }
            },
            NodeOptions::new().concurrency(MAX_PARALLEL_CALLS),
        )
        .add_node("summarize", move |s: Arc<Turn>| {
            let tools = Arc::clone(&for_summary);
            async move {
                let joined = s.results.values().cloned().collect::<Vec<_>>().join("; ");
                let summary = tools["summarize"].call(&joined).await?;
                Ok::<_, BoxError>(Turn::update().summary(summary))
            }
        })
        .add_node("translate", move |s: Arc<Turn>| {
            let tools = Arc::clone(&for_translation);
            async move {
                Ok::<_, BoxError>(
                    Turn::update().translation(tools["translate"].call(&s.summary).await?),
                )
            }
        })
        .add_edge(START, "agent")
        .add_conditional_edges(
            "agent",
            |s: &Turn| {
                s.calls
                    .iter()
                    .map(|c| graph_core::Send::new("call_tool", c.clone()))
                    .collect::<Vec<_>>()
            },
            ["call_tool"],
        )
        .add_edge("call_tool", "summarize")
        .add_edge("summarize", "translate")
        .add_edge("translate", END)
        .compile()
        .expect("the tool-call graph is valid")
}
// ANCHOR_END: graph
