//! Why a tool call did not produce its answer: the errors a [`ToolNode`](super::ToolNode)
//! propagates, or hands to an error policy.

use graph_core::BoxError;

use super::kwargs::python_repr;

/// A tool call that failed, or whose answer breaks the rules of a tool-calling conversation.
///
/// An [`InterruptError`](graph_core::InterruptError) is never wrapped in one: it propagates
/// unchanged, so the run pauses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolNodeError {
    /// The arguments do not match the tool's argument type. Its text is the message a model
    /// reads in the error answer, as LangGraph words it.
    #[error(
        "Error invoking tool '{tool}' with kwargs {kwargs} with error:\n {reason}\n Please fix the error and try again.",
        kwargs = python_repr(.args)
    )]
    InvalidArgs {
        /// The tool called.
        tool: String,
        /// The call's id.
        call_id: String,
        /// The arguments the model sent.
        args: serde_json::Value,
        /// Why they do not fit.
        reason: String,
    },
    /// The tool returned an error.
    #[error("tool `{tool}` failed on call `{call_id}`: {source}")]
    Failed {
        /// The tool called.
        tool: String,
        /// The call's id.
        call_id: String,
        /// The tool's own error.
        #[source]
        source: BoxError,
    },
    /// The tool returned a `Command` whose update holds no tool message answering the call:
    /// the conversation would keep a call without a result, which models refuse.
    #[error(
        "tool `{tool}` returned a Command whose update holds no tool message answering call `{call_id}`; every tool call needs one: add `Message::tool(ctx.call_id(), ..)` to the command's update"
    )]
    MissingToolMessage {
        /// The tool called.
        tool: String,
        /// The call the update does not answer.
        call_id: String,
    },
    /// In whole-message mode, a tool returned a `Command` while other calls of the same
    /// message also answered: one task returns one update, so the two cannot be merged.
    #[error(
        "tool `{tool}` returned a Command for call `{call_id}` beside {others} other call(s) of the same message; a whole-message tool node returns one update and cannot merge a Command with other answers: run the calls one task each with `ToolNode::per_call` and `route_tool_calls`"
    )]
    CommandAmongOthers {
        /// The tool called.
        tool: String,
        /// The call answered with a Command.
        call_id: String,
        /// How many other calls the message holds.
        others: usize,
    },
    /// In whole-message mode, the conversation holds no assistant message to take calls from.
    #[error("node `{node}` found no assistant message whose tool calls it could run")]
    NoAssistantMessage {
        /// The tool node.
        node: String,
    },
}
