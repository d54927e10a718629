//! The run context: nodes, Send workers, routers and error handlers see the graph's context,
//! and `with_context` runs the same graph with another one.

use std::sync::Arc;
use std::time::Duration;

use graph_core::checkpoint::MemorySaver;
use graph_core::prelude::*;
use graph_core::NodeFailure;
use tokio::sync::Barrier;

/// What every run of a desk shares: its name, how many pages to write, and a gate the
/// planner waits at (to prove two runs overlap).
struct Desk {
    name: &'static str,
    pages: usize,
    gate: Option<Arc<Barrier>>,
}

impl Desk {
    fn new(name: &'static str, pages: usize) -> Self {
        Self { name, pages, gate: None }
    }
}

#[derive(State, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Shelf {
    topic: String,
    #[reducer(append)]
    pages: Vec<String>,
    #[reducer(append)]
    notes: Vec<String>,
}

async fn plan(s: Arc<Shelf>, desk: Context<Desk>) -> ShelfUpdate {
    if let Some(gate) = &desk.gate {
        gate.wait().await;
    }
    Shelf::update().notes(vec![format!("{} plans {}", desk.name, s.topic)])
}

fn split(_: &Shelf, desk: &Desk) -> Vec<graph_core::Send> {
    (1..=desk.pages).map(|page| graph_core::Send::new("write", page)).collect()
}

async fn write(
    Input(page): Input<usize>,
    task: NodeContext,
    desk: Context<Desk>,
) -> Result<ShelfUpdate, &'static str> {
    if page == 2 {
        return Err("ink ran out");
    }
    Ok(Shelf::update().pages(vec![format!("{} page {page} in step {}", desk.name, task.step())]))
}

fn lost(failure: &NodeFailure, desk: &Desk) -> ShelfUpdate {
    Shelf::update().notes(vec![format!("{} lost a page: {}", desk.name, failure.error)])
}

async fn review(s: Arc<Shelf>, task: NodeContext, desk: Context<Desk>) -> ShelfUpdate {
    let line = format!("{} reviews {} pages in `{}`", desk.name, s.pages.len(), task.node());
    Shelf::update().notes(vec![line])
}

fn desk_graph() -> StateGraph<Shelf, Desk> {
    StateGraph::new()
        .add_node("plan", plan)
        .add_node_with("write", write, NodeOptions::new().on_error_with_context(lost))
        .add_node("review", review)
        .add_edge(START, "plan")
        .add_conditional_edges_with_context("plan", split, ["write"])
        .add_edge("write", "review")
        .add_edge("review", END)
}

fn topic(topic: &str) -> ShelfUpdate {
    Shelf::update().topic(topic.to_owned())
}

#[tokio::test]
async fn nodes_workers_routers_and_error_handlers_see_the_context() {
    let graph = desk_graph().compile_with_context(Desk::new("north", 3)).unwrap();
    let out = graph.invoke(topic("tides"), RunConfig::default()).await.unwrap();
    let out = out.finished().unwrap();
    assert_eq!(out.pages, ["north page 1 in step 1", "north page 3 in step 1"]);
    assert_eq!(
        out.notes,
        [
            "north plans tides",
            "north lost a page: ink ran out",
            "north reviews 2 pages in `review`",
        ]
    );
}

#[tokio::test]
async fn with_context_runs_the_same_graph_with_another_context_concurrently() {
    let gate = Arc::new(Barrier::new(2));
    let north = Desk { gate: Some(Arc::clone(&gate)), ..Desk::new("north", 1) };
    let north = desk_graph().compile_with_context(north).unwrap();
    let south = north.with_context(Desk { gate: Some(gate), ..Desk::new("south", 3) });

    // Each planner waits for the other at the gate: both runs are in flight at once.
    let both = futures::future::join(
        north.invoke(topic("tides"), RunConfig::default()),
        south.invoke(topic("winds"), RunConfig::default()),
    );
    let (a, b) = tokio::time::timeout(Duration::from_secs(10), both).await.unwrap();
    let (a, b) = (a.unwrap().finished().unwrap(), b.unwrap().finished().unwrap());

    assert_eq!(a.pages, ["north page 1 in step 1"]);
    assert_eq!(a.notes, ["north plans tides", "north reviews 1 pages in `review`"]);
    assert_eq!(b.pages, ["south page 1 in step 1", "south page 3 in step 1"]);
    assert_eq!(
        b.notes,
        [
            "south plans winds",
            "south lost a page: ink ran out",
            "south reviews 2 pages in `review`",
        ]
    );
    assert_eq!(north.context().name, "north");
    assert_eq!(south.context().name, "south");
}

fn first_page(_: &Shelf, desk: &Desk) -> &'static str {
    if desk.pages == 0 {
        END
    } else {
        "plan"
    }
}

#[tokio::test]
async fn routers_from_start_see_the_context() {
    let graph = StateGraph::<Shelf, Desk>::new()
        .add_node("plan", plan)
        .add_conditional_edges_with_context(START, first_page, ["plan", END])
        .compile_with_context(Desk::new("north", 0))
        .unwrap();
    let idle = graph.invoke(topic("tides"), RunConfig::default()).await.unwrap();
    assert_eq!(idle.finished().unwrap().notes, Vec::<String>::new());

    let busy = graph.with_context(Desk::new("south", 1));
    let out = busy.invoke(topic("tides"), RunConfig::default()).await.unwrap();
    assert_eq!(out.finished().unwrap().notes, ["south plans tides"]);
}

#[tokio::test]
async fn an_edit_as_a_node_routes_with_the_context() {
    let idle = desk_graph()
        .compile_with_context(Desk::new("north", 0))
        .unwrap()
        .with_checkpointer(MemorySaver::new());
    let config = RunConfig::default().thread_id("edit");
    let out = idle.invoke(topic("tides"), config.clone()).await.unwrap();
    assert_eq!(out.finished().unwrap().notes, ["north plans tides"]);

    // The copy shares the checkpointer. Counting an edit as `plan`'s output runs `plan`'s
    // router, which reads the copy's context: two pages to write.
    let busy = idle.with_context(Desk::new("south", 2));
    let edit = Shelf::update().notes(vec!["edited".into()]);
    busy.update_state(&config, edit, Some("plan")).await.unwrap();
    let out = busy.invoke(Command::new(), config).await.unwrap().finished().unwrap();
    assert_eq!(out.pages, ["south page 1 in step 2"]);
    assert_eq!(
        out.notes,
        [
            "north plans tides",
            "edited",
            "south lost a page: ink ran out",
            "south reviews 1 pages in `review`",
        ]
    );
}

/// Every node shape that takes the context, with and without `NodeContext`.
#[tokio::test]
async fn every_node_shape_may_take_the_context() {
    async fn state(_: Arc<Shelf>, desk: Context<Desk>) -> ShelfUpdate {
        Shelf::update().notes(vec![format!("{}: state", desk.name)])
    }
    async fn state_task(_: Arc<Shelf>, task: NodeContext, desk: Context<Desk>) -> ShelfUpdate {
        Shelf::update().notes(vec![format!("{}: {}", desk.name, task.node())])
    }
    async fn input(Input(n): Input<u8>, desk: Context<Desk>) -> ShelfUpdate {
        Shelf::update().pages(vec![format!("{}: input {n}", desk.name)])
    }
    async fn input_task(
        Input(n): Input<u16>,
        task: NodeContext,
        desk: Context<Desk>,
    ) -> ShelfUpdate {
        Shelf::update().pages(vec![format!("{}: {} {n}", desk.name, task.node())])
    }
    fn fan_out(_: &Shelf) -> Vec<graph_core::Send> {
        vec![graph_core::Send::new("input", 1_u8), graph_core::Send::new("input_task", 2_u16)]
    }
    let graph = StateGraph::<Shelf, Desk>::new()
        .add_node("state", state)
        .add_node("state_task", state_task)
        .add_node("input", input)
        .add_node("input_task", input_task)
        .add_edge(START, "state")
        .add_edge(START, "state_task")
        .add_conditional_edges(START, fan_out, ["input", "input_task"])
        .compile_with_context(Desk::new("east", 0))
        .unwrap();
    let out = graph.invoke(Shelf::default(), RunConfig::default()).await.unwrap();
    let out = out.finished().unwrap();
    assert_eq!(out.notes, ["east: state", "east: state_task"]);
    assert_eq!(out.pages, ["east: input 1", "east: input_task 2"]);
}
