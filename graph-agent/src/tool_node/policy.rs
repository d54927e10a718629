//! What a [`ToolNode`](super::ToolNode) does when a tool call fails: fail the task, or
//! answer the model with an error message it can act on.

use std::fmt;
use std::sync::Arc;

use graph_core::BoxError;

use super::error::ToolNodeError;
use crate::message::ToolCall;

type Handler = Arc<dyn Fn(&ToolCall, &BoxError) -> String + Send + Sync>;

/// How a [`ToolNode`](super::ToolNode) handles a call that fails: LangGraph's
/// `handle_tool_errors`.
///
/// Whatever the policy, a call of an unknown tool is answered with
/// `Error: <name> is not a valid tool, try one of [a, b].`, and a pause
/// ([`InterruptError`](graph_core::InterruptError)) propagates unchanged so the run can
/// pause and resume. The policy decides the rest:
///
/// | policy | invalid arguments | the tool fails |
/// |---|---|---|
/// | [`propagate`](Self::propagate) (default) | `Error invoking tool '<name>' with kwargs {..} with error:\n <why>\n Please fix the error and try again.` | the task fails with [`ToolNodeError::Failed`] |
/// | [`catch_all`](Self::catch_all) | `Error: <the invoking message>\n Please fix your mistakes.` | `Error: <error>\n Please fix your mistakes.` |
/// | [`message`](Self::message) | the fixed text | the fixed text |
/// | [`handler`](Self::handler) | the function's text | the function's text |
///
/// Error answers are tool messages with `status: error`. A tool that returns
/// [`ToolOutput::error`](crate::ToolOutput::error) has not failed: it worded the error for
/// the model, which reads it as an error answer whatever the policy. A tool returning a `Command`
/// without a tool message for its call counts as a failure
/// ([`ToolNodeError::MissingToolMessage`]).
///
/// ```
/// use graph_agent::{MessagesState, ToolErrorPolicy, ToolNode, Toolbox};
///
/// let policy = ToolErrorPolicy::handler(|call, error| format!("{} failed: {error}", call.name));
/// let node = ToolNode::new(Toolbox::<MessagesState>::new()).handle_errors(policy);
/// # let _ = node;
/// ```
#[derive(Clone, Default)]
pub struct ToolErrorPolicy {
    kind: Kind,
}

#[derive(Clone, Default)]
enum Kind {
    #[default]
    Propagate,
    CatchAll,
    Message(String),
    Handler(Handler),
}

impl ToolErrorPolicy {
    /// The default: invalid arguments are answered with LangGraph's invoking message, so
    /// the model can fix its call; a failing tool fails the task (and the node's retry
    /// policy, timeout and error handler apply).
    pub fn propagate() -> Self {
        Self { kind: Kind::Propagate }
    }

    /// Every failure is answered with `Error: <error>\n Please fix your mistakes.`
    pub fn catch_all() -> Self {
        Self { kind: Kind::CatchAll }
    }

    /// Every failure is answered with `text`.
    pub fn message(text: impl Into<String>) -> Self {
        Self { kind: Kind::Message(text.into()) }
    }

    /// Every failure is answered with what `handler` makes of the call and the error: the
    /// tool's own error, or a [`ToolNodeError`] for invalid arguments and commands that do
    /// not answer their call.
    pub fn handler(
        handler: impl Fn(&ToolCall, &BoxError) -> String + Send + Sync + 'static,
    ) -> Self {
        Self { kind: Kind::Handler(Arc::new(handler)) }
    }

    /// The answer to `call` failing with `error`, or the error to fail the task with.
    pub(crate) fn answer(&self, call: &ToolCall, error: BoxError) -> Result<String, BoxError> {
        let invalid_args = matches!(
            error.downcast_ref::<ToolNodeError>(),
            Some(ToolNodeError::InvalidArgs { .. })
        );
        match &self.kind {
            Kind::Propagate if invalid_args => Ok(error.to_string()),
            Kind::Propagate => Err(error),
            Kind::CatchAll => Ok(format!("Error: {error}\n Please fix your mistakes.")),
            Kind::Message(text) => Ok(text.clone()),
            Kind::Handler(handler) => Ok(handler(call, &error)),
        }
    }
}

impl fmt::Debug for ToolErrorPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Propagate => f.write_str("ToolErrorPolicy::Propagate"),
            Kind::CatchAll => f.write_str("ToolErrorPolicy::CatchAll"),
            Kind::Message(text) => f.debug_tuple("ToolErrorPolicy::Message").field(text).finish(),
            Kind::Handler(_) => f.write_str("ToolErrorPolicy::Handler(..)"),
        }
    }
}

/// The answer to a call of a tool the node does not have, as LangGraph words it.
pub(crate) fn unknown_tool(name: &str, known: &[&str]) -> String {
    format!("Error: {name} is not a valid tool, try one of [{}].", known.join(", "))
}
