//! The OpenAI-compatible adapter's wire contract, against a local mock server answering with
//! bodies in OpenAI's documented format (`tests/fixtures/openai/`): the exact request body
//! we send, the exact message and chunks we build, the exact error for each failure.

#![cfg(feature = "openai")]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use graph_agent::{
    parameters_schema, AssistantMessage, ChatModel, ChatRequest, ChunkAccumulator, HasMessages,
    Message, MessageChunk, MessagesState, ModelError, OpenAiModel, ResponseFormat, StopReason,
    ToolCall, ToolCallChunk, ToolMessage, ToolSpec, ToolStatus, Usage,
};
use graph_core::prelude::*;
use graph_core::{BoxError, NodeOptions};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> String {
    let file = format!("{}/tests/fixtures/openai/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// A server answering every chat request with `response`.
async fn server(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

fn json_answer(fixture_name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(fixture_name), "application/json")
}

fn sse_answer(fixture_name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(fixture_name), "text/event-stream")
}

fn model(server: &MockServer) -> OpenAiModel {
    OpenAiModel::new("gpt-4o-mini").base_url(format!("{}/v1", server.uri())).api_key("sk-test")
}

/// The JSON bodies the server received, in order.
async fn sent_bodies(server: &MockServer) -> Vec<Value> {
    let requests = server.received_requests().await.unwrap();
    requests.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect()
}

async fn chunks(
    model: &OpenAiModel,
    request: ChatRequest<'_>,
) -> Vec<Result<MessageChunk, String>> {
    model.stream(request).map(|chunk| chunk.map_err(|e| e.to_string())).collect().await
}

fn model_error(error: &BoxError) -> ModelError {
    ModelError::in_error(error.as_ref()).expect("a ModelError").clone()
}

/// Where and when.
#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)]
struct WeatherArgs {
    /// The city's English name.
    city: String,
    /// Days ahead; today when absent.
    days: Option<u32>,
}

fn weather_tool() -> ToolSpec {
    ToolSpec {
        name: "weather".into(),
        description: "Today's weather in a city.".into(),
        parameters: parameters_schema::<WeatherArgs>(),
    }
}

/// A conversation with every kind of message: tool calls, a result, a failed result, and a
/// removal marker (never sent).
fn conversation() -> Vec<Message> {
    vec![
        Message::user("Weather in Paris and Oslo?").with_id("u1"),
        Message::assistant("Let me check.").with_tool_calls([
            ToolCall::new("call_1", "weather", json!({"city": "Paris"})),
            ToolCall::new("call_2", "weather", json!({"city": "Oslo", "days": 1})),
        ]),
        Message::tool("call_1", "18°C"),
        Message::Tool(ToolMessage {
            name: Some("weather".into()),
            content: "Error: no data for Oslo".into(),
            tool_call_id: "call_2".into(),
            status: ToolStatus::Error,
            ..Default::default()
        }),
        Message::remove("u1"),
        Message::user("And tomorrow?"),
    ]
}

#[tokio::test]
async fn a_whole_answer_is_read_from_the_exact_request_we_send() {
    let server = server(json_answer("text.json")).await;
    let model = model(&server).temperature(0.5).max_tokens(256);
    let messages = conversation();
    let tools = [weather_tool()];
    let answer = model
        .generate(ChatRequest::new(&messages).system("Be brief.").tools(&tools))
        .await
        .unwrap();
    assert_eq!(
        answer,
        AssistantMessage {
            id: Some("chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT".into()),
            content: "It is 18°C and sunny in Paris.".into(),
            usage: Some(Usage { input_tokens: 92, output_tokens: 11 }),
            stop_reason: Some(StopReason::EndTurn),
            ..Default::default()
        }
    );
    assert_eq!(
        sent_bodies(&server).await,
        [json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris and Oslo?"},
                {"role": "assistant", "content": "Let me check.", "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function",
                     "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\",\"days\":1}"}}
                ]},
                {"role": "tool", "content": "18°C", "tool_call_id": "call_1"},
                {"role": "tool", "content": "Error: no data for Oslo", "tool_call_id": "call_2"},
                {"role": "user", "content": "And tomorrow?"}
            ],
            "tools": [{"type": "function", "function": {
                "name": "weather",
                "description": "Today's weather in a city.",
                "parameters": {
                    "description": "Where and when.",
                    "type": "object",
                    "properties": {
                        "city": {"description": "The city's English name.", "type": "string"},
                        "days": {
                            "description": "Days ahead; today when absent.",
                            "type": ["integer", "null"],
                            "minimum": 0
                        }
                    },
                    "required": ["city", "days"],
                    "additionalProperties": false
                },
                "strict": true
            }}],
            "temperature": 0.5,
            "max_completion_tokens": 256
        })]
    );
    let request = &server.received_requests().await.unwrap()[0];
    assert_eq!(request.headers["authorization"], "Bearer sk-test");
    assert_eq!(request.headers["content-type"], "application/json");
}

#[tokio::test]
async fn a_whole_tool_call_and_a_plain_schema_for_a_local_server() {
    let server = server(json_answer("tool_call.json")).await;
    // No key: a local server needs none, and no Authorization header is sent.
    let model = OpenAiModel::new("llama3.2")
        .base_url(format!("{}/v1/", server.uri()))
        .provider_name("ollama");
    let messages = [Message::user("Weather in Boston?")];
    let tools = [weather_tool()];
    let format = ResponseFormat { name: "forecast".into(), schema: json!({"type": "string"}) };
    let answer = model
        .generate(ChatRequest::new(&messages).tools(&tools).response_format(&format))
        .await
        .unwrap();
    assert_eq!(
        answer,
        AssistantMessage {
            id: Some("chatcmpl-abc123".into()),
            content: String::new(),
            tool_calls: vec![ToolCall::new("call_abc123", "weather", json!({"city": "Boston"}))],
            usage: Some(Usage { input_tokens: 82, output_tokens: 17 }),
            stop_reason: Some(StopReason::ToolCalls),
            ..Default::default()
        }
    );
    assert_eq!(
        sent_bodies(&server).await,
        [json!({
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "Weather in Boston?"}],
            "tools": [{"type": "function", "function": {
                "name": "weather",
                "description": "Today's weather in a city.",
                "parameters": parameters_schema::<WeatherArgs>()
            }}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "forecast", "schema": {"type": "string"}}
            }
        })]
    );
    let request = &server.received_requests().await.unwrap()[0];
    assert!(!request.headers.contains_key("authorization"));
}

#[tokio::test]
async fn streamed_text_arrives_chunk_by_chunk_with_usage_last() {
    let server = server(sse_answer("text.sse")).await;
    let model = model(&server);
    let messages = [Message::user("Hi")];
    let id = Some("chatcmpl-123".to_owned());
    let text = |content: &str| {
        Ok(MessageChunk { id: id.clone(), content: content.into(), ..Default::default() })
    };
    assert_eq!(
        chunks(&model, ChatRequest::new(&messages)).await,
        [
            text("Hello"),
            text("!"),
            text(" How"),
            text(" can I"),
            text(" help?"),
            Ok(MessageChunk {
                id: id.clone(),
                stop_reason: Some(StopReason::EndTurn),
                ..Default::default()
            }),
            Ok(MessageChunk {
                id: id.clone(),
                usage: Some(Usage { input_tokens: 19, output_tokens: 7 }),
                ..Default::default()
            }),
        ]
    );
    assert_eq!(
        sent_bodies(&server).await,
        [json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Hi"}],
            "stream": true,
            "stream_options": {"include_usage": true}
        })]
    );
}

async fn accumulate(
    model: &OpenAiModel,
    messages: &[Message],
) -> (Vec<MessageChunk>, AssistantMessage) {
    let chunks: Vec<MessageChunk> =
        model.stream(ChatRequest::new(messages)).map(|chunk| chunk.unwrap()).collect().await;
    let mut answer = ChunkAccumulator::new();
    chunks.iter().for_each(|chunk| answer.push(chunk));
    (chunks, answer.finish().unwrap())
}

#[tokio::test]
async fn a_tool_call_split_across_many_chunks_is_put_back_together() {
    let server = server(sse_answer("tool_call.sse")).await;
    let (chunks, answer) = accumulate(&model(&server), &[Message::user("Paris, in 2 days?")]).await;
    let id = Some("chatcmpl-456".to_owned());
    let piece = |args: &str| MessageChunk {
        id: id.clone(),
        tool_calls: vec![ToolCallChunk { index: 0, args: args.into(), ..Default::default() }],
        ..Default::default()
    };
    let mut expected = vec![MessageChunk {
        id: id.clone(),
        tool_calls: vec![ToolCallChunk {
            index: 0,
            id: Some("call_DdmO9pD3xa9XTPNJ32zg2hcA".into()),
            name: Some("weather".into()),
            args: String::new(),
        }],
        ..Default::default()
    }];
    expected.extend(["{\"", "city", "\":\"", "Paris", "\",\"", "days", "\":", "2", "}"].map(piece));
    expected.push(MessageChunk {
        id: id.clone(),
        stop_reason: Some(StopReason::ToolCalls),
        ..Default::default()
    });
    expected.push(MessageChunk {
        id: id.clone(),
        usage: Some(Usage { input_tokens: 80, output_tokens: 18 }),
        ..Default::default()
    });
    assert_eq!(chunks, expected);
    assert_eq!(
        answer,
        AssistantMessage {
            id: id.clone(),
            content: String::new(),
            tool_calls: vec![ToolCall::new(
                "call_DdmO9pD3xa9XTPNJ32zg2hcA",
                "weather",
                json!({"city": "Paris", "days": 2})
            )],
            usage: Some(Usage { input_tokens: 80, output_tokens: 18 }),
            stop_reason: Some(StopReason::ToolCalls),
            ..Default::default()
        }
    );
}

#[tokio::test]
async fn two_parallel_tool_calls_interleaved_in_chunks_come_out_right() {
    let server = server(sse_answer("parallel_tool_calls.sse")).await;
    let (chunks, answer) = accumulate(&model(&server), &[Message::user("Paris and Oslo?")]).await;
    let indexes: Vec<Vec<usize>> =
        chunks.iter().map(|c| c.tool_calls.iter().map(|p| p.index).collect()).collect();
    assert_eq!(
        indexes,
        [vec![0], vec![1], vec![0], vec![1], vec![0], vec![1], vec![0], vec![], vec![]]
    );
    assert_eq!(
        answer.tool_calls,
        [
            ToolCall::new("call_paris", "weather", json!({"city": "Paris"})),
            ToolCall::new("call_oslo", "weather", json!({"city": "Oslo"})),
        ]
    );
    assert_eq!(answer.stop_reason, Some(StopReason::ToolCalls));
    assert_eq!(answer.usage, Some(Usage { input_tokens: 85, output_tokens: 40 }));
}

#[tokio::test]
async fn error_statuses_become_the_matching_model_errors() {
    let cases = [
        (
            ResponseTemplate::new(400).set_body_raw(fixture("error_400.json"), "application/json"),
            ModelError::BadRequest {
                provider: "openai".into(),
                status: 400,
                message: "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.".into(),
            },
        ),
        (
            ResponseTemplate::new(401).set_body_raw(fixture("error_401.json"), "application/json"),
            ModelError::Unauthorized {
                provider: "openai".into(),
                status: 401,
                message: "Incorrect API key provided: sk-bad. You can find your API key at https://platform.openai.com/account/api-keys.".into(),
            },
        ),
        (
            ResponseTemplate::new(429)
                .insert_header("retry-after", "20")
                .set_body_raw(fixture("error_429.json"), "application/json"),
            ModelError::RateLimited {
                provider: "openai".into(),
                retry_after: Some(Duration::from_secs(20)),
                message: "Rate limit reached for gpt-4o-mini in organization org-123 on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.".into(),
            },
        ),
        (
            ResponseTemplate::new(500).set_body_raw(fixture("error_500.json"), "application/json"),
            ModelError::Server {
                provider: "openai".into(),
                status: 500,
                retry_after: None,
                message: "The server had an error while processing your request. Sorry about that!".into(),
            },
        ),
    ];
    let messages = [Message::user("Hi")];
    for (response, expected) in cases {
        let server = server(response).await;
        fails_both_ways(&model(&server), &messages, &expected).await;
    }
}

#[tokio::test]
async fn the_429_display_names_provider_status_and_wait() {
    let server = server(ResponseTemplate::new(429).insert_header("retry-after", "2").set_body_raw(
        r#"{"error":{"message":"Rate limit reached","type":"requests"}}"#,
        "application/json",
    ))
    .await;
    let error =
        model(&server).generate(ChatRequest::new(&[Message::user("Hi")])).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "openai answered 429 Too Many Requests: Rate limit reached (retry after 2s)"
    );
}

/// A one-shot HTTP server on a raw socket that sends `response` and closes the connection.
async fn raw_server(response: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0; 64 * 1024];
        // Read the request head and body before answering (they arrive in one go here).
        let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
        socket.write_all(response.as_bytes()).await.unwrap();
        socket.shutdown().await.unwrap();
    });
    format!("http://{address}/v1")
}

/// The streamed text fixture, cut in the middle of the event after the second word.
fn half_of_the_text_stream() -> String {
    let whole = fixture("text.sse");
    let events: Vec<&str> = whole.split("\n\n").collect();
    let cut = &events[3][..40];
    format!("{}\n\n{}\n\n{}\n\n{cut}", events[0], events[1], events[2])
}

#[tokio::test]
async fn a_stream_cut_mid_answer_is_a_connection_error_saying_so() {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    let url = raw_server(format!("{head}{}", half_of_the_text_stream())).await;
    let model = OpenAiModel::new("gpt-4o-mini").base_url(url);
    let id = Some("chatcmpl-123".to_owned());
    assert_eq!(
        chunks(&model, ChatRequest::new(&[Message::user("Hi")])).await,
        [
            Ok(MessageChunk { id: id.clone(), content: "Hello".into(), ..Default::default() }),
            Ok(MessageChunk { id: id.clone(), content: "!".into(), ..Default::default() }),
            Err("the connection to openai broke in the middle of its answer: the event stream ended before `data: [DONE]`".into()),
        ]
    );
}

#[tokio::test]
async fn a_chunked_body_cut_short_is_a_connection_error_mid_answer() {
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    let body = half_of_the_text_stream();
    // One whole chunk of the body, then the connection closes without the last chunk.
    let url = raw_server(format!("{head}{:x}\r\n{body}\r\n", body.len())).await;
    let model = OpenAiModel::new("gpt-4o-mini").base_url(url);
    let items: Vec<_> = model.stream(ChatRequest::new(&[Message::user("Hi")])).collect().await;
    assert_eq!(items.len(), 3);
    assert_eq!(items[1].as_ref().unwrap().content, "!");
    let error = model_error(items[2].as_ref().unwrap_err());
    let ModelError::Connection { provider, mid_answer, message } = &error else {
        panic!("expected a connection error, got {error:?}")
    };
    assert_eq!((provider.as_str(), *mid_answer), ("openai", true));
    assert!(message.starts_with("error decoding response body"), "{message}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn an_unreachable_server_is_a_connection_error_before_any_answer() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let model = OpenAiModel::new("gpt-4o-mini").base_url(format!("http://{address}/v1"));
    let error = model.generate(ChatRequest::new(&[Message::user("Hi")])).await.unwrap_err();
    let error = model_error(&error);
    let ModelError::Connection { provider, mid_answer, message } = &error else {
        panic!("expected a connection error, got {error:?}")
    };
    assert_eq!((provider.as_str(), *mid_answer), ("openai", false));
    assert!(message.contains("Connection refused"), "{message}");
    assert!(error.to_string().starts_with("could not reach openai: error sending request"));
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = server(json_answer("text.json").set_delay(Duration::from_secs(10))).await;
    let model = model(&server).timeout(Duration::from_millis(100));
    let messages = [Message::user("Hi")];
    let expected =
        ModelError::Timeout { provider: "openai".into(), after: Duration::from_millis(100) };
    fails_both_ways(&model, &messages, &expected).await;
}

/// Asks `model` both ways: `generate` fails with `expected`, and so does `stream`, as its
/// only item.
async fn fails_both_ways(model: &OpenAiModel, messages: &[Message], expected: &ModelError) {
    let error = model.generate(ChatRequest::new(messages)).await.unwrap_err();
    assert_eq!(&model_error(&error), expected);
    let streamed: Vec<_> = model.stream(ChatRequest::new(messages)).collect().await;
    assert_eq!(streamed.len(), 1);
    assert_eq!(&model_error(streamed[0].as_ref().unwrap_err()), expected);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_an_invalid_response() {
    let server =
        server(ResponseTemplate::new(200).set_body_raw("<html>hello</html>", "text/html")).await;
    let error =
        model(&server).generate(ChatRequest::new(&[Message::user("Hi")])).await.unwrap_err();
    assert_eq!(
        model_error(&error),
        ModelError::InvalidResponse {
            provider: "openai".into(),
            message: "expected value at line 1 column 1 in `<html>hello</html>`".into()
        }
    );
}

#[test]
fn debug_never_prints_the_key_and_info_names_provider_and_model() {
    let model = OpenAiModel::new("claude-sonnet-4-5")
        .base_url("https://api.anthropic.com/v1")
        .api_key("sk-ant-secret")
        .provider_name("anthropic");
    let printed = format!("{model:?}");
    assert!(!printed.contains("sk-ant-secret"), "{printed}");
    assert!(printed.contains("api_key: Some(\"<redacted>\")"), "{printed}");
    let info = model.info();
    assert_eq!((info.provider, info.model), ("anthropic", "claude-sonnet-4-5"));
}

#[tokio::test]
async fn a_graph_node_retries_a_429_after_its_retry_after_and_then_answers() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after-ms", "50")
                .set_body_raw(fixture("error_429.json"), "application/json"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(json_answer("text.json")).mount(&server).await;
    let model = Arc::new(model(&server));
    let graph = StateGraph::<MessagesState>::new()
        .add_node_with(
            "chat",
            move |state: Arc<MessagesState>| {
                let model = Arc::clone(&model);
                async move {
                    let answer = model.generate(ChatRequest::new(state.messages())).await?;
                    Ok::<_, BoxError>(MessagesState::add(vec![answer.into()]))
                }
            },
            NodeOptions::new().retry(ModelError::retry_policy(3)),
        )
        .add_edge(START, "chat")
        .compile()
        .unwrap();
    let started = std::time::Instant::now();
    let input = MessagesState { messages: vec![Message::user("Hi").with_id("q")].into() };
    let out = graph.invoke(input, RunConfig::default()).await.unwrap().into_state();
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert_eq!(out.messages().last().unwrap().content(), "It is 18°C and sunny in Paris.");
}
