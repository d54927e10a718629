//! Typed state-graph orchestration for Rust.
//!
//! Build a graph of async nodes over a typed state, run independent nodes in parallel, and merge
//! their updates deterministically through per-field reducers.
//!
//! ```
//! use graph_core::prelude::*;
//! use std::sync::Arc;
//!
//! #[derive(State, Clone, Debug, Default, PartialEq)]
//! struct Briefing {
//!     city: String,
//!     #[reducer(append)]
//!     sections: Vec<String>,
//! }
//!
//! async fn weather(s: Arc<Briefing>) -> BriefingUpdate {
//!     Briefing::update().sections(vec![format!("sunny in {}", s.city)])
//! }
//! async fn news(_: Arc<Briefing>) -> BriefingUpdate {
//!     Briefing::update().sections(vec!["markets calm".into()])
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let graph = StateGraph::<Briefing>::new()
//!     .add_node("weather", weather)
//!     .add_node("news", news)
//!     .add_edge(START, "weather")
//!     .add_edge(START, "news")
//!     .compile()?;
//!
//! let out = graph.invoke(Briefing::update().city("Paris"), RunConfig::default()).await?.finished()?;
//! // Both ran in the same superstep; their updates merge in node-name order.
//! assert_eq!(out.sections, ["markets calm", "sunny in Paris"]);
//! # Ok(())
//! # }
//! ```
//!
//! # Overview
//!
//! - **State**: a struct with `#[derive(State)]`; each field's reducer ([`reducers`]) merges
//!   parallel writes. Nodes return the generated `FooUpdate`.
//! - **Graph**: [`StateGraph`] collects nodes (plain async functions, see [`IntoNode`]),
//!   edges, joins, conditional edges and per-node [`NodeOptions`] (defer, concurrency cap,
//!   timeout, [`RetryPolicy`], error handler); [`StateGraph::compile`] checks it all and
//!   returns a [`BuildError`] naming what is wrong.
//! - **Runs**: [`CompiledGraph::invoke`] runs to completion in supersteps (described on
//!   [`StateGraph`]); [`CompiledGraph::stream`] streams [`StreamEvent`]s; [`RunConfig`] sets
//!   limits, timeouts, cancellation and the thread.
//! - **Shared resources**: a graph's run context (`StateGraph<S, C>`) hands clients, pools and
//!   configuration to nodes as a [`Context`] argument, and to routers and error handlers.
//! - **Dynamic work**: [`Send`] starts one task per work item; [`Command`] routes at run time.
//! - **Durability**: [`checkpoint`] savers (memory, SQLite, PostgreSQL) make runs resumable,
//!   pausable ([`NodeContext::interrupt`]), inspectable and replayable.
//! - **Memory**: the [`store`] keeps what graphs remember across threads, reached from nodes
//!   with [`NodeContext::store`]; the node [`cache`] skips nodes whose input was seen before.
//! - **Pictures**: [`CompiledGraph::draw_mermaid`] and [`Timeline`].
//! - **Fan-in helpers**: [`aggregate`].

#![deny(missing_docs)]

// Lets the derive's absolute `::graph_core::` paths resolve inside this crate's own tests.
#[allow(unused_extern_crates)]
extern crate self as graph_core;

pub mod aggregate;
pub mod cache;
pub mod checkpoint;
mod config;
#[cfg(feature = "distributed")]
pub mod distributed;
mod error;
mod graph;
#[cfg(feature = "postgres")]
mod pg_pool;
mod pregel;
mod state;
pub mod store;
mod stream;
mod thread;

#[cfg(feature = "distributed")]
pub use config::QueueExecutor;
pub use config::{Durability, Executor, RunConfig};
pub use error::{
    BoxError, BuildError, Callback, GraphError, InvalidResume, InvalidUpdate, NodeError,
    NodeFailure, RouteOrigin, RouteRefusal,
};
pub use graph::{
    Command, CompiledGraph, Context, Goto, Input, Interrupt, InterruptError, IntoNode, IntoRoute,
    MermaidOptions, NodeContext, NodeOptions, NodeOutput, RetryPolicy, ReturnedMessages,
    RunOutcome, Send, StateGraph, StateSnapshot, Subgraph, SubgraphCheckpoints, SubgraphState, END,
    START,
};
pub use graph_macros::State;
pub use pregel::{Namespace, RunReport, StepRecord, TaskId, TaskPath, TaskRecord};
pub use state::{reducers, Field, GraphInput, ReducerKind, State};
pub use stream::{
    RunStream, RunWarning, StreamEvent, StreamMode, SubgraphEvent, Timeline, TimelineEntry,
};
/// Cancels a run from outside; see [`RunConfig::cancellation_token`].
pub use tokio_util::sync::CancellationToken;

/// The names most graphs need: `use graph_core::prelude::*;`.
///
/// [`Send`] is left out so it never shadows `std::marker::Send`; write `graph_core::Send`.
pub mod prelude {
    pub use crate::{
        Command, CompiledGraph, Context, GraphError, Input, NodeContext, NodeOptions, RunConfig,
        RunOutcome, State, StateGraph, END, START,
    };
}

/// Support for the derive macro; not part of the public API and outside semver.
#[doc(hidden)]
pub mod __private {
    pub use crate::graph::Answers;
    pub use crate::state::reducers;
    pub use crate::state::written;
    pub use crate::state::{LastValue, RunInput};
    pub use serde;
}
