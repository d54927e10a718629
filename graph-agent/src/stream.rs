//! What [`StreamMode::Messages`](graph_core::StreamMode::Messages) carries for agents: the
//! JSON form of chunks and whole messages, [`StreamedMessage`] to read them back, and
//! [`returned_messages`] to stream the messages a node returns without streaming them.
//!
//! A chunk's JSON is `{"kind": "chunk", "id": .., "content": .., "tool_calls": [..]}` and a
//! whole message's is `{"kind": "message", "role": .., "id": .., ..}`: the message id is at
//! the top level, where graph-core looks for it to send a returned message only if the task
//! did not stream it.

use std::sync::Arc;

use graph_core::{Namespace, StreamEvent, SubgraphEvent, TaskId};
use serde::{Deserialize, Serialize};

use crate::message::Message;
use crate::messages::HasMessages;
use crate::model::MessageChunk;

/// A chunk or a whole message, as streamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StreamedPayload {
    /// A piece of an answer a model is streaming.
    Chunk(MessageChunk),
    /// A message a node returned without streaming it (a tool's result, a built answer).
    Message(Message),
}

/// One [`StreamEvent::Message`] read back: where it comes from and what it carries.
///
/// Printing the tokens of a run as they arrive:
///
/// ```
/// # use graph_agent::testing::ScriptedModel;
/// # use graph_agent::{returned_messages, ChatModelExt, ChatRequest, MessagesState, HasMessages};
/// # use graph_core::prelude::*;
/// # use graph_core::StreamMode;
/// # use std::sync::Arc;
/// use futures::StreamExt;
/// use graph_agent::StreamedMessage;
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// # let model = Arc::new(ScriptedModel::new().streamed_words("Hello there"));
/// # let graph = StateGraph::<MessagesState>::new()
/// #     .add_node("chat", move |state: Arc<MessagesState>, ctx: NodeContext| {
/// #         let model = Arc::clone(&model);
/// #         async move {
/// #             let answer = model.respond(&ctx, ChatRequest::new(state.messages())).await?;
/// #             Ok::<_, graph_core::BoxError>(MessagesState::add(vec![answer.into()]))
/// #         }
/// #     })
/// #     .add_edge(START, "chat")
/// #     .stream_messages_from(returned_messages::<MessagesState>)
/// #     .compile()
/// #     .unwrap();
/// # let config = RunConfig::default().stream_mode(StreamMode::Messages);
/// # let mut out = String::new();
/// let mut events = graph.stream(MessagesState::default(), config);
/// while let Some(event) = events.next().await {
///     if let Some(message) = StreamedMessage::from_event(&event.unwrap()).unwrap() {
///         out.push_str(message.text()); // print!("{}", message.text()) in a terminal
///     }
/// }
/// assert_eq!(out, "Hello there");
/// # });
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StreamedMessage {
    /// The run it comes from: empty for the root run, a subgraph's namespace otherwise.
    pub namespace: Namespace,
    /// The node whose task sent it.
    pub node: Arc<str>,
    /// The task's superstep.
    pub step: usize,
    /// The task.
    pub task_id: TaskId,
    /// The chunk or message.
    pub payload: StreamedPayload,
}

impl StreamedMessage {
    /// Reads a [`StreamEvent::Message`], or a subgraph's message inside a
    /// [`StreamEvent::Subgraph`]; `Ok(None)` for any other event, and an error naming what is
    /// wrong when the event's value is not a chunk or message in this crate's form.
    pub fn from_event<S: graph_core::State>(
        event: &StreamEvent<S>,
    ) -> Result<Option<Self>, serde_json::Error> {
        let (namespace, step, node, task_id, message) = match event {
            StreamEvent::Message { step, node, task_id, message } => {
                (Namespace::root(), step, node, task_id, message)
            }
            StreamEvent::Subgraph {
                namespace,
                event: SubgraphEvent::Message { step, node, task_id, message },
            } => (namespace.clone(), step, node, task_id, message),
            _ => return Ok(None),
        };
        Ok(Some(StreamedMessage {
            namespace,
            node: Arc::clone(node),
            step: *step,
            task_id: task_id.clone(),
            payload: StreamedPayload::deserialize(message)?,
        }))
    }

    /// The text it adds: a chunk's delta, or a whole message's content.
    pub fn text(&self) -> &str {
        match &self.payload {
            StreamedPayload::Chunk(chunk) => &chunk.content,
            StreamedPayload::Message(message) => message.content(),
        }
    }

    /// The id of the message it belongs to.
    pub fn message_id(&self) -> Option<&str> {
        match &self.payload {
            StreamedPayload::Chunk(chunk) => chunk.id.as_deref(),
            StreamedPayload::Message(message) => message.id(),
        }
    }

    /// The JSON a chunk is sent as.
    pub(crate) fn chunk_json(chunk: MessageChunk) -> serde_json::Value {
        serde_json::to_value(StreamedPayload::Chunk(chunk)).unwrap_or_default()
    }
}

/// The messages of a node's update, as [`StreamMode::Messages`](graph_core::StreamMode::Messages)
/// sends them: pass it to
/// [`StateGraph::stream_messages_from`](graph_core::StateGraph::stream_messages_from), and
/// the messages a node returns without having streamed them (a tool's result, a hand-built
/// answer) are sent whole when its task ends. A streamed answer is not sent again (it has the
/// same id) and removal markers are not messages, so they are left out.
///
/// ```
/// use graph_agent::{returned_messages, HasMessages, Message, MessagesState};
/// use serde_json::json;
///
/// let update = MessagesState::add(vec![Message::tool("c1", "18°C").with_id("t1")]);
/// assert_eq!(
///     returned_messages::<MessagesState>(&update),
///     vec![json!({"kind": "message", "role": "tool", "id": "t1", "content": "18°C",
///                 "tool_call_id": "c1"})]
/// );
/// ```
pub fn returned_messages<S: HasMessages>(update: &S::Update) -> Vec<serde_json::Value> {
    S::messages_in(update)
        .iter()
        .filter(|message| !matches!(message, Message::Remove(_)))
        .filter_map(|message| serde_json::to_value(StreamedPayload::Message(message.clone())).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ToolCallChunk;
    use serde_json::json;

    #[test]
    fn chunks_and_messages_carry_their_id_at_the_top_level() {
        let chunk = MessageChunk {
            id: Some("m1".into()),
            content: "Hel".into(),
            tool_calls: vec![ToolCallChunk {
                index: 0,
                id: Some("c".into()),
                name: Some("t".into()),
                args: "{".into(),
            }],
            usage: None,
            stop_reason: None,
        };
        let json = StreamedMessage::chunk_json(chunk.clone());
        assert_eq!(
            json,
            json!({"kind": "chunk", "id": "m1", "content": "Hel",
                   "tool_calls": [{"index": 0, "id": "c", "name": "t", "args": "{"}]})
        );
        assert_eq!(StreamedPayload::deserialize(&json).unwrap(), StreamedPayload::Chunk(chunk));
        let message = Message::assistant("Hi").with_id("m2");
        let json = serde_json::to_value(StreamedPayload::Message(message.clone())).unwrap();
        assert_eq!(
            json,
            json!({"kind": "message", "role": "assistant", "id": "m2", "content": "Hi"})
        );
        assert_eq!(StreamedPayload::deserialize(&json).unwrap(), StreamedPayload::Message(message));
    }

    #[test]
    fn a_value_of_another_form_is_an_error() {
        let error = StreamedPayload::deserialize(&json!({"text": "hi"})).unwrap_err();
        assert_eq!(error.to_string(), "missing field `kind`");
    }
}
