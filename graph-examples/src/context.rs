//! Sharing a model client and settings through the run context: a notice is summarized once,
//! then translated into every configured language in parallel, all with one client.

// ANCHOR: uses
use std::sync::Arc;

use graph_core::prelude::*;
use graph_core::{BoxError, BuildError, NodeFailure};
use serde::{Deserialize, Serialize};

use graph_agent::{ChatModel, ChatModelExt};
// ANCHOR_END: uses

// ANCHOR: context
/// What every run shares: built once, handed to each node by reference.
pub struct Services {
    /// The model client (an `Arc`, so copies of the graph with other settings share it).
    pub model: Arc<dyn ChatModel>,
    /// The languages to translate into.
    pub languages: Vec<String>,
    /// What readers see for a language that could not be translated.
    pub fallback: String,
}
// ANCHOR_END: context

// ANCHOR: state
/// A notice and its translations.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// The original text.
    pub text: String,
    /// Its summary, written once.
    pub summary: String,
    /// One line per language, in the order of `Services::languages`.
    #[reducer(append)]
    pub translations: Vec<String>,
}

/// One translation to make: a `Send` payload.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    /// The target language.
    pub language: String,
    /// The text to translate.
    pub text: String,
}
// ANCHOR_END: state

// ANCHOR: nodes
async fn summarize(s: Arc<Notice>, services: Context<Services>) -> Result<NoticeUpdate, BoxError> {
    let summary = services.model.ask(&format!("summarize: {}", s.text)).await?;
    Ok(Notice::update().summary(summary))
}

fn to_languages(s: &Notice, services: &Services) -> Vec<graph_core::Send> {
    let job = |language: &String| Job { language: language.clone(), text: s.summary.clone() };
    services.languages.iter().map(|l| graph_core::Send::new("translate", job(l))).collect()
}

async fn translate(
    Input(job): Input<Job>,
    services: Context<Services>,
) -> Result<NoticeUpdate, BoxError> {
    let prompt = format!("translate to {}: {}", job.language, job.text);
    let text = services.model.ask(&prompt).await?;
    if text.is_empty() {
        return Err(format!("no model speaks {}", job.language).into());
    }
    Ok(Notice::update().translations(vec![format!("{}: {text}", job.language)]))
}

fn fall_back(failure: &NodeFailure, services: &Services) -> NoticeUpdate {
    let line = format!("{} ({})", services.fallback, failure.error);
    Notice::update().translations(vec![line])
}
// ANCHOR_END: nodes

// ANCHOR: graph
/// The translation graph, running with `services`.
pub fn graph(services: Services) -> Result<CompiledGraph<Notice, Services>, BuildError> {
    StateGraph::<Notice, Services>::new()
        .add_node("summarize", summarize)
        .add_node_with("translate", translate, NodeOptions::new().on_error_with_context(fall_back))
        .add_edge(START, "summarize")
        .add_conditional_edges_with_context("summarize", to_languages, ["translate"])
        .compile_with_context(services)
}
// ANCHOR_END: graph
