//! The node cache backends: the conformance suite on memory, SQLite (in memory, on a file,
//! and two handles on one file) and Redis (one connection, two, and a custom prefix); then
//! the exact errors of an unreachable server and of damaged entries, and each backend's
//! storage layout.

mod support;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use graph_core::cache::{
    conformance, CacheEntry, CacheError, CacheKey, MemoryCache, NodeCache, RedisCache, SqliteCache,
};
use serde_json::{json, Value};
use support::backends::{redis, redis_url, sqlite_file, unique};

/// Writes and clears through one handle, reads through another: what one process stores,
/// another finds.
struct TwoHandles<W, R> {
    writer: W,
    reader: R,
}

#[async_trait]
impl<W: NodeCache, R: NodeCache> NodeCache for TwoHandles<W, R> {
    async fn get(&self, keys: &[CacheKey]) -> Result<Vec<Option<Value>>, CacheError> {
        self.reader.get(keys).await
    }

    async fn set(&self, entries: Vec<CacheEntry>) -> Result<(), CacheError> {
        self.writer.set(entries).await
    }

    async fn clear(&self, nodes: &[String]) -> Result<(), CacheError> {
        self.writer.clear(nodes).await
    }
}

fn key(node: &str, hash: &str) -> CacheKey {
    CacheKey { node: node.to_owned(), hash: hash.to_owned() }
}

fn entry(key: &CacheKey, value: Value, ttl: Option<Duration>) -> CacheEntry {
    CacheEntry { key: key.clone(), value, ttl }
}

/// A raw connection to the Redis server, to look at and damage what the cache stored.
async fn raw_redis() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(redis_url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

mod conform {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory() {
        conformance::run(&MemoryCache::new()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_in_memory() {
        conformance::run(&SqliteCache::in_memory().unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_file() {
        conformance::run(&SqliteCache::open(super::sqlite_file()).unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_two_handles_on_one_file() {
        let path = super::sqlite_file();
        let (one, two) = (SqliteCache::open(&path).unwrap(), SqliteCache::open(&path).unwrap());
        conformance::run(&TwoHandles { writer: one.clone(), reader: two.clone() }).await;
        // Both handles at once, each writing while the other does.
        futures::join!(conformance::run(&one), conformance::run(&two));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis() {
        conformance::run(&super::redis().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_two_connections() {
        let (one, two) = (super::redis().await, super::redis().await);
        conformance::run(&TwoHandles { writer: one.clone(), reader: two.clone() }).await;
        futures::join!(conformance::run(&one), conformance::run(&two));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_with_prefix() {
        let prefix = unique("my*app?[x]");
        conformance::run(&super::redis().await.with_prefix(prefix)).await;
    }
}

mod sqlite {
    use super::*;

    /// Opens the cache's file beside it, to look at and damage its rows.
    fn raw(path: &std::path::Path) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stores_one_row_per_entry_with_its_expiry_in_wall_clock_milliseconds() {
        let path = sqlite_file();
        let cache = SqliteCache::open(&path).unwrap();
        let (forever, short) = (key("n:1", "h1"), key("n:1", "h2"));
        let before =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
                as i64;
        let ttl = Some(Duration::from_secs(60));
        cache
            .set(vec![entry(&forever, json!({ "a": [1] }), None), entry(&short, json!(2), ttl)])
            .await
            .unwrap();
        let rows: Vec<(String, String, String, Option<i64>)> = raw(&path)
            .prepare("SELECT node, hash, value, expires_at FROM graph_cache ORDER BY hash")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], ("n:1".into(), "h1".into(), r#"{"a":[1]}"#.into(), None));
        let (node, hash, value, expires) = rows[1].clone();
        assert_eq!((node.as_str(), hash.as_str(), value.as_str()), ("n:1", "h2", "2"));
        let expires = expires.unwrap();
        assert!(
            (before + 60_000..before + 70_000).contains(&expires),
            "expires at {expires}, stored at {before}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_expired_row_is_deleted_when_found() {
        let path = sqlite_file();
        let cache = SqliteCache::open(&path).unwrap();
        let (gone, kept) = (key("n", "gone"), key("n", "kept"));
        let ttl = Some(Duration::from_millis(50));
        cache.set(vec![entry(&gone, json!(1), ttl), entry(&kept, json!(2), None)]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(cache.get(&[gone, kept]).await.unwrap(), [None, Some(json!(2))]);
        let hashes: Vec<String> = raw(&path)
            .prepare("SELECT hash FROM graph_cache")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(hashes, ["kept"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn damaged_rows_are_corrupt_naming_their_node() {
        let path = sqlite_file();
        let cache = SqliteCache::open(&path).unwrap();
        let keys = [key("not-json", "h"), key("blob", "h"), key("bad-expiry", "h")];
        let entries = keys.iter().map(|key| entry(key, json!("fine"), None)).collect();
        cache.set(entries).await.unwrap();
        let conn = raw(&path);
        conn.execute("UPDATE graph_cache SET value = 'not json{' WHERE node = 'not-json'", [])
            .unwrap();
        conn.execute("UPDATE graph_cache SET value = x'22616222' WHERE node = 'blob'", []).unwrap();
        conn.execute("UPDATE graph_cache SET expires_at = 'soon' WHERE node = 'bad-expiry'", [])
            .unwrap();
        let expected = [
            ("not-json", "the value is not JSON: expected ident at line 1 column 2"),
            ("blob", "the value is stored as a blob, not text"),
            ("bad-expiry", "the expiry is stored as text, not an integer"),
        ];
        for (key, (node, reason)) in keys.iter().zip(expected) {
            match cache.get(std::slice::from_ref(key)).await {
                Err(CacheError::Corrupt { node: found, reason: why }) => {
                    assert_eq!((found.as_str(), why.as_str()), (node, reason));
                }
                other => panic!("a damaged row of {node} must be corrupt, got {other:?}"),
            }
        }
        assert_eq!(
            cache.get(&keys[..1]).await.unwrap_err().to_string(),
            "cache entry of node `not-json` is corrupt: the value is not JSON: expected ident at \
             line 1 column 2"
        );
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_a_backend_error() {
        let dir = std::env::temp_dir().join(unique("not-a-file"));
        std::fs::create_dir_all(&dir).unwrap();
        match SqliteCache::open(&dir) {
            Err(CacheError::Backend(_)) => {}
            other => panic!("a directory is no database, got {other:?}"),
        }
    }
}

mod redis_backend {
    use redis::AsyncCommands;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_are_prefix_node_length_node_and_hash() {
        let prefix = unique("layout");
        let cache = redis().await.with_prefix(&prefix);
        assert_eq!(cache.prefix(), prefix);
        let (plain, odd) = (key("search", "3f2a"), key("a:b*ü", "h"));
        let ttl = Some(Duration::from_secs(60));
        cache
            .set(vec![entry(&plain, json!({ "hits": [1, 2] }), None), entry(&odd, json!(7), ttl)])
            .await
            .unwrap();
        let mut raw = raw_redis().await;
        let mut stored: Vec<String> = raw.keys(format!("{prefix}:*")).await.unwrap();
        stored.sort();
        assert_eq!(stored, [format!("{prefix}:6:a:b*ü:h"), format!("{prefix}:6:search:3f2a")]);
        let text: String = raw.get(format!("{prefix}:6:search:3f2a")).await.unwrap();
        assert_eq!(text, r#"{"hits":[1,2]}"#);
        let forever: i64 = raw.pttl(format!("{prefix}:6:search:3f2a")).await.unwrap();
        assert_eq!(forever, -1, "an entry without a time to live has no expiry");
        let left: i64 = raw.pttl(format!("{prefix}:6:a:b*ü:h")).await.unwrap();
        assert!((50_000..=60_000).contains(&left), "{left} ms left of 60 s");
        cache.clear(&["a:b*ü".into(), "search".into()]).await.unwrap();
        let stored: Vec<String> = raw.keys(format!("{prefix}:*")).await.unwrap();
        assert!(stored.is_empty(), "cleared, yet {stored:?} remain");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_default_prefix_is_graph_cache() {
        let cache = redis().await;
        assert_eq!(cache.prefix(), "graph-cache");
        let node = unique("default");
        cache.set(vec![entry(&key(&node, "h"), json!(true), None)]).await.unwrap();
        let mut raw = raw_redis().await;
        let name = format!("graph-cache:{}:{node}:h", node.len());
        let text: Option<String> = raw.get(&name).await.unwrap();
        assert_eq!(text.as_deref(), Some("true"));
        cache.clear(&[node]).await.unwrap();
        let text: Option<String> = raw.get(&name).await.unwrap();
        assert_eq!(text, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_damaged_value_is_corrupt_naming_its_node() {
        let prefix = unique("damaged");
        let cache = redis().await.with_prefix(&prefix);
        let (damaged, fine) = (key("re:ad*", "h"), key("fine", "h"));
        cache.set(vec![entry(&fine, json!(1), None)]).await.unwrap();
        let mut raw = raw_redis().await;
        let () = raw.set(format!("{prefix}:6:re:ad*:h"), "not json{").await.unwrap();
        match cache.get(&[fine, damaged]).await {
            Err(CacheError::Corrupt { node, reason }) => assert_eq!(
                (node.as_str(), reason.as_str()),
                ("re:ad*", "the value is not JSON: expected ident at line 1 column 2")
            ),
            other => panic!("a damaged value must be corrupt, got {other:?}"),
        }
        cache.clear(&["re:ad*".into(), "fine".into()]).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unreachable_server_is_a_backend_error_quickly() {
        // A port that was just free: nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let started = Instant::now();
        let result = RedisCache::connect(&format!("redis://127.0.0.1:{port}")).await;
        let took = started.elapsed();
        match result {
            Err(error @ CacheError::Backend(_)) => {
                assert!(error.to_string().starts_with("cache backend failed: "), "{error}");
            }
            other => panic!("an unreachable server must be a backend error, got {other:?}"),
        }
        assert!(took < Duration::from_secs(5), "took {took:?} to give up");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_malformed_url_is_a_backend_error() {
        match RedisCache::connect("not a url").await {
            Err(CacheError::Backend(_)) => {}
            other => panic!("a malformed URL must be a backend error, got {other:?}"),
        }
    }
}
