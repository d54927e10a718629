//! `graph_agent::mcp` against this crate's `mcp-tools` server, run as a real child process
//! over stdio and over streamable HTTP on loopback: listing, calls, tool errors, a server that
//! dies mid-call, timeouts and reconnection.

use std::process::Stdio;
use std::time::Duration;

use graph_agent::mcp::{McpClient, McpError, McpTool};
use graph_agent::{
    route_tool_calls, Message, MessagesState, MessagesStateUpdate, Tool, ToolCall, ToolContext,
    ToolErrorPolicy, ToolMessage, ToolNode, ToolNodeError, ToolOutput, ToolSpec, ToolStatus,
    Toolbox,
};
use graph_core::prelude::*;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SERVER: &str = env!("CARGO_BIN_EXE_mcp-tools");

/// The `mcp-tools` server over stdio, with the test tools when `test_tools`.
fn stdio_client(test_tools: bool) -> McpClient {
    let mut command = Command::new(SERVER);
    if test_tools {
        command.arg("--test-tools");
    }
    McpClient::spawn(command).named("travel")
}

/// The `mcp-tools` server on loopback HTTP, with the test tools; killed when dropped.
struct HttpServer {
    _child: Child,
    url: String,
}

impl HttpServer {
    /// A server on `address`; port 0 picks a free one.
    async fn start(address: &str) -> Self {
        let mut child = Command::new(SERVER)
            .args(["--http", address, "--test-tools"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout is piped");
        BufReader::new(stdout).read_line(&mut line).await.expect("the server prints its URL");
        Self { _child: child, url: line.trim().to_owned() }
    }

    /// The `host:port` it listens on.
    fn address(&self) -> &str {
        self.url.trim_start_matches("http://").trim_end_matches("/mcp")
    }
}

fn args(value: Value) -> Map<String, Value> {
    serde_json::from_value(value).expect("an object")
}

fn spec(tools: &Toolbox<MessagesState>, name: &str) -> ToolSpec {
    tools.specs().into_iter().find(|spec| spec.name == name).expect("the tool is listed")
}

fn convert_currency_spec() -> ToolSpec {
    ToolSpec {
        name: "convert_currency".into(),
        description: "Converts an amount of money from one currency to another.".into(),
        parameters: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "amount": {"description": "The amount to convert.", "format": "double", "type": "number"},
                "from": {"description": "The ISO 4217 code of the amount's currency, such as `USD`.", "type": "string"},
                "to": {"description": "The ISO 4217 code of the currency wanted.", "type": "string"}
            },
            "required": ["amount", "from", "to"]
        }),
    }
}

fn local_time_spec() -> ToolSpec {
    ToolSpec {
        name: "local_time".into(),
        description: "Tells the local time in a city at a given UTC time of day.".into(),
        parameters: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "city": {"description": "The city's English name, such as `Tokyo`.", "type": "string"},
                "utc": {"description": "A UTC time of day as `HH:MM`.", "type": "string"}
            },
            "required": ["city", "utc"]
        }),
    }
}

/// The tool `name` of `client`.
async fn tool(client: &McpClient, name: &str) -> McpTool {
    let tools = client.tools().await.expect("the server lists its tools");
    tools.into_iter().find(|tool| tool.name() == name).expect("the tool is listed")
}

/// Calls `tool` with `args` as a tool node would.
async fn call(tool: &McpTool, args: Value) -> Result<ToolOutput, McpError> {
    match tool.call(self::args(args), &ToolContext::new("call-1")).await {
        Ok(output) => Ok(output),
        Err(error) => Err(*error.downcast::<McpError>().expect("an MCP error")),
    }
}

/// A graph that runs the tool calls of its input with `node`, one task per call.
fn tool_graph(node: ToolNode<MessagesState>) -> CompiledGraph<MessagesState> {
    StateGraph::<MessagesState>::new()
        .add_node("tools", node.per_call())
        .add_conditional_edges(START, route_tool_calls("tools", END), ["tools", END])
        .compile()
        .expect("the graph compiles")
}

fn asking(calls: Vec<ToolCall>) -> MessagesStateUpdate {
    MessagesState::update().message(Message::assistant("").with_tool_calls(calls))
}

/// The tool messages after the input.
fn answers(state: &MessagesState) -> Vec<ToolMessage> {
    state.messages[1..].iter().map(|m| m.as_tool().expect("a tool message").clone()).collect()
}

fn answer(call_id: &str, name: &str, content: &str, status: ToolStatus) -> ToolMessage {
    ToolMessage {
        id: None,
        name: Some(name.into()),
        content: content.into(),
        tool_call_id: call_id.into(),
        status,
        artifact: None,
    }
}

/// Forgets the ids `add_messages` gave, to compare the rest exactly.
fn without_ids(mut messages: Vec<ToolMessage>) -> Vec<ToolMessage> {
    messages.iter_mut().for_each(|message| message.id = None);
    messages
}

#[tokio::test]
async fn stdio_lists_the_servers_tools_with_their_names_descriptions_and_schemas() {
    let client = stdio_client(false);
    let tools = client.toolbox::<MessagesState>().await.unwrap();
    assert_eq!(tools.specs(), [convert_currency_spec(), local_time_spec()]);
    client.close().await;
}

#[tokio::test]
async fn stdio_calls_answer_with_the_servers_text() {
    let client = stdio_client(false);
    let convert = tool(&client, "convert_currency").await;
    let converted = call(&convert, json!({"amount": 100, "from": "USD", "to": "EUR"}));
    assert_eq!(converted.await.unwrap(), ToolOutput::new("100.00 USD = 92.00 EUR"));
    let local_time = tool(&client, "local_time").await;
    let time = call(&local_time, json!({"city": "Tokyo", "utc": "14:30"}));
    assert_eq!(time.await.unwrap(), ToolOutput::new("14:30 UTC is 23:30 in Tokyo (UTC+09:00)"));
    client.close().await;
}

#[tokio::test]
async fn a_tool_error_answers_the_model_with_an_error_message_and_the_run_goes_on() {
    let client = stdio_client(false);
    let tools = client.toolbox().await.unwrap();
    // The default policy propagates failures: a tool's own error result is not one.
    let graph = tool_graph(ToolNode::new(tools));
    let calls = vec![
        ToolCall::new("c1", "convert_currency", json!({"amount": 5, "from": "USD", "to": "XYZ"})),
        ToolCall::new("c2", "local_time", json!({"city": "Paris", "utc": "23:30"})),
    ];
    let state =
        graph.invoke(asking(calls), RunConfig::default()).await.unwrap().finished().unwrap();
    assert_eq!(
        without_ids(answers(&state)),
        [
            answer(
                "c1",
                "convert_currency",
                "unknown currency `XYZ`; known: CHF, EUR, GBP, JPY, USD",
                ToolStatus::Error
            ),
            answer(
                "c2",
                "local_time",
                "23:30 UTC is 00:30 in Paris (UTC+01:00)",
                ToolStatus::Success
            ),
        ]
    );
    client.close().await;
}

#[tokio::test]
async fn a_server_dying_mid_call_is_a_typed_error_and_the_next_call_spawns_it_again() {
    let client = stdio_client(true);
    let (crash, convert) = (tool(&client, "crash").await, tool(&client, "convert_currency").await);
    let error = call(&crash, json!({})).await.unwrap_err();
    let McpError::Disconnected { server, tool, .. } = &error else { panic!("{error:?}") };
    assert_eq!((server.as_str(), tool.as_deref()), ("travel", Some("crash")));
    assert_eq!(
        error.to_string(),
        "MCP server `travel` disconnected while calling tool `crash`: Transport closed"
    );

    // The tool listed before the crash reconnects.
    let converted = call(&convert, json!({"amount": 2, "from": "EUR", "to": "GBP"}));
    assert_eq!(converted.await.unwrap(), ToolOutput::new("2.00 EUR = 1.74 GBP"));
    client.close().await;
}

#[tokio::test]
async fn through_a_tool_node_a_dead_server_fails_the_run_or_answers_as_the_policy_says() {
    let client = stdio_client(true);
    let tools = client.toolbox::<MessagesState>().await.unwrap();
    let crash = || asking(vec![ToolCall::new("c1", "crash", json!({}))]);

    let graph = tool_graph(ToolNode::new(tools.clone()));
    let error = graph.invoke(crash(), RunConfig::default()).await.unwrap_err();
    let GraphError::NodeFailed { source, .. } = &error else { panic!("{error:?}") };
    let Some(ToolNodeError::Failed { tool, call_id, source }) = source.downcast_ref() else {
        panic!("{source:?}")
    };
    assert_eq!((tool.as_str(), call_id.as_str()), ("crash", "c1"));
    assert!(matches!(source.downcast_ref(), Some(McpError::Disconnected { .. })), "{source:?}");

    let graph = tool_graph(ToolNode::new(tools).handle_errors(ToolErrorPolicy::catch_all()));
    let state = graph.invoke(crash(), RunConfig::default()).await.unwrap().finished().unwrap();
    let expected = "Error: MCP server `travel` disconnected while calling tool `crash`: \
                    Transport closed\n Please fix your mistakes.";
    assert_eq!(without_ids(answers(&state)), [answer("c1", "crash", expected, ToolStatus::Error)]);
    client.close().await;
}

#[tokio::test]
async fn a_slow_server_times_out_and_the_session_stays_usable() {
    let client = stdio_client(true).timeout(Duration::from_millis(300));
    let sleep = tool(&client, "sleep").await;
    let error = call(&sleep, json!({"ms": 5000})).await.unwrap_err();
    let McpError::Timeout { server, tool, timeout } = &error else { panic!("{error:?}") };
    assert_eq!((server.as_str(), tool.as_deref()), ("travel", Some("sleep")));
    assert_eq!(*timeout, Duration::from_millis(300));
    assert_eq!(
        error.to_string(),
        "MCP server `travel` did not answer within 300ms while calling tool `sleep`"
    );
    assert_eq!(call(&sleep, json!({"ms": 1})).await.unwrap(), ToolOutput::new("slept"));
    client.close().await;
}

#[tokio::test]
async fn a_server_that_cannot_start_is_a_connect_error() {
    let client = McpClient::spawn(Command::new("/nonexistent/mcp-server"));
    assert_eq!(client.server(), "mcp-server");
    let error = client.tools().await.unwrap_err();
    let McpError::Connect { server, .. } = &error else { panic!("{error:?}") };
    assert_eq!(server, "mcp-server");
    assert!(
        error.to_string().starts_with("cannot connect to MCP server `mcp-server`: "),
        "{error}"
    );
}

#[tokio::test]
async fn http_lists_and_calls_tools_and_answers_tool_errors() {
    let server = HttpServer::start("127.0.0.1:0").await;
    let client = McpClient::http(&server.url);
    assert_eq!(client.server(), server.url);

    let tools = client.toolbox::<MessagesState>().await.unwrap();
    assert_eq!(tools.names(), ["convert_currency", "crash", "local_time", "sleep"]);
    assert_eq!(spec(&tools, "convert_currency"), convert_currency_spec());
    assert_eq!(spec(&tools, "local_time"), local_time_spec());

    let local_time = tool(&client, "local_time").await;
    let time = call(&local_time, json!({"city": "New York", "utc": "03:15"}));
    assert_eq!(time.await.unwrap(), ToolOutput::new("03:15 UTC is 22:15 in New York (UTC-05:00)"));
    let unknown = call(&local_time, json!({"city": "Atlantis", "utc": "03:15"}));
    assert_eq!(
        unknown.await.unwrap(),
        ToolOutput::error(
            "unknown city `Atlantis`; known: Lisbon, London, Mumbai, New York, Paris, Tokyo"
        )
    );
    client.close().await;
}

#[tokio::test]
async fn http_a_server_gone_mid_call_is_a_typed_error_and_a_restarted_one_is_reached_again() {
    let server = HttpServer::start("127.0.0.1:0").await;
    let client = McpClient::http(&server.url).named("travel").timeout(Duration::from_secs(10));

    let (crash, sleep) = (tool(&client, "crash").await, tool(&client, "sleep").await);
    let error = call(&crash, json!({})).await.unwrap_err();
    let McpError::Disconnected { server: name, tool, .. } = &error else { panic!("{error:?}") };
    assert_eq!((name.as_str(), tool.as_deref()), ("travel", Some("crash")));

    // Nothing listens any more: reconnecting fails.
    let error = call(&sleep, json!({"ms": 1})).await.unwrap_err();
    assert!(matches!(&error, McpError::Connect { server, .. } if server == "travel"), "{error:?}");

    // A server back on the same address is reached by the next call.
    let address = server.address().to_owned();
    drop(server);
    let _server = HttpServer::start(&address).await;
    assert_eq!(call(&sleep, json!({"ms": 1})).await.unwrap(), ToolOutput::new("slept"));
    client.close().await;
}

#[tokio::test]
async fn https_goes_over_rustls_and_a_failed_handshake_is_a_connect_error() {
    // A plain HTTP server cannot complete a TLS handshake.
    let server = HttpServer::start("127.0.0.1:0").await;
    let url = server.url.replace("http://", "https://");
    let client = McpClient::http(&url).named("travel").timeout(Duration::from_secs(10));
    let error = client.tools().await.unwrap_err();
    assert!(matches!(&error, McpError::Connect { server, .. } if server == "travel"), "{error:?}");
}
