//! The local llama.cpp model (feature `local`) on SmolLM2-135M-Instruct: a forced tool choice
//! yields a well-formed call to the named tool with schema-valid arguments, a short answer
//! streams in pieces, and the agent-loop policy answers in text after tool results.
//!
//! The model file comes from `GRAPH_LOCAL_MODEL`:
//! `GRAPH_LOCAL_MODEL="$(scripts/fetch-local-model)" cargo test -p graph-agent --features local --test local`
#![cfg(feature = "local")]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures::StreamExt;
use graph_agent::local::{LocalModel, LocalModelError, ToolChoice};
use graph_agent::{
    tool, AssistantMessage, ChatModel, ChatRequest, ChunkAccumulator, Message, MessagesState,
    StopReason, Tool, ToolCall, ToolSpec, Toolbox,
};
use serde_json::{json, Value};

/// The model, loaded once for all tests of this file.
fn model() -> LocalModel {
    static MODEL: OnceLock<LocalModel> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let path = std::env::var_os("GRAPH_LOCAL_MODEL").map(PathBuf::from).expect(
                "GRAPH_LOCAL_MODEL is not set: run `export GRAPH_LOCAL_MODEL=\"$(scripts/fetch-local-model)\"` \
                 first (it downloads SmolLM2-135M-Instruct into the model cache)",
            );
            LocalModel::load(&path).expect("the model loads")
        })
        .clone()
}

/// Today's weather in a city.
#[tool]
async fn weather(
    /// The city's English name.
    city: String,
    /// Days ahead; today when absent.
    days: Option<u32>,
) -> String {
    format!("{city} in {} day(s): sunny", days.unwrap_or(0))
}

/// The current time in a time zone.
#[tool]
async fn clock(
    /// An IANA time zone, like Europe/Paris.
    zone: String,
) -> String {
    format!("12:00 in {zone}")
}

fn tools() -> Vec<ToolSpec> {
    Toolbox::<MessagesState>::new().with(weather).with(clock).specs()
}

/// Checks `args` against a tool's parameter schema: an object whose keys are declared
/// properties of the declared types, with every required key present.
fn assert_schema_valid(args: &Value, parameters: &Value) {
    let args = args.as_object().expect("the arguments are an object");
    let properties = parameters["properties"].as_object().unwrap();
    for required in parameters["required"].as_array().into_iter().flatten() {
        assert!(args.contains_key(required.as_str().unwrap()), "missing {required} in {args:?}");
    }
    for (key, value) in args {
        let declared = properties.get(key).unwrap_or_else(|| panic!("undeclared argument {key}"));
        let types: Vec<&str> = match &declared["type"] {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().map(|t| t.as_str().unwrap()).collect(),
            other => panic!("unexpected type {other}"),
        };
        let fits = types.iter().any(|t| match *t {
            "string" => value.is_string(),
            "integer" => value.is_u64() || value.is_i64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => false,
        });
        assert!(fits, "{key} = {value} is not {types:?}");
    }
}

async fn answer(model: &LocalModel, request: ChatRequest<'_>) -> AssistantMessage {
    model.generate(request).await.expect("the model answers")
}

#[tokio::test]
async fn a_forced_tool_choice_yields_one_well_formed_call_to_the_named_tool() {
    let tools = tools();
    let model = model().tool_choice(ToolChoice::Named("weather".into())).parallel_tool_calls(false);
    let messages = [Message::user("What is the weather like in Paris?")];
    let message = answer(&model, ChatRequest::new(&messages).tools(&tools)).await;

    assert_eq!(message.content, "");
    assert_eq!(message.stop_reason, Some(StopReason::ToolCalls));
    let [call] = message.tool_calls.as_slice() else {
        panic!("expected exactly one call, got {:?}", message.tool_calls)
    };
    assert_eq!(call.name, "weather");
    assert!(call.id.starts_with("call_") && call.id.ends_with("_0"), "{}", call.id);
    assert_schema_valid(&call.args, &tools[0].parameters);
    // The arguments deserialize into the tool's own argument type.
    serde_json::from_value::<<weather as Tool>::Args>(call.args.clone())
        .expect("the tool's arguments");
    assert!(!call.args["city"].as_str().unwrap().is_empty());
    let usage = message.usage.unwrap();
    assert!(usage.input_tokens > 50 && usage.output_tokens > 5, "{usage:?}");
}

#[tokio::test]
async fn a_required_call_goes_to_an_offered_tool_with_valid_arguments_every_time() {
    let tools = tools();
    let model = model().tool_choice(ToolChoice::Required);
    for question in ["What time is it in Tokyo?", "Will it rain in Oslo tomorrow?", "Hello!"] {
        let messages = [Message::user(question)];
        let message = answer(&model, ChatRequest::new(&messages).tools(&tools)).await;
        assert!(!message.tool_calls.is_empty(), "{question}: {message:?}");
        for (index, call) in message.tool_calls.iter().enumerate() {
            let spec = tools.iter().find(|t| t.name == call.name).expect("an offered tool");
            assert_schema_valid(&call.args, &spec.parameters);
            assert!(call.id.ends_with(&format!("_{index}")));
        }
    }
}

#[tokio::test]
async fn a_short_answer_streams_in_pieces_with_usage_on_the_last_chunk() {
    let model = model().max_tokens(24);
    let messages = [Message::user("What is the capital of France?")];
    let chunks: Vec<_> = model
        .stream(ChatRequest::new(&messages))
        .map(|chunk| chunk.expect("a chunk"))
        .collect()
        .await;

    let text_chunks = chunks.iter().filter(|c| !c.content.is_empty()).count();
    assert!(text_chunks >= 3, "{chunks:?}");
    let last = chunks.last().unwrap();
    assert_eq!(last.content, "");
    let usage = last.usage.unwrap();
    assert!(usage.input_tokens > 5);
    assert!((1..=24).contains(&usage.output_tokens), "{usage:?}");
    assert!(matches!(last.stop_reason, Some(StopReason::EndTurn | StopReason::MaxTokens)));
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c.usage.is_none() && c.tool_calls.is_empty()));

    let mut whole = ChunkAccumulator::new();
    chunks.iter().for_each(|chunk| whole.push(chunk));
    let message = whole.finish().unwrap();
    assert!(message.content.contains("Paris"), "{}", message.content);
    // Greedy decoding: the same request streams the same answer.
    let again = answer(&model, ChatRequest::new(&messages)).await;
    assert_eq!(again.content, message.content);
}

#[tokio::test]
async fn after_tool_results_the_auto_policy_answers_in_text() {
    let tools = tools();
    let model = model().max_tokens(40);
    let messages = [
        Message::user("What is the weather like in Paris?"),
        Message::Assistant(AssistantMessage {
            tool_calls: vec![ToolCall::new("call_1", "weather", json!({"city": "Paris"}))],
            ..Default::default()
        }),
        Message::tool("call_1", "Paris in 0 day(s): sunny"),
    ];
    let message = answer(&model, ChatRequest::new(&messages).tools(&tools)).await;
    assert!(message.tool_calls.is_empty(), "{message:?}");
    assert!(!message.content.trim().is_empty());
    assert!(matches!(message.stop_reason, Some(StopReason::EndTurn | StopReason::MaxTokens)));
}

#[tokio::test]
async fn a_structured_answer_follows_the_response_format() {
    let format = graph_agent::ResponseFormat {
        name: "city".into(),
        schema: json!({
            "type": "object",
            "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
            "required": ["city", "country"]
        }),
    };
    let model = model().max_tokens(48);
    let messages = [Message::user("Name the capital of France and its country as JSON.")];
    let message = answer(&model, ChatRequest::new(&messages).response_format(&format)).await;
    let value: Value = serde_json::from_str(&message.content).expect("JSON");
    assert_schema_valid(&value, &format.schema);
}

#[tokio::test]
async fn mistakes_in_the_request_are_errors_before_any_inference() {
    let tools = tools();
    let messages = [Message::user("Hi")];
    let unknown = model().tool_choice(ToolChoice::Named("search".into()));
    let error = unknown.generate(ChatRequest::new(&messages).tools(&tools)).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the tool choice names `search`, which is not among the request's tools"
    );

    let tiny = model().context_size(16).max_tokens(8);
    let error = tiny.generate(ChatRequest::new(&messages)).await.unwrap_err();
    let error = error.downcast::<LocalModelError>().unwrap();
    assert!(
        matches!(*error, LocalModelError::ContextOverflow { max_tokens: 8, context_size: 16, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_tool_call_cut_by_the_token_limit_is_an_error() {
    let tools = tools();
    let model = model().tool_choice(ToolChoice::Named("clock".into())).max_tokens(3);
    let messages = [Message::user("What time is it in Tokyo?")];
    let error = model.generate(ChatRequest::new(&messages).tools(&tools)).await.unwrap_err();
    let error = error.downcast::<LocalModelError>().unwrap();
    let LocalModelError::TruncatedToolCall { max_tokens: 3, text } = *error else {
        panic!("{error}")
    };
    assert!(text.starts_with('{'), "{text}");
}

#[test]
fn the_model_names_itself_by_its_file() {
    let model = model();
    let info = model.info();
    assert_eq!((info.provider, info.model), ("llama.cpp", "SmolLM2-135M-Instruct.Q4_1"));
}

/// Time to first token and tokens per second, three runs:
/// `cargo test -p graph-agent --features local --test local -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a check: run it with --ignored --nocapture"]
async fn speed() {
    let model = model().max_tokens(64);
    let messages = [Message::user("Write a short story about a cat who learns to sail.")];
    for run in 1..=3 {
        let start = Instant::now();
        let mut first: Option<Duration> = None;
        let mut usage = None;
        let mut chunks = model.stream(ChatRequest::new(&messages));
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.unwrap();
            if first.is_none() && !chunk.content.is_empty() {
                first = Some(start.elapsed());
            }
            usage = usage.or(chunk.usage);
        }
        let total = start.elapsed();
        let first = first.unwrap();
        let usage = usage.unwrap();
        let per_second = (usage.output_tokens - 1) as f64 / (total - first).as_secs_f64();
        println!(
            "run {run}: prompt {} tokens, time to first token {:.1} ms, {} tokens in {:.2} s, {per_second:.1} tokens/s after the first",
            usage.input_tokens,
            first.as_secs_f64() * 1000.0,
            usage.output_tokens,
            total.as_secs_f64(),
        );
    }
    let tools = tools();
    let forced = model.max_tokens(256).tool_choice(ToolChoice::Named("weather".into()));
    let messages = [Message::user("What is the weather like in Paris?")];
    for run in 1..=3 {
        let start = Instant::now();
        let message = answer(&forced, ChatRequest::new(&messages).tools(&tools)).await;
        println!(
            "forced call {run}: {:.2} s, {} tokens: {:?}",
            start.elapsed().as_secs_f64(),
            message.usage.unwrap().output_tokens,
            message
                .tool_calls
                .iter()
                .map(|c| format!("{}({})", c.name, c.args))
                .collect::<Vec<_>>()
        );
    }
}
