//! The prebuilt agent end to end, with the scripted model: parallel tool calls, the step
//! budget, `return_direct`, structured output, approval, and dangling-call repair.

use std::sync::Arc;
use std::time::Duration;

// ANCHOR: uses
use graph_agent::testing::{FakeTool, ScriptedModel};
use graph_agent::{
    create_agent, tool, AgentError, AgentState, ApprovalRequest, Message, ToolCall, ToolDecision,
    ToolStatus, NEED_MORE_STEPS,
};
use graph_core::checkpoint::MemorySaver;
use graph_core::prelude::*;
use graph_core::GraphError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;
// ANCHOR_END: uses

fn call(id: &str, name: &str, args: serde_json::Value) -> ToolCall {
    ToolCall::new(id, name, args)
}

// ANCHOR: ask
/// Asks `agent` one question on a fresh run and returns the finished state.
async fn ask(agent: &CompiledGraph<AgentState>, question: &str) -> AgentState {
    agent.invoke(Message::user(question), RunConfig::default()).await.unwrap().finished().unwrap()
}
// ANCHOR_END: ask

/// The content of each message, prefixed by its role, for compact exact assertions.
fn transcript(state: &AgentState) -> Vec<String> {
    state
        .messages
        .iter()
        .map(|m| match m {
            Message::System(m) => format!("system: {}", m.content),
            Message::User(m) => format!("user: {}", m.content),
            Message::Assistant(m) if !m.tool_calls.is_empty() => {
                let calls: Vec<String> =
                    m.tool_calls.iter().map(|c| format!("{}({})", c.name, c.args)).collect();
                format!("assistant: {} -> {}", m.content, calls.join(", "))
            }
            Message::Assistant(m) => format!("assistant: {}", m.content),
            Message::Tool(m) => format!("tool {}: {}", m.tool_call_id, m.content),
            Message::Remove(m) => format!("remove {}", m.id),
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn parallel_tool_calls_cost_the_slowest_and_land_in_call_order() {
    let model = Arc::new(
        ScriptedModel::new()
            .latency(Duration::from_millis(10))
            .tool_calls([
                call("c1", "weather", json!({"city": "Paris"})),
                call("c2", "flights", json!({"route": "LON-PAR"})),
                call("c3", "hotels", json!({"city": "Paris"})),
            ])
            .text("Sunny, 3 flights, 12 hotels."),
    );
    let ms = Duration::from_millis;
    let agent = create_agent(Arc::clone(&model))
        .system_prompt("You plan trips.")
        .tool(FakeTool::new("weather").latency(ms(150)).output("sunny"))
        .tool(FakeTool::new("flights").latency(ms(50)).output("3 flights"))
        .tool(FakeTool::new("hotels").latency(ms(100)).output("12 hotels"))
        .compile()
        .unwrap();
    let started = Instant::now();
    let out = ask(&agent, "Trip to Paris?").await;
    assert_eq!(started.elapsed(), ms(10 + 150 + 10));
    assert_eq!(
        transcript(&out),
        [
            "user: Trip to Paris?",
            r#"assistant:  -> weather({"city":"Paris"}), flights({"route":"LON-PAR"}), hotels({"city":"Paris"})"#,
            "tool c1: sunny",
            "tool c2: 3 flights",
            "tool c3: 12 hotels",
            "assistant: Sunny, 3 flights, 12 hotels.",
        ]
    );
    assert_eq!(out.answer(), Some("Sunny, 3 flights, 12 hotels."));
    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].system.as_deref(), Some("You plan trips."));
    assert_eq!(requests[0].tools, ["weather", "flights", "hotels"]);
    assert_eq!(requests[1].messages.len(), 5);
}

#[tokio::test]
async fn a_tight_step_budget_ends_with_a_final_message_instead_of_an_error() {
    // ANCHOR: budget
    let model = ScriptedModel::new()
        .tool_calls([call("c1", "weather", json!({}))])
        .tool_calls([call("c2", "weather", json!({}))])
        .cycling();
    let agent =
        create_agent(model).tool(FakeTool::new("weather").output("sunny")).compile().unwrap();
    // Steps: model, tools, model (budget answer).
    let out = agent
        .invoke(Message::user("Weather?"), RunConfig::default().recursion_limit(4))
        .await
        .unwrap()
        .finished()
        .unwrap();
    assert_eq!(
        transcript(&out),
        [
            "user: Weather?",
            "assistant:  -> weather({})",
            "tool c1: sunny",
            &format!("assistant: {NEED_MORE_STEPS}")
        ]
    );
    // ANCHOR_END: budget
}

// ANCHOR: return_direct
/// Looks a city up; the agent answers with the result as it is.
#[tool(return_direct)]
async fn lookup(
    /// The city.
    city: String,
) -> String {
    format!("{city}: 48.85N 2.35E")
}
// ANCHOR_END: return_direct

#[tokio::test]
async fn a_return_direct_tool_ends_the_run_with_its_result() {
    // ANCHOR: return_direct_run
    let model =
        Arc::new(ScriptedModel::new().tool_calls([call("c1", "lookup", json!({"city": "Paris"}))]));
    let agent = create_agent(Arc::clone(&model)).tool(lookup).compile().unwrap();
    let out = ask(&agent, "Where is Paris?").await;
    assert_eq!(out.answer(), Some("Paris: 48.85N 2.35E"));
    assert_eq!(model.calls(), 1);
    // ANCHOR_END: return_direct_run
}

// ANCHOR: structured
#[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Forecast {
    city: String,
    celsius: i32,
}
// ANCHOR_END: structured

#[tokio::test]
async fn a_structured_answer_is_checked_and_stored() {
    // ANCHOR: structured_run
    let model = Arc::new(ScriptedModel::new().text(r#"{"city": "Oslo", "celsius": 3}"#));
    let agent = create_agent(Arc::clone(&model)).response_format::<Forecast>().compile().unwrap();
    let out = ask(&agent, "Oslo?").await;
    assert_eq!(
        out.structured::<Forecast>().unwrap(),
        Some(Forecast { city: "Oslo".into(), celsius: 3 })
    );
    // ANCHOR_END: structured_run
    let format = model.requests()[0].response_format.clone().unwrap();
    assert_eq!(format.name, "Forecast");
    assert_eq!(format.schema["required"], json!(["city", "celsius"]));
}

#[tokio::test]
async fn a_structured_answer_that_does_not_match_fails_with_the_reason() {
    let agent = create_agent(ScriptedModel::new().text(r#"{"city": "Oslo"}"#))
        .response_format::<Forecast>()
        .compile()
        .unwrap();
    let error = agent.invoke(Message::user("Oslo?"), RunConfig::default()).await.unwrap_err();
    let GraphError::NodeFailed { node, source, .. } = error else { panic!("{error}") };
    assert_eq!(node, "model");
    let AgentError::StructuredResponse { format, reason, content } =
        source.downcast_ref::<AgentError>().unwrap()
    else {
        panic!("{source}")
    };
    assert_eq!(format, "Forecast");
    assert_eq!(reason, "missing field `celsius` at line 1 column 16");
    assert_eq!(content, r#"{"city": "Oslo"}"#);
}

// ANCHOR: approving_agent
/// An agent whose `send_email` calls wait for approval; `search` runs freely.
fn approving_agent(model: Arc<ScriptedModel>, sent: FakeTool) -> CompiledGraph<AgentState> {
    create_agent(model)
        .tool(sent)
        .tool(FakeTool::new("search").output("found it"))
        .approve(["send_email"])
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new())
}

fn asks_to_email() -> Arc<ScriptedModel> {
    Arc::new(
        ScriptedModel::new()
            .tool_calls([
                call("c1", "search", json!({"q": "address"})),
                call("c2", "send_email", json!({"to": "ada@example.com"})),
            ])
            .text("Done."),
    )
}
// ANCHOR_END: approving_agent

// ANCHOR: pause
async fn pause(agent: &CompiledGraph<AgentState>, thread: &str) -> ApprovalRequest {
    let outcome = agent
        .invoke(Message::user("Email Ada"), RunConfig::default().thread_id(thread))
        .await
        .unwrap();
    assert!(outcome.is_paused());
    let interrupt = &outcome.interrupts()[0];
    assert_eq!(interrupt.node, "approval");
    serde_json::from_value(interrupt.value.clone()).unwrap()
}
// ANCHOR_END: pause

#[tokio::test]
async fn approval_pauses_before_the_calls_that_need_it_and_approve_runs_them() {
    let email = FakeTool::new("send_email").computed(|args| Ok(format!("sent to {}", args["to"])));
    let agent = approving_agent(asks_to_email(), email.clone());
    // ANCHOR: approve
    let request = pause(&agent, "approve").await;
    assert_eq!(
        request,
        ApprovalRequest { calls: vec![call("c2", "send_email", json!({"to": "ada@example.com"}))] }
    );
    assert_eq!(email.calls(), 0);
    let out = agent
        .invoke(
            Command::resume(vec![ToolDecision::Approve]),
            RunConfig::default().thread_id("approve"),
        )
        .await
        .unwrap()
        .finished()
        .unwrap();
    assert_eq!(email.calls(), 1);
    // ANCHOR_END: approve
    assert_eq!(
        transcript(&out)[2..],
        [r#"tool c1: found it"#, r#"tool c2: sent to "ada@example.com""#, "assistant: Done."]
    );
}

#[tokio::test]
async fn an_edit_runs_the_call_with_the_new_arguments() {
    let email = FakeTool::new("send_email").computed(|args| Ok(format!("sent to {}", args["to"])));
    let agent = approving_agent(asks_to_email(), email.clone());
    pause(&agent, "edit").await;
    // ANCHOR: edit
    let edit = ToolDecision::Edit { args: json!({"to": "grace@example.com"}) };
    let out = agent
        .invoke(Command::resume(vec![edit]), RunConfig::default().thread_id("edit"))
        .await
        .unwrap()
        .finished()
        .unwrap();
    assert_eq!(
        transcript(&out),
        [
            "user: Email Ada",
            r#"assistant:  -> search({"q":"address"}), send_email({"to":"grace@example.com"})"#,
            "tool c1: found it",
            r#"tool c2: sent to "grace@example.com""#,
            "assistant: Done.",
        ]
    );
    // ANCHOR_END: edit
}

#[tokio::test]
async fn a_rejection_answers_the_call_without_running_it() {
    let email = FakeTool::new("send_email").output("sent");
    let model = asks_to_email();
    let agent = approving_agent(Arc::clone(&model), email.clone());
    // ANCHOR: reject
    pause(&agent, "reject").await;
    let out = agent
        .invoke(
            Command::resume(vec![ToolDecision::Reject { message: None }]),
            RunConfig::default().thread_id("reject"),
        )
        .await
        .unwrap()
        .finished()
        .unwrap();
    assert_eq!(email.calls(), 0);
    let refusal = out.messages[2].as_tool().unwrap();
    assert_eq!(refusal.tool_call_id, "c2");
    assert_eq!(refusal.status, ToolStatus::Error);
    assert_eq!(
        refusal.content,
        "User rejected the tool call for `send_email` with id c2. The tool was not executed. Do not retry this tool call unless the user explicitly requests it."
    );
    assert_eq!(transcript(&out)[3..], ["tool c1: found it", "assistant: Done."]);
    // ANCHOR_END: reject
    // The model saw both answers.
    assert_eq!(model.requests()[1].messages.len(), 4);
}

#[tokio::test]
async fn the_wrong_number_of_decisions_is_refused() {
    let agent = approving_agent(asks_to_email(), FakeTool::new("send_email").output("sent"));
    pause(&agent, "count").await;
    let error = agent
        .invoke(
            Command::resume(vec![ToolDecision::Approve, ToolDecision::Approve]),
            RunConfig::default().thread_id("count"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "node `approval` failed in step 1 (attempt 1): 1 tool calls wait for a decision, but 2 decisions were given"
    );
}

#[tokio::test]
async fn calls_left_unanswered_are_repaired_before_the_next_model_call() {
    // ANCHOR: repair
    let model = Arc::new(
        ScriptedModel::new()
            .tool_calls([call("c1", "send_email", json!({"to": "ada@example.com"}))])
            .text("Fine, I will not send it."),
    );
    let email = FakeTool::new("send_email").output("sent");
    let agent = create_agent(Arc::clone(&model))
        .tool(email.clone())
        .approve_all()
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new());
    let config = || RunConfig::default().thread_id("repair");
    let paused = agent.invoke(Message::user("Email Ada"), config()).await.unwrap();
    assert!(paused.is_paused());
    // The person writes again instead of answering the approval.
    let out = agent
        .invoke(Message::user("Actually, don't."), config())
        .await
        .unwrap()
        .finished()
        .unwrap();
    assert_eq!(email.calls(), 0);
    let seen: Vec<String> = model.requests()[1]
        .messages
        .iter()
        .map(|m| {
            serde_json::to_value(m).unwrap()["role"].as_str().unwrap().to_owned()
                + ": "
                + m.content()
        })
        .collect();
    assert_eq!(
        seen,
        [
            "user: Email Ada",
            "assistant: ",
            "tool: Tool call send_email with id c1 was cancelled - another message came in before it could be completed.",
            "user: Actually, don't.",
        ]
    );
    assert_eq!(out.answer(), Some("Fine, I will not send it."));
    // ANCHOR_END: repair
}

#[tokio::test(start_paused = true)]
async fn the_messages_stream_carries_each_chunk_and_each_tool_result_once() {
    use futures::StreamExt;
    use graph_agent::{StreamedMessage, StreamedPayload};
    use graph_core::StreamMode;

    let ms = Duration::from_millis;
    let model = ScriptedModel::new()
        .tool_calls([call("c1", "weather", json!({})), call("c2", "news", json!({}))])
        .streamed_words("Sunny and calm.");
    let agent = create_agent(model)
        .tool(FakeTool::new("weather").latency(ms(30)).output("sunny"))
        .tool(FakeTool::new("news").latency(ms(10)).output("calm"))
        .compile()
        .unwrap();
    let config = RunConfig::default().stream_mode(StreamMode::Messages);
    let mut events = agent.stream(Message::user("Today?"), config);
    let mut seen = Vec::new();
    let mut answer_ids = Vec::new();
    while let Some(event) = events.next().await {
        let Some(message) = StreamedMessage::from_event(&event.unwrap()).unwrap() else { continue };
        let what = match &message.payload {
            StreamedPayload::Chunk(chunk) => {
                answer_ids.push(chunk.id.clone().unwrap());
                let calls: Vec<&str> =
                    chunk.tool_calls.iter().filter_map(|c| c.name.as_deref()).collect();
                format!("chunk {:?} {calls:?}", chunk.content)
            }
            StreamedPayload::Message(m) => {
                format!("{} {:?}", m.as_tool().unwrap().tool_call_id, m.content())
            }
        };
        seen.push(format!("{} {} {what}", message.step, message.task_id));
    }
    assert_eq!(
        seen,
        [
            r#"0 0:model chunk "" ["weather", "news"]"#,
            r#"1 1:send#1 c2 "calm""#,
            r#"1 1:send#0 c1 "sunny""#,
            r#"2 2:model chunk "Sunny" []"#,
            r#"2 2:model chunk " and" []"#,
            r#"2 2:model chunk " calm." []"#,
        ]
    );
    // One id for the first answer's chunk, another shared by the second answer's chunks.
    assert_ne!(answer_ids[0], answer_ids[1]);
    assert!(answer_ids[1..].iter().all(|id| *id == answer_ids[1]));
}
