//! Short, compiled snippets the book includes (between `ANCHOR` markers), each exercised by
//! `tests/tour.rs`, so the tutorials cannot go stale.

// ANCHOR: state_uses
use graph_core::prelude::*;
use serde::{Deserialize, Serialize};
// ANCHOR_END: state_uses

// ANCHOR: state
/// Keeps the best draft: a custom reducer is any `fn(&mut T, T)`.
fn keep_best(current: &mut Option<Draft>, new: Option<Draft>) {
    if new.as_ref().map(|d| d.score) > current.as_ref().map(|d| d.score) {
        *current = new;
    }
}

/// A draft and how good it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// The text.
    pub text: String,
    /// Its score.
    pub score: u32,
}

/// The state of a writing team.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Desk {
    /// No reducer: one write per superstep, or the run fails naming the writers.
    pub topic: String,
    /// Parallel writes append, in task order.
    #[reducer(append)]
    pub notes: Vec<String>,
    /// Parallel writes add up.
    #[reducer(add)]
    pub tokens: u64,
    /// Parallel writes go through `keep_best`.
    #[reducer(with = keep_best)]
    pub best: Option<Draft>,
}
// ANCHOR_END: state

// ANCHOR: writers
/// Two writers in parallel; their updates merge through the reducers.
pub fn writers() -> graph_core::CompiledGraph<Desk> {
    use std::sync::Arc;
    use std::time::Duration;

    use graph_core::prelude::*;

    async fn fast_writer(s: Arc<Desk>) -> DeskUpdate {
        Desk::update()
            .notes(vec![format!("quick take on {}", s.topic)])
            .tokens(120)
            .best(Some(Draft { text: "short".into(), score: 6 }))
    }
    async fn careful_writer(s: Arc<Desk>) -> DeskUpdate {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Desk::update()
            .notes(vec![format!("deep dive into {}", s.topic)])
            .tokens(900)
            .best(Some(Draft { text: "thorough".into(), score: 9 }))
    }
    StateGraph::<Desk>::new()
        .add_node("fast", fast_writer)
        .add_node("careful", careful_writer)
        .add_edge(START, "fast")
        .add_edge(START, "careful")
        .compile()
        .expect("valid graph")
}
// ANCHOR_END: writers

// ANCHOR: command
/// A node that picks its successor at run time with `Command`.
pub fn triage() -> graph_core::CompiledGraph<Desk> {
    use std::sync::Arc;

    use graph_core::prelude::*;
    use graph_core::NodeOptions;

    async fn triage(s: Arc<Desk>) -> Command<Desk> {
        let next = if s.topic.contains("urgent") { "escalate" } else { "file" };
        Command::new().update(Desk::update().notes(vec![format!("triaged to {next}")])).goto(next)
    }
    StateGraph::<Desk>::new()
        .add_node_with("triage", triage, NodeOptions::new().destinations(["escalate", "file"]))
        .add_node("escalate", |_: Arc<Desk>| async {
            Desk::update().notes(vec!["paged the on-call".into()])
        })
        .add_node("file", |_: Arc<Desk>| async { Desk::update().notes(vec!["filed".into()]) })
        .add_edge(START, "triage")
        .compile()
        .expect("valid graph")
}
// ANCHOR_END: command

// ANCHOR: policies
/// A flaky, slow search protected by a timeout, retries and an error handler.
pub fn resilient_search(failures_before_success: u32) -> graph_core::CompiledGraph<Desk> {
    use std::sync::Arc;
    use std::time::Duration;

    use graph_core::prelude::*;
    use graph_core::{BoxError, NodeOptions, RetryPolicy};

    let options = NodeOptions::new()
        .concurrency(4) // a rate-limited API: at most 4 calls at once, across runs
        .timeout(Duration::from_secs(2)) // per attempt
        .retry(RetryPolicy::new(3).initial_interval(Duration::from_millis(100)))
        // Best effort: a final failure becomes a note instead of failing the run.
        .on_error(|failure| Desk::update().notes(vec![format!("gave up: {failure}")]));
    let search = move |_: Arc<Desk>, ctx: NodeContext| async move {
        if ctx.attempt() <= failures_before_success {
            return Err::<DeskUpdate, BoxError>("the search API is down".into());
        }
        Ok(Desk::update().notes(vec![format!("found it on attempt {}", ctx.attempt())]))
    };
    StateGraph::<Desk>::new()
        .add_node_with("search", search, options)
        .add_edge(START, "search")
        .compile()
        .expect("valid graph")
}
// ANCHOR_END: policies

// ANCHOR: cancel
/// Cancels a long run from outside.
pub async fn cancel_after(wait: std::time::Duration) -> Result<Desk, graph_core::GraphError> {
    use std::sync::Arc;
    use std::time::Duration;

    use graph_core::prelude::*;
    use graph_core::CancellationToken;

    let graph = StateGraph::<Desk>::new()
        .add_node("slow", |_: Arc<Desk>| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        })
        .add_edge(START, "slow")
        .compile()
        .expect("valid graph");
    let stop = CancellationToken::new();
    let canceller = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        canceller.cancel(); // the run's tasks are dropped; invoke returns GraphError::Cancelled
    });
    graph.invoke(Desk::default(), RunConfig::default().cancellation_token(stop)).await?.finished()
}
// ANCHOR_END: cancel

// ANCHOR: stream
/// Prints a run's progress as it happens.
pub async fn watch() -> Result<Vec<String>, graph_core::GraphError> {
    use futures::StreamExt;
    use graph_core::prelude::*;
    use graph_core::{StreamEvent, StreamMode};

    let graph = writers(); // the two writers of the state chapter
    let config =
        RunConfig::default().stream_mode(StreamMode::Tasks).stream_mode(StreamMode::Updates);
    let mut lines = Vec::new();
    let mut events = graph.stream(Desk::update().topic("supersteps"), config);
    while let Some(event) = events.next().await {
        match event? {
            StreamEvent::TaskStart { node, .. } => lines.push(format!("{node} started")),
            StreamEvent::Update { node, update, .. } => {
                lines.push(format!("{node} wrote {:?}", update.notes))
            }
            StreamEvent::TaskEnd { node, duration, .. } => {
                lines.push(format!("{node} took {duration:?}"))
            }
            StreamEvent::Done { state } => lines.push(format!("done: {} tokens", state.tokens)),
            _ => {}
        }
    }
    Ok(lines)
}
// ANCHOR_END: stream

// ANCHOR: interrupt
/// Pauses for a person, who answers; the thread resumes from its checkpoint.
pub async fn ask_a_person() -> Result<Desk, graph_core::GraphError> {
    use std::sync::Arc;

    use graph_core::checkpoint::MemorySaver;
    use graph_core::prelude::*;
    use graph_core::InterruptError;

    let graph = StateGraph::<Desk>::new()
        .add_node("publish", |s: Arc<Desk>, ctx: NodeContext| async move {
            let answer: String = ctx.interrupt(format!("Publish the notes on {}?", s.topic))?;
            Ok::<_, InterruptError>(Desk::update().notes(vec![format!("publish: {answer}")]))
        })
        .add_edge(START, "publish")
        .compile()
        .expect("valid graph")
        .with_checkpointer(MemorySaver::new());
    let config = RunConfig::default().thread_id("desk-1");

    // The first run pauses and says why: a pause is an outcome, not an error.
    let outcome = graph.invoke(Desk::update().topic("Rust"), config.clone()).await?;
    assert!(outcome.is_paused());
    assert_eq!(outcome.interrupts()[0].value, "Publish the notes on Rust?");

    // Later, maybe in another process: inspect, then answer.
    let paused = graph.get_state(&config).await?.expect("the thread exists");
    assert_eq!(paused.next, ["publish"]);
    graph.invoke(Command::resume("yes, go"), config).await?.finished()
}
// ANCHOR_END: interrupt

// ANCHOR: send
/// Sends one task per item; the payload type is checked against the node.
pub fn word_lengths() -> graph_core::CompiledGraph<Desk> {
    use std::sync::Arc;

    use graph_core::prelude::*;
    use graph_core::Input;

    StateGraph::<Desk>::new()
        .add_node("split", |_: Arc<Desk>| async {})
        .add_node("count", |Input(word): Input<String>| async move {
            Desk::update().tokens(word.len() as u64)
        })
        .add_edge(START, "split")
        .add_conditional_edges(
            "split",
            |s: &Desk| {
                s.topic
                    .split(' ')
                    .map(|w| graph_core::Send::new("count", w.to_string()))
                    .collect::<Vec<_>>()
            },
            ["count"],
        )
        .compile()
        .expect("valid graph")
}
// ANCHOR_END: send

// ANCHOR: joins
/// The same uneven branches twice: into `merge` by separate edges, then by a join.
pub fn edges_versus_join(join: bool) -> graph_core::CompiledGraph<Desk> {
    use std::sync::Arc;

    use graph_core::prelude::*;

    /// A node that only notes its name.
    fn note(name: &'static str) -> impl Fn(Arc<Desk>) -> std::future::Ready<DeskUpdate> {
        move |_| std::future::ready(Desk::update().notes(vec![name.to_owned()]))
    }
    let graph = StateGraph::<Desk>::new()
        .add_node("quick", note("quick"))
        .add_node("slow", note("slow"))
        .add_node("slower", note("slower"))
        .add_node("merge", note("merge"))
        .add_edge(START, "quick")
        .add_edge(START, "slow")
        .add_edge("slow", "slower"); // this branch takes one step more
    let graph = if join {
        // `merge` runs once, after both `quick` and `slower`, whatever their steps.
        graph.add_join(["quick", "slower"], "merge")
    } else {
        // `merge` runs after each: once after `quick` (step 1), once after `slower` (step 2).
        graph.add_edge("quick", "merge").add_edge("slower", "merge")
    };
    graph.compile().expect("valid graph")
}
// ANCHOR_END: joins

// ANCHOR: conditional
/// Routes on the state a node just produced.
pub fn moderation() -> graph_core::CompiledGraph<Desk> {
    use std::sync::Arc;

    use graph_core::prelude::*;

    fn route(s: &Desk) -> &'static str {
        match s.notes.last().map(String::as_str) {
            Some("flagged") => "human_review",
            _ => END,
        }
    }
    StateGraph::<Desk>::new()
        .add_node("classify", |s: Arc<Desk>| async move {
            let verdict = if s.topic.contains("spam") { "flagged" } else { "clean" };
            Desk::update().notes(vec![verdict.to_owned()])
        })
        .add_node("human_review", |_: Arc<Desk>| async {
            Desk::update().notes(vec!["sent to a person".into()])
        })
        .add_edge(START, "classify")
        // The router sees the state as `classify` left it, and may only name declared targets.
        .add_conditional_edges("classify", route, ["human_review", END])
        .compile()
        .expect("valid graph")
}
// ANCHOR_END: conditional
