//! Serve compiled graphs over HTTP.
//!
//! [`Server`] turns a set of compiled graphs into an axum [`Router`](axum::Router) speaking the
//! part of the LangGraph Platform API that the official `langgraph-sdk` clients use:
//! assistants (one per graph), threads and their state and history, runs in the background,
//! streamed or awaited, with server-sent events that carry ids so a client that dropped
//! rejoins without losing an event, and the store's items. Mount the router in your own
//! service, or serve it as it is. A web view at `/ui` shows the graphs, threads and runs,
//! starts and resumes runs, and draws their timelines live.
//!
//! ```
//! use graph_core::prelude::*;
//! use graph_server::Server;
//! use std::sync::Arc;
//!
//! #[derive(State, Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
//! struct Greeting {
//!     name: String,
//!     text: String,
//! }
//!
//! async fn greet(s: Arc<Greeting>) -> GreetingUpdate {
//!     Greeting::update().text(format!("hello, {}", s.name))
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let graph = StateGraph::<Greeting>::new()
//!     .add_node("greet", greet)
//!     .add_edge(START, "greet")
//!     .compile()?;
//! let app: axum::Router = Server::new().graph("greeter", graph).router();
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! With no other configuration the server keeps threads, runs, checkpoints and the store in
//! memory. [`Server::sqlite`] keeps them all in one SQLite file, so a restarted server carries
//! on where it stopped; [`Server::postgres`] keeps them in PostgreSQL, shared by every server
//! process connected to it. [`Server::graph_on_queue`] serves a graph whose steps' tasks run
//! on the workers of a task queue (feature `postgres`).

mod api;
mod error;
mod log;
mod modes;
#[cfg(feature = "postgres")]
mod queue;
mod records;
mod runner;
mod served;
mod server;
mod web;

pub use error::{ApiError, ConfigError};
pub use server::Server;
