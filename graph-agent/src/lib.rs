//! Agents for graph-core: messages and the `add_messages` reducer, tools, a node that runs
//! tool calls in parallel, a prebuilt agent, and models that stream their answers.

#![deny(missing_docs)]

mod accumulate;
mod message;
mod messages;
mod model;
mod respond;
mod stream;
#[cfg(feature = "test-util")]
pub mod testing;
mod tool;

pub use accumulate::{ChunkAccumulator, ChunkError};
pub use message::{
    AssistantMessage, Message, RemoveMessage, SystemMessage, ToolCall, ToolMessage, ToolStatus,
    Usage, UserMessage, REMOVE_ALL_MESSAGES,
};
pub use messages::{
    add_messages, HasMessages, Messages, MessagesState, MessagesStateUpdate, UnknownMessage,
};
pub use model::{ChatModel, ChatRequest, MessageChunk, ResponseFormat, ToolCallChunk};
pub use respond::ChatModelExt;
pub use stream::{returned_messages, StreamedMessage, StreamedPayload};
pub use tool::{
    parameters_schema, IntoToolReply, Json, Tool, ToolContext, ToolOutput, ToolReply, ToolSpec,
    Toolbox,
};
