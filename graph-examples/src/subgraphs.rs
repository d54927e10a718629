//! The subgraphs chapter's snippets (between `ANCHOR` markers), each exercised by
//! `tests/subgraphs.rs`, so the chapter cannot go stale.

// ANCHOR: state_uses
use graph_core::prelude::*;
use serde::{Deserialize, Serialize};
// ANCHOR_END: state_uses

// ANCHOR: state
/// An article in the making.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Article {
    /// What it is about.
    pub topic: String,
    /// Its lines, appended by every node that writes one.
    #[reducer(append)]
    pub lines: Vec<String>,
}
// ANCHOR_END: state

// ANCHOR: shared
/// A writer (outline, then draft) as a subgraph over the article itself, then `publish`.
pub fn publisher() -> CompiledGraph<Article> {
    use std::sync::Arc;

    use graph_core::prelude::*;

    async fn outline(s: Arc<Article>) -> ArticleUpdate {
        Article::update().lines(vec![format!("outline of {}", s.topic)])
    }
    async fn draft(s: Arc<Article>) -> ArticleUpdate {
        Article::update().lines(vec![format!("draft on {}", s.topic)])
    }
    async fn publish(_: Arc<Article>) -> ArticleUpdate {
        Article::update().lines(vec!["published".into()])
    }

    let writer = StateGraph::<Article>::new()
        .add_node("outline", outline)
        .add_node("draft", draft)
        .add_edge(START, "outline")
        .add_edge("outline", "draft")
        .compile()
        .expect("valid graph");
    StateGraph::<Article>::new()
        .add_subgraph("writer", writer)
        .add_node("publish", publish)
        .add_edge(START, "writer")
        .add_edge("writer", "publish")
        .compile()
        .expect("valid graph")
}
// ANCHOR_END: shared

// ANCHOR: mapped
/// What a notebook keeps: every topic it was shown.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Notebook {
    /// The topics, oldest first.
    #[reducer(append)]
    pub topics: Vec<String>,
}

/// A notebook as a subgraph with a state of its own: the article's topic goes in, a line
/// listing the topics it has seen comes out. `checkpoints` says what it remembers.
pub fn with_notebook(checkpoints: graph_core::SubgraphCheckpoints) -> CompiledGraph<Article> {
    use std::sync::Arc;

    use graph_core::prelude::*;
    use graph_core::Subgraph;

    let notebook = StateGraph::<Notebook>::new()
        .add_node("note", |_: Arc<Notebook>| async {})
        .add_edge(START, "note")
        .compile()
        .expect("valid graph");
    let notebook = Subgraph::mapped(
        notebook,
        |article: &Article| Notebook::update().topics(vec![article.topic.clone()]),
        |notebook: Notebook| {
            Article::update().lines(vec![format!("seen so far: {}", notebook.topics.join(", "))])
        },
    )
    .checkpoints(checkpoints);
    StateGraph::<Article>::new()
        .add_subgraph("notebook", notebook)
        .add_edge(START, "notebook")
        .compile()
        .expect("valid graph")
}
// ANCHOR_END: mapped

// ANCHOR: pause
/// One reviewer per line, each a subgraph that asks a person; both pause the run, and the
/// answers reach each reviewer by the id of its question.
pub async fn review_by_a_person() -> Result<Article, GraphError> {
    use std::sync::Arc;

    use graph_core::checkpoint::MemorySaver;
    use graph_core::prelude::*;
    use graph_core::{InterruptError, Subgraph};

    /// A reviewer's state: the line, and what the person said of it.
    #[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    struct Review {
        line: String,
        verdict: String,
    }

    let reviewer = StateGraph::<Review>::new()
        .add_node("ask", |s: Arc<Review>, ctx: NodeContext| async move {
            let verdict: String = ctx.interrupt(format!("Keep {:?}?", s.line))?;
            Ok::<_, InterruptError>(Review::update().verdict(verdict))
        })
        .add_edge(START, "ask")
        .compile()
        .expect("valid graph");
    let review = Subgraph::for_each(
        reviewer,
        |line: String| Review::update().line(line),
        |review: Review| {
            Article::update().lines(vec![format!("{}: {}", review.line, review.verdict)])
        },
    );
    let graph = StateGraph::<Article>::new()
        .add_node("plan", |_: Arc<Article>| async {})
        .add_subgraph("review", review)
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            |s: &Article| {
                let lines = ["intro", "conclusion"];
                lines.map(|line| graph_core::Send::new("review", format!("{line} on {}", s.topic)))
            },
            ["review"],
        )
        .compile()
        .expect("valid graph")
        .with_checkpointer(MemorySaver::new());
    let config = RunConfig::default().thread_id("article-1");

    // Both reviewers ask; each question's id starts with its reviewer's namespace.
    let outcome = graph.invoke(Article::update().topic("Rust"), config.clone()).await?;
    let ids: Vec<String> = outcome.interrupts().iter().map(|i| i.id.clone()).collect();
    assert_eq!(ids, ["review:1:send#0|0:ask#0", "review:1:send#1|0:ask#0"]);
    assert_eq!(outcome.interrupts()[1].value, "Keep \"conclusion on Rust\"?");

    // Where each pause sits, and what its reviewer saw, as JSON.
    let paused = graph.get_state_with_subgraphs(&config).await?.expect("the thread exists");
    let second = &paused.subgraphs[1];
    assert_eq!(second.namespace.to_string(), "review:1:send#1");
    assert_eq!(second.values["line"], "conclusion on Rust");
    assert_eq!(second.next, ["ask"]);

    // One answer per question, by id.
    let answers = [(ids[0].clone(), "keep"), (ids[1].clone(), "cut")];
    graph.invoke(Command::resume_by_id(answers), config).await?.finished()
}
// ANCHOR_END: pause

// ANCHOR: goto_parent
/// An editor subgraph that hands the article back to its parent: to `reject` as soon as
/// its topic looks like spam (the editor's remaining work is dropped), to `publish` once
/// it is polished.
pub fn editor_desk() -> CompiledGraph<Article> {
    use std::sync::Arc;

    use graph_core::prelude::*;

    async fn check(s: Arc<Article>) -> Command<Article> {
        let checked = Command::new().update(Article::update().lines(vec!["checked".into()]));
        if s.topic.contains("spam") {
            checked.goto_parent("reject")
        } else {
            checked
        }
    }
    async fn polish(_: Arc<Article>) -> Command<Article> {
        Command::new()
            .update(Article::update().lines(vec!["polished".into()]))
            .goto_parent("publish")
    }

    let editor = StateGraph::<Article>::new()
        .add_node("check", check)
        .add_node("polish", polish)
        .add_edge(START, "check")
        .add_edge("check", "polish")
        .compile()
        .expect("valid graph");
    StateGraph::<Article>::new()
        .add_subgraph("editor", editor)
        .add_node("publish", |_: Arc<Article>| async {
            Article::update().lines(vec!["published".into()])
        })
        .add_node("reject", |_: Arc<Article>| async {
            Article::update().lines(vec!["rejected".into()])
        })
        .add_edge(START, "editor")
        .compile()
        .expect("valid graph")
}
// ANCHOR_END: goto_parent

// ANCHOR: stream
/// Streams the publisher's updates, the writer's own included, each with where it comes from.
pub async fn watch_the_publisher() -> Result<Vec<String>, GraphError> {
    use futures::StreamExt;
    use graph_core::prelude::*;
    use graph_core::{StreamEvent, StreamMode, SubgraphEvent};

    let config = RunConfig::default().stream_mode(StreamMode::Updates);
    let mut events = publisher().stream(Article::update().topic("Rust"), config);
    let mut lines = Vec::new();
    while let Some(event) = events.next().await {
        match event? {
            StreamEvent::Update { node, update, .. } => {
                lines.push(format!("{node} wrote {:?}", update.lines.unwrap_or_default()))
            }
            // The subgraph's own events, with its namespace; its state and updates as JSON.
            StreamEvent::Subgraph {
                namespace,
                event: SubgraphEvent::Update { node, update, .. },
            } => lines.push(format!("  [{namespace}] {node} wrote {}", update["lines"])),
            StreamEvent::Done { state } => lines.push(format!("done: {:?}", state.lines)),
            _ => {}
        }
    }
    Ok(lines)
}
// ANCHOR_END: stream

// ANCHOR: messages
/// Streams the tokens of a model inside a subgraph, unless the subgraph was added with
/// `stream_messages(false)`.
pub async fn subgraph_tokens(stream_messages: bool) -> Result<Vec<String>, GraphError> {
    use std::sync::Arc;

    use futures::StreamExt;
    use graph_agent::testing::ScriptedModel;
    use graph_agent::{ChatModelExt, ChatRequest, Message};
    use graph_core::prelude::*;
    use graph_core::{BoxError, StreamEvent, StreamMode, Subgraph, SubgraphEvent};

    let model = Arc::new(ScriptedModel::new().streamed_words("Rust is fast"));
    let writer = StateGraph::<Article>::new()
        .add_node("draft", move |s: Arc<Article>, ctx: NodeContext| {
            let model = Arc::clone(&model);
            async move {
                let question = [Message::user(format!("One line on {}", s.topic))];
                let answer = model.respond(&ctx, ChatRequest::new(&question)).await?;
                Ok::<_, BoxError>(Article::update().lines(vec![answer.content]))
            }
        })
        .add_edge(START, "draft")
        .compile()
        .expect("valid graph");
    let graph = StateGraph::<Article>::new()
        .add_subgraph("writer", Subgraph::new(writer).stream_messages(stream_messages))
        .add_edge(START, "writer")
        .compile()
        .expect("valid graph");

    let config = RunConfig::default().stream_mode(StreamMode::Messages);
    let mut events = graph.stream(Article::update().topic("Rust"), config);
    let mut tokens = Vec::new();
    while let Some(event) = events.next().await {
        if let StreamEvent::Subgraph {
            namespace,
            event: SubgraphEvent::Message { node, message, .. },
        } = event?
        {
            tokens.push(format!("[{namespace}] {node}: {}", message["content"]));
        }
    }
    Ok(tokens)
}
// ANCHOR_END: messages
