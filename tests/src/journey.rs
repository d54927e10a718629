//! A long, checkpointed walk: the graph the crash test kills and resumes in another process.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use graph_core::prelude::*;
use serde::{Deserialize, Serialize};

/// How many steps a journey takes.
pub const STEPS: u32 = 30;

/// The walk so far.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Journey {
    /// One entry per step, in order.
    #[reducer(append)]
    pub steps: Vec<String>,
    /// Steps taken.
    #[reducer(add)]
    pub count: u32,
}

/// The journey as a subgraph: a parent whose `trip` node is the whole walk of [`graph`],
/// followed by `arrive`, which notes the arrival.
pub fn nested(delay: Duration, log: PathBuf) -> CompiledGraph<Journey> {
    StateGraph::<Journey>::new()
        .add_subgraph("trip", graph(delay, log))
        .add_node("arrive", |_: Arc<Journey>| async {
            Journey::update().steps(vec!["arrived".into()])
        })
        .add_edge(START, "trip")
        .add_edge("trip", "arrive")
        .compile()
        .expect("the nested journey graph is valid")
}

/// A graph whose one node walks a step (after `delay`), logging each execution to `log`,
/// and loops until [`STEPS`] steps are taken.
pub fn graph(delay: Duration, log: PathBuf) -> CompiledGraph<Journey> {
    let log = Arc::new(log);
    StateGraph::<Journey>::new()
        .add_node("walk", move |s: Arc<Journey>| {
            let log = Arc::clone(&log);
            async move {
                tokio::time::sleep(delay).await;
                let entry = format!("walk {}", s.count);
                let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&*log)?;
                writeln!(file, "{entry}")?;
                Ok::<_, std::io::Error>(Journey::update().steps(vec![entry]).count(1))
            }
        })
        .add_edge(START, "walk")
        .add_conditional_edges(
            "walk",
            |s: &Journey| if s.count < STEPS { "walk" } else { END },
            ["walk", END],
        )
        .compile()
        .expect("the journey graph is valid")
}
