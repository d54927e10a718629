//! Agents for graph-core: messages and the `add_messages` reducer, tools, a node that runs
//! tool calls in parallel, a prebuilt agent, and models that stream their answers.

#![deny(missing_docs)]

mod message;
mod messages;
mod model;
mod tool;

pub use graph_macros::tool;
pub use message::{
    AssistantMessage, Message, RemoveMessage, SystemMessage, ToolCall, ToolMessage, ToolStatus,
    Usage, UserMessage, REMOVE_ALL_MESSAGES,
};
pub use messages::{
    add_messages, HasMessages, Messages, MessagesState, MessagesStateUpdate, UnknownMessage,
};
pub use model::{ChatModel, ChatRequest, MessageChunk, ResponseFormat, ToolCallChunk};
pub use tool::{
    parameters_schema, IntoToolReply, Json, Tool, ToolContext, ToolOutput, ToolReply, ToolSpec,
    Toolbox,
};
mod graph_tool;
pub use graph_tool::{GraphTool, GraphToolBuilder, GraphToolError};

/// What the `#[tool]` macro's code needs; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::{Tool, ToolContext};
    pub use async_trait::async_trait;
    pub use graph_core::BoxError;
    pub use schemars;
    pub use serde;
}
