//! Installs `pgmq` in a PostgreSQL database, or upgrades it, from the SQL the `pgmq` crate
//! embeds: no database extension and no network access are needed. Distributed runs need it
//! in their checkpoints' database.
//!
//! Usage: `pgmq-install <database>`, a URL (`postgres://user@host:port/db`) or a libpq-style
//! string (`host=127.0.0.1 user=postgres dbname=test`). Installing twice is harmless, and
//! installers started together take turns (the crate locks while it installs).

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let database = std::env::args().nth(1).ok_or("usage: pgmq-install <database>")?;
    let pool = PgPoolOptions::new().max_connections(1).connect_with(options(&database)?).await?;
    pgmq::install::install_sql_from_embedded(&pool).await?;
    let version: String = sqlx::query_scalar(
        "SELECT version FROM pgmq.__pgmq_migrations ORDER BY run_at DESC, version DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await?;
    println!("pgmq {version} is installed");
    Ok(())
}

/// Connection options from a URL or from libpq's `key=value` pairs.
fn options(database: &str) -> Result<PgConnectOptions, Box<dyn std::error::Error>> {
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        return Ok(PgConnectOptions::from_str(database)?);
    }
    let mut options = PgConnectOptions::new();
    for pair in database.split_whitespace() {
        let (key, value) = pair.split_once('=').ok_or(format!("`{pair}` is not key=value"))?;
        options = match key {
            "host" => options.host(value),
            "port" => options.port(value.parse()?),
            "user" => options.username(value),
            "password" => options.password(value),
            "dbname" => options.database(value),
            "application_name" => options.application_name(value),
            other => return Err(format!("unknown connection setting `{other}`").into()),
        };
    }
    Ok(options)
}
