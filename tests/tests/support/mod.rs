//! Shared test support: a state that records which nodes ran, and node builders.
#![allow(dead_code, unused_imports, unused_macros)]

pub mod backends;
pub mod process;
pub mod queued;

use std::sync::Arc;
use std::time::Duration;

use graph_core::prelude::*;

/// Records the nodes that ran, in apply order.
#[derive(State, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Log {
    #[reducer(append)]
    pub visited: Vec<String>,
    #[reducer(add)]
    pub n: u64,
    pub last: Option<String>,
}

/// A node that appends its name to `visited` and adds 1 to `n`.
pub fn visit(
    name: &'static str,
) -> impl Fn(Arc<Log>) -> std::future::Ready<LogUpdate> + Send + Sync + 'static {
    move |_| std::future::ready(Log::update().visited(vec![name.to_owned()]).n(1))
}

/// Like [`visit`], after sleeping `ms` milliseconds.
pub fn visit_after(
    name: &'static str,
    ms: u64,
) -> impl Fn(Arc<Log>) -> futures::future::BoxFuture<'static, LogUpdate> + Send + Sync + 'static {
    move |_| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Log::update().visited(vec![name.to_owned()]).n(1)
        })
    }
}

pub fn visited(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// `a` runs and routes to END; the join of `a` and `b` into `c` is left waiting.
pub fn half_joined() -> CompiledGraph<Log> {
    StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("b", visit("b"))
        .add_node("c", visit("c"))
        .add_edge(START, "a")
        .add_conditional_edges("a", |_: &Log| END, ["b", END])
        .add_join(["a", "b"], "c")
        .compile()
        .unwrap()
}
