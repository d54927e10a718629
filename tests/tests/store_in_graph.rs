//! The store in runs: nodes reach it through their `NodeContext`, subgraphs inherit their
//! parent's, a graph's own store wins, and a graph without one says so.

use std::sync::Arc;

use graph_core::prelude::*;
use graph_core::store::{MemoryStore, Namespace, SearchQuery, Store};
use graph_core::BoxError;
use serde_json::json;

#[derive(State, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Visit {
    user: String,
    #[reducer(append)]
    seen: Vec<String>,
}

fn profile(user: &str) -> Namespace {
    Namespace::new(["users", user]).unwrap()
}

/// Counts the user's visits in the store and records the count it read.
async fn count_visit(s: Arc<Visit>, ctx: NodeContext) -> Result<VisitUpdate, BoxError> {
    let store = ctx.store().ok_or("no store")?;
    let ns = profile(&s.user);
    let visits = match store.get(&ns, "visits").await? {
        Some(item) => item.value.as_u64().unwrap_or(0),
        None => 0,
    };
    store.put(&ns, "visits", json!(visits + 1), None).await?;
    Ok(Visit::update().seen(vec![format!("{}: {visits} before", ctx.node())]))
}

fn counter() -> StateGraph<Visit> {
    StateGraph::<Visit>::new().add_node("count", count_visit).add_edge(START, "count")
}

async fn visit(graph: &CompiledGraph<Visit>, user: &str) -> Result<Vec<String>, GraphError> {
    Ok(graph.invoke(Visit::update().user(user), RunConfig::default()).await?.into_state().seen)
}

#[tokio::test]
async fn nodes_remember_across_runs_and_users_stay_apart() {
    let store = MemoryStore::new();
    let graph = counter().compile().unwrap().with_store(store.clone());
    assert_eq!(visit(&graph, "ada").await.unwrap(), ["count: 0 before"]);
    assert_eq!(visit(&graph, "ada").await.unwrap(), ["count: 1 before"]);
    assert_eq!(visit(&graph, "grace").await.unwrap(), ["count: 0 before"]);
    let users = Namespace::new(["users"]).unwrap();
    let items = store.search(&users, &SearchQuery::new()).await.unwrap();
    let mut counts: Vec<(String, serde_json::Value)> =
        items.into_iter().map(|item| (item.namespace.to_string(), item.value)).collect();
    counts.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(counts, [("users.ada".into(), json!(2)), ("users.grace".into(), json!(1))]);
}

#[tokio::test]
async fn a_subgraph_uses_its_parent_s_store_unless_it_has_its_own() {
    let (parents, own) = (MemoryStore::new(), MemoryStore::new());
    let parent = |child: CompiledGraph<Visit>| {
        StateGraph::<Visit>::new()
            .add_subgraph("child", child)
            .add_edge(START, "child")
            .compile()
            .unwrap()
            .with_store(parents.clone())
    };
    let inheriting = parent(counter().compile().unwrap());
    visit(&inheriting, "ada").await.unwrap();
    let stored = parents.get(&profile("ada"), "visits").await.unwrap().unwrap();
    assert_eq!(stored.value, json!(1));

    let owning = parent(counter().compile().unwrap().with_store(own.clone()));
    assert_eq!(visit(&owning, "ada").await.unwrap(), ["count: 0 before"]);
    assert_eq!(own.get(&profile("ada"), "visits").await.unwrap().unwrap().value, json!(1));
    let parents_count = parents.get(&profile("ada"), "visits").await.unwrap().unwrap();
    assert_eq!(parents_count.value, json!(1), "the child's own store took the write");
}

#[tokio::test]
async fn a_graph_without_a_store_gives_nodes_none() {
    let graph = counter().compile().unwrap();
    let error = visit(&graph, "ada").await.unwrap_err();
    let GraphError::NodeFailed { node, source, .. } = &error else { panic!("{error}") };
    assert_eq!(node, "count");
    assert_eq!(source.to_string(), "no store");
}
