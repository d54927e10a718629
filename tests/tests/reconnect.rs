//! The PostgreSQL checkpointer and store outlive their connections: when PostgreSQL ends
//! every one of them (as a restart or `pg_terminate_backend` does), the next call opens a
//! fresh one, so a run goes on and the store keeps answering.
//!
//! The tests run on one thread: a connection's task reads the server's goodbye before
//! `pg_stat_activity` forgets the connection, so once the test has seen it gone, that task
//! has run and ended, and the pool knows the connection is closed. On several threads the
//! test could reach for the connection first, and that one call would fail.

mod support;

use std::sync::Arc;

use futures::future::BoxFuture;
use graph_core::checkpoint::PostgresSaver;
use graph_core::prelude::*;
use graph_core::store::{Namespace, PostgresStore, SearchQuery, Store};
use serde_json::json;
use support::backends::{
    postgres_url, terminate_connections, thread, unique, with_application_name,
};
use support::{visit, visited, Log, LogUpdate};

/// A node that ends every connection named `name`, then records that it ran as `b`.
fn terminating(
    name: String,
) -> impl Fn(Arc<Log>) -> BoxFuture<'static, LogUpdate> + Send + Sync + 'static {
    move |_| {
        let name = name.clone();
        Box::pin(async move {
            let ended = terminate_connections(&name).await;
            assert!(ended >= 1, "the saver holds a connection while the run goes on");
            Log::update().visited(vec!["b".to_owned()]).n(1)
        })
    }
}

#[tokio::test]
async fn a_run_goes_on_after_postgres_ends_the_savers_connections() {
    let name = unique("saver");
    let saver =
        PostgresSaver::connect(&with_application_name(&postgres_url(), &name)).await.unwrap();
    let graph = StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("b", terminating(name))
        .add_node("c", visit("c"))
        .add_edge(START, "a")
        .add_edge("a", "b")
        .add_edge("b", "c")
        .compile()
        .unwrap()
        .with_checkpointer(Arc::new(saver));
    let config = thread();

    let out = graph.invoke(Log::default(), config.clone()).await.unwrap().into_state();

    let expected = Log { visited: visited(&["a", "b", "c"]), n: 3, last: None };
    assert_eq!(out, expected);
    let history = graph.get_state_history(&config).await.unwrap();
    let steps: Vec<(i64, Vec<String>, u64)> =
        history.iter().map(|s| (s.metadata.step, s.values.visited.clone(), s.values.n)).collect();
    assert_eq!(
        steps,
        [
            (2, visited(&["a", "b", "c"]), 3),
            (1, visited(&["a", "b"]), 2),
            (0, visited(&["a"]), 1),
            (-1, visited(&[]), 0),
        ]
    );
    assert_eq!(history[0].values, expected);
}

#[tokio::test]
async fn the_store_answers_after_postgres_ends_its_connections() {
    let name = unique("store");
    let store =
        PostgresStore::connect(&with_application_name(&postgres_url(), &name)).await.unwrap();
    let namespace = Namespace::new([unique("reconnect")]).unwrap();
    store.put(&namespace, "k", json!({"v": 1}), None).await.unwrap();

    // One call at a time so far, so one connection.
    assert_eq!(terminate_connections(&name).await, 1);

    let item = store.get(&namespace, "k").await.unwrap().expect("put before the connections ended");
    assert_eq!(item.value, json!({"v": 1}));
    let found = store.search(&namespace, &SearchQuery::default()).await.unwrap();
    let found: Vec<(&str, &serde_json::Value)> =
        found.iter().map(|item| (item.key.as_str(), &item.value)).collect();
    assert_eq!(found, [("k", &json!({"v": 1}))]);
    store.put(&namespace, "k", json!({"v": 2}), None).await.unwrap();
    assert_eq!(store.get(&namespace, "k").await.unwrap().unwrap().value, json!({"v": 2}));

    // Ended again, after the fresh connection served those calls.
    assert_eq!(terminate_connections(&name).await, 1);
    assert_eq!(store.get(&namespace, "k").await.unwrap().unwrap().value, json!({"v": 2}));
}
