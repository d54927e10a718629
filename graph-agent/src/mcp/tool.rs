//! [`McpTool`]: one tool of an MCP server, as a [`Tool`] of this crate.

use async_trait::async_trait;
use graph_core::BoxError;

use super::client::McpClient;
use super::content::tool_output;
use crate::tool::{Tool, ToolContext, ToolOutput, ToolSpec};

/// A tool of an MCP server: its spec is the server's name, description and input schema,
/// and a call sends the arguments object to the server.
///
/// The result's content blocks become the tool message (see [`McpClient`] and the module
/// docs); a result flagged `isError` becomes an error tool message, which the model reads
/// whatever the [`ToolErrorPolicy`](crate::ToolErrorPolicy). A request that fails (the server
/// went away, timed out, or refused the call) fails the call with an [`McpError`], which the
/// tool node's error policy handles.
///
/// [`McpError`]: super::McpError
#[derive(Debug, Clone)]
pub struct McpTool {
    client: McpClient,
    spec: ToolSpec,
}

impl McpTool {
    pub(crate) fn new(client: McpClient, tool: rmcp::model::Tool) -> Self {
        let spec = ToolSpec {
            name: tool.name.into_owned(),
            description: tool.description.map(|text| text.into_owned()).unwrap_or_default(),
            parameters: serde_json::Value::Object((*tool.input_schema).clone()),
        };
        Self { client, spec }
    }
}

#[async_trait]
impl Tool for McpTool {
    /// The arguments object, passed through as the model wrote it; the server checks it.
    type Args = serde_json::Map<String, serde_json::Value>;
    type Output = ToolOutput;

    fn name(&self) -> &str {
        &self.spec.name
    }

    fn description(&self) -> &str {
        &self.spec.description
    }

    fn parameters(&self) -> serde_json::Value {
        self.spec.parameters.clone()
    }

    async fn call(&self, args: Self::Args, _: &ToolContext) -> Result<ToolOutput, BoxError> {
        let result = self.client.call_tool(&self.spec.name, args).await?;
        Ok(tool_output(result))
    }

    fn spec(&self) -> ToolSpec {
        self.spec.clone()
    }
}
