//! The long-term memory store on every backend (memory, SQLite, PostgreSQL): the conformance
//! suite, an SQLite file shared by two handles, parallel writers, expiry on a paused clock
//! and damaged rows.

mod support;

use std::sync::Arc;
use std::time::Duration;

use graph_core::store::{
    conformance, ListNamespaces, MemoryStore, Namespace, PostgresStore, SearchQuery, SqliteStore,
    Store, StoreError,
};
use serde_json::json;
use support::backends::{postgres_url, sqlite_file, unique};

/// A store on the PostgreSQL server; the tests fail (never skip) without one.
async fn postgres() -> PostgresStore {
    let url = postgres_url();
    PostgresStore::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url:?} is required: {e}"))
}

/// A namespace no other test or run uses.
fn fresh_namespace() -> Namespace {
    Namespace::new([unique("store")]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_conformance() {
    conformance::run(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conformance() {
    conformance::run(&SqliteStore::open(sqlite_file()).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conformance() {
    let store: Arc<dyn Store> = Arc::new(postgres().await);
    conformance::run(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_store_is_a_store() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    conformance::run(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_share_one_sqlite_file() {
    let file = sqlite_file();
    let (one, two) = (SqliteStore::open(&file).unwrap(), SqliteStore::open(&file).unwrap());
    let ns = fresh_namespace();
    one.put(&ns, "k", json!({ "v": 1 }), None).await.unwrap();
    let seen = two.get(&ns, "k").await.unwrap().expect("written through the other handle");
    assert_eq!(seen.value, json!({ "v": 1 }));
    two.put(&ns, "k", json!({ "v": 2 }), None).await.unwrap();
    let after = one.get(&ns, "k").await.unwrap().unwrap();
    assert_eq!((after.value, after.created_at), (json!({ "v": 2 }), seen.created_at));
    assert!(after.updated_at > seen.updated_at);

    // Ten writers on each handle, one key each, all at once.
    let writers = (0..20).map(|i| {
        let store = if i % 2 == 0 { one.clone() } else { two.clone() };
        let ns = ns.clone();
        tokio::spawn(async move { store.put(&ns, &format!("w{i:02}"), json!(i), None).await })
    });
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let found = two.search(&ns, &SearchQuery::new().limit(100)).await.unwrap();
    let mut keys: Vec<_> = found.iter().map(|item| item.key.clone()).collect();
    keys.sort();
    let mut expected: Vec<_> = (0..20).map(|i| format!("w{i:02}")).collect();
    expected.insert(0, "k".into());
    assert_eq!(keys, expected);

    one.put(&ns, "brief", json!(0), Some(Duration::from_millis(50))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(two.sweep().await.unwrap(), 1, "either handle sweeps what the other wrote");
    assert_eq!(one.get(&ns, "brief").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_writers_on_the_memory_store() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let ns = fresh_namespace();
    store.put(&ns, "neighbour", json!("kept"), None).await.unwrap();
    let writers: Vec<_> = (0..20)
        .map(|i| {
            let (store, ns) = (Arc::clone(&store), ns.clone());
            tokio::spawn(async move {
                for round in 0..50 {
                    store.put(&ns, "hot", json!([i, round]), None).await.unwrap();
                    store.put(&ns, &format!("own-{i}"), json!(round), None).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let hot = store.get(&ns, "hot").await.unwrap().unwrap().value;
    assert_eq!(hot[1], json!(49), "the winner is some writer's last write: {hot}");
    for i in 0..20 {
        let own = store.get(&ns, &format!("own-{i}")).await.unwrap().unwrap();
        assert_eq!(own.value, json!(49));
    }
    assert_eq!(store.get(&ns, "neighbour").await.unwrap().unwrap().value, json!("kept"));
    assert_eq!(store.search(&ns, &SearchQuery::new().limit(100)).await.unwrap().len(), 22);
}

#[tokio::test(start_paused = true)]
async fn memory_expiry_follows_the_paused_clock() {
    let store = MemoryStore::new();
    let ns = fresh_namespace();
    store.put(&ns, "k", json!(1), Some(Duration::from_secs(60))).await.unwrap();
    tokio::time::advance(Duration::from_secs(59)).await;
    assert!(store.get(&ns, "k").await.unwrap().is_some(), "live, and refreshed");
    tokio::time::advance(Duration::from_secs(59)).await;
    let peek = SearchQuery::new().refresh_ttl(false);
    assert_eq!(store.search(&ns, &peek).await.unwrap().len(), 1, "118 s after the put");
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(store.search(&ns, &peek).await.unwrap().is_empty(), "60 s after the read");
    assert_eq!(store.sweep().await.unwrap(), 1);
    assert_eq!(store.sweep().await.unwrap(), 0);
}

/// Damages rows of an SQLite store through SQL: a value that is not JSON, a namespace that
/// is not a dotted path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_sqlite_rows_are_corrupt() {
    let file = sqlite_file();
    let store = SqliteStore::open(&file).unwrap();
    let ns = fresh_namespace();
    store.put(&ns, "k", json!(1), None).await.unwrap();
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute("UPDATE graph_store SET value = '{not json' WHERE key = 'k'", []).unwrap();
    let path = ns.to_string();
    let expect_corrupt = |result: Result<_, StoreError>, key: &str| match result {
        Err(StoreError::Corrupt { namespace, key: found, reason }) => {
            assert_eq!((namespace.as_str(), found.as_str()), (path.as_str(), key));
            reason
        }
        other => panic!("expected a corrupt item, got {other:?}"),
    };
    let reason = expect_corrupt(store.get(&ns, "k").await.map(drop), "k");
    assert!(reason.starts_with("value: "), "{reason}");
    expect_corrupt(store.search(&ns, &SearchQuery::new()).await.map(drop), "k");

    conn.execute("UPDATE graph_store SET value = '1', namespace = namespace || '..x'", []).unwrap();
    let broken = format!("{path}..x");
    match store.list_namespaces(&ListNamespaces::new()).await {
        Err(StoreError::Corrupt { namespace, reason, .. }) => {
            assert_eq!(namespace, broken);
            assert!(reason.ends_with("label 1 is empty"), "{reason}");
        }
        other => panic!("expected a corrupt namespace, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_postgres_rows_are_corrupt() {
    let store = postgres().await;
    let ns = fresh_namespace();
    store.put(&ns, "k", json!(1), None).await.unwrap();
    let (client, connection) =
        tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let path = ns.to_string();
    let broken = format!("{path}..x");
    client
        .execute("UPDATE graph_store SET namespace = $2 WHERE namespace = $1", &[&path, &broken])
        .await
        .unwrap();
    let prefix = ListNamespaces::new().prefix(ns.clone());
    match store.list_namespaces(&prefix).await {
        Err(StoreError::Corrupt { namespace, reason, .. }) => {
            assert_eq!(namespace, broken);
            assert!(reason.ends_with("label 1 is empty"), "{reason}");
        }
        other => panic!("expected a corrupt namespace, got {other:?}"),
    }
    client.execute("DELETE FROM graph_store WHERE namespace = $1", &[&broken]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_nul_in_values() {
    let store = postgres().await;
    let ns = fresh_namespace();
    match store.put(&ns, "k", json!({ "text": "a\u{0}b" }), None).await {
        Err(StoreError::Backend(_)) => {}
        other => panic!("jsonb cannot hold NUL: expected a backend error, got {other:?}"),
    }
    assert_eq!(store.get(&ns, "k").await.unwrap(), None);
}
