//! The connection pool behind the PostgreSQL checkpointer and store.
//!
//! A pool rather than one client, so a dropped connection (a server restart,
//! `pg_terminate_backend`, a network blip) costs only the call that was using it: a
//! connection whose task has ended is closed, and checkout replaces it with a fresh one.

use std::str::FromStr;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::{Config, NoTls};

/// The most connections one checkpointer or store opens at once.
pub(crate) const MAX_CONNECTIONS: usize = 8;

/// A pool for `config`, a libpq-style string or a URL. Connects lazily: the first checkout
/// opens the first connection.
pub(crate) fn pool(config: &str) -> Result<Pool, tokio_postgres::Error> {
    let config = Config::from_str(config)?;
    // `Fast` only asks whether the connection's task has ended, which it has once the
    // server dropped it; no round trip per checkout.
    let manager = ManagerConfig { recycling_method: RecyclingMethod::Fast };
    let manager = Manager::from_config(config, NoTls, manager);
    Ok(Pool::builder(manager)
        .max_size(MAX_CONNECTIONS)
        .build()
        .expect("a pool without timeouts needs no runtime, so building it cannot fail"))
}

/// Runs `statements`, which create tables and indexes if they do not exist, one process at
/// a time: `IF NOT EXISTS` does not stop two sessions creating the same table at once (the
/// second fails on a duplicate key), as servers started together would.
///
/// Each statement commits on its own. `CREATE INDEX IF NOT EXISTS` locks its table even
/// when the index exists, so one transaction holding a lock on one table while it waits for
/// another could deadlock with a write touching both.
pub(crate) async fn create_tables(
    client: &mut deadpool_postgres::Object,
    statements: &[&str],
) -> Result<(), tokio_postgres::Error> {
    for statement in statements {
        let transaction = client.transaction().await?;
        transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).await?;
        transaction.batch_execute(statement).await?;
        transaction.commit().await?;
    }
    Ok(())
}

/// The advisory lock that creating tables takes.
const SCHEMA_LOCK: i64 = 7_243_000;
