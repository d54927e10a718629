//! Agents for graph-core: messages and the `add_messages` reducer, tools, a node that runs
//! tool calls in parallel, a prebuilt agent, and models that stream their answers.

#![deny(missing_docs)]

mod message;
mod messages;
mod model;
mod tool;
mod tool_node;

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
pub use tool_node::{
    pending_tool_calls, route_tool_calls, tools_condition, ToolErrorPolicy, ToolNode, ToolNodeError,
};
