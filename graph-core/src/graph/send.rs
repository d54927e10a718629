//! Dynamic fan-out: `Send` starts a node with its own payload; `Goto` is any routing destination.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

/// Starts `node` in the next superstep with `payload` as its input instead of the state.
///
/// Each `Send` is its own task, duplicates included, so one router can fan out to as many
/// workers as it finds work for (map-reduce, orchestrator-worker). The target node takes
/// [`Input<T>`](crate::Input) with the payload's type `T`, or the state itself when the payload
/// is a whole state. Payloads are `Clone`, so a failed task can be retried with its payload,
/// and serializable, so a run holding pending Sends can be saved.
///
/// ```
/// use graph_core::Send;
///
/// let sends: Vec<Send> = ["rust", "tokio"]
///     .into_iter()
///     .map(|topic| Send::new("write_section", topic.to_string()))
///     .collect();
/// assert_eq!(sends[1].node(), "write_section");
/// ```
pub struct Send {
    pub(crate) node: Cow<'static, str>,
    pub(crate) payload: Box<dyn Payload>,
    pub(crate) type_id: TypeId,
    pub(crate) type_name: &'static str,
}

impl Send {
    /// Rebuilds a `Send` from a payload restored from a checkpoint.
    pub(crate) fn restored(
        node: String,
        payload: Box<dyn Payload>,
        type_id: TypeId,
        type_name: &'static str,
    ) -> Self {
        Self { node: Cow::Owned(node), payload, type_id, type_name }
    }

    /// A restored `Send` its node does not take, as its run saved it: applying it fails as
    /// the live `Send` did, naming the payload's type `found`.
    pub(crate) fn refused(node: String, payload: serde_json::Value, found: &str) -> Self {
        /// Stands for a payload type that no node takes.
        struct Refused;
        let type_name = intern(found);
        Self {
            node: Cow::Owned(node),
            payload: Box::new(payload),
            type_id: TypeId::of::<Refused>(),
            type_name,
        }
    }

    /// A `Send` of `payload` to `node`.
    pub fn new<T>(node: impl Into<Cow<'static, str>>, payload: T) -> Self
    where
        T: Clone + Serialize + core::marker::Send + 'static,
    {
        Self {
            node: node.into(),
            payload: Box::new(payload),
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
        }
    }

    /// The target node.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The payload's type name.
    pub fn payload_type(&self) -> &'static str {
        self.type_name
    }
}

impl fmt::Debug for Send {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Send")
            .field("node", &self.node)
            .field("payload_type", &self.type_name)
            .finish_non_exhaustive()
    }
}

/// A type-erased `Send` payload that can be copied for a retry.
pub(crate) trait Payload: Any + core::marker::Send {
    fn clone_payload(&self) -> Box<dyn Payload>;
    fn into_any(self: Box<Self>) -> Box<dyn Any + core::marker::Send>;
    fn as_any(&self) -> &dyn Any;
    fn to_json(&self) -> Result<serde_json::Value, crate::checkpoint::CheckpointError>;
}

impl<T: Any + Clone + Serialize + core::marker::Send> Payload for T {
    fn clone_payload(&self) -> Box<dyn Payload> {
        Box::new(self.clone())
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + core::marker::Send> {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn to_json(&self) -> Result<serde_json::Value, crate::checkpoint::CheckpointError> {
        crate::checkpoint::to_json(self)
    }
}

/// A destination chosen at run time: a node to trigger (or `END`), or a [`Send`].
#[derive(Debug)]
pub enum Goto {
    /// Trigger this node in the next superstep; `END` triggers nothing.
    Node(Cow<'static, str>),
    /// Start a task with its own payload.
    Send(Send),
}

impl Goto {
    /// The node this destination names.
    pub fn target(&self) -> &str {
        match self {
            Goto::Node(node) | Goto::Send(Send { node, .. }) => node,
        }
    }
}

impl From<&'static str> for Goto {
    fn from(node: &'static str) -> Self {
        Goto::Node(Cow::Borrowed(node))
    }
}

impl From<String> for Goto {
    fn from(node: String) -> Self {
        Goto::Node(Cow::Owned(node))
    }
}

impl From<Send> for Goto {
    fn from(send: Send) -> Self {
        Goto::Send(send)
    }
}

/// What a router may return: one destination, several, or none.
///
/// Implemented for node names (`&'static str`, `String`), [`Send`], [`Goto`], and `Vec`s,
/// arrays and `Option`s of them.
pub trait IntoRoute {
    /// The destinations, in order.
    fn into_route(self) -> Vec<Goto>;

    /// Appends the destinations to `route`, in order. The runtime routes through this, so
    /// a router returning one destination allocates nothing.
    fn append_to(self, route: &mut Vec<Goto>)
    where
        Self: Sized,
    {
        route.extend(self.into_route());
    }
}

impl<T: Into<Goto>> IntoRoute for T {
    fn into_route(self) -> Vec<Goto> {
        vec![self.into()]
    }

    fn append_to(self, route: &mut Vec<Goto>) {
        route.push(self.into());
    }
}

impl<T: Into<Goto>> IntoRoute for Vec<T> {
    fn into_route(self) -> Vec<Goto> {
        self.into_iter().map(Into::into).collect()
    }

    // Straight into `route`: collected first, a fan-out's destinations would be copied twice.
    fn append_to(self, route: &mut Vec<Goto>) {
        route.extend(self.into_iter().map(Into::into));
    }
}

impl<T: Into<Goto>, const N: usize> IntoRoute for [T; N] {
    fn into_route(self) -> Vec<Goto> {
        self.into_iter().map(Into::into).collect()
    }

    fn append_to(self, route: &mut Vec<Goto>) {
        route.extend(self.into_iter().map(Into::into));
    }
}

impl<T: Into<Goto>> IntoRoute for Option<T> {
    fn into_route(self) -> Vec<Goto> {
        self.into_iter().map(Into::into).collect()
    }

    fn append_to(self, route: &mut Vec<Goto>) {
        route.extend(self.map(Into::into));
    }
}

/// `name` for as long as the process runs. Only type names go through here, so what is kept
/// is bounded by the types a program sends.
fn intern(name: &str) -> &'static str {
    static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = names.iter().find(|known| **known == name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.push(leaked);
    leaked
}
