//! Models: the [`ChatModel`] trait every provider adapter implements, the request it takes,
//! and the chunks it streams.

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use graph_core::BoxError;
use serde::{Deserialize, Serialize};

use crate::message::{AssistantMessage, Message, StopReason, Usage};
use crate::tool::ToolSpec;

/// What a model is asked: the conversation, the tools it may call and, optionally, the shape
/// of a structured answer.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ChatRequest<'a> {
    /// Instructions that come before the conversation.
    pub system: Option<&'a str>,
    /// The conversation, oldest first.
    pub messages: &'a [Message],
    /// The tools the model may call.
    pub tools: &'a [ToolSpec],
    /// The JSON Schema the final answer must follow, if any.
    pub response_format: Option<&'a ResponseFormat>,
}

impl<'a> ChatRequest<'a> {
    /// A request to answer `messages`, with no tools.
    pub fn new(messages: &'a [Message]) -> Self {
        Self { system: None, messages, tools: &[], response_format: None }
    }

    /// The same request with a system prompt.
    pub fn system(mut self, system: &'a str) -> Self {
        self.system = Some(system);
        self
    }

    /// The same request with `tools` the model may call.
    pub fn tools(mut self, tools: &'a [ToolSpec]) -> Self {
        self.tools = tools;
        self
    }

    /// The same request asking for an answer shaped by `format`.
    pub fn response_format(mut self, format: &'a ResponseFormat) -> Self {
        self.response_format = Some(format);
        self
    }
}

/// The shape of a structured answer: a name and a JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseFormat {
    /// The schema's name, as providers ask for one.
    pub name: String,
    /// The JSON Schema of the answer.
    pub schema: serde_json::Value,
}

/// A piece of an assistant message as a model streams it: a text delta, tool-call deltas
/// keyed by the call's index, and usage (usually on the last chunk).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageChunk {
    /// The id of the message the chunk belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Text to append.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
    /// Pieces of tool calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallChunk>,
    /// Tokens used, when the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Why the model stopped, on the last chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopReason>,
}

/// A piece of one tool call: the call's id and name come first, its JSON arguments arrive as
/// text in pieces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallChunk {
    /// Which call of the message this piece belongs to, from 0.
    pub index: usize,
    /// The call's id, on its first piece.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The tool's name, on its first piece.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Text to append to the arguments' JSON.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub args: String,
}

/// Which model answers: the provider's name and the model's, as traces and logs show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelInfo<'a> {
    /// The provider, as OpenTelemetry's `gen_ai.provider.name` spells it (`openai`, say).
    pub provider: &'a str,
    /// The model's name as the provider knows it.
    pub model: &'a str,
}

/// A language model: a conversation and tool specs in, an assistant message out.
///
/// Implement [`generate`](Self::generate); a model that can stream also implements
/// [`stream`](Self::stream), and a provider's adapter names itself with [`info`](Self::info).
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// The provider and model, for traces. By default both are `unknown`.
    fn info(&self) -> ModelInfo<'_> {
        ModelInfo { provider: "unknown", model: "unknown" }
    }

    /// Answers the request with one whole message.
    async fn generate(&self, request: ChatRequest<'_>) -> Result<AssistantMessage, BoxError>;

    /// Answers the request chunk by chunk. By default, one chunk holding the whole answer.
    fn stream<'a>(
        &'a self,
        request: ChatRequest<'a>,
    ) -> BoxStream<'a, Result<MessageChunk, BoxError>> {
        stream::once(async move { self.generate(request).await.map(MessageChunk::from) }).boxed()
    }
}

impl From<AssistantMessage> for MessageChunk {
    fn from(message: AssistantMessage) -> Self {
        let tool_calls = message
            .tool_calls
            .into_iter()
            .enumerate()
            .map(|(index, call)| ToolCallChunk {
                index,
                id: Some(call.id),
                name: Some(call.name),
                args: call.args.to_string(),
            })
            .collect();
        MessageChunk {
            id: message.id,
            content: message.content,
            tool_calls,
            usage: message.usage,
            stop_reason: message.stop_reason,
        }
    }
}

/// A shared model is a model: `Arc<dyn ChatModel>` can be kept in a run context and called.
#[async_trait]
impl<M: ChatModel + ?Sized> ChatModel for std::sync::Arc<M> {
    fn info(&self) -> ModelInfo<'_> {
        (**self).info()
    }

    async fn generate(&self, request: ChatRequest<'_>) -> Result<AssistantMessage, BoxError> {
        (**self).generate(request).await
    }

    fn stream<'a>(
        &'a self,
        request: ChatRequest<'a>,
    ) -> BoxStream<'a, Result<MessageChunk, BoxError>> {
        (**self).stream(request)
    }
}
