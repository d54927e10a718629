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
        .unwrap_or_else(|e| panic!("PostgreSQL at {url:?} is required: {e}"))
}

/// Where the Redis server is: `REDIS_URL`, else the local one `scripts/test` makes sure of.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A cache on the Redis server; the tests fail (never skip) without one.
pub async fn redis() -> RedisCache {
    let url = redis_url();
    RedisCache::connect(&url).await.unwrap_or_else(|e| panic!("Redis at {url:?} is required: {e}"))
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
