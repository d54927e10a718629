//! Serves the example graphs over HTTP, the LangGraph Platform API that the official
//! clients speak: `approval` (pauses for a person) and `briefing` (three parallel fetches and
//! a join).
//!
//! `cargo run -p graph-examples --bin serve` listens on `127.0.0.1:2024`; set
//! `GRAPH_SERVER_ADDR` to listen elsewhere, and `GRAPH_API_KEYS` (comma-separated) to require
//! keys. The web view at `/ui` draws the graphs with mermaid's script: the one
//! `scripts/fetch-mermaid` puts in `docs/mermaid`, or the file `GRAPH_SERVER_MERMAID` names.

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
    if let Some(mermaid) = mermaid_script() {
        server = server.mermaid_script(mermaid);
    }
    for key in std::env::var("GRAPH_API_KEYS").unwrap_or_default().split(',') {
        if !key.trim().is_empty() {
            server = server.api_key(key.trim());
        }
    }
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let addr = listener.local_addr()?;
    println!("serving approval and briefing on http://{addr} (the web view: http://{addr}/ui)");
    axum::serve(listener, server.router()).await?;
    Ok(())
}

/// Mermaid's browser script: the file `GRAPH_SERVER_MERMAID` names, else the repository's
/// fetched copy when there is one.
fn mermaid_script() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("GRAPH_SERVER_MERMAID") {
        return Some(path.into());
    }
    let fetched =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/mermaid/mermaid.min.js");
    fetched.is_file().then_some(fetched)
}
// ANCHOR_END: main
