//! Messages stream mode with models called inside nodes: exact chunk sequences, whole
//! messages sent once, per-task ids in parallel, `generate` without the mode, stable ids.

// ANCHOR: uses
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use graph_agent::testing::{CallKind, ScriptedModel, Turn};
use graph_agent::{
    returned_messages, ChatModelExt, ChatRequest, HasMessages, Message, MessagesState,
    StreamedMessage, ToolCall,
};
use graph_core::prelude::*;
use graph_core::{BoxError, StreamEvent, StreamMode};
use serde_json::{json, Value};
// ANCHOR_END: uses

/// A graph whose node `chat` answers the conversation with `model`.
// ANCHOR: graph
fn chat(model: Arc<ScriptedModel>) -> CompiledGraph<MessagesState> {
    StateGraph::<MessagesState>::new()
        .add_node("chat", move |state: Arc<MessagesState>, ctx: NodeContext| {
            let model = Arc::clone(&model);
            async move {
                let answer = model.respond(&ctx, ChatRequest::new(state.messages())).await?;
                Ok::<_, BoxError>(MessagesState::add(vec![answer.into()]))
            }
        })
        .add_edge(START, "chat")
        .stream_messages_from(returned_messages::<MessagesState>)
        .compile()
        .unwrap()
}
// ANCHOR_END: graph

/// The input conversation: one question with id `id`.
fn asked(id: &str) -> MessagesState {
    MessagesState { messages: vec![Message::user("Weather in Oslo?").with_id(id)].into() }
}

fn question() -> MessagesState {
    asked("q1")
}

/// The message events of a run as `[node, step, task_id, payload]`, and the final state.
async fn messages(
    graph: &CompiledGraph<MessagesState>,
    input: MessagesState,
    modes: &[StreamMode],
) -> (Vec<Value>, Vec<Message>) {
    let config = modes.iter().fold(RunConfig::default(), |c, &m| c.stream_mode(m));
    let mut events = graph.stream(input, config.stream_mode(StreamMode::Values));
    let mut out = Vec::new();
    let mut last = Vec::new();
    while let Some(event) = events.next().await {
        let event = event.unwrap();
        if let StreamEvent::Values { state, .. } = &event {
            last = state.messages().to_vec();
        }
        if let Some(m) = StreamedMessage::from_event(&event).unwrap() {
            out.push(json!([&*m.node, m.step, m.task_id.to_string(), m.payload]));
        }
    }
    (out, last)
}

#[tokio::test(start_paused = true)]
async fn a_streamed_answer_yields_its_chunks_in_order_and_is_not_sent_again() {
    let model = Arc::new(
        ScriptedModel::new()
            .turn(
                Turn::message(graph_agent::AssistantMessage {
                    content: "Let me check.".into(),
                    tool_calls: vec![
                        ToolCall::new("c1", "weather", json!({"city": "Oslo"})),
                        ToolCall::new("c2", "time", json!({})),
                    ],
                    ..Default::default()
                })
                .pieces(["Let ", "me ", "check."])
                .args_in_pieces_of(8),
            )
            .latency(Duration::from_millis(100))
            .chunk_latency(Duration::from_millis(10)),
    );
    let graph = chat(Arc::clone(&model));
    let start = tokio::time::Instant::now();
    let (events, state) = messages(&graph, question(), &[StreamMode::Messages]).await;
    // 100 ms before the first chunk, then 10 ms before each of the 6 chunks.
    assert_eq!(start.elapsed(), Duration::from_millis(160));
    let id = state[1].id().unwrap().to_owned();
    let chunk = |body: Value| {
        let mut body = body;
        body["kind"] = json!("chunk");
        body["id"] = json!(id);
        json!(["chat", 0, "0:chat", body])
    };
    assert_eq!(
        events,
        vec![
            chunk(json!({"content": "Let "})),
            chunk(json!({"content": "me "})),
            chunk(json!({"content": "check."})),
            chunk(
                json!({"tool_calls": [{"index": 0, "id": "c1", "name": "weather", "args": "{\"city\":"}]})
            ),
            chunk(json!({"tool_calls": [{"index": 0, "args": "\"Oslo\"}"}]})),
            chunk(json!({"tool_calls": [{"index": 1, "id": "c2", "name": "time", "args": "{}"}]})),
        ]
    );
    assert_eq!(
        state[1],
        Message::assistant("Let me check.").with_id(&id).with_tool_calls([
            ToolCall::new("c1", "weather", json!({"city": "Oslo"})),
            ToolCall::new("c2", "time", json!({})),
        ])
    );
    assert_eq!(model.requests()[0].kind, CallKind::Stream);
}

#[tokio::test]
async fn a_model_that_does_not_stream_sends_its_whole_answer_once() {
    let model = Arc::new(ScriptedModel::new().text("3°C and cloudy."));
    let (events, state) = messages(&chat(model), question(), &[StreamMode::Messages]).await;
    let id = state[1].id().unwrap();
    assert_eq!(
        events,
        vec![
            json!(["chat", 0, "0:chat", {"kind": "chunk", "id": id, "content": "3°C and cloudy."}])
        ]
    );
}

#[tokio::test]
async fn a_hand_built_message_is_sent_once_when_its_task_ends() {
    let graph = StateGraph::<MessagesState>::new()
        .add_node("tool", |_: Arc<MessagesState>| async {
            MessagesState::add(vec![
                Message::tool("c1", "3°C").with_id("t1"),
                Message::assistant("Done.").with_id("a1"),
            ])
        })
        .add_edge(START, "tool")
        .stream_messages_from(returned_messages::<MessagesState>)
        .compile()
        .unwrap();
    let (events, _) = messages(&graph, question(), &[StreamMode::Messages]).await;
    assert_eq!(
        events,
        vec![
            json!(["tool", 0, "0:tool", {"kind": "message", "role": "tool", "id": "t1", "content": "3°C", "tool_call_id": "c1"}]),
            json!(["tool", 0, "0:tool", {"kind": "message", "role": "assistant", "id": "a1", "content": "Done."}]),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn parallel_tasks_each_stream_under_their_own_task_id() {
    let fast = Arc::new(
        ScriptedModel::new().streamed_words("A B").chunk_latency(Duration::from_millis(10)),
    );
    let slow = Arc::new(
        ScriptedModel::new().streamed_words("x y").chunk_latency(Duration::from_millis(15)),
    );
    let node = |model: Arc<ScriptedModel>| {
        move |state: Arc<MessagesState>, ctx: NodeContext| {
            let model = Arc::clone(&model);
            async move {
                let answer = model.respond(&ctx, ChatRequest::new(state.messages())).await?;
                Ok::<_, BoxError>(MessagesState::add(vec![answer.into()]))
            }
        }
    };
    let graph = StateGraph::<MessagesState>::new()
        .add_node("fast", node(fast))
        .add_node("slow", node(slow))
        .add_edge(START, "fast")
        .add_edge(START, "slow")
        .stream_messages_from(returned_messages::<MessagesState>)
        .compile()
        .unwrap();
    let (events, _) = messages(&graph, question(), &[StreamMode::Messages]).await;
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|e| (e[2].as_str().unwrap().to_owned(), e[3]["content"].as_str().unwrap().to_owned()))
        .collect();
    // fast at 10 and 20 ms, slow at 15 and 30 ms.
    let expected = [("0:fast", "A"), ("0:slow", "x"), ("0:fast", " B"), ("0:slow", " y")];
    assert_eq!(seen, expected.map(|(t, c)| (t.to_owned(), c.to_owned())));
    assert_ne!(events[0][3]["id"], events[1][3]["id"]);
}

#[tokio::test]
async fn without_the_messages_mode_the_model_is_asked_once_with_generate() {
    let model = Arc::new(ScriptedModel::new().streamed_words("Three degrees."));
    let (events, state) =
        messages(&chat(Arc::clone(&model)), question(), &[StreamMode::Updates]).await;
    assert_eq!(events, Vec::<Value>::new());
    assert_eq!(state[1].content(), "Three degrees.");
    let requests = model.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].kind, CallKind::Generate);
    assert_eq!(requests[0].messages, vec![Message::user("Weather in Oslo?").with_id("q1")]);
}

#[tokio::test]
async fn the_answer_id_is_the_same_in_two_identical_runs_and_new_for_a_new_question() {
    let run = |input: MessagesState| async move {
        let model = Arc::new(ScriptedModel::new().text("Cold."));
        let (_, state) = messages(&chat(model), input, &[StreamMode::Messages]).await;
        state[1].id().unwrap().to_owned()
    };
    let first = run(question()).await;
    assert_eq!(run(question()).await, first);
    assert_ne!(run(asked("q2")).await, first);
}

// ANCHOR: print
/// Writes the text of every chunk and message to `out` as it arrives.
async fn print_tokens(
    graph: &CompiledGraph<MessagesState>,
    input: MessagesState,
    out: &mut impl std::io::Write,
) -> Result<(), BoxError> {
    let mut events = graph.stream(input, RunConfig::default().stream_mode(StreamMode::Messages));
    while let Some(event) = events.next().await {
        if let Some(message) = StreamedMessage::from_event(&event?)? {
            write!(out, "{}", message.text())?;
            out.flush()?;
        }
    }
    Ok(())
}
// ANCHOR_END: print

#[tokio::test(start_paused = true)]
async fn printing_tokens_writes_the_answer_piece_by_piece() {
    let model = Arc::new(
        ScriptedModel::new()
            .streamed_words("It is 3°C and cloudy in Oslo.")
            .chunk_latency(Duration::from_millis(20)),
    );
    let mut out = Vec::new();
    let start = tokio::time::Instant::now();
    print_tokens(&chat(model), question(), &mut out).await.unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "It is 3°C and cloudy in Oslo.");
    assert_eq!(start.elapsed(), Duration::from_millis(7 * 20));
}

#[tokio::test]
async fn the_same_question_asked_twice_in_a_task_gets_two_ids_with_respond_nth() {
    let model = Arc::new(ScriptedModel::new().text("yes").text("no"));
    let graph = StateGraph::<MessagesState>::new()
        .add_node("vote", move |state: Arc<MessagesState>, ctx: NodeContext| {
            let model = Arc::clone(&model);
            async move {
                let mut answers = Vec::new();
                for call in 0..2 {
                    let request = ChatRequest::new(state.messages());
                    answers.push(model.respond_nth(&ctx, request, call).await?.into());
                }
                Ok::<_, BoxError>(MessagesState::add(answers))
            }
        })
        .add_edge(START, "vote")
        .stream_messages_from(returned_messages::<MessagesState>)
        .compile()
        .unwrap();
    let (events, state) = messages(&graph, question(), &[StreamMode::Messages]).await;
    let contents: Vec<&str> = state.iter().map(Message::content).collect();
    assert_eq!(contents, ["Weather in Oslo?", "yes", "no"]);
    let ids: Vec<&str> = events.iter().map(|e| e[3]["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert_eq!(state.iter().map(|m| m.id().unwrap()).collect::<Vec<_>>()[1..], ids[..]);
}

#[tokio::test]
async fn respond_is_the_first_numbered_call() {
    let model = Arc::new(ScriptedModel::new().text("a").text("b"));
    let graph = StateGraph::<MessagesState>::new()
        .add_node("ask", move |state: Arc<MessagesState>, ctx: NodeContext| {
            let model = Arc::clone(&model);
            async move {
                let first = model.respond(&ctx, ChatRequest::new(state.messages())).await?;
                let again = model.respond_nth(&ctx, ChatRequest::new(state.messages()), 0).await?;
                assert_eq!(first.id, again.id);
                Ok::<_, BoxError>(MessagesState::add(vec![first.into()]))
            }
        })
        .add_edge(START, "ask")
        .compile()
        .unwrap();
    let outcome = graph.invoke(question(), RunConfig::default()).await.unwrap();
    assert_eq!(outcome.finished().unwrap().messages[1].content(), "a");
}
