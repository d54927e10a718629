//! Subgraphs: a compiled graph as one node of its parent. Each rule of the contract on its own:
//! what reaches the parent (once, removals included), the three state forms, the settings
//! that reach the child, checkpoint namespaces, pauses that cross the boundary, and streams.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use graph_core::checkpoint::{Checkpointer, MemorySaver, SqliteSaver};
use graph_core::prelude::*;
use graph_core::{
    CancellationToken, Interrupt, InterruptError, InvalidUpdate, Send, StreamEvent, StreamMode,
    Subgraph, SubgraphCheckpoints, SubgraphEvent,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Doc {
    #[reducer(append)]
    lines: Vec<String>,
    title: String,
    /// `-tag` removes a tag: a write that removes, like a message removal.
    #[reducer(with = edit_tags)]
    tags: Vec<String>,
    #[reducer(add)]
    calls: u32,
}

fn edit_tags(tags: &mut Vec<String>, edits: Vec<String>) {
    for edit in edits {
        match edit.strip_prefix('-') {
            Some(gone) => tags.retain(|tag| tag != gone),
            None => tags.push(edit),
        }
    }
}

fn line(text: &str) -> DocUpdate {
    Doc::update().lines(vec![text.into()])
}

fn lines(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| t.to_string()).collect()
}

/// `a` then `b`, both writing `lines` and `title`; `b` also edits the tags.
fn writer() -> CompiledGraph<Doc> {
    StateGraph::<Doc>::new()
        .add_node("a", |_: Arc<Doc>| async { line("a").title("draft") })
        .add_node("b", |_: Arc<Doc>| async {
            line("b").title("final").tags(vec!["-old".into(), "new".into()])
        })
        .add_edge(START, "a")
        .add_edge("a", "b")
        .compile()
        .unwrap()
}

/// A parent whose one node is `child`.
fn parent_of(child: impl Into<Subgraph<Doc>>) -> CompiledGraph<Doc> {
    StateGraph::<Doc>::new()
        .add_subgraph("child", child)
        .add_edge(START, "child")
        .compile()
        .unwrap()
}

fn input() -> Doc {
    Doc { lines: lines(&["x"]), tags: lines(&["old", "kept"]), ..Doc::default() }
}

#[tokio::test]
async fn a_shared_state_child_writes_reach_the_parent_once_each_in_order() {
    let graph = StateGraph::<Doc>::new()
        .add_subgraph("child", writer())
        .add_node("side", |_: Arc<Doc>| async { line("side") })
        .add_edge(START, "child")
        .add_edge(START, "side")
        .compile()
        .unwrap();
    let report = graph.invoke_with_report(input(), RunConfig::default()).await.unwrap();
    assert_eq!(report.nodes_per_step(), [["child", "side"]]);
    assert_eq!(
        report.outcome.finished().unwrap(),
        Doc {
            // The child's two writes in its order, then the sibling's: task order. "x" is not
            // appended again although the child started from it.
            lines: lines(&["x", "a", "b", "side"]),
            // Written twice inside the child, in two steps: the last one, and no conflict.
            title: "final".into(),
            // The removal crossed the boundary.
            tags: lines(&["kept", "new"]),
            calls: 0,
        }
    );
}

#[tokio::test]
async fn an_inherited_append_list_is_not_doubled() {
    // LangGraph #3648: the parent re-applies the child's whole list through `append`.
    let child = StateGraph::<Doc>::new()
        .add_node("one", |_: Arc<Doc>| async { line("child") })
        .add_edge(START, "one")
        .compile()
        .unwrap();
    let graph = parent_of(child);
    let start = Doc { lines: lines(&["1", "2", "3"]), ..Doc::default() };
    let out = graph.invoke(start, RunConfig::default()).await.unwrap().finished().unwrap();
    assert_eq!(out.lines, ["1", "2", "3", "child"]);
}

#[tokio::test]
async fn the_child_state_survives_later_parent_updates() {
    // LangGraph #4748 and #4866: a parent update after the child loses what the child wrote.
    let graph = StateGraph::<Doc>::new()
        .add_subgraph("child", writer())
        .add_node(
            "after",
            |s: Arc<Doc>| async move { line(&format!("after {}", s.title)).calls(1) },
        )
        .add_edge(START, "child")
        .add_edge("child", "after")
        .compile()
        .unwrap();
    let out = graph.invoke(input(), RunConfig::default()).await.unwrap().finished().unwrap();
    assert_eq!(out.lines, ["x", "a", "b", "after final"]);
    assert_eq!((out.title.as_str(), out.calls), ("final", 1));
    assert_eq!(out.tags, ["kept", "new"]);
}

#[tokio::test]
async fn a_child_and_a_sibling_writing_one_plain_field_conflict() {
    let graph = StateGraph::<Doc>::new()
        .add_subgraph("child", writer())
        .add_node("side", |_: Arc<Doc>| async { Doc::update().title("side") })
        .add_edge(START, "child")
        .add_edge(START, "side")
        .compile()
        .unwrap();
    let err = graph.invoke(input(), RunConfig::default()).await.unwrap_err();
    let GraphError::InvalidUpdate { step: 0, source } = &err else { panic!("{err:?}") };
    assert_eq!(
        source,
        &InvalidUpdate::ConflictingWrites { field: "title", writers: lines(&["child", "side"]) }
    );
}

#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Tally {
    topic: String,
    #[reducer(add)]
    n: u32,
    #[reducer(append)]
    seen: Vec<String>,
}

/// `count` adds one and notes what it saw.
fn counter() -> CompiledGraph<Tally> {
    StateGraph::<Tally>::new()
        .add_node("count", |s: Arc<Tally>| async move {
            Tally::update().n(1).seen(vec![format!("{} #{}", s.topic, s.n + 1)])
        })
        .add_edge(START, "count")
        .compile()
        .unwrap()
}

#[tokio::test]
async fn a_mapped_child_has_its_own_state() {
    let child = Subgraph::mapped(
        counter(),
        |doc: &Doc| Tally::update().topic(doc.title.clone()).n(doc.calls),
        |tally: Tally| Doc::update().calls(tally.n).lines(tally.seen),
    );
    let graph =
        StateGraph::<Doc>::new().add_subgraph("count", child).add_edge(START, "count").compile();
    let start = Doc { title: "rust".into(), calls: 4, ..Doc::default() };
    let out = graph.unwrap().invoke(start, RunConfig::default()).await.unwrap().finished().unwrap();
    // The child counted from 4 to 5, and the parent added that result to its own 4.
    assert_eq!(out.calls, 9);
    assert_eq!(out.lines, ["rust #5"]);
}

fn plan_topics(s: &Doc) -> Vec<Send> {
    s.tags.iter().map(|topic| Send::new("research", topic.clone())).collect()
}

fn research_graph() -> StateGraph<Doc> {
    let research = Subgraph::for_each(
        counter(),
        |topic: String| Tally::update().topic(topic),
        |tally: Tally| Doc::update().lines(tally.seen).calls(tally.n),
    );
    StateGraph::<Doc>::new()
        .add_node("plan", |_: Arc<Doc>| async {})
        .add_subgraph("research", research)
        .add_node("report", |s: Arc<Doc>| async move { Doc::update().title(s.lines.join(", ")) })
        .add_edge(START, "plan")
        .add_conditional_edges("plan", plan_topics, ["research"])
        .add_edge("research", "report")
}

#[tokio::test]
async fn a_subgraph_is_a_send_target_with_one_run_per_item() {
    let graph = research_graph().compile().unwrap();
    let start = Doc { tags: lines(&["a", "b", "c", "d", "e"]), ..Doc::default() };
    let report = graph.invoke_with_report(start, RunConfig::default()).await.unwrap();
    assert_eq!(report.nodes_per_step(), [vec!["plan"], vec!["research"; 5], vec!["report"]]);
    let out = report.outcome.finished().unwrap();
    assert_eq!(out.lines, ["a #1", "b #1", "c #1", "d #1", "e #1"]);
    assert_eq!(out.calls, 5);
    assert_eq!(out.title, "a #1, b #1, c #1, d #1, e #1");
}

#[tokio::test]
async fn cancelling_the_parent_cancels_the_child() {
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&saw_cancel);
    let child = StateGraph::<Doc>::new()
        .add_node("wait", move |_: Arc<Doc>, ctx: NodeContext| {
            let flag = Arc::clone(&flag);
            async move {
                let token = ctx.cancellation_token().clone();
                tokio::spawn(async move {
                    token.cancelled().await;
                    flag.store(true, Ordering::SeqCst);
                });
                std::future::pending::<()>().await;
            }
        })
        .add_edge(START, "wait")
        .compile()
        .unwrap();
    let graph = parent_of(child);
    let stop = CancellationToken::new();
    let config = RunConfig::default().cancellation_token(stop.clone());
    let run = tokio::spawn(async move { graph.invoke(Doc::default(), config).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    stop.cancel();
    let err = run.await.unwrap().unwrap_err();
    assert!(matches!(err, GraphError::Cancelled), "{err:?}");
    // The child's own token fired before its task was dropped.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(saw_cancel.load(Ordering::SeqCst));
}

/// A node that counts how many of its kind run at once.
fn gauged(
    running: &Arc<AtomicUsize>,
    peak: &Arc<AtomicUsize>,
    name: &'static str,
) -> impl Fn(Arc<Doc>) -> futures::future::BoxFuture<'static, DocUpdate>
       + std::marker::Send
       + Sync
       + 'static {
    let (running, peak) = (Arc::clone(running), Arc::clone(peak));
    move |_: Arc<Doc>| {
        let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
        Box::pin(async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            line(name)
        })
    }
}

#[tokio::test(start_paused = true)]
async fn the_run_wide_concurrency_limit_covers_the_child_without_deadlock() {
    let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let child = StateGraph::<Doc>::new()
        .add_node("c1", gauged(&running, &peak, "c1"))
        .add_node("c2", gauged(&running, &peak, "c2"))
        .add_node("c3", gauged(&running, &peak, "c3"))
        .add_edge(START, "c1")
        .add_edge(START, "c2")
        .add_edge(START, "c3")
        .compile()
        .unwrap();
    let graph = StateGraph::<Doc>::new()
        .add_subgraph("child", child)
        .add_node("p1", gauged(&running, &peak, "p1"))
        .add_node("p2", gauged(&running, &peak, "p2"))
        .add_edge(START, "child")
        .add_edge(START, "p1")
        .add_edge(START, "p2")
        .compile()
        .unwrap();
    let config = RunConfig::default().max_concurrency(1);
    let out = graph.invoke(Doc::default(), config).await.unwrap().finished().unwrap();
    assert_eq!(out.lines, ["c1", "c2", "c3", "p1", "p2"]);
    assert_eq!(peak.load(Ordering::SeqCst), 1);

    peak.store(0, Ordering::SeqCst);
    let config = RunConfig::default().max_concurrency(2);
    let _ = graph.invoke(Doc::default(), config).await.unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_childs_task_alone_in_its_step_takes_a_run_wide_permit() {
    // The child's one node runs in place in its step, as a state of its own takes no record
    // of the child's writes; it still waits for the parent's other task to give the run's
    // one permit back.
    let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let child = StateGraph::<Doc>::new()
        .add_node("c1", gauged(&running, &peak, "c1"))
        .add_edge(START, "c1")
        .compile()
        .unwrap();
    let child = Subgraph::mapped(
        child,
        |_: &Doc| Doc::default(),
        |out: Doc| Doc::update().lines(out.lines),
    );
    let graph = StateGraph::<Doc>::new()
        .add_subgraph("child", child)
        .add_node("p1", gauged(&running, &peak, "p1"))
        .add_edge(START, "child")
        .add_edge(START, "p1")
        .compile()
        .unwrap();
    let config = RunConfig::default().max_concurrency(1);
    let out = graph.invoke(Doc::default(), config).await.unwrap().finished().unwrap();
    assert_eq!(out.lines, ["c1", "p1"]);
    assert_eq!(peak.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_recursion_limit_bounds_a_looping_child() {
    let child = StateGraph::<Doc>::new()
        .add_node("again", |_: Arc<Doc>| async { Doc::update().calls(1) })
        .add_edge(START, "again")
        .add_edge("again", "again")
        .compile()
        .unwrap();
    let graph = parent_of(child);
    let err = graph.invoke(Doc::default(), RunConfig::default().recursion_limit(4)).await;
    assert_eq!(
        err.unwrap_err().to_string(),
        "node `child` failed in step 0 (attempt 1): recursion limit of 4 supersteps reached; nodes still pending: again"
    );
}

struct App {
    user: String,
}

#[tokio::test]
async fn a_child_with_the_parents_context_type_sees_the_parents_value() {
    let child = StateGraph::<Doc, App>::new()
        .add_node("greet", |_: Arc<Doc>, app: Context<App>| async move {
            Doc::update().title(format!("hello {}", app.user))
        })
        .add_edge(START, "greet")
        .compile_with_context(App { user: "compiled".into() })
        .unwrap();
    let graph = StateGraph::<Doc, App>::new()
        .add_subgraph("child", child)
        .add_edge(START, "child")
        .compile_with_context(App { user: "parent".into() })
        .unwrap();
    let out = graph.invoke(Doc::default(), RunConfig::default()).await.unwrap();
    assert_eq!(out.finished().unwrap().title, "hello parent");
    let per_request = graph.with_context(App { user: "request".into() });
    let out = per_request.invoke(Doc::default(), RunConfig::default()).await.unwrap();
    assert_eq!(out.finished().unwrap().title, "hello request");
}

#[tokio::test]
async fn a_child_with_another_context_type_keeps_its_own() {
    let child = StateGraph::<Doc, App>::new()
        .add_node("greet", |_: Arc<Doc>, app: Context<App>| async move {
            Doc::update().title(format!("hello {}", app.user))
        })
        .add_edge(START, "greet")
        .compile_with_context(App { user: "compiled".into() })
        .unwrap();
    let graph = parent_of(child);
    let out = graph.invoke(Doc::default(), RunConfig::default()).await.unwrap();
    assert_eq!(out.finished().unwrap().title, "hello compiled");
}

/// Counts the runs of each node of the pausing child.
#[derive(Default)]
struct Runs {
    prep: AtomicUsize,
    ask: AtomicUsize,
}

/// `prep` then `ask`, which asks a person for a title.
fn asking(runs: &Arc<Runs>) -> CompiledGraph<Doc> {
    let (prep_runs, ask_runs) = (Arc::clone(runs), Arc::clone(runs));
    StateGraph::<Doc>::new()
        .add_node("prep", move |_: Arc<Doc>| {
            prep_runs.prep.fetch_add(1, Ordering::SeqCst);
            async { line("prep") }
        })
        .add_node("ask", move |s: Arc<Doc>, ctx: NodeContext| {
            ask_runs.ask.fetch_add(1, Ordering::SeqCst);
            async move {
                let title: String = ctx.interrupt(format!("title for {:?}?", s.lines))?;
                Ok::<_, InterruptError>(Doc::update().title(title))
            }
        })
        .add_edge(START, "prep")
        .add_edge("prep", "ask")
        .compile()
        .unwrap()
}

fn question_within() -> Interrupt {
    Interrupt {
        id: "1:ask#0".into(),
        node: "ask".into(),
        value: json!("title for [\"x\", \"prep\"]?"),
    }
}

#[tokio::test]
async fn a_pause_in_a_child_pauses_the_run_and_a_resume_reaches_it() {
    let runs = Arc::new(Runs::default());
    let graph = StateGraph::<Doc>::new()
        .add_subgraph("child", asking(&runs))
        .add_node("after", |s: Arc<Doc>| async move { line(&format!("titled {}", s.title)) })
        .add_edge(START, "child")
        .add_edge("child", "after")
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new());
    let config = RunConfig::default().thread_id("t");
    let outcome = graph.invoke(line("x"), config.clone()).await.unwrap();
    let question = Interrupt {
        id: "child:0:child|1:ask#0".into(),
        node: "ask".into(),
        value: json!("title for [\"x\", \"prep\"]?"),
    };
    assert_eq!(
        outcome,
        RunOutcome::Paused {
            state: Doc { lines: lines(&["x"]), ..Doc::default() },
            interrupts: vec![question.clone()]
        }
    );
    let snapshot = graph.get_state(&config).await.unwrap().unwrap();
    assert_eq!(snapshot.interrupts, [question]);
    assert_eq!(snapshot.next, ["child"]);
    assert!(snapshot.subgraphs.is_empty(), "only asked for with get_state_with_subgraphs");

    // Inside the paused task: the child's own state, next node and open question.
    let snapshot = graph.get_state_with_subgraphs(&config).await.unwrap().unwrap();
    let [child] = &snapshot.subgraphs[..] else { panic!("{:?}", snapshot.subgraphs) };
    assert_eq!(child.namespace.to_string(), "child:0:child");
    assert_eq!(
        child.values,
        json!({ "lines": ["x", "prep"], "title": "", "tags": [], "calls": 0 })
    );
    assert_eq!(child.next, ["ask"]);
    assert_eq!(child.interrupts, [Interrupt { id: "1:ask#0".into(), ..question_within() }]);
    assert!(child.subgraphs.is_empty());

    let outcome = graph.invoke(Command::resume("Subgraphs"), config.clone()).await.unwrap();
    assert_eq!(
        outcome.finished().unwrap(),
        Doc {
            lines: lines(&["x", "prep", "titled Subgraphs"]),
            title: "Subgraphs".into(),
            ..Doc::default()
        }
    );
    // `prep` finished before the pause and did not run again; `ask` ran again to get its answer.
    assert_eq!((runs.prep.load(Ordering::SeqCst), runs.ask.load(Ordering::SeqCst)), (1, 2));
}

#[tokio::test]
async fn resuming_five_paused_children_by_id_two_then_the_rest() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let child = StateGraph::<Tally>::new()
        .add_node("ask", move |s: Arc<Tally>, ctx: NodeContext| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                let answer: String = ctx.interrupt(format!("about {}?", s.topic))?;
                Ok::<_, InterruptError>(
                    Tally::update().seen(vec![format!("{}: {answer}", s.topic)]),
                )
            }
        })
        .add_edge(START, "ask")
        .compile()
        .unwrap();
    let research = Subgraph::for_each(
        child,
        |topic: String| Tally::update().topic(topic),
        |tally: Tally| Doc::update().lines(tally.seen),
    );
    let graph = StateGraph::<Doc>::new()
        .add_node("plan", |_: Arc<Doc>| async {})
        .add_subgraph("research", research)
        .add_edge(START, "plan")
        .add_conditional_edges("plan", plan_topics, ["research"])
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new());
    let config = RunConfig::default().thread_id("five");
    let start = Doc { tags: lines(&["a", "b", "c", "d", "e"]), ..Doc::default() };
    let outcome = graph.invoke(start, config.clone()).await.unwrap();
    let ids: Vec<String> = outcome.interrupts().iter().map(|i| i.id.clone()).collect();
    let expected: Vec<String> = (0..5).map(|i| format!("research:1:send#{i}|0:ask#0")).collect();
    assert_eq!(ids, expected);
    assert_eq!(runs.load(Ordering::SeqCst), 5);

    let two = [(ids[1].clone(), "yes"), (ids[3].clone(), "no")];
    let outcome = graph.invoke(Command::resume_by_id(two), config.clone()).await.unwrap();
    let left: Vec<&str> = outcome.interrupts().iter().map(|i| i.id.as_str()).collect();
    assert_eq!(left, [&ids[0], &ids[2], &ids[4]]);
    // Every unfinished child ran again: the two answered finished, the three others asked again.
    assert_eq!(runs.load(Ordering::SeqCst), 10);
    assert!(outcome.state().lines.is_empty(), "nothing applies until the whole step is done");

    let rest = [(ids[0].clone(), "1"), (ids[2].clone(), "3"), (ids[4].clone(), "5")];
    let outcome = graph.invoke(Command::resume_by_id(rest), config).await.unwrap();
    // The two children that finished before did not run again.
    assert_eq!(runs.load(Ordering::SeqCst), 13);
    assert_eq!(outcome.finished().unwrap().lines, ["a: 1", "b: yes", "c: 3", "d: no", "e: 5"]);
}

#[tokio::test]
async fn a_child_checkpoints_under_the_namespace_of_its_task() {
    let saver = Arc::new(MemorySaver::new());
    let graph = parent_of(writer()).with_checkpointer(Arc::clone(&saver));
    let config = RunConfig::default().thread_id("ns");
    let _ = graph.invoke(input(), config.clone()).await.unwrap();
    let parent = saver.list("ns").await.unwrap();
    let input_checkpoint = &parent.last().unwrap().id;
    let child_thread = format!("ns|child:0:child@{input_checkpoint}");
    let child = saver.list(&child_thread).await.unwrap();
    // Its input, then one checkpoint per step, each marked as this call's.
    let steps: Vec<i64> = child.iter().rev().map(|c| c.metadata.step).collect();
    assert_eq!(steps, [-1, 0, 1]);
    let call = format!("{input_checkpoint}/0:child");
    assert!(child.iter().all(|c| c.metadata.invocation.as_deref() == Some(call.as_str())));
}

#[tokio::test]
async fn a_child_that_remembers_per_thread_counts_across_parent_runs() {
    let saver = Arc::new(MemorySaver::new());
    let child = Subgraph::mapped(
        counter(),
        |doc: &Doc| Tally::update().topic(doc.title.clone()),
        |tally: Tally| Doc::update().lines(vec![tally.seen.join(" ")]),
    )
    .checkpoints(SubgraphCheckpoints::PerThread);
    let graph = StateGraph::<Doc>::new()
        .add_subgraph("count", child)
        .add_edge(START, "count")
        .compile()
        .unwrap()
        .with_checkpointer(Arc::clone(&saver));
    let config = RunConfig::default().thread_id("memory");
    let _ = graph.invoke(Doc::update().title("a"), config.clone()).await.unwrap();
    let out = graph.invoke(Doc::update().title("b"), config.clone()).await.unwrap();
    // The second call went on from the first one's state: n was 1, and "a #1" was kept.
    assert_eq!(out.finished().unwrap().lines, ["a #1", "a #1 b #2"]);
    assert_eq!(saver.list("memory|count").await.unwrap().len(), 4);

    // Another thread has its own memory.
    let other = RunConfig::default().thread_id("other");
    let out = graph.invoke(Doc::update().title("c"), other).await.unwrap();
    assert_eq!(out.finished().unwrap().lines, ["c #1"]);
}

#[tokio::test]
async fn a_child_without_checkpoints_leaves_none() {
    let saver = Arc::new(MemorySaver::new());
    let graph = parent_of(Subgraph::new(writer()).checkpoints(SubgraphCheckpoints::Off))
        .with_checkpointer(Arc::clone(&saver));
    let out = graph.invoke(input(), RunConfig::default().thread_id("off")).await.unwrap();
    assert_eq!(out.finished().unwrap().lines, ["x", "a", "b"]);
    let parent = saver.list("off").await.unwrap();
    let child_thread = format!("off|child:0:child@{}", parent.last().unwrap().id);
    assert!(saver.list(&child_thread).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_per_thread_child_takes_no_send() {
    let child = Subgraph::for_each(
        counter(),
        |topic: String| Tally::update().topic(topic),
        |tally: Tally| Doc::update().calls(tally.n),
    )
    .checkpoints(SubgraphCheckpoints::PerThread);
    let graph = StateGraph::<Doc>::new()
        .add_node("plan", |_: Arc<Doc>| async {})
        .add_subgraph("research", child)
        .add_edge(START, "plan")
        .add_conditional_edges("plan", plan_topics, ["research"])
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new());
    let start = Doc { tags: lines(&["a"]), ..Doc::default() };
    let err = graph.invoke(start, RunConfig::default().thread_id("x")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "node `research` failed in step 1 (attempt 1): subgraph node `research` keeps its checkpoints per thread, so its calls cannot overlap: it cannot take a Send (use SubgraphCheckpoints::PerCall)"
    );
}

/// The events of a streamed run, those of subgraphs as `(namespace, event)`.
async fn subgraph_events(
    graph: &CompiledGraph<Doc>,
    config: RunConfig,
) -> Vec<(String, SubgraphEvent)> {
    let events: Vec<_> = graph.stream(input(), config).collect().await;
    events
        .into_iter()
        .filter_map(|event| match event.unwrap() {
            StreamEvent::Subgraph { namespace, event } => Some((namespace.to_string(), event)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn stream_events_carry_the_namespace_of_their_run() {
    let inner = StateGraph::<Doc>::new()
        .add_node("leaf", |_: Arc<Doc>| async { line("leaf") })
        .add_edge(START, "leaf")
        .compile()
        .unwrap();
    let middle = StateGraph::<Doc>::new()
        .add_subgraph("inner", inner)
        .add_edge(START, "inner")
        .compile()
        .unwrap();
    let graph = StateGraph::<Doc>::new()
        .add_subgraph("middle", middle)
        .add_edge(START, "middle")
        .compile()
        .unwrap();
    let config = RunConfig::default().stream_mode(StreamMode::Updates);
    let events: Vec<_> = graph.stream(Doc::default(), config).collect().await;
    let (done, events) = events.split_last().unwrap();
    assert!(matches!(done, Ok(StreamEvent::Done { .. })));
    let seen: Vec<(String, serde_json::Value)> = events
        .iter()
        .map(|event| {
            let event = event.as_ref().unwrap();
            (event.namespace().to_string(), serde_json::to_value(event).unwrap())
        })
        .collect();
    let update = |node: &str| {
        let task = format!("0:{node}");
        json!({ "event": "update", "step": 0, "node": node, "task_id": task, "update": { "lines": ["leaf"] } })
    };
    let nested = |namespace: &str, node: &str| {
        let event = json!({ "event": "subgraph", "namespace": namespace, "data": update(node) });
        (namespace.to_string(), event)
    };
    assert_eq!(
        seen,
        [
            nested("middle:0:middle|inner:0:inner", "leaf"),
            nested("middle:0:middle", "inner"),
            (String::new(), update("middle")),
        ]
    );
}

fn chatty(stream_messages: bool) -> CompiledGraph<Doc> {
    let child = StateGraph::<Doc>::new()
        .add_node("talk", |_: Arc<Doc>, ctx: NodeContext| async move {
            ctx.send_message(json!({ "id": "m1", "content": "hel" })).await;
            ctx.send_message(json!({ "id": "m1", "content": "lo" })).await;
            line("said hello")
        })
        .add_edge(START, "talk")
        .compile()
        .unwrap();
    StateGraph::<Doc>::new()
        .add_subgraph("agent", Subgraph::new(child).stream_messages(stream_messages))
        .add_edge(START, "agent")
        .compile()
        .unwrap()
}

#[tokio::test]
async fn child_message_chunks_are_streamed_by_default_and_can_be_silenced() {
    let config = RunConfig::default().stream_mode(StreamMode::Messages);
    let chunks: Vec<(String, serde_json::Value)> = subgraph_events(&chatty(true), config.clone())
        .await
        .into_iter()
        .map(|(namespace, event)| match event {
            SubgraphEvent::Message { node, message, .. } => {
                assert_eq!(&*node, "talk");
                (namespace, message)
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        chunks,
        [
            ("agent:0:agent".to_string(), json!({ "id": "m1", "content": "hel" })),
            ("agent:0:agent".to_string(), json!({ "id": "m1", "content": "lo" })),
        ]
    );
    assert!(subgraph_events(&chatty(false), config).await.is_empty());
}

#[tokio::test]
async fn a_static_pause_inside_a_child_resumes_without_an_answer() {
    let child = StateGraph::<Doc>::new()
        .add_node("draft", |_: Arc<Doc>| async { line("draft") })
        .add_node("publish", |_: Arc<Doc>| async { line("publish") })
        .add_edge(START, "draft")
        .add_edge("draft", "publish")
        .interrupt_before(["publish"])
        .compile()
        .unwrap();
    let graph = parent_of(child).with_checkpointer(MemorySaver::new());
    let config = RunConfig::default().thread_id("static");
    let outcome = graph.invoke(Doc::default(), config.clone()).await.unwrap();
    let ids: Vec<&str> = outcome.interrupts().iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["child:0:child|before:publish"]);
    let out = graph.invoke(Command::new(), config).await.unwrap();
    assert_eq!(out.finished().unwrap().lines, ["draft", "publish"]);
}

#[tokio::test]
async fn a_send_carrying_a_whole_state_starts_a_shared_child_from_it() {
    let graph = StateGraph::<Doc>::new()
        .add_node("split", |_: Arc<Doc>| async {})
        .add_subgraph("child", writer())
        .add_edge(START, "split")
        .add_conditional_edges(
            "split",
            |_: &Doc| vec![Send::new("child", Doc { lines: lines(&["other"]), ..Doc::default() })],
            ["child"],
        )
        .compile()
        .unwrap();
    let out = graph.invoke(input(), RunConfig::default()).await.unwrap().finished().unwrap();
    // The child started from the sent state; only its own writes reached the parent.
    assert_eq!(out.lines, ["x", "a", "b"]);
    assert_eq!(out.tags, ["kept", "new"]);
}

#[tokio::test]
async fn a_thread_id_may_not_contain_the_subgraph_separator() {
    let graph = parent_of(writer()).with_checkpointer(MemorySaver::new());
    let config = RunConfig::default().thread_id("a|b");
    let err = graph.invoke(input(), config.clone()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "thread id `a|b` contains `|`, which separates a thread from its subgraphs' checkpoints: choose an id without it"
    );
    assert!(matches!(graph.get_state(&config).await, Err(GraphError::InvalidThreadId { .. })));
}

#[tokio::test]
async fn deleting_a_thread_deletes_its_subgraphs_checkpoints() {
    let saver = Arc::new(MemorySaver::new());
    let graph = parent_of(writer()).with_checkpointer(Arc::clone(&saver));
    let _ = graph.invoke(input(), RunConfig::default().thread_id("gone")).await.unwrap();
    let input_checkpoint = saver.list("gone").await.unwrap().last().unwrap().id.clone();
    let child_thread = format!("gone|child:0:child@{input_checkpoint}");
    assert_eq!(saver.list(&child_thread).await.unwrap().len(), 3);
    saver.delete_thread("gone").await.unwrap();
    assert!(saver.list(&child_thread).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_copy_of_a_thread_paused_in_a_child_resumes_on_its_own() {
    let savers: [Arc<dyn Checkpointer>; 2] =
        [Arc::new(MemorySaver::new()), Arc::new(SqliteSaver::in_memory().unwrap())];
    for saver in savers {
        let runs = Arc::new(Runs::default());
        let graph = StateGraph::<Doc>::new()
            .add_subgraph("child", asking(&runs))
            .add_node("after", |s: Arc<Doc>| async move { line(&format!("titled {}", s.title)) })
            .add_edge(START, "child")
            .add_edge("child", "after")
            .compile()
            .unwrap()
            .with_checkpointer(Arc::clone(&saver));
        let original = RunConfig::default().thread_id("original");
        let copy = RunConfig::default().thread_id("copy");
        let outcome = graph.invoke(line("x"), original.clone()).await.unwrap();
        assert!(matches!(outcome, RunOutcome::Paused { .. }), "{outcome:?}");
        saver.copy_thread("original", "copy").await.unwrap();

        // The snapshots name no thread: the copy's read exactly as the original's.
        let seen = |config: RunConfig| {
            let graph = graph.clone();
            async move {
                let state = graph.get_state_with_subgraphs(&config).await.unwrap().unwrap();
                let history = graph.get_state_history(&config).await.unwrap();
                format!("{state:?} {history:?}")
            }
        };
        let before = seen(original.clone()).await;
        assert_eq!(seen(copy.clone()).await, before, "paused inside the child, as the original");
        let state = graph.get_state_with_subgraphs(&copy).await.unwrap().unwrap();
        assert_eq!(state.subgraphs[0].next, ["ask"]);

        let done = graph.invoke(Command::resume("Copied"), copy.clone()).await.unwrap();
        let titled = |title: &str| Doc {
            lines: lines(&["x", "prep", &format!("titled {title}")]),
            title: title.into(),
            ..Doc::default()
        };
        assert_eq!(done.finished().unwrap(), titled("Copied"));
        assert_eq!(runs.prep.load(Ordering::SeqCst), 1, "the copy's child resumed where it paused");
        assert_eq!(seen(original.clone()).await, before, "the original is as it was");
        let done = graph.invoke(Command::resume("Original"), original).await.unwrap();
        assert_eq!(done.finished().unwrap(), titled("Original"));
        let copied = graph.get_state(&copy).await.unwrap().unwrap();
        assert_eq!(copied.values, titled("Copied"), "and the copy as it was");
    }
}

/// `triage` hands over to the parent's `billing`; `never` would follow it inside.
fn support_desk(runs: &Arc<AtomicUsize>) -> CompiledGraph<Doc> {
    let runs = Arc::clone(runs);
    StateGraph::<Doc>::new()
        .add_node("triage", move |_: Arc<Doc>| {
            runs.fetch_add(1, Ordering::SeqCst);
            async { Command::new().update(line("needs billing")).goto_parent("billing") }
        })
        .add_node("never", |_: Arc<Doc>| async { line("never") })
        .add_edge(START, "triage")
        .add_edge("triage", "never")
        .compile()
        .unwrap()
}

#[tokio::test]
async fn a_command_inside_a_child_routes_in_the_parent() {
    let runs = Arc::new(AtomicUsize::new(0));
    let graph = StateGraph::<Doc>::new()
        .add_subgraph("support", support_desk(&runs))
        .add_node("billing", |_: Arc<Doc>| async { line("billing") })
        .add_node("after", |_: Arc<Doc>| async { line("after") })
        .add_edge(START, "support")
        .add_edge("support", "after")
        .compile()
        .unwrap();
    let report = graph.invoke_with_report(Doc::default(), RunConfig::default()).await.unwrap();
    // The static edge and the hand-off both fire; the child's own `never` does not run.
    assert_eq!(report.nodes_per_step(), [vec!["support"], vec!["after", "billing"]]);
    assert_eq!(report.outcome.finished().unwrap().lines, ["needs billing", "after", "billing"]);
}

#[tokio::test]
async fn routing_in_a_parent_that_does_not_exist_is_a_typed_error() {
    let runs = Arc::new(AtomicUsize::new(0));
    let err = support_desk(&runs).invoke(Doc::default(), RunConfig::default()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "a Command from `triage` routed to `billing`: the graph does not run as a subgraph, so it has no parent to route in"
    );
    let graph = StateGraph::<Doc>::new()
        .add_subgraph("support", support_desk(&runs))
        .add_edge(START, "support")
        .compile()
        .unwrap();
    let err = graph.invoke(Doc::default(), RunConfig::default()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "a Command from `support` routed to `billing`: no node has that name"
    );
}

/// A saver whose `put` fails once, on the checkpoint after the parent's first step.
struct FailOnce {
    inner: MemorySaver,
    failed: AtomicBool,
}

#[async_trait::async_trait]
impl Checkpointer for FailOnce {
    async fn put(
        &self,
        checkpoint: &graph_core::checkpoint::Checkpoint,
        expected_latest: Option<&str>,
    ) -> Result<(), graph_core::checkpoint::CheckpointError> {
        let parent_step = !checkpoint.thread_id.contains('|') && checkpoint.metadata.step == 0;
        if parent_step && !self.failed.swap(true, Ordering::SeqCst) {
            return Err(graph_core::checkpoint::CheckpointError::Storage("disk full".into()));
        }
        self.inner.put(checkpoint, expected_latest).await
    }
    async fn put_write(
        &self,
        thread_id: &str,
        checkpoint_id: &str,
        write: &graph_core::checkpoint::PendingWrite,
    ) -> Result<(), graph_core::checkpoint::CheckpointError> {
        self.inner.put_write(thread_id, checkpoint_id, write).await
    }
    async fn get(
        &self,
        thread_id: &str,
        checkpoint_id: Option<&str>,
    ) -> Result<
        Option<graph_core::checkpoint::StoredCheckpoint>,
        graph_core::checkpoint::CheckpointError,
    > {
        self.inner.get(thread_id, checkpoint_id).await
    }
    async fn list(
        &self,
        thread_id: &str,
    ) -> Result<Vec<graph_core::checkpoint::Checkpoint>, graph_core::checkpoint::CheckpointError>
    {
        self.inner.list(thread_id).await
    }
    async fn delete_thread(
        &self,
        thread_id: &str,
    ) -> Result<(), graph_core::checkpoint::CheckpointError> {
        self.inner.delete_thread(thread_id).await
    }
    async fn copy_thread(
        &self,
        thread_id: &str,
        new_thread_id: &str,
    ) -> Result<(), graph_core::checkpoint::CheckpointError> {
        self.inner.copy_thread(thread_id, new_thread_id).await
    }

    async fn mark(
        &self,
        thread_id: &str,
    ) -> Result<graph_core::checkpoint::ThreadMark, graph_core::checkpoint::CheckpointError> {
        self.inner.mark(thread_id).await
    }

    async fn rewind(
        &self,
        thread_id: &str,
        mark: &graph_core::checkpoint::ThreadMark,
    ) -> Result<(), graph_core::checkpoint::CheckpointError> {
        self.inner.rewind(thread_id, mark).await
    }
}

#[tokio::test]
async fn a_child_that_finished_before_its_parent_saved_does_not_run_again() {
    let runs = Arc::new(AtomicUsize::new(0));
    let saver = FailOnce { inner: MemorySaver::new(), failed: AtomicBool::new(false) };
    let graph = StateGraph::<Doc>::new()
        .add_subgraph("support", support_desk(&runs))
        .add_node("billing", |_: Arc<Doc>| async { line("billing") })
        .add_edge(START, "support")
        .compile()
        .unwrap()
        .with_checkpointer(saver);
    let config = RunConfig::default().thread_id("flaky");
    let err = graph.invoke(Doc::default(), config.clone()).await.unwrap_err();
    assert_eq!(err.to_string(), "checkpoint storage failed: disk full");
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // The child's own checkpoints say it finished: its result, hand-off included, is taken
    // from them instead of running it again.
    let out = graph.invoke(Command::new(), config).await.unwrap();
    assert_eq!(out.finished().unwrap().lines, ["needs billing", "billing"]);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_fork_before_a_subgraph_calls_it_afresh_and_keeps_the_first_call() {
    let runs = Arc::new(Runs::default());
    let saver = Arc::new(MemorySaver::new());
    let graph = parent_of(asking(&runs)).with_checkpointer(Arc::clone(&saver));
    let config = RunConfig::default().thread_id("fork");
    let _ = graph.invoke(line("x"), config.clone()).await.unwrap();
    let _ = graph.invoke(Command::resume("first"), config.clone()).await.unwrap();
    let history = graph.get_state_history(&config).await.unwrap();
    let input = history.last().unwrap().checkpoint_id.clone();
    let first_call = format!("fork|child:0:child@{input}");
    let first_checkpoints = saver.list(&first_call).await.unwrap();

    // Fork from the input with another line: the child is called anew, in a new namespace,
    // from the edited state; the answer given on the first branch still stands, as a node's
    // would.
    let fork = config.clone().checkpoint_id(&input);
    let forked = graph.update_state(&fork, line("y"), None).await.unwrap();
    let out = graph.invoke(Command::new(), config.clone().checkpoint_id(&forked)).await.unwrap();
    assert_eq!(runs.prep.load(Ordering::SeqCst), 2, "the forked call ran from its start");
    assert_eq!(
        out.finished().unwrap(),
        Doc { lines: lines(&["x", "y", "prep"]), title: "first".into(), ..Doc::default() }
    );
    let forked_call = format!("fork|child:0:child@{forked}");
    assert_eq!(saver.list(&forked_call).await.unwrap().len(), 3);
    // The first call's checkpoints are untouched, and history still shows its result.
    assert_eq!(saver.list(&first_call).await.unwrap(), first_checkpoints);
    let lines_seen: Vec<Vec<String>> = graph
        .get_state_history(&config)
        .await
        .unwrap()
        .into_iter()
        .map(|snapshot| snapshot.values.lines)
        .collect();
    assert!(lines_seen.contains(&lines(&["x", "prep"])));
    assert!(lines_seen.contains(&lines(&["x", "y", "prep"])));
}

/// A narrower view of `Doc`: two of its fields, with the same types and reducers.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Notes {
    #[reducer(append)]
    lines: Vec<String>,
    #[reducer(with = edit_tags)]
    tags: Vec<String>,
}

#[tokio::test]
async fn a_child_sharing_some_fields_starts_from_them_and_writes_them_once() {
    let child = StateGraph::<Notes>::new()
        .add_node("note", |s: Arc<Notes>| async move {
            Notes::update()
                .lines(vec![format!("{} lines", s.lines.len())])
                .tags(vec!["-old".into()])
        })
        .add_edge(START, "note")
        .compile()
        .unwrap();
    let graph = StateGraph::<Doc>::new()
        .add_subgraph("notes", Subgraph::sharing(child))
        .add_edge(START, "notes")
        .compile()
        .unwrap();
    let start = Doc { title: "kept".into(), calls: 2, ..input() };
    let out = graph.invoke(start, RunConfig::default()).await.unwrap().finished().unwrap();
    assert_eq!(
        out,
        Doc {
            lines: lines(&["x", "1 lines"]),
            title: "kept".into(),
            tags: lines(&["kept"]),
            calls: 2
        }
    );
}

#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Stranger {
    mood: String,
}

#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Retyped {
    calls: u64,
}

#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Rereduced {
    lines: Vec<String>,
}

fn one_node<T: State + Default + Serialize + serde::de::DeserializeOwned>() -> CompiledGraph<T> {
    StateGraph::<T>::new()
        .add_node("n", |_: Arc<T>| async {})
        .add_edge(START, "n")
        .compile()
        .unwrap()
}

#[test]
fn a_shared_field_that_does_not_match_the_parent_fails_compile() {
    let build = |subgraph: Subgraph<Doc>| {
        let graph =
            StateGraph::<Doc>::new().add_subgraph("child", subgraph).add_edge(START, "child");
        graph.compile().unwrap_err().to_string()
    };
    assert_eq!(
        build(Subgraph::sharing(one_node::<Stranger>())),
        "subgraph node `child` shares field `mood` with its parent, but the parent has no such field"
    );
    assert_eq!(
        build(Subgraph::sharing(one_node::<Retyped>())),
        "subgraph node `child` shares field `calls` with its parent, but it is `u32` in the parent and `u64` in the subgraph"
    );
    assert_eq!(
        build(Subgraph::sharing(one_node::<Rereduced>())),
        "subgraph node `child` shares field `lines` with its parent, but its reducer is Append in the parent and LastValue in the subgraph"
    );
}

#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Scored {
    #[reducer(append)]
    lines: Vec<String>,
    score: Option<f64>,
}

#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct ScoreOnly {
    score: Option<f64>,
}

fn scoring(score: f64) -> CompiledGraph<Scored> {
    let child = StateGraph::<ScoreOnly>::new()
        .add_node("score", move |_: Arc<ScoreOnly>| async move {
            ScoreOnly::update().score(Some(score))
        })
        .add_edge(START, "score")
        .compile()
        .unwrap();
    StateGraph::<Scored>::new()
        .add_subgraph("child", Subgraph::sharing(child))
        .add_edge(START, "child")
        .compile()
        .unwrap()
}

#[tokio::test]
async fn shared_fields_cross_exactly_or_not_at_all() {
    let start = Scored { lines: lines(&["日本 ✓", ""]), score: None };
    let out = scoring(0.5).invoke(start.clone(), RunConfig::default()).await.unwrap();
    assert_eq!(out.finished().unwrap(), Scored { score: Some(0.5), ..start.clone() });
    // JSON would turn the NaN into `null`, which reads back as `None`: refused, not changed.
    let err = scoring(f64::NAN).invoke(start, RunConfig::default()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "node `child` failed in step 0 (attempt 1): cannot save the non-finite float NaN at `score`: checkpoints are JSON, which has no NaN or infinity; keep such values out of the state, its updates, Send payloads and interrupt values (for example as `Option<f64>`)"
    );
}
