//! A fake OpenAI-compatible provider on loopback: `POST /v1/chat/completions` reads the
//! wire request back into our types, asks a scripted model, and answers in the wire format
//! (a JSON completion, or server-sent chunks ending in `data: [DONE]`).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::StreamExt;
use graph_agent::testing::ScriptedModel;
use graph_agent::{
    AssistantMessage, ChatModel, ChatRequest, Message, MessageChunk, StopReason, ToolCall,
    ToolSpec, Usage,
};
use serde_json::{json, Value};

/// A running fake provider.
pub struct FakeProvider {
    /// Its base URL, ending in `/v1`.
    pub url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

struct Shared {
    model: Arc<ScriptedModel>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl FakeProvider {
    /// Serves `model` on a free loopback port until the test's runtime ends.
    pub async fn start(model: Arc<ScriptedModel>) -> Self {
        let bodies = Arc::default();
        let shared = Arc::new(Shared { model, bodies: Arc::clone(&bodies) });
        let app = Router::new().route("/v1/chat/completions", post(complete)).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, bodies }
    }

    /// Every request body received, in order.
    pub fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

async fn complete(State(shared): State<Arc<Shared>>, Json(body): Json<Value>) -> Response {
    shared.bodies.lock().unwrap().push(body.clone());
    let (system, messages) = read_messages(&body["messages"]);
    let tools = read_tools(&body["tools"]);
    let mut request = ChatRequest::new(&messages).tools(&tools);
    if let Some(system) = &system {
        request = request.system(system);
    }
    let model_name = body["model"].as_str().unwrap_or_default().to_owned();
    if body["stream"] != json!(true) {
        return match shared.model.generate(request).await {
            Ok(answer) => Json(completion(&model_name, answer)).into_response(),
            Err(error) => server_error(&error.to_string()),
        };
    }
    let mut chunks: Vec<MessageChunk> = Vec::new();
    let mut stream = shared.model.stream(request);
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => chunks.push(chunk),
            Err(error) => return server_error(&error.to_string()),
        }
    }
    let events = wire_chunks(&model_name, chunks)
        .into_iter()
        .map(|data| Ok::<_, Infallible>(Event::default().data(data)));
    Sse::new(futures::stream::iter(events)).into_response()
}

fn server_error(message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": "server_error"}});
    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

/// The wire messages as our system prompt and conversation.
fn read_messages(wire: &Value) -> (Option<String>, Vec<Message>) {
    let mut system = None;
    let mut messages = Vec::new();
    for message in wire.as_array().into_iter().flatten() {
        let content = message["content"].as_str().unwrap_or_default().to_owned();
        match message["role"].as_str() {
            Some("system") if messages.is_empty() => system = Some(content),
            Some("system") => messages.push(Message::system(content)),
            Some("user") => messages.push(Message::user(content)),
            Some("assistant") => {
                let tool_calls = message["tool_calls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|call| {
                        let args = call["function"]["arguments"].as_str().unwrap_or("{}");
                        ToolCall::new(
                            call["id"].as_str().unwrap_or_default(),
                            call["function"]["name"].as_str().unwrap_or_default(),
                            serde_json::from_str(args).unwrap(),
                        )
                    })
                    .collect();
                let answer = AssistantMessage { content, tool_calls, ..Default::default() };
                messages.push(Message::Assistant(answer));
            }
            Some("tool") => messages
                .push(Message::tool(message["tool_call_id"].as_str().unwrap_or_default(), content)),
            other => panic!("the fake provider got a message with role {other:?}"),
        }
    }
    (system, messages)
}

fn read_tools(wire: &Value) -> Vec<ToolSpec> {
    wire.as_array()
        .into_iter()
        .flatten()
        .map(|tool| ToolSpec {
            name: tool["function"]["name"].as_str().unwrap_or_default().to_owned(),
            description: tool["function"]["description"].as_str().unwrap_or_default().to_owned(),
            parameters: tool["function"]["parameters"].clone(),
        })
        .collect()
}

fn wire_calls(calls: &[ToolCall]) -> Value {
    calls
        .iter()
        .map(|call| {
            json!({
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.args.to_string()},
            })
        })
        .collect()
}

fn finish_reason(stop: Option<&StopReason>, has_calls: bool) -> &'static str {
    match stop {
        Some(StopReason::MaxTokens) => "length",
        _ if has_calls => "tool_calls",
        _ => "stop",
    }
}

fn wire_usage(usage: Option<Usage>) -> Value {
    let usage = usage.unwrap_or(Usage { input_tokens: 0, output_tokens: 0 });
    json!({
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total(),
    })
}

/// A whole completion, as the non-streaming endpoint answers.
fn completion(model: &str, answer: AssistantMessage) -> Value {
    let mut message = json!({"role": "assistant", "content": answer.content});
    if !answer.tool_calls.is_empty() {
        message["tool_calls"] = wire_calls(&answer.tool_calls);
    }
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish_reason(answer.stop_reason.as_ref(), !answer.tool_calls.is_empty()),
        }],
        "usage": wire_usage(answer.usage),
    })
}

/// The `data:` payloads of a streamed completion: the role first, one payload per chunk, the
/// finish reason, the usage, and `[DONE]`.
fn wire_chunks(model: &str, chunks: Vec<MessageChunk>) -> Vec<String> {
    let envelope = |choices: Value| {
        json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": choices,
        })
    };
    let delta = |delta: Value, finish: Option<&str>| {
        envelope(json!([{"index": 0, "delta": delta, "finish_reason": finish}]))
    };
    let mut payloads = vec![delta(json!({"role": "assistant", "content": ""}), None)];
    let (mut usage, mut stop, mut has_calls) = (None, None, false);
    for chunk in chunks {
        let mut wire = json!({});
        if !chunk.content.is_empty() {
            wire["content"] = json!(chunk.content);
        }
        if !chunk.tool_calls.is_empty() {
            has_calls = true;
            let calls: Vec<Value> = chunk
                .tool_calls
                .iter()
                .map(|piece| {
                    let mut call =
                        json!({"index": piece.index, "function": {"arguments": piece.args}});
                    if let Some(id) = &piece.id {
                        call["id"] = json!(id);
                        call["type"] = json!("function");
                    }
                    if let Some(name) = &piece.name {
                        call["function"]["name"] = json!(name);
                    }
                    call
                })
                .collect();
            wire["tool_calls"] = json!(calls);
        }
        usage = chunk.usage.or(usage);
        stop = chunk.stop_reason.or(stop);
        if wire != json!({}) {
            payloads.push(delta(wire, None));
        }
    }
    payloads.push(delta(json!({}), Some(finish_reason(stop.as_ref(), has_calls))));
    let mut last = envelope(json!([]));
    last["usage"] = wire_usage(usage);
    payloads.push(last);
    payloads.into_iter().map(|p| p.to_string()).chain(["[DONE]".to_owned()]).collect()
}
