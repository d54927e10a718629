//! `mcp-tools`: the travel tools of `graph_examples::travel_mcp` as an MCP server.
//!
//! ```text
//! mcp-tools                      serve over stdio
//! mcp-tools --http 127.0.0.1:0   serve streamable HTTP; the first line of stdout is the URL
//! mcp-tools --test-tools         also serve `crash` and `sleep`, for testing clients
//! ```

use graph_examples::travel_mcp;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (mut http, mut test_tools) = (None, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--http" => http = Some(args.next().ok_or("--http needs an address")?),
            "--test-tools" => test_tools = true,
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    match http {
        None => travel_mcp::serve_stdio(test_tools).await,
        Some(address) => {
            travel_mcp::serve_http(&address, test_tools, |url| println!("{url}")).await
        }
    }
}
