//! The three checkpoint backends, for tests that run one behaviour on each, and the
//! servers the cache backends use.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use graph_core::cache::RedisCache;
use graph_core::checkpoint::{PostgresSaver, SqliteSaver};
use graph_core::RunConfig;

/// Where the PostgreSQL server is: `DATABASE_URL`, else the local one `scripts/test`
/// makes sure of.
pub fn postgres_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into())
}

/// A saver on the PostgreSQL server; the tests fail (never skip) without one.
pub async fn postgres() -> PostgresSaver {
    let url = postgres_url();
    PostgresSaver::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url:?} is required: {e:?}"))
}

/// Where the Redis server is: `REDIS_URL`, else the local one `scripts/test` makes sure of.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A cache on the Redis server; the tests fail (never skip) without one.
pub async fn redis() -> RedisCache {
    let url = redis_url();
    RedisCache::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("Redis at {url:?} is required: {e:?}"))
}

/// A new SQLite file in the temporary directory.
pub fn sqlite_file() -> PathBuf {
    let dir = std::env::temp_dir().join("graph-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}.sqlite", unique("db")))
}

/// A saver on a new SQLite file.
pub fn sqlite() -> SqliteSaver {
    SqliteSaver::open(sqlite_file()).unwrap()
}

/// A name no other test, process or run uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A run on a new thread.
pub fn thread() -> RunConfig {
    RunConfig::default().thread_id(unique("thread"))
}

/// Declares one test per backend (modules `memory`, `sqlite`, `postgres`) for each
/// behaviour: an `async fn(Arc<dyn Checkpointer>)` or one taking the saver's own type.
macro_rules! on_every_backend {
    ($($behaviour:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $behaviour() {
                let saver = graph_core::checkpoint::MemorySaver::new();
                super::$behaviour(std::sync::Arc::new(saver)).await
            })*
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $behaviour() {
                let saver = $crate::support::backends::sqlite();
                super::$behaviour(std::sync::Arc::new(saver)).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $behaviour() {
                let saver = $crate::support::backends::postgres().await;
                super::$behaviour(std::sync::Arc::new(saver)).await
            })*
        }
    };
}
pub(crate) use on_every_backend;

/// `url` (a libpq-style string or a URL) with the connections it opens named `name` in
/// `pg_stat_activity`, so a test can find and end exactly those.
pub fn with_application_name(url: &str, name: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}application_name={name}")
    } else {
        format!("{url} application_name={name}")
    }
}

/// A plain client of the test database, for what a test checks directly.
pub async fn postgres_client() -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// Ends every connection named `name` from another connection, as a server restart or
/// `pg_terminate_backend` by an operator would, and waits until they are gone. Returns
/// how many there were. On a one-thread runtime, each ended connection's task has read
/// the server's goodbye by then, so a pool knows the connection is closed.
pub async fn terminate_connections(name: &str) -> i64 {
    let admin = postgres_client().await;
    let ended = admin
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1 AND pid <> pg_backend_pid()) AS ended",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    // `pg_terminate_backend` only signals; each backend leaves `pg_stat_activity` as it
    // exits, after telling its client so.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&name],
            )
            .await
            .unwrap()
            .get(0);
        if left == 0 {
            return ended;
        }
        assert!(std::time::Instant::now() < deadline, "{left} connections named {name} remain");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// A plain connection to the PostgreSQL server, for a test to look at tables itself.
pub async fn pg_client() -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}
