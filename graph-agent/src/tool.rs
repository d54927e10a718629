//! Tools: the [`Tool`] trait, the [`ToolSpec`] a model reads, and what a tool's result
//! becomes ([`IntoToolReply`]).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use graph_core::store::Store;
use graph_core::{BoxError, Command, NodeContext, State};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::message::ToolStatus;

/// What a model is told about a tool: its name, what it does and the JSON Schema of its
/// arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The name the model calls it by.
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// The JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// A tool a model can call: typed arguments in, a result out.
///
/// Write one with the `#[tool]` attribute on a documented `async fn`, or implement it for
/// tools whose name or schema are known only at run time.
#[async_trait]
pub trait Tool: Send + Sync + 'static {
    /// The arguments, read from the call's JSON.
    type Args: DeserializeOwned + JsonSchema + Send + 'static;
    /// The result: text, JSON, a [`ToolOutput`] with an artifact, or a `Command`; see
    /// [`IntoToolReply`].
    type Output: Send + 'static;

    /// The name the model calls it by.
    fn name(&self) -> &str;

    /// What the tool does, for the model.
    fn description(&self) -> &str;

    /// The JSON Schema of the arguments; by default generated from [`Args`](Self::Args).
    fn parameters(&self) -> serde_json::Value {
        parameters_schema::<Self::Args>()
    }

    /// Whether the agent stops after this tool and answers with its result.
    fn return_direct(&self) -> bool {
        false
    }

    /// Runs the tool.
    async fn call(&self, args: Self::Args, ctx: &ToolContext) -> Result<Self::Output, BoxError>;

    /// The tool as a model sees it.
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name().to_owned(),
            description: self.description().to_owned(),
            parameters: self.parameters(),
        }
    }
}

/// The JSON Schema of `T` as tool arguments: JSON Schema 2020-12 with every subschema
/// inlined, without the `$schema` and `title` keys that models do not need.
pub fn parameters_schema<T: JsonSchema>() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        object.remove("title");
    }
    schema
}

/// What a tool's call knows: the call's id and, inside a graph, its task.
#[derive(Debug, Clone)]
pub struct ToolContext {
    call_id: String,
    node: Option<NodeContext>,
}

impl ToolContext {
    /// The context of call `call_id` made outside any graph, to call a tool directly (in a
    /// unit test, say).
    pub fn new(call_id: impl Into<String>) -> Self {
        Self { call_id: call_id.into(), node: None }
    }

    /// The context of call `call_id` run by the task `node`.
    pub fn in_task(call_id: impl Into<String>, node: NodeContext) -> Self {
        Self { call_id: call_id.into(), node: Some(node) }
    }

    /// The id of the tool call being answered.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The task running the call, inside a graph: for [`NodeContext::emit`] and the task's
    /// node, step and id.
    pub fn node(&self) -> Option<&NodeContext> {
        self.node.as_ref()
    }

    /// The graph's run context, inside a graph whose context has type `C`
    /// ([`NodeContext::context`]): who the user is, say.
    pub fn context<C: Send + Sync + 'static>(&self) -> Option<&C> {
        self.node.as_ref().and_then(NodeContext::context::<C>)
    }

    /// The graph's store of long-term memory, inside a graph that has one
    /// ([`NodeContext::store`]).
    pub fn store(&self) -> Option<&Arc<dyn Store>> {
        self.node.as_ref().and_then(NodeContext::store)
    }

    /// Pauses the run to ask a person, like [`NodeContext::interrupt`]; let the error
    /// propagate with `?`. Outside a graph there is no one to ask, and this fails.
    pub fn interrupt<T: Serialize, R: DeserializeOwned>(&self, value: T) -> Result<R, BoxError> {
        match &self.node {
            Some(node) => Ok(node.interrupt(value)?),
            None => {
                Err(format!("tool call `{}` cannot pause outside a graph", self.call_id).into())
            }
        }
    }
}

/// A tool's result as text for the model, with optional data for the program.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolOutput {
    /// What the model reads.
    pub content: String,
    /// What the model does not see, kept on the [`ToolMessage`](crate::ToolMessage).
    pub artifact: Option<serde_json::Value>,
    /// Whether the tool succeeded: an error result reaches the model as an error tool
    /// message, and no error policy applies, since the tool itself worded it for the model.
    #[serde(default, skip_serializing_if = "ToolStatus::is_success")]
    pub status: ToolStatus,
}

impl ToolOutput {
    /// A result the model reads as `content`.
    pub fn new(content: impl Into<String>) -> Self {
        Self { content: content.into(), artifact: None, status: ToolStatus::Success }
    }

    /// A failure the model reads as `content`, answered with an error tool message (an MCP
    /// server's `isError` result, say) instead of failing the call.
    pub fn error(content: impl Into<String>) -> Self {
        Self { content: content.into(), artifact: None, status: ToolStatus::Error }
    }

    /// The same result with `artifact` for the program.
    pub fn with_artifact(mut self, artifact: serde_json::Value) -> Self {
        self.artifact = Some(artifact);
        self
    }
}

/// A result serialized to JSON text for the model: return `Json(value)` from a tool whose
/// result is a struct.
#[derive(Debug, Clone, PartialEq)]
pub struct Json<T>(pub T);

/// What a tool's call becomes in a graph over state `S`.
pub enum ToolReply<S: State> {
    /// A [`ToolMessage`](crate::ToolMessage) answering the call.
    Output(ToolOutput),
    /// A command: its update (which must hold the call's tool message) and its routing.
    Command(Command<S>),
}

/// A tool result that a graph over state `S` can take: text, JSON, [`ToolOutput`], [`Json`],
/// or a `Command<S>`.
#[diagnostic::on_unimplemented(
    message = "a tool returning `{Self}` cannot run in a graph over this state",
    note = "return a `String`, a `serde_json::Value`, a `ToolOutput`, `Json(value)` for any serializable value, or a `Command` of the graph's state"
)]
pub trait IntoToolReply<S: State> {
    /// The reply, or why the result cannot be one.
    fn into_reply(self) -> Result<ToolReply<S>, BoxError>;
}

impl<S: State> IntoToolReply<S> for ToolOutput {
    fn into_reply(self) -> Result<ToolReply<S>, BoxError> {
        Ok(ToolReply::Output(self))
    }
}

impl<S: State> IntoToolReply<S> for String {
    fn into_reply(self) -> Result<ToolReply<S>, BoxError> {
        Ok(ToolReply::Output(ToolOutput::new(self)))
    }
}

impl<S: State> IntoToolReply<S> for &'static str {
    fn into_reply(self) -> Result<ToolReply<S>, BoxError> {
        Ok(ToolReply::Output(ToolOutput::new(self)))
    }
}

/// A JSON string is the text itself, as LangGraph does; any other value is its JSON text.
impl<S: State> IntoToolReply<S> for serde_json::Value {
    fn into_reply(self) -> Result<ToolReply<S>, BoxError> {
        let content = match self {
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        };
        Ok(ToolReply::Output(ToolOutput::new(content)))
    }
}

impl<S: State, T: Serialize> IntoToolReply<S> for Json<T> {
    fn into_reply(self) -> Result<ToolReply<S>, BoxError> {
        serde_json::to_value(self.0)?.into_reply()
    }
}

impl<S: State> IntoToolReply<S> for Command<S> {
    fn into_reply(self) -> Result<ToolReply<S>, BoxError> {
        Ok(ToolReply::Command(self))
    }
}

/// Why a call did not produce a reply.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The arguments did not match the tool's argument type.
    InvalidArgs(serde_json::Error),
    /// The tool failed (or paused the run).
    Failed(BoxError),
}

/// A tool with its types erased, as a graph over `S` holds it.
#[async_trait]
pub(crate) trait ErasedTool<S: State>: Send + Sync {
    fn spec(&self) -> &ToolSpec;
    fn return_direct(&self) -> bool;
    async fn call_json(
        &self,
        args: serde_json::Value,
        ctx: &ToolContext,
    ) -> Result<ToolReply<S>, CallError>;
}

/// A tool and its spec, computed once.
struct Erased<T> {
    tool: T,
    spec: ToolSpec,
}

#[async_trait]
impl<S: State, T: Tool> ErasedTool<S> for Erased<T>
where
    T::Output: IntoToolReply<S>,
{
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn return_direct(&self) -> bool {
        self.tool.return_direct()
    }

    async fn call_json(
        &self,
        args: serde_json::Value,
        ctx: &ToolContext,
    ) -> Result<ToolReply<S>, CallError> {
        let args = serde_json::from_value(args).map_err(CallError::InvalidArgs)?;
        let output = self.tool.call(args, ctx).await.map_err(CallError::Failed)?;
        output.into_reply().map_err(CallError::Failed)
    }
}

/// Tools by name, in the order they were added: what a [`ToolNode`](crate::ToolNode) and
/// the prebuilt agent run.
pub struct Toolbox<S: State> {
    tools: Vec<Arc<dyn ErasedTool<S>>>,
}

impl<S: State> Clone for Toolbox<S> {
    fn clone(&self) -> Self {
        Self { tools: self.tools.clone() }
    }
}

impl<S: State> Default for Toolbox<S> {
    fn default() -> Self {
        Self { tools: Vec::new() }
    }
}

impl<S: State> fmt::Debug for Toolbox<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.tools.iter().map(|t| &t.spec().name)).finish()
    }
}

impl<S: State> Toolbox<S> {
    /// No tools.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same toolbox with `tool`; a tool of the same name is replaced.
    pub fn with<T: Tool>(self, tool: T) -> Self
    where
        T::Output: IntoToolReply<S>,
    {
        let spec = tool.spec();
        let tool: Arc<dyn ErasedTool<S>> = Arc::new(Erased { tool, spec });
        self.merge(Toolbox { tools: vec![tool] })
    }

    /// The same toolbox with every tool of `other` added; a tool of the same name is
    /// replaced.
    pub fn merge(mut self, other: Toolbox<S>) -> Self {
        for tool in other.tools {
            match self.tools.iter().position(|t| t.spec().name == tool.spec().name) {
                Some(index) => self.tools[index] = tool,
                None => self.tools.push(tool),
            }
        }
        self
    }

    /// What a model is told about each tool, in order.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|t| t.spec().clone()).collect()
    }

    /// The tool names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.tools.iter().map(|t| t.spec().name.as_str()).collect()
    }

    /// How many tools there are.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Arc<dyn ErasedTool<S>>> {
        self.tools.iter().find(|t| t.spec().name == name)
    }
}
