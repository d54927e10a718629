//! Why talking to an MCP server failed: one error naming the server and, for a call, the
//! tool.

use std::time::Duration;

use graph_core::BoxError;

/// An MCP server could not be reached, went away, was too slow, or refused a request.
///
/// Every variant names the server and, when a tool call failed, the tool (`None` while
/// listing tools). A tool that runs and reports a failure is not an error: its result
/// becomes an error tool message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// The server could not be started or reached, or its handshake failed.
    #[error("cannot connect to MCP server `{server}`: {source}")]
    Connect {
        /// The server, as [`McpClient::named`](super::McpClient::named) calls it.
        server: String,
        /// Why: the process did not start, the address refused, the handshake failed.
        #[source]
        source: BoxError,
    },
    /// The connection closed while a request was in flight: the process exited or the
    /// HTTP server went away. The next request reconnects.
    #[error("MCP server `{server}` disconnected while {}: {source}", doing(.tool))]
    Disconnected {
        /// The server.
        server: String,
        /// The tool being called, or `None` while listing tools.
        tool: Option<String>,
        /// What the transport reported.
        #[source]
        source: BoxError,
    },
    /// The server did not answer within the client's timeout.
    #[error("MCP server `{server}` did not answer within {timeout:?} while {}", doing(.tool))]
    Timeout {
        /// The server.
        server: String,
        /// The tool being called, or `None` while connecting or listing tools.
        tool: Option<String>,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The server answered with a protocol error (an unknown tool, invalid parameters) or
    /// an answer the client cannot use.
    #[error("MCP server `{server}` refused a request while {}: {source}", doing(.tool))]
    Protocol {
        /// The server.
        server: String,
        /// The tool being called, or `None` while listing tools.
        tool: Option<String>,
        /// The server's error.
        #[source]
        source: BoxError,
    },
}

/// What the client was doing, for error messages.
fn doing(tool: &Option<String>) -> String {
    match tool {
        Some(tool) => format!("calling tool `{tool}`"),
        None => "listing tools".to_owned(),
    }
}
