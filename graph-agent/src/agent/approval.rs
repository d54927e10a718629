//! Human approval of tool calls: the agent pauses before the calls run and a person approves,
//! edits or rejects each one.

use graph_core::{BoxError, NodeContext};
use serde::{Deserialize, Serialize};

use super::{AgentShared, AgentState, AgentStateUpdate};
use crate::message::{Message, ToolCall, ToolMessage, ToolStatus};

/// What the agent asks a person when it pauses: the calls waiting for a decision, in order.
/// It is the interrupt's value; answer with one [`ToolDecision`] per call, in the same order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// The calls to decide on.
    pub calls: Vec<ToolCall>,
}

/// A person's decision on one tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolDecision {
    /// Run the call as the model made it.
    Approve,
    /// Run the call with these arguments instead.
    Edit {
        /// The new arguments.
        args: serde_json::Value,
    },
    /// Do not run the call; the model reads `message`, or a standard refusal.
    Reject {
        /// What to tell the model.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

/// The wrong number of decisions came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{expected} tool calls wait for a decision, but {got} decisions were given")]
pub struct WrongDecisionCount {
    /// Calls waiting.
    pub expected: usize,
    /// Decisions given.
    pub got: usize,
}

/// The tool message a rejected call gets when the person gave no message (LangGraph's wording).
fn refusal(call: &ToolCall) -> String {
    format!(
        "User rejected the tool call for `{}` with id {}. The tool was not executed. Do not retry this tool call unless the user explicitly requests it.",
        call.name, call.id
    )
}

/// The approval node: pauses with the calls that wait for approval, then applies the
/// decisions: edits replace the assistant message (same id, new arguments), rejections
/// answer their calls so they never run.
pub(super) fn review(
    agent: &AgentShared,
    state: &AgentState,
    ctx: &NodeContext,
) -> Result<AgentStateUpdate, BoxError> {
    let waiting: Vec<ToolCall> = crate::pending_tool_calls(state)
        .into_iter()
        .filter(|call| agent.approval.needed_for(&call.name))
        .collect();
    if waiting.is_empty() {
        return Ok(AgentState::update());
    }
    let decisions: Vec<ToolDecision> = ctx.interrupt(ApprovalRequest { calls: waiting.clone() })?;
    if decisions.len() != waiting.len() {
        return Err(WrongDecisionCount { expected: waiting.len(), got: decisions.len() }.into());
    }
    let Some(index) = state.messages.iter().rposition(|m| m.as_assistant().is_some()) else {
        return Ok(AgentState::update());
    };
    let mut asked = state.messages[index].clone();
    let mut edited = false;
    let mut answers = Vec::new();
    for (call, decision) in waiting.iter().zip(decisions) {
        match decision {
            ToolDecision::Approve => {}
            ToolDecision::Edit { args } => {
                if let Message::Assistant(message) = &mut asked {
                    if let Some(slot) = message.tool_calls.iter_mut().find(|c| c.id == call.id) {
                        slot.args = args;
                        edited = true;
                    }
                }
            }
            ToolDecision::Reject { message } => answers.push(Message::Tool(ToolMessage {
                name: Some(call.name.clone()),
                content: message.unwrap_or_else(|| refusal(call)),
                tool_call_id: call.id.clone(),
                status: ToolStatus::Error,
                ..Default::default()
            })),
        }
    }
    let mut messages = Vec::with_capacity(answers.len() + 1);
    if edited {
        messages.push(asked);
    }
    messages.extend(answers);
    Ok(if messages.is_empty() {
        AgentState::update()
    } else {
        AgentState::update().messages(messages.into())
    })
}
