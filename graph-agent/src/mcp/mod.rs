//! Tools of MCP servers (the Model Context Protocol), through the `rmcp` client: an
//! [`McpClient`] reaches a server over stdio (a child process) or streamable HTTP, and its
//! tools become [`McpTool`]s in a [`Toolbox`](crate::Toolbox).
//!
//! - **Specs.** Each tool keeps the server's name, description and input schema (as
//!   [`ToolSpec::parameters`](crate::ToolSpec::parameters)); every page of the server's
//!   listing is read.
//! - **Calls.** The model's arguments object goes to the server as it is. The result's text
//!   blocks (and embedded text resources) are joined with newlines into the tool message;
//!   images, audio, binary resources and resource links are named in brackets
//!   (`[image image/png]`), and the whole result is then kept as the message's artifact.
//! - **Tool failures.** A result flagged `isError` answers the call with an error tool
//!   message (`status: error`) holding the server's text, and the run goes on.
//! - **Server failures.** A server that cannot be reached, goes away mid-call, is slower than
//!   the client's timeout or refuses a request fails the call with an [`McpError`] naming
//!   the server and the tool; the [`ToolNode`](crate::ToolNode)'s
//!   [`ToolErrorPolicy`](crate::ToolErrorPolicy) decides whether that fails the run or
//!   answers the model. The next request reconnects.
//!
//! ```no_run
//! use graph_agent::mcp::McpClient;
//! use graph_agent::{MessagesState, ToolErrorPolicy, ToolNode, Toolbox};
//! use std::time::Duration;
//! use tokio::process::Command;
//!
//! # async fn demo() -> Result<(), graph_agent::mcp::McpError> {
//! // The workspace's demo server: `cargo run -p graph-agent --features mcp-server --bin mcp-tools`.
//! let travel = McpClient::spawn(Command::new("mcp-tools"))
//!     .named("travel")
//!     .timeout(Duration::from_secs(10));
//! let search = McpClient::http("http://127.0.0.1:8000/mcp").named("search");
//!
//! let tools = Toolbox::<MessagesState>::new()
//!     .merge(travel.toolbox().await?)
//!     .merge(search.toolbox().await?);
//! // A server gone mid-run answers the model with an error instead of failing the run.
//! let node = ToolNode::new(tools).handle_errors(ToolErrorPolicy::catch_all());
//! # let _ = node;
//! # Ok(())
//! # }
//! ```

mod client;
mod content;
mod error;
mod tool;

pub use client::McpClient;
pub use error::McpError;
pub use tool::McpTool;
