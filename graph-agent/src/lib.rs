//! Agents for graph-core: messages and the `add_messages` reducer, tools, a node that runs
//! tool calls in parallel, a prebuilt agent, and models that stream their answers.
//!
//! Cargo features: `openai` (`OpenAiModel`, `init_model`: any OpenAI-compatible
//! provider), `mcp` (`mcp::McpClient`: the tools of MCP servers), `local` (`local::LocalModel`:
//! a GGUF model in-process through llama.cpp), and `test-util` (`testing`: a scripted model and
//! fake tools).

#![deny(missing_docs)]

mod accumulate;
mod agent;
#[cfg(feature = "openai")]
mod config;
#[cfg(any(feature = "openai", feature = "mcp"))]
mod http;
#[cfg(feature = "local")]
pub mod local;
#[cfg(feature = "mcp")]
pub mod mcp;
mod message;
mod messages;
mod model;
mod model_error;
#[cfg(feature = "openai")]
mod openai;
mod respond;
mod stream;
mod telemetry;
#[cfg(feature = "test-util")]
pub mod testing;
mod tool;
mod tool_node;

pub use accumulate::{ChunkAccumulator, ChunkError};
pub use agent::{
    create_agent, nodes, AgentBuilder, AgentError, AgentState, AgentStateUpdate, ApprovalRequest,
    ToolDecision, WrongDecisionCount, NEED_MORE_STEPS,
};
#[cfg(feature = "openai")]
pub use config::{init_model, ModelConfigError, ModelSpec, PROVIDERS};
/// Turns a documented `async fn` into a [`Tool`]: a unit struct of the same name.
///
/// The tool's name is the function's (or `#[tool(name = "...")]`), its description the doc
/// comment (lines joined, paragraphs kept), and its arguments the function's parameters,
/// read from the call's JSON by name; a parameter's doc comment (and `#[serde(..)]` or
/// `#[schemars(..)]` attributes) describe it in the schema. A last parameter of type
/// `&ToolContext` or `ToolContext` receives the call's context instead. The function returns
/// its result `T`, or `Result<T, E>` with `E: Into<BoxError>`; `T` is the tool's `Output`.
/// `#[tool(return_direct)]` makes the agent answer with the tool's result.
///
/// The function itself stays callable as `name::run(..)`.
///
/// ```
/// use graph_agent::{tool, MessagesState, Tool, ToolContext, Toolbox};
///
/// /// Today's weather in a city.
/// #[tool]
/// async fn weather(
///     /// The city's English name.
///     city: String,
///     /// Days ahead; today when absent.
///     days: Option<u32>,
/// ) -> String {
///     format!("{city} in {} day(s): sunny", days.unwrap_or(0))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let tools = Toolbox::<MessagesState>::new().with(weather);
/// assert_eq!(tools.specs()[0].description, "Today's weather in a city.");
///
/// let args = serde_json::from_value(serde_json::json!({"city": "Paris"}))?;
/// assert_eq!(weather.call(args, &ToolContext::new("call-1")).await?, "Paris in 0 day(s): sunny");
/// assert_eq!(weather::run("Oslo".into(), Some(2)).await, "Oslo in 2 day(s): sunny");
/// # Ok(())
/// # }
/// ```
///
/// Mistakes are compile errors pointing at the fault: a function that is not `async`, has
/// no doc comment, takes `self`, is generic or destructures a parameter; an unknown option;
/// an argument type that is not `Deserialize` and `JsonSchema`.
pub use graph_macros::tool;
pub use message::{
    AssistantMessage, Message, RemoveMessage, StopReason, SystemMessage, ToolCall, ToolMessage,
    ToolStatus, Usage, UserMessage, REMOVE_ALL_MESSAGES,
};
pub use messages::{
    add_messages, HasMessages, Messages, MessagesState, MessagesStateUpdate, UnknownMessage,
};
pub use model::{ChatModel, ChatRequest, MessageChunk, ModelInfo, ResponseFormat, ToolCallChunk};
pub use model_error::ModelError;
#[cfg(feature = "openai")]
pub use openai::{OpenAiModel, SchemaDialect};
pub use respond::ChatModelExt;
pub use stream::{returned_messages, StreamedMessage, StreamedPayload};
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
pub use tool_node::{
    pending_tool_calls, route_tool_calls, tools_condition, ToolErrorPolicy, ToolNode, ToolNodeError,
};
