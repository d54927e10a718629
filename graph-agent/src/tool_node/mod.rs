//! [`ToolNode`]: runs the tool calls of a model's answer and answers each with a tool
//! message, with an error policy; and the routers that send calls to it.

mod error;
mod kwargs;
mod policy;
mod route;

use std::fmt;
use std::sync::Arc;

use futures::future::{join_all, BoxFuture};
use graph_core::{BoxError, Command, Input, InterruptError, NodeContext};

pub use error::ToolNodeError;
pub use policy::ToolErrorPolicy;
pub use route::{pending_tool_calls, route_tool_calls, tools_condition};

use crate::message::{Message, ToolCall, ToolMessage, ToolStatus};
use crate::messages::HasMessages;
use crate::telemetry;
use crate::tool::{CallError, ToolContext, ToolOutput, ToolReply, Toolbox};
use tracing::Instrument;

/// Runs tool calls with a [`Toolbox`] and answers each with a tool message: LangGraph's
/// `ToolNode`.
///
/// A graph runs it in one of two modes, each a node function to pass to
/// [`StateGraph::add_node`](graph_core::StateGraph::add_node):
///
/// - [`per_call`](Self::per_call): one task per call, started by the
///   [`route_tool_calls`] router with one [`Send`](graph_core::Send) per pending call. Each
///   call gets the node's [`NodeOptions`](graph_core::NodeOptions) (retry, timeout,
///   concurrency cap), and a resume after a failure re-runs only the calls that did not
///   finish. The recommended wiring.
/// - [`whole_message`](Self::whole_message): one task reads the state and runs every pending
///   call of the last assistant message concurrently, for the classic [`tools_condition`]
///   wiring.
///
/// Either way the answers land in the order of the calls, whatever order the tools finish
/// in. Each answer is a [`ToolMessage`] with the tool's `name` and the call's
/// `tool_call_id`, an error answer has `status: error` (see [`ToolErrorPolicy`]), and the
/// message `id` is left for [`add_messages`](crate::add_messages) to assign.
///
/// A graph node is a function, so a `ToolNode` is not one itself: `per_call()` and
/// `whole_message()` turn it into one.
///
/// ```
/// use async_trait::async_trait;
/// use graph_agent::{
///     route_tool_calls, Message, MessagesState, Tool, ToolCall, ToolContext, ToolNode, Toolbox,
/// };
/// use graph_core::prelude::*;
/// use graph_core::BoxError;
/// use serde_json::json;
///
/// struct Add;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Pair {
///     a: i64,
///     b: i64,
/// }
///
/// #[async_trait]
/// impl Tool for Add {
///     type Args = Pair;
///     type Output = String;
///     fn name(&self) -> &str {
///         "add"
///     }
///     fn description(&self) -> &str {
///         "Adds two numbers."
///     }
///     async fn call(&self, args: Pair, _: &ToolContext) -> Result<String, BoxError> {
///         Ok((args.a + args.b).to_string())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tools = ToolNode::new(Toolbox::new().with(Add));
/// let graph = StateGraph::<MessagesState>::new()
///     .add_node("tools", tools.per_call())
///     .add_conditional_edges(START, route_tool_calls("tools", END), ["tools", END])
///     .compile()?;
///
/// let asked = Message::assistant("").with_tool_calls([
///     ToolCall::new("c1", "add", json!({"a": 1, "b": 2})),
///     ToolCall::new("c2", "add", json!({"a": 3, "b": 4})),
/// ]);
/// let out = graph.invoke(MessagesState::update().messages(asked.into()), RunConfig::default());
/// let state = out.await?.finished()?;
/// let answers: Vec<&str> = state.messages[1..].iter().map(|m| m.content()).collect();
/// assert_eq!(answers, ["3", "7"]);
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct ToolNode<S: HasMessages> {
    tools: Toolbox<S>,
    errors: ToolErrorPolicy,
}

impl<S: HasMessages> Clone for ToolNode<S> {
    fn clone(&self) -> Self {
        Self { tools: self.tools.clone(), errors: self.errors.clone() }
    }
}

impl<S: HasMessages> fmt::Debug for ToolNode<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolNode")
            .field("tools", &self.tools)
            .field("errors", &self.errors)
            .finish()
    }
}

/// What one call comes to: a tool message, or a tool's command holding one.
enum Answer<S: HasMessages> {
    Message(Message),
    Command(Command<S>),
}

impl<S: HasMessages> ToolNode<S> {
    /// A node running `tools`, with the default error policy
    /// ([`ToolErrorPolicy::propagate`]).
    pub fn new(tools: Toolbox<S>) -> Self {
        Self { tools, errors: ToolErrorPolicy::default() }
    }

    /// The same node handling failed calls as `policy` says.
    pub fn handle_errors(mut self, policy: ToolErrorPolicy) -> Self {
        self.errors = policy;
        self
    }

    /// The tools it runs.
    pub fn tools(&self) -> &Toolbox<S> {
        &self.tools
    }

    /// The node function of the per-call mode: it takes one [`ToolCall`] as a
    /// [`Send`](graph_core::Send) payload (from [`route_tool_calls`]), runs it and returns the
    /// answer, or the tool's `Command`.
    ///
    /// Every call is its own task, so the node's options apply per call, the calls run in
    /// parallel (`NodeOptions::concurrency` caps how many), their answers merge in the
    /// order the router sent them, and a resume re-runs only the calls that did not finish.
    /// A tool's `Command` may `goto` other nodes: declare them with
    /// [`NodeOptions::destinations`](graph_core::NodeOptions::destinations). Its update
    /// must answer the call with a tool message, which is written as the tool made it.
    pub fn per_call(
        self,
    ) -> impl Fn(Input<ToolCall>, NodeContext) -> BoxFuture<'static, Result<Command<S>, BoxError>>
           + Send
           + Sync
           + 'static {
        let node = Arc::new(self);
        move |Input(call): Input<ToolCall>, ctx: NodeContext| {
            let node = Arc::clone(&node);
            Box::pin(async move {
                match node.run(call, ctx).await? {
                    Answer::Message(message) => Ok(Command::new().update(S::add(vec![message]))),
                    Answer::Command(command) => Ok(command),
                }
            })
        }
    }

    /// The node function of the whole-message mode: it reads the state and runs every
    /// pending call of the last assistant message (see [`pending_tool_calls`])
    /// concurrently, in one task, and returns their answers in call order.
    ///
    /// One task means one attempt for all calls: a retry or a resume runs them all again,
    /// the first failure (in call order) fails the task once every call has ended, and a
    /// tool's `Command` can only be returned when it answers the message's only pending
    /// call ([`ToolNodeError::CommandAmongOthers`] otherwise). Tools that pause share the
    /// task's interrupts, so a resume re-runs every call of the message. Prefer
    /// [`per_call`](Self::per_call) unless the graph needs LangGraph's classic wiring.
    pub fn whole_message(
        self,
    ) -> impl Fn(Arc<S>, NodeContext) -> BoxFuture<'static, Result<Command<S>, BoxError>>
           + Send
           + Sync
           + 'static {
        let node = Arc::new(self);
        move |state: Arc<S>, ctx: NodeContext| {
            let node = Arc::clone(&node);
            Box::pin(async move {
                if !state.messages().iter().any(|m| matches!(m, Message::Assistant(_))) {
                    let node = ctx.node().to_owned();
                    return Err(ToolNodeError::NoAssistantMessage { node }.into());
                }
                let calls = pending_tool_calls(&*state);
                let runs = calls.iter().map(|call| node.run(call.clone(), ctx.clone()));
                let answers = join_all(runs).await;
                let mut messages = Vec::with_capacity(calls.len());
                for (call, answer) in calls.iter().zip(answers) {
                    match answer? {
                        Answer::Message(message) => messages.push(message),
                        Answer::Command(command) if calls.len() == 1 => return Ok(command),
                        Answer::Command(_) => {
                            return Err(ToolNodeError::CommandAmongOthers {
                                tool: call.name.clone(),
                                call_id: call.id.clone(),
                                others: calls.len() - 1,
                            }
                            .into())
                        }
                    }
                }
                Ok(Command::new().update(S::add(messages)))
            })
        }
    }

    /// Runs `call` inside its GenAI span and answers it.
    async fn run(&self, call: ToolCall, ctx: NodeContext) -> Result<Answer<S>, BoxError> {
        let span = telemetry::tool_span(&call.name, &call.id);
        let answer = self.answer(call, ctx).instrument(span.clone()).await;
        match &answer {
            Err(error) if error.downcast_ref::<InterruptError>().is_none() => {
                telemetry::record_error(&span, "tool_error");
            }
            Ok(Answer::Message(Message::Tool(message))) if message.status == ToolStatus::Error => {
                telemetry::record_error(&span, "tool_error");
            }
            _ => {}
        }
        answer
    }

    /// Runs `call` and answers it, as the error policy says when it fails.
    async fn answer(&self, call: ToolCall, ctx: NodeContext) -> Result<Answer<S>, BoxError> {
        let Some(tool) = self.tools.get(&call.name) else {
            let content = policy::unknown_tool(&call.name, &self.tools.names());
            return Ok(Answer::Message(error_message(&call, content)));
        };
        let tool_ctx = ToolContext::in_task(call.id.clone(), ctx);
        let failure: BoxError = match tool.call_json(call.args.clone(), &tool_ctx).await {
            Ok(ToolReply::Output(output)) => return Ok(Answer::Message(answer(&call, output))),
            Ok(ToolReply::Command(command)) => match check_command(&call, command) {
                Ok(command) => return Ok(Answer::Command(command)),
                Err(error) => error.into(),
            },
            Err(CallError::InvalidArgs(reason)) => ToolNodeError::InvalidArgs {
                tool: call.name.clone(),
                call_id: call.id.clone(),
                args: call.args.clone(),
                reason: reason.to_string(),
            }
            .into(),
            Err(CallError::Failed(source)) if source.downcast_ref::<InterruptError>().is_some() => {
                return Err(source);
            }
            Err(CallError::Failed(source)) => match self.errors.answer(&call, source) {
                Ok(content) => return Ok(Answer::Message(error_message(&call, content))),
                Err(source) => {
                    let (tool, call_id) = (call.name, call.id);
                    return Err(ToolNodeError::Failed { tool, call_id, source }.into());
                }
            },
        };
        let content = self.errors.answer(&call, failure)?;
        Ok(Answer::Message(error_message(&call, content)))
    }
}

/// The answer of a call that returned, with the status the tool gave it.
fn answer(call: &ToolCall, output: ToolOutput) -> Message {
    Message::Tool(ToolMessage {
        id: None,
        name: Some(call.name.clone()),
        content: output.content,
        tool_call_id: call.id.clone(),
        status: output.status,
        artifact: output.artifact,
    })
}

/// The answer of a call that failed.
fn error_message(call: &ToolCall, content: String) -> Message {
    Message::Tool(ToolMessage {
        id: None,
        name: Some(call.name.clone()),
        content,
        tool_call_id: call.id.clone(),
        status: ToolStatus::Error,
        artifact: None,
    })
}

/// `command`, if its update answers `call` with a tool message (or removes every message).
fn check_command<S: HasMessages>(
    call: &ToolCall,
    command: Command<S>,
) -> Result<Command<S>, ToolNodeError> {
    let messages = command.update_ref().map(S::messages_in).unwrap_or_default();
    let removes_all = matches!(messages, [only] if *only == Message::remove_all());
    let answers = messages.iter().any(|m| m.as_tool().is_some_and(|t| t.tool_call_id == call.id));
    if answers || removes_all {
        Ok(command)
    } else {
        Err(ToolNodeError::MissingToolMessage { tool: call.name.clone(), call_id: call.id.clone() })
    }
}
