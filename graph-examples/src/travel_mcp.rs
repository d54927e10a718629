//! A small MCP server with tools for a travel agent, built on `rmcp`'s server side:
//! `convert_currency` and `local_time`. The `mcp-tools` binary serves it, and the
//! `react_agent` demo runs it as its own child process.
//!
//! Every answer is deterministic: rates and time zones come from fixed tables.

use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{schemars, tool, tool_handler, tool_router, ServerHandler, ServiceExt};

use graph_core::BoxError;

/// Euros per unit of each currency, a fixed table so that answers never change.
const EUROS_PER_UNIT: [(&str, f64); 5] =
    [("CHF", 1.05), ("EUR", 1.0), ("GBP", 1.15), ("JPY", 0.0064), ("USD", 0.92)];

/// Each city's offset from UTC in minutes, ignoring daylight saving so answers never change.
const UTC_OFFSETS: [(&str, i32); 6] = [
    ("Lisbon", 0),
    ("London", 0),
    ("Mumbai", 330),
    ("New York", -300),
    ("Paris", 60),
    ("Tokyo", 540),
];

/// The arguments of `convert_currency`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Conversion {
    /// The amount to convert.
    amount: f64,
    /// The ISO 4217 code of the amount's currency, such as `USD`.
    from: String,
    /// The ISO 4217 code of the currency wanted.
    to: String,
}

/// The arguments of `local_time`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct LocalTime {
    /// The city's English name, such as `Tokyo`.
    city: String,
    /// A UTC time of day as `HH:MM`.
    utc: String,
}

/// The arguments of `sleep`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Sleep {
    /// How long to sleep, in milliseconds.
    ms: u64,
}

/// The server: demo tools, plus test tools when asked for.
#[derive(Debug, Clone)]
struct TravelTools {
    tool_router: ToolRouter<Self>,
}

#[tool_router(router = travel_router)]
impl TravelTools {
    /// Converts an amount between currencies at fixed rates.
    #[tool(description = "Converts an amount of money from one currency to another.")]
    fn convert_currency(&self, Parameters(args): Parameters<Conversion>) -> Result<String, String> {
        let rate = |code: &str| {
            EUROS_PER_UNIT.iter().find(|(known, _)| *known == code).map(|(_, rate)| *rate)
        };
        let (Some(from), Some(to)) = (rate(&args.from), rate(&args.to)) else {
            let unknown = if rate(&args.from).is_none() { &args.from } else { &args.to };
            let known: Vec<&str> = EUROS_PER_UNIT.iter().map(|(code, _)| *code).collect();
            return Err(format!("unknown currency `{unknown}`; known: {}", known.join(", ")));
        };
        let converted = args.amount * from / to;
        Ok(format!("{:.2} {} = {converted:.2} {}", args.amount, args.from, args.to))
    }

    /// Converts a UTC time of day to a city's local time.
    #[tool(description = "Tells the local time in a city at a given UTC time of day.")]
    fn local_time(&self, Parameters(args): Parameters<LocalTime>) -> Result<String, String> {
        let Some((city, offset)) = UTC_OFFSETS.iter().find(|(city, _)| *city == args.city) else {
            let known: Vec<&str> = UTC_OFFSETS.iter().map(|(city, _)| *city).collect();
            return Err(format!("unknown city `{}`; known: {}", args.city, known.join(", ")));
        };
        let minutes = parse_time(&args.utc)
            .ok_or_else(|| format!("`{}` is not a time of day as HH:MM", args.utc))?;
        let local = (minutes + offset).rem_euclid(24 * 60);
        let sign = if *offset < 0 { '-' } else { '+' };
        Ok(format!(
            "{} UTC is {:02}:{:02} in {city} (UTC{sign}{:02}:{:02})",
            args.utc,
            local / 60,
            local % 60,
            offset.abs() / 60,
            offset.abs() % 60
        ))
    }
}

#[tool_router(router = test_router)]
impl TravelTools {
    /// Ends the server while the call is in flight: a server dying mid-call.
    #[tool(description = "Test tool: the server exits without answering.")]
    fn crash(&self) -> String {
        std::process::exit(3)
    }

    /// Answers after a delay: a server too slow for the client's timeout.
    #[tool(description = "Test tool: answers `slept` after the given delay.")]
    async fn sleep(&self, Parameters(args): Parameters<Sleep>) -> String {
        tokio::time::sleep(Duration::from_millis(args.ms)).await;
        "slept".to_owned()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for TravelTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("mcp-tools", env!("CARGO_PKG_VERSION")))
    }
}

impl TravelTools {
    fn new(test_tools: bool) -> Self {
        let mut tool_router = Self::travel_router();
        if test_tools {
            tool_router += Self::test_router();
        }
        Self { tool_router }
    }
}

/// Minutes after midnight of `HH:MM`.
fn parse_time(text: &str) -> Option<i32> {
    let (hours, minutes) = text.split_once(':')?;
    let (hours, minutes): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
    ((0..24).contains(&hours) && (0..60).contains(&minutes) && text.len() == 5)
        .then_some(hours * 60 + minutes)
}

/// Serves the travel tools over stdio until the client leaves; `test_tools` adds `crash`
/// and `sleep`.
pub async fn serve_stdio(test_tools: bool) -> Result<(), BoxError> {
    TravelTools::new(test_tools).serve(rmcp::transport::stdio()).await?.waiting().await?;
    Ok(())
}

/// Serves the travel tools over streamable HTTP at `/mcp` on `address`, calling `bound`
/// with the URL once listening (so port 0 can be used).
pub async fn serve_http(
    address: &str,
    test_tools: bool,
    bound: impl FnOnce(&str),
) -> Result<(), BoxError> {
    let server = TravelTools::new(test_tools);
    let service: StreamableHttpService<TravelTools, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(server.clone()),
            Default::default(),
            StreamableHttpServerConfig::default(),
        );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(address).await?;
    bound(&format!("http://{}/mcp", listener.local_addr()?));
    axum::serve(listener, router).await?;
    Ok(())
}
