//! The test doubles: the scripted model's turns, chunks, latency, record and exhaustion, and
//! the fake tool's results, failures, latency and shared counter.

use std::time::Duration;

use futures::StreamExt;
use graph_agent::testing::{CallKind, FakeTool, RecordedRequest, ScriptedModel, Turn};
use graph_agent::{
    ChatModel, ChatRequest, Message, MessageChunk, Tool, ToolCall, ToolCallChunk, ToolContext,
    ToolSpec,
};
use serde_json::json;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_streamed_turn_is_split_as_scripted_with_exact_latency() {
    let model = ScriptedModel::new()
        .turn(
            Turn::tool_calls([
                ToolCall::new("c1", "a", json!({"q": 1})),
                ToolCall::new("c2", "b", json!({})),
            ])
            .args_in_pieces_of(4),
        )
        .latency(Duration::from_millis(50))
        .chunk_latency(Duration::from_millis(5));
    let start = Instant::now();
    let messages = [Message::user("go")];
    let chunks: Vec<MessageChunk> =
        model.stream(ChatRequest::new(&messages)).map(Result::unwrap).collect().await;
    assert_eq!(start.elapsed(), Duration::from_millis(50 + 3 * 5));
    let piece = |index, id: Option<&str>, name: Option<&str>, args: &str| MessageChunk {
        tool_calls: vec![ToolCallChunk {
            index,
            id: id.map(Into::into),
            name: name.map(Into::into),
            args: args.into(),
        }],
        ..Default::default()
    };
    assert_eq!(
        chunks,
        vec![
            piece(0, Some("c1"), Some("a"), "{\"q\""),
            piece(0, None, None, ":1}"),
            piece(1, Some("c2"), Some("b"), "{}"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn generate_waits_the_call_latency_only() {
    let model = ScriptedModel::new()
        .turn(Turn::text("one two").words())
        .latency(Duration::from_millis(30))
        .chunk_latency(Duration::from_millis(100));
    let start = Instant::now();
    let answer = model.generate(ChatRequest::new(&[])).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(30));
    assert_eq!(answer.content, "one two");
}

#[tokio::test]
async fn every_request_is_recorded_and_errors_are_returned_in_turn() {
    let model = ScriptedModel::new().error("rate limited").text("fine");
    let tools =
        [ToolSpec { name: "search".into(), description: "d".into(), parameters: json!({}) }];
    let messages = [Message::user("hi")];
    let request = ChatRequest::new(&messages).system("Be brief.").tools(&tools);
    assert_eq!(model.generate(request).await.unwrap_err().to_string(), "rate limited");
    let mut chunks = model.stream(request);
    assert_eq!(chunks.next().await.unwrap().unwrap().content, "fine");
    assert!(chunks.next().await.is_none());
    drop(chunks);
    let recorded = RecordedRequest {
        kind: CallKind::Generate,
        system: Some("Be brief.".into()),
        messages: messages.to_vec(),
        tools: vec!["search".into()],
        response_format: None,
    };
    assert_eq!(
        model.requests(),
        vec![recorded.clone(), RecordedRequest { kind: CallKind::Stream, ..recorded }]
    );
    let error = model.stream(request).next().await.unwrap().unwrap_err();
    assert_eq!(
        error.to_string(),
        "the scripted model was called 3 times but its script has 2 turns"
    );
    assert_eq!((model.calls(), model.remaining()), (3, 0));
}

#[tokio::test(start_paused = true)]
async fn a_fake_tool_answers_fails_waits_and_counts_across_clones() {
    let tool = FakeTool::new("lookup").output("found").latency(Duration::from_millis(20));
    let counter = tool.clone();
    let start = Instant::now();
    let ctx = ToolContext::new("c1");
    assert_eq!(tool.call(json!({}), &ctx).await.unwrap(), "found");
    assert_eq!(start.elapsed(), Duration::from_millis(20));
    let failing = FakeTool::new("broken").failing("disk full");
    assert_eq!(failing.call(json!({}), &ctx).await.unwrap_err().to_string(), "disk full");
    assert_eq!(tool.call(json!({}), &ctx).await.unwrap(), "found");
    assert_eq!((counter.calls(), failing.calls()), (2, 1));
    let spec = FakeTool::new("s")
        .description("Searches.")
        .parameters(json!({"type": "object", "required": ["q"]}))
        .spec();
    assert_eq!(
        spec,
        ToolSpec {
            name: "s".into(),
            description: "Searches.".into(),
            parameters: json!({"type": "object", "required": ["q"]})
        }
    );
}

#[tokio::test]
async fn synthesis_combines_labelled_results_in_one_request() {
    // ANCHOR: synthesize
    use graph_agent::testing::ScriptedModel;
    use graph_agent::{ChatModelExt, Message};

    let model = ScriptedModel::new().text("Oslo is cold (3°C) and the flight is on time.");
    let weather = "3°C, cloudy";
    let flight = "SK 4035 on time";
    let answer = model
        .synthesize(
            "Write one sentence for a traveller.",
            &[("weather", weather), ("flight", flight)],
        )
        .await
        .unwrap();
    assert_eq!(answer, "Oslo is cold (3°C) and the flight is on time.");
    let request = &model.requests()[0];
    assert_eq!(request.system.as_deref(), Some("Write one sentence for a traveller."));
    assert_eq!(
        request.messages,
        vec![Message::user(
            "Combine the following results.\n\n## weather\n3°C, cloudy\n\n## flight\nSK 4035 on time"
        )]
    );
    // ANCHOR_END: synthesize
}

#[tokio::test]
async fn a_cycling_unrecorded_script_plays_again_and_records_nothing() {
    let model = ScriptedModel::new().text("a").text("b").cycling().without_recording();
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(model.generate(ChatRequest::new(&[])).await.unwrap().content);
    }
    assert_eq!(answers, ["a", "b", "a", "b", "a"]);
    assert_eq!((model.calls(), model.requests().len()), (5, 0));
}
