//! The subgraphs chapter's snippets (`src/subgraphs.rs`) do what the chapter says.

use graph_core::checkpoint::MemorySaver;
use graph_core::prelude::*;
use graph_core::SubgraphCheckpoints;
use graph_examples::subgraphs::{self, Article};

#[tokio::test]
async fn a_subgraph_over_the_same_state_writes_each_line_once() {
    let input = Article::update().topic("Rust").lines(vec!["idea".into()]);
    let out = subgraphs::publisher().invoke(input, RunConfig::default()).await.unwrap();
    let lines = out.finished().unwrap().lines;
    // "idea" was in the writer's starting state, not among its writes: it is not appended again.
    assert_eq!(lines, ["idea", "outline of Rust", "draft on Rust", "published"]);
    insta::assert_snapshot!("shared", format!("{lines:#?}"));
}

/// Runs the notebook twice on one thread, on "Rust" then "Go"; the article's lines.
async fn two_topics(checkpoints: SubgraphCheckpoints) -> Vec<String> {
    let graph = subgraphs::with_notebook(checkpoints).with_checkpointer(MemorySaver::new());
    let config = RunConfig::default().thread_id("notes-1");
    let first = graph.invoke(Article::update().topic("Rust"), config.clone()).await.unwrap();
    assert_eq!(first.finished().unwrap().lines, ["seen so far: Rust"]);
    let out = graph.invoke(Article::update().topic("Go"), config).await.unwrap();
    out.finished().unwrap().lines
}

#[tokio::test]
async fn a_per_thread_subgraph_remembers_across_runs_and_a_per_call_one_does_not() {
    let per_thread = two_topics(SubgraphCheckpoints::PerThread).await;
    assert_eq!(per_thread, ["seen so far: Rust", "seen so far: Rust, Go"]);
    let per_call = two_topics(SubgraphCheckpoints::PerCall).await;
    assert_eq!(per_call, ["seen so far: Rust", "seen so far: Go"]);
    let off = two_topics(SubgraphCheckpoints::Off).await;
    assert_eq!(off, per_call);
    insta::assert_snapshot!(
        "checkpoints",
        format!("PerThread: {per_thread:?}\nPerCall:   {per_call:?}\nOff:       {off:?}")
    );
}

#[tokio::test]
async fn answers_by_id_reach_each_paused_subgraph() {
    let out = subgraphs::review_by_a_person().await.unwrap();
    assert_eq!(out.lines, ["intro on Rust: keep", "conclusion on Rust: cut"]);
}

#[tokio::test]
async fn a_node_inside_a_subgraph_routes_in_the_parent() {
    let graph = subgraphs::editor_desk();
    let run = |topic: &'static str| {
        let graph = graph.clone();
        async move {
            let out = graph.invoke(Article::update().topic(topic), RunConfig::default()).await;
            out.unwrap().finished().unwrap().lines
        }
    };
    let (rust, spam) = (run("Rust").await, run("buy spam").await);
    assert_eq!(rust, ["checked", "polished", "published"]);
    // The hand-off ended the editor early: `polish` never ran.
    assert_eq!(spam, ["checked", "rejected"]);
    insta::assert_snapshot!(
        "goto_parent",
        format!("\"Rust\":     {rust:?}\n\"buy spam\": {spam:?}")
    );
}

#[tokio::test]
async fn a_subgraph_streams_its_updates_under_its_namespace() {
    let lines = subgraphs::watch_the_publisher().await.unwrap();
    assert_eq!(
        lines,
        [
            "  [writer:0:writer] outline wrote [\"outline of Rust\"]",
            "  [writer:0:writer] draft wrote [\"draft on Rust\"]",
            "writer wrote [\"outline of Rust\"]",
            "writer wrote [\"draft on Rust\"]",
            "publish wrote [\"published\"]",
            "done: [\"outline of Rust\", \"draft on Rust\", \"published\"]",
        ]
    );
    insta::assert_snapshot!("stream", lines.join("\n"));
}

#[tokio::test]
async fn a_subgraph_streams_its_tokens_unless_told_not_to() {
    let tokens = subgraphs::subgraph_tokens(true).await.unwrap();
    assert_eq!(
        tokens,
        [
            "[writer:0:writer] draft: \"Rust\"",
            "[writer:0:writer] draft: \" is\"",
            "[writer:0:writer] draft: \" fast\"",
        ]
    );
    insta::assert_snapshot!("messages", tokens.join("\n"));
    assert_eq!(subgraphs::subgraph_tokens(false).await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn a_message_removed_inside_a_subgraph_is_removed_from_the_parent() {
    use std::sync::Arc;

    use graph_agent::{HasMessages, Message, MessagesState};

    let forget = StateGraph::<MessagesState>::new()
        .add_node("forget", |_: Arc<MessagesState>| async {
            MessagesState::add(vec![Message::remove("old")])
        })
        .add_edge(START, "forget")
        .compile()
        .unwrap();
    let graph = StateGraph::<MessagesState>::new()
        .add_subgraph("forget", forget)
        .add_edge(START, "forget")
        .compile()
        .unwrap();
    let said = |id: &str| Message::user(id).with_id(id);
    let input = MessagesState { messages: vec![said("old"), said("new")].into() };
    let out = graph.invoke(input, RunConfig::default()).await.unwrap().finished().unwrap();
    assert_eq!(out.messages(), [said("new")]);
}

#[tokio::test]
async fn a_mapped_subgraph_s_output_can_route_the_parent_with_a_command() {
    use std::sync::Arc;

    use graph_core::{NodeOptions, Subgraph};

    let check = StateGraph::<Article>::new()
        .add_node("check", |s: Arc<Article>| async move {
            Article::update().lines(vec![format!("checked {}", s.topic)])
        })
        .add_edge(START, "check")
        .compile()
        .unwrap();
    let check = Subgraph::mapped(
        check,
        |article: &Article| Article::update().topic(article.topic.clone()),
        |checked: Article| {
            let next = if checked.topic.contains("spam") { "reject" } else { "accept" };
            Command::new().update(Article::update().lines(checked.lines)).goto(next)
        },
    );
    let graph = StateGraph::<Article>::new()
        .add_subgraph_with("check", check, NodeOptions::new().destinations(["accept", "reject"]))
        .add_node("accept", |_: Arc<Article>| async {
            Article::update().lines(vec!["accepted".into()])
        })
        .add_node("reject", |_: Arc<Article>| async {
            Article::update().lines(vec!["rejected".into()])
        })
        .add_edge(START, "check")
        .compile()
        .unwrap();
    let run = |topic: &'static str| {
        let graph = graph.clone();
        async move {
            let out = graph.invoke(Article::update().topic(topic), RunConfig::default()).await;
            out.unwrap().finished().unwrap().lines
        }
    };
    assert_eq!(run("Rust").await, ["checked Rust", "accepted"]);
    assert_eq!(run("spam").await, ["checked spam", "rejected"]);
}
