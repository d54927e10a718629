//! The run context: shared resources (clients, pools, configuration) handed to nodes, routers
//! and error handlers, typed by the graph and stored once per compiled graph.

use std::any::Any;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A run context with its type erased, as it travels through the runtime.
pub(crate) type ErasedContext = Arc<AnyContext>;
/// What routers and error handlers get before the typed wrapper downcasts it.
pub(crate) type AnyContext = dyn Any + Send + Sync;

/// The graph's run context, taken by a node as an argument after its state or input (and
/// after its [`NodeContext`](crate::NodeContext), if it takes one).
///
/// A graph declares its context type as its second parameter, `StateGraph<S, C>`, and gets
/// the value at [`compile_with_context`](crate::StateGraph::compile_with_context); every
/// node of every run then sees the same value, shared, without capturing clones. A node
/// asking for another type than the graph's does not compile.
///
/// ```
/// use graph_core::prelude::*;
/// use graph_core::Context;
/// use std::sync::Arc;
///
/// struct App {
///     greeting: String,
/// }
///
/// #[derive(State, Clone, Default)]
/// struct Chat {
///     reply: String,
/// }
///
/// async fn greet(s: Arc<Chat>, app: Context<App>) -> ChatUpdate {
///     Chat::update().reply(format!("{} {}", app.greeting, s.reply))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let graph = StateGraph::<Chat, App>::new()
///     .add_node("greet", greet)
///     .add_edge(START, "greet")
///     .compile_with_context(App { greeting: "Hello,".into() })?;
/// let out = graph.invoke(Chat::update().reply("Ada"), RunConfig::default()).await?;
/// assert_eq!(out.finished()?.reply, "Hello, Ada");
/// # Ok(())
/// # }
/// ```
pub struct Context<C>(pub(crate) Arc<C>);

impl<C: Send + Sync + 'static> Context<C> {
    /// The typed context out of a task's erased one.
    ///
    /// A compiled graph over `C` only ever runs with a context of type `C`, and nodes asking
    /// for another type do not compile, so the downcast cannot fail.
    pub(crate) fn from_erased(context: &ErasedContext) -> Self {
        let context = Arc::clone(context)
            .downcast::<C>()
            .unwrap_or_else(|_| unreachable!("a graph runs with a context of its own type"));
        Self(context)
    }
}

impl<C> Context<C> {
    /// A context holding `context`, to call a node directly (in a unit test, say); runs of
    /// a graph build it themselves.
    ///
    /// ```
    /// use graph_core::Context;
    ///
    /// async fn shout(word: String, upper: Context<bool>) -> String {
    ///     if *upper { word.to_uppercase() } else { word }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert_eq!(shout("hi".into(), Context::new(true)).await, "HI");
    /// # }
    /// ```
    pub fn new(context: C) -> Self {
        Self(Arc::new(context))
    }

    /// The shared context, to keep beyond the node's call (for a spawned task).
    pub fn into_arc(self) -> Arc<C> {
        self.0
    }
}

impl<C> Deref for Context<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C> Clone for Context<C> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<C: fmt::Debug> fmt::Debug for Context<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Context").field(&self.0).finish()
    }
}

/// The typed context out of an erased one, for routers and error handlers.
pub(crate) fn typed<C: 'static>(context: &AnyContext) -> &C {
    context
        .downcast_ref::<C>()
        .unwrap_or_else(|| unreachable!("a graph runs with a context of its own type"))
}
