//! Serves the example graphs over HTTP, the LangGraph Platform API that the official
//! clients speak: `approval` (pauses for a person) and `briefing` (three parallel fetches and
//! a join).
//!
//! `cargo run -p graph-examples --bin serve` listens on `127.0.0.1:2024` and keeps threads,
//! runs, checkpoints and the store in `graph-server.sqlite`. Set `GRAPH_SERVER_ADDR` to listen
//! elsewhere, `GRAPH_SERVER_DB` for another SQLite file, `DATABASE_URL` to use PostgreSQL
//! instead, and `GRAPH_API_KEYS` (comma-separated) to require keys.

// ANCHOR: uses
use graph_examples::{approval, briefing};
use graph_server::Server;
// ANCHOR_END: uses

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("GRAPH_SERVER_ADDR").unwrap_or_else(|_| "127.0.0.1:2024".into());
    let mut server =
        Server::new().graph("approval", approval::graph()).graph("briefing", briefing::graph());
    server = match std::env::var("DATABASE_URL") {
        Ok(url) => server.postgres(&url).await?,
        Err(_) => {
            let file = std::env::var("GRAPH_SERVER_DB");
            server.sqlite(file.as_deref().unwrap_or("graph-server.sqlite"))?
        }
    };
    for key in std::env::var("GRAPH_API_KEYS").unwrap_or_default().split(',') {
        if !key.trim().is_empty() {
            server = server.api_key(key.trim());
        }
    }
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("serving approval and briefing on http://{}", listener.local_addr()?);
    axum::serve(listener, server.router()).await?;
    Ok(())
}
// ANCHOR_END: main
