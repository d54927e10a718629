//! The prebuilt agent: a model that calls tools in a loop until it answers.
//!
//! [`create_agent`] wires a model node, a tool node that runs each pending call as its own
//! task, and, optionally, an approval step in which a person approves, edits or rejects the
//! calls before they run.

mod approval;
mod repair;

use std::sync::Arc;

use graph_core::prelude::*;
use graph_core::{BoxError, BuildError, NodeOptions};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use approval::{ApprovalRequest, ToolDecision, WrongDecisionCount};

use crate::message::{AssistantMessage, Message};
use crate::messages::{add_messages, HasMessages, Messages};
use crate::model::{ChatModel, ChatRequest, ResponseFormat};
use crate::tool::{IntoToolReply, Tool, Toolbox};
use crate::tool_node::ToolErrorPolicy;

/// The final answer a model gives when the run has too few steps left to use its tools and
/// answer after them (LangGraph's wording).
pub const NEED_MORE_STEPS: &str = "Sorry, need more steps to process this request.";

/// The state of a prebuilt agent: the conversation and, when the agent was asked for one, the
/// structured answer.
#[derive(State, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    /// The conversation.
    #[reducer(with = add_messages)]
    pub messages: Messages,
    /// The final answer as JSON, when the agent has a response format.
    pub structured_response: Option<serde_json::Value>,
}

impl AgentState {
    /// The structured answer as `T`, if there is one.
    pub fn structured<T: DeserializeOwned>(&self) -> Result<Option<T>, serde_json::Error> {
        self.structured_response.clone().map(serde_json::from_value).transpose()
    }

    /// The text of the last message: the agent's answer once the run finished.
    pub fn answer(&self) -> Option<&str> {
        self.messages.last().map(Message::content)
    }
}

impl HasMessages for AgentState {
    fn messages(&self) -> &[Message] {
        &self.messages
    }

    fn add(messages: Vec<Message>) -> AgentStateUpdate {
        AgentState::update().messages(messages.into())
    }

    fn messages_in(update: &AgentStateUpdate) -> &[Message] {
        update.messages.as_deref().unwrap_or_default()
    }
}

/// A run of the agent can start from one message: it is added to the thread's conversation.
impl graph_core::GraphInput<AgentState> for Message {
    fn into_input(self) -> graph_core::__private::RunInput<AgentState> {
        AgentState::add(vec![self]).into_input()
    }
}

/// The node names of a prebuilt agent.
pub mod nodes {
    /// Calls the model.
    pub const MODEL: &str = "model";
    /// Asks a person to approve the pending tool calls.
    pub const APPROVAL: &str = "approval";
    /// Runs one tool call.
    pub const TOOLS: &str = "tools";
}

/// Starts building an agent around `model`; add tools, then [`compile`](AgentBuilder::compile).
///
/// ```
/// use graph_agent::testing::{FakeTool, ScriptedModel};
/// use graph_agent::{create_agent, Message, ToolCall};
/// use graph_core::prelude::*;
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let model = ScriptedModel::new()
///     .tool_calls([ToolCall::new("c1", "weather", json!({"city": "Paris"}))])
///     .text("Sunny in Paris.");
/// let agent = create_agent(model)
///     .tool(FakeTool::new("weather").output("sunny"))
///     .compile()?;
/// let out = agent.invoke(Message::user("Weather in Paris?"), RunConfig::default()).await?;
/// assert_eq!(out.finished()?.answer(), Some("Sunny in Paris."));
/// # Ok(())
/// # }
/// ```
pub fn create_agent(model: impl ChatModel + 'static) -> AgentBuilder {
    AgentBuilder {
        model: Arc::new(model),
        tools: Toolbox::new(),
        system_prompt: None,
        response_format: None,
        approval: Approval::None,
        tool_options: NodeOptions::new(),
        tool_errors: ToolErrorPolicy::default(),
        model_options: NodeOptions::new(),
    }
}

/// Which tool calls wait for a person's approval.
#[derive(Debug, Clone)]
enum Approval {
    None,
    All,
    Tools(Vec<String>),
}

impl Approval {
    fn needed_for(&self, tool: &str) -> bool {
        match self {
            Approval::None => false,
            Approval::All => true,
            Approval::Tools(names) => names.iter().any(|n| n == tool),
        }
    }
}

/// A structured answer's schema, and how to check an answer against it.
#[derive(Clone)]
struct Structured {
    format: ResponseFormat,
    check: fn(&str) -> Result<serde_json::Value, serde_json::Error>,
}

/// Builds a prebuilt agent; start with [`create_agent`].
#[must_use]
pub struct AgentBuilder {
    model: Arc<dyn ChatModel>,
    tools: Toolbox<AgentState>,
    system_prompt: Option<String>,
    response_format: Option<Structured>,
    approval: Approval,
    tool_options: NodeOptions<AgentState>,
    tool_errors: ToolErrorPolicy,
    model_options: NodeOptions<AgentState>,
}

impl AgentBuilder {
    /// Adds a tool.
    pub fn tool<T: Tool>(mut self, tool: T) -> Self
    where
        T::Output: IntoToolReply<AgentState>,
    {
        self.tools = self.tools.with(tool);
        self
    }

    /// Adds every tool of `tools`.
    pub fn tools(mut self, tools: Toolbox<AgentState>) -> Self {
        self.tools = self.tools.merge(tools);
        self
    }

    /// Instructions sent before the conversation on every model call.
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.system_prompt = Some(prompt.into());
        self
    }

    /// Asks for a final answer shaped as `T`: the model gets `T`'s JSON Schema, and the answer
    /// is checked against `T` and stored in [`AgentState::structured_response`].
    pub fn response_format<T: JsonSchema + DeserializeOwned + Serialize>(mut self) -> Self {
        let name = T::schema_name().into_owned();
        let schema = crate::tool::parameters_schema::<T>();
        let check = |text: &str| -> Result<serde_json::Value, serde_json::Error> {
            let value: T = serde_json::from_str(text)?;
            serde_json::to_value(value)
        };
        self.response_format = Some(Structured { format: ResponseFormat { name, schema }, check });
        self
    }

    /// Pauses before any tool call runs, for a person to approve, edit or reject each call;
    /// resume with one [`ToolDecision`] per call. Needs a checkpointer.
    pub fn approve_all(mut self) -> Self {
        self.approval = Approval::All;
        self
    }

    /// Pauses before calls of the tools named, like [`approve_all`](Self::approve_all); other
    /// calls run without asking.
    pub fn approve<I>(mut self, tools: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.approval = Approval::Tools(tools.into_iter().map(Into::into).collect());
        self
    }

    /// Options of the tool node, applied to each call: a concurrency cap for a rate-limited
    /// API, a timeout, retries.
    pub fn tool_options(mut self, options: NodeOptions<AgentState>) -> Self {
        self.tool_options = options;
        self
    }

    /// What a failed tool call becomes: by default the run fails
    /// ([`ToolErrorPolicy::propagate`]); [`ToolErrorPolicy::catch_all`] answers the model with
    /// an error tool message instead, so it can try another way.
    pub fn tool_errors(mut self, policy: ToolErrorPolicy) -> Self {
        self.tool_errors = policy;
        self
    }

    /// Options of the model node: retries (a provider's
    /// [`ModelError::retry_policy`](crate::ModelError::retry_policy) retries rate limits and
    /// server errors and honours `Retry-After`), a timeout.
    pub fn model_options(mut self, options: NodeOptions<AgentState>) -> Self {
        self.model_options = options;
        self
    }

    /// The agent's graph, to extend before compiling it.
    pub fn graph(self) -> StateGraph<AgentState> {
        let approves = !matches!(self.approval, Approval::None);
        let agent = Arc::new(AgentShared {
            model: self.model,
            specs: self.tools.specs(),
            tools: self.tools,
            system_prompt: self.system_prompt,
            response_format: self.response_format,
            approval: self.approval,
            to_tools: Box::new(crate::route_tool_calls(nodes::TOOLS, END)),
        });
        let model_agent = Arc::clone(&agent);
        let route_agent = Arc::clone(&agent);
        let mut graph = StateGraph::<AgentState>::new()
            .add_node_with(
                nodes::MODEL,
                move |state: Arc<AgentState>, ctx: NodeContext| {
                    let agent = Arc::clone(&model_agent);
                    async move { call_model(&agent, &state, &ctx).await }
                },
                self.model_options,
            )
            .add_node_with(
                nodes::TOOLS,
                crate::ToolNode::new(agent.tools.clone())
                    .handle_errors(self.tool_errors)
                    .per_call(),
                self.tool_options,
            )
            .add_edge(START, nodes::MODEL)
            .add_edge(nodes::TOOLS, nodes::MODEL)
            .stream_messages_from(crate::returned_messages::<AgentState>);
        let after_model = move |state: &AgentState| route_after_model(&route_agent, state);
        if approves {
            let approval_agent = Arc::clone(&agent);
            graph = graph
                .add_node(nodes::APPROVAL, move |state: Arc<AgentState>, ctx: NodeContext| {
                    let agent = Arc::clone(&approval_agent);
                    async move { approval::review(&agent, &state, &ctx) }
                })
                .add_conditional_edges(
                    nodes::MODEL,
                    after_model,
                    [nodes::APPROVAL, nodes::TOOLS, END],
                )
                .add_conditional_edges(
                    nodes::APPROVAL,
                    crate::route_tool_calls(nodes::TOOLS, nodes::MODEL),
                    [nodes::TOOLS, nodes::MODEL],
                );
        } else {
            graph = graph.add_conditional_edges(nodes::MODEL, after_model, [nodes::TOOLS, END]);
        }
        graph
    }

    /// The agent, ready to run.
    pub fn compile(self) -> Result<CompiledGraph<AgentState>, BuildError> {
        self.graph().compile()
    }
}

/// Why the agent's model step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The final answer did not match the response format.
    #[error("the final answer does not match the response format `{format}`: {reason}")]
    StructuredResponse {
        /// The format's name.
        format: String,
        /// Why it did not match.
        reason: String,
        /// The answer as the model gave it.
        content: String,
    },
}

/// What every node of one agent shares.
pub(crate) struct AgentShared {
    model: Arc<dyn ChatModel>,
    tools: Toolbox<AgentState>,
    specs: Vec<crate::tool::ToolSpec>,
    system_prompt: Option<String>,
    response_format: Option<Structured>,
    approval: Approval,
    /// One `Send` per pending call, or the end.
    to_tools: Box<AgentRouter>,
}

/// A router of the agent's graph.
type AgentRouter = dyn Fn(&AgentState) -> Vec<graph_core::Goto> + Send + Sync;

/// The steps a tool call needs after the model step that makes it: the tools, then the model
/// again (and the approval before the tools, when calls wait for one).
fn steps_after_call(agent: &AgentShared, calls: &[crate::ToolCall]) -> usize {
    let asks = calls.iter().any(|call| agent.approval.needed_for(&call.name));
    if asks {
        3
    } else {
        2
    }
}

/// One model call: the repaired conversation in, the answer (or the step-budget answer) out.
async fn call_model(
    agent: &AgentShared,
    state: &AgentState,
    ctx: &NodeContext,
) -> Result<AgentStateUpdate, BoxError> {
    // A `return_direct` tool answered: its result is the agent's answer.
    if answered_directly(agent, state) {
        return Ok(AgentState::update());
    }
    let history = repair::repaired(&state.messages);
    let mut request = ChatRequest::new(&history).tools(&agent.specs);
    if let Some(system) = &agent.system_prompt {
        request = request.system(system);
    }
    if let Some(structured) = &agent.response_format {
        request = request.response_format(&structured.format);
    }
    let mut answer: AssistantMessage =
        crate::ChatModelExt::respond(&*agent.model, ctx, request).await?;
    let mut update = AgentState::update();
    if !answer.tool_calls.is_empty()
        && ctx.remaining_steps() <= steps_after_call(agent, &answer.tool_calls)
    {
        answer.tool_calls.clear();
        answer.content = NEED_MORE_STEPS.to_owned();
    } else if let (true, Some(structured)) = (answer.tool_calls.is_empty(), &agent.response_format)
    {
        let value = (structured.check)(&answer.content).map_err(|error| {
            AgentError::StructuredResponse {
                format: structured.format.name.clone(),
                reason: error.to_string(),
                content: answer.content.clone(),
            }
        })?;
        update = update.structured_response(Some(value));
    }
    Ok(update.messages(Message::Assistant(answer).into()))
}

/// Whether the last assistant message's calls are all answered and one of them was a
/// `return_direct` tool's.
fn answered_directly(agent: &AgentShared, state: &AgentState) -> bool {
    let Some(index) = state.messages.iter().rposition(|m| m.as_assistant().is_some()) else {
        return false;
    };
    let calls = state.messages[index].tool_calls();
    let answers: Vec<&crate::ToolMessage> =
        state.messages[index + 1..].iter().filter_map(Message::as_tool).collect();
    !calls.is_empty()
        && calls.iter().all(|call| answers.iter().any(|a| a.tool_call_id == call.id))
        && answers.iter().any(|answer| {
            answer.status == crate::ToolStatus::Success
                && calls.iter().any(|call| {
                    call.id == answer.tool_call_id
                        && agent.tools.get(&call.name).is_some_and(|tool| tool.return_direct())
                })
        })
}

/// After the model: the approval step when a pending call waits for one, else one `Send` per
/// pending call, else the end.
fn route_after_model(agent: &AgentShared, state: &AgentState) -> Vec<graph_core::Goto> {
    let pending = crate::pending_tool_calls(state);
    if pending.iter().any(|call| agent.approval.needed_for(&call.name)) {
        return vec![nodes::APPROVAL.into()];
    }
    (agent.to_tools)(state)
}
