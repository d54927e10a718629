//! A conversation as a state field: the [`Messages`] list, the [`add_messages`] reducer that
//! merges updates into it, the [`HasMessages`] trait the agent layer reads states through, and
//! the ready [`MessagesState`].

use std::collections::{HashMap, HashSet};
use std::fmt;

use graph_core::State;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::message::{derived_id, Message, REMOVE_ALL_MESSAGES};

/// A list of messages, merged by [`add_messages`]: a state field's type.
///
/// It reads as a slice (`messages.len()`, `messages.last()`, `&messages[1..]`) and is stored as
/// a plain JSON array of messages. Beside the list it keeps an index from id to position,
/// built on the first merge, so merging costs in proportion to the update, not the history.
#[derive(Clone, Default)]
pub struct Messages {
    items: Vec<Message>,
    /// Id to the last position holding it; `None` until a merge needs it.
    index: Option<HashMap<String, usize>>,
}

impl Messages {
    /// No messages.
    pub fn new() -> Self {
        Self::default()
    }

    /// The messages, in order.
    pub fn as_slice(&self) -> &[Message] {
        &self.items
    }

    /// The messages, as a vector.
    pub fn into_vec(self) -> Vec<Message> {
        self.items
    }

    /// Adds `message` at the end (of an update, typically; merging applies the rules of
    /// [`add_messages`]).
    pub fn push(&mut self, message: impl Into<Message>) {
        self.index = None;
        self.items.push(message.into());
    }

    /// Gives every message without an id one, and builds the index, if not done yet.
    fn indexed(&mut self) -> &mut HashMap<String, usize> {
        if self.index.is_none() {
            let mut index = HashMap::with_capacity(self.items.len());
            for position in 0..self.items.len() {
                let (before, rest) = self.items.split_at_mut(position);
                let predecessor = before.last().and_then(Message::id).unwrap_or("");
                let message = &mut rest[0];
                if message.id().is_none() {
                    let id = new_id(predecessor, position, message.content());
                    *message.id_slot().expect("not a removal: it has no id") = Some(id);
                }
                let id = message.id().unwrap_or_default().to_owned();
                index.insert(id, position);
            }
            self.index = Some(index);
        }
        self.index.as_mut().expect("just built")
    }
}

/// The id of a message that has none, from the id of the message before it, its position and
/// its text: the same on every run, unique within a list, and never the id of a message of an
/// earlier turn (which a step counter would repeat when a thread without a checkpointer runs
/// again).
fn new_id(predecessor: &str, position: usize, text: &str) -> String {
    derived_id(&["message", predecessor, &position.to_string(), text])
}

impl std::ops::Deref for Messages {
    type Target = [Message];

    fn deref(&self) -> &[Message] {
        &self.items
    }
}

/// Two lists are equal when their messages are; the index is a cache.
impl PartialEq for Messages {
    fn eq(&self, other: &Self) -> bool {
        self.items == other.items
    }
}

impl fmt::Debug for Messages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.items.fmt(f)
    }
}

impl Serialize for Messages {
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        self.items.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Messages {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::deserialize(deserializer).map(Messages::from)
    }
}

impl From<Vec<Message>> for Messages {
    fn from(items: Vec<Message>) -> Self {
        Self { items, index: None }
    }
}

impl From<Message> for Messages {
    fn from(message: Message) -> Self {
        Self::from(vec![message])
    }
}

impl FromIterator<Message> for Messages {
    fn from_iter<I: IntoIterator<Item = Message>>(iter: I) -> Self {
        Self::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl IntoIterator for Messages {
    type Item = Message;
    type IntoIter = std::vec::IntoIter<Message>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a> IntoIterator for &'a Messages {
    type Item = &'a Message;
    type IntoIter = std::slice::Iter<'a, Message>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

/// The error of [`add_messages`]: a removal of a message that is not there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Attempting to delete a message with an ID that doesn't exist ('{id}')")]
pub struct UnknownMessage {
    /// The id nothing had.
    pub id: String,
}

/// Merges `update` into `messages` with LangGraph's rules; the reducer of a [`Messages`]
/// field (`#[reducer(with = add_messages)]`).
///
/// - A message without an id gets one, derived from the id of the message before it, its
///   position and its text, so runs, checkpoints and snapshots are reproducible.
/// - If the update holds [`Message::remove_all`], the list becomes exactly the messages
///   after the last such marker.
/// - Otherwise the update is walked in order: a message whose id is in the list replaces it
///   in place (the last one, if the list holds the id twice), and cancels an earlier removal
///   of that id in the update; [`Message::remove`] marks a known id for removal; a new id is
///   appended. Removals apply at the end, so re-adding then removing an id in one update
///   removes it, and removing then re-adding keeps it in its old place.
/// - Removing an id the list does not have is an [`UnknownMessage`] error, and the list is
///   left as it was.
///
/// Appends and replacements cost in proportion to the update; a removal rebuilds the list.
///
/// ```
/// use graph_agent::{add_messages, Message, Messages};
///
/// let mut chat = Messages::from(vec![Message::user("hi").with_id("1"), Message::assistant("hello").with_id("2")]);
/// let update = vec![Message::assistant("hello!").with_id("2"), Message::user("bye")];
/// add_messages(&mut chat, update.into()).unwrap();
/// let texts: Vec<&str> = chat.iter().map(|m| m.content()).collect();
/// assert_eq!(texts, ["hi", "hello!", "bye"]);
///
/// add_messages(&mut chat, Message::remove("1").into()).unwrap();
/// assert_eq!(chat.len(), 2);
/// let error = add_messages(&mut chat, Message::remove("1").into()).unwrap_err();
/// assert_eq!(error.to_string(), "Attempting to delete a message with an ID that doesn't exist ('1')");
/// ```
pub fn add_messages(messages: &mut Messages, update: Messages) -> Result<(), UnknownMessage> {
    let mut update = update.items;
    if let Some(last) = update.iter().rposition(is_remove_all) {
        let tail = update.split_off(last + 1);
        if !tail.iter().any(|m| matches!(m, Message::Remove(_))) {
            *messages = Messages::from(tail);
            messages.indexed();
            return Ok(());
        }
        let mut fresh = Messages::new();
        add_messages(&mut fresh, tail.into())?;
        *messages = fresh;
        return Ok(());
    }
    check_removals(messages, &update)?;
    let start = messages.items.len();
    messages.indexed();
    let mut removed: HashSet<String> = HashSet::new();
    for (offset, mut message) in update.into_iter().enumerate() {
        if message.id().is_none() {
            let predecessor = messages.items.last().and_then(Message::id).unwrap_or("");
            let id = new_id(predecessor, start + offset, message.content());
            *message.id_slot().expect("not a removal: it has no id") = Some(id);
        }
        let id = message.id().unwrap_or_default().to_owned();
        let index = messages.index.as_mut().expect("indexed above");
        match (index.get(&id).copied(), message) {
            (Some(_), Message::Remove(_)) => {
                removed.insert(id);
            }
            (Some(position), message) => {
                removed.remove(&id);
                messages.items[position] = message;
            }
            (None, Message::Remove(_)) => unreachable!("checked before merging"),
            (None, message) => {
                index.insert(id, messages.items.len());
                messages.items.push(message);
            }
        }
    }
    if !removed.is_empty() {
        messages.items.retain(|m| m.id().is_none_or(|id| !removed.contains(id)));
        messages.index = None;
        messages.indexed();
    }
    Ok(())
}

fn is_remove_all(message: &Message) -> bool {
    matches!(message, Message::Remove(m) if m.id == REMOVE_ALL_MESSAGES)
}

/// Fails on the first removal of an id that neither the list nor an earlier message of the
/// update has, before anything changes.
fn check_removals(messages: &mut Messages, update: &[Message]) -> Result<(), UnknownMessage> {
    if !update.iter().any(|m| matches!(m, Message::Remove(_))) {
        return Ok(());
    }
    let index = messages.indexed();
    let mut added: HashSet<&str> = HashSet::new();
    for message in update {
        match message {
            Message::Remove(removal) => {
                if !index.contains_key(&removal.id) && !added.contains(removal.id.as_str()) {
                    return Err(UnknownMessage { id: removal.id.clone() });
                }
            }
            other => {
                if let Some(id) = other.id() {
                    added.insert(id);
                }
            }
        }
    }
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
///
/// ```
/// use graph_agent::{Message, MessagesState};
/// use graph_core::State;
///
/// let mut state = MessagesState::default();
/// state.apply([("user", MessagesState::update().message(Message::user("hi")))]).unwrap();
/// assert_eq!(state.messages[0].content(), "hi");
/// assert!(state.messages[0].id().is_some());
/// ```
#[derive(State, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessagesState {
    /// The conversation.
    #[reducer(with = add_messages)]
    pub messages: Messages,
}

impl MessagesStateUpdate {
    /// The same update with `message` added to the messages it writes.
    pub fn message(mut self, message: impl Into<Message>) -> Self {
        self.messages.get_or_insert_with(Messages::new).push(message);
        self
    }
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

/// A run can start from one message: it is added to the thread's conversation.
impl graph_core::GraphInput<MessagesState> for Message {
    fn into_input(self) -> graph_core::__private::RunInput<MessagesState> {
        MessagesState::add(vec![self]).into_input()
    }
}
