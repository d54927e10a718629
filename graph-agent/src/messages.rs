//! A conversation as a state field: the [`Messages`] list, the [`add_messages`] reducer that
//! merges updates into it, the [`HasMessages`] trait the agent layer reads states through, and
//! the ready [`MessagesState`].

use graph_core::State;
use serde::{Deserialize, Serialize};

use crate::message::Message;

/// A list of messages, merged by [`add_messages`].
///
/// SKELETON: the index and LangGraph's rules are still to be written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Messages {
    items: Vec<Message>,
}

impl Messages {
    /// The messages, in order.
    pub fn as_slice(&self) -> &[Message] {
        &self.items
    }
}

impl std::ops::Deref for Messages {
    type Target = [Message];

    fn deref(&self) -> &[Message] {
        &self.items
    }
}

impl From<Vec<Message>> for Messages {
    fn from(items: Vec<Message>) -> Self {
        Self { items }
    }
}

impl From<Message> for Messages {
    fn from(message: Message) -> Self {
        Self { items: vec![message] }
    }
}

impl FromIterator<Message> for Messages {
    fn from_iter<I: IntoIterator<Item = Message>>(iter: I) -> Self {
        Self { items: iter.into_iter().collect() }
    }
}

/// The error of [`add_messages`]: a removal of a message that is not there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attempting to delete a message with an ID that doesn't exist ('{id}')")]
pub struct UnknownMessage {
    /// The id nothing had.
    pub id: String,
}

/// Merges `update` into `messages` with LangGraph's rules.
///
/// SKELETON: appends only.
pub fn add_messages(messages: &mut Messages, update: Messages) -> Result<(), UnknownMessage> {
    messages.items.extend(update.items);
    Ok(())
}

/// A state with a conversation: what [`ToolNode`](crate::ToolNode), the prebuilt agent and
/// message streaming read and write.
pub trait HasMessages: State {
    /// The conversation so far.
    fn messages(&self) -> &[Message];
    /// An update that adds `messages` through [`add_messages`].
    fn add(messages: Vec<Message>) -> Self::Update;
    /// The messages an update writes, if it writes any.
    fn messages_in(update: &Self::Update) -> &[Message];
}

/// The ready state of a conversation: one `messages` field merged by [`add_messages`].
#[derive(State, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessagesState {
    /// The conversation.
    #[reducer(with = add_messages)]
    pub messages: Messages,
}

impl HasMessages for MessagesState {
    fn messages(&self) -> &[Message] {
        &self.messages
    }

    fn add(messages: Vec<Message>) -> MessagesStateUpdate {
        MessagesState::update().messages(messages.into())
    }

    fn messages_in(update: &MessagesStateUpdate) -> &[Message] {
        update.messages.as_deref().unwrap_or_default()
    }
}
