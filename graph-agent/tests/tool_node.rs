//! ToolNode: parallel calls in call order, the concurrency cap, error policies with
//! LangGraph's messages, tools returning commands, interrupts, resume after a failure on
//! SQLite, the routers and the whole-message mode.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use graph_agent::{
    pending_tool_calls, route_tool_calls, tools_condition, HasMessages, Message, Tool, ToolCall,
    ToolContext, ToolErrorPolicy, ToolMessage, ToolNode, ToolNodeError, ToolStatus, Toolbox,
};
use graph_core::checkpoint::{MemorySaver, SqliteSaver};
use graph_core::prelude::*;
use graph_core::{BoxError, RetryPolicy};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

/// A conversation appended to as it is, so the tests see exactly what the node writes.
#[derive(State, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Chat {
    #[reducer(append)]
    messages: Vec<Message>,
    #[reducer(append)]
    notes: Vec<String>,
}

impl HasMessages for Chat {
    fn messages(&self) -> &[Message] {
        &self.messages
    }

    fn add(messages: Vec<Message>) -> ChatUpdate {
        Chat::update().messages(messages)
    }

    fn messages_in(update: &ChatUpdate) -> &[Message] {
        update.messages.as_deref().unwrap_or_default()
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
struct CityArgs {
    city: String,
}

/// A tool that takes `latency`, counts its calls, and answers `<name>: <city>`, or fails
/// with `failure` while `failures` remain.
struct Fake {
    name: &'static str,
    latency: Duration,
    calls: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
    failures: Arc<AtomicUsize>,
    failure: &'static str,
}

impl Fake {
    fn new(name: &'static str, latency_ms: u64) -> Self {
        Self {
            name,
            latency: Duration::from_millis(latency_ms),
            calls: Arc::default(),
            done: Arc::default(),
            failures: Arc::default(),
            failure: "",
        }
    }

    /// The same tool failing its first `times` calls with `error`.
    fn failing(mut self, times: usize, error: &'static str) -> Self {
        self.failures = Arc::new(AtomicUsize::new(times));
        self.failure = error;
        self
    }

    fn counter(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.calls)
    }

    /// How many calls have succeeded.
    fn successes(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.done)
    }
}

#[async_trait]
impl Tool for Fake {
    type Args = CityArgs;
    type Output = String;

    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        "A test tool."
    }

    async fn call(&self, args: CityArgs, _: &ToolContext) -> Result<String, BoxError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.latency).await;
        let failing =
            self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failing.is_ok() {
            return Err(self.failure.into());
        }
        self.done.fetch_add(1, Ordering::SeqCst);
        Ok(format!("{}: {}", self.name, args.city))
    }
}

fn call(id: &str, name: &str, args: serde_json::Value) -> ToolCall {
    ToolCall::new(id, name, args)
}

/// A user question and the model's answer calling `calls`.
fn asking(calls: Vec<ToolCall>) -> Chat {
    Chat {
        messages: vec![
            Message::user("Plan my trip.").with_id("u1"),
            Message::assistant("").with_id("a1").with_tool_calls(calls),
        ],
        notes: Vec::new(),
    }
}

fn answer(id: &str, name: &str, content: &str) -> Message {
    Message::Tool(ToolMessage {
        id: None,
        name: Some(name.into()),
        content: content.into(),
        tool_call_id: id.into(),
        status: ToolStatus::Success,
        artifact: None,
    })
}

fn error_answer(id: &str, name: &str, content: &str) -> Message {
    let Message::Tool(message) = answer(id, name, content) else { unreachable!() };
    Message::Tool(ToolMessage { status: ToolStatus::Error, ..message })
}

/// `START -> route_tool_calls -> tools (per call)`, with `options` on the tools node.
fn per_call_graph(node: ToolNode<Chat>, options: NodeOptions<Chat>) -> StateGraph<Chat> {
    StateGraph::<Chat>::new()
        .add_node_with("tools", node.per_call(), options)
        .add_conditional_edges(START, route_tool_calls("tools", END), ["tools", END])
}

fn three_calls() -> Vec<ToolCall> {
    vec![
        call("c1", "flights", json!({"city": "Lisbon"})),
        call("c2", "hotels", json!({"city": "Lisbon"})),
        call("c3", "weather", json!({"city": "Lisbon"})),
    ]
}

fn trip_tools() -> Toolbox<Chat> {
    Toolbox::new()
        .with(Fake::new("flights", 150))
        .with(Fake::new("hotels", 50))
        .with(Fake::new("weather", 100))
}

fn trip_answers() -> Vec<Message> {
    vec![
        answer("c1", "flights", "flights: Lisbon"),
        answer("c2", "hotels", "hotels: Lisbon"),
        answer("c3", "weather", "weather: Lisbon"),
    ]
}

#[tokio::test(start_paused = true)]
async fn parallel_calls_take_the_slowest_and_answer_in_call_order() {
    let graph = per_call_graph(ToolNode::new(trip_tools()), NodeOptions::new()).compile().unwrap();
    let start = Instant::now();
    let out = graph.invoke(asking(three_calls()), RunConfig::default()).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(150));
    let mut expected = asking(three_calls());
    expected.messages.extend(trip_answers());
    assert_eq!(out.finished().unwrap(), expected);
}

#[tokio::test(start_paused = true)]
async fn a_concurrency_cap_of_one_runs_the_calls_in_turn() {
    let options = NodeOptions::new().concurrency(1);
    let graph = per_call_graph(ToolNode::new(trip_tools()), options).compile().unwrap();
    let start = Instant::now();
    let out = graph.invoke(asking(three_calls()), RunConfig::default()).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    assert_eq!(out.finished().unwrap().messages[2..], trip_answers());
}

/// Three calls gone wrong: an unknown tool, arguments without `city`, and a tool that fails.
fn faulty_calls() -> Vec<ToolCall> {
    vec![
        call("c1", "translate", json!({"text": "olá"})),
        call("c2", "weather", json!({"days": 2, "metric": true, "town": "Lisbon"})),
        call("c3", "broken", json!({"city": "Lisbon"})),
    ]
}

fn faulty_tools() -> Toolbox<Chat> {
    Toolbox::new()
        .with(Fake::new("weather", 10))
        .with(Fake::new("broken", 10).failing(usize::MAX, "the service is down"))
}

const UNKNOWN: &str = "Error: translate is not a valid tool, try one of [weather, broken].";
const INVALID: &str = "Error invoking tool 'weather' with kwargs {'days': 2, 'metric': True, 'town': 'Lisbon'} with error:\n missing field `city`\n Please fix the error and try again.";

async fn run_faulty(policy: ToolErrorPolicy) -> Result<Vec<Message>, GraphError> {
    let node = ToolNode::new(faulty_tools()).handle_errors(policy);
    let graph = per_call_graph(node, NodeOptions::new()).compile().unwrap();
    let out = graph.invoke(asking(faulty_calls()), RunConfig::default()).await?;
    Ok(out.finished()?.messages[2..].to_vec())
}

#[tokio::test]
async fn propagate_answers_unknown_tools_and_bad_arguments_and_fails_on_tool_errors() {
    let err = run_faulty(ToolErrorPolicy::propagate()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "node `tools` failed in step 0 (attempt 1): tool `broken` failed on call `c3`: the service is down"
    );
    let GraphError::NodeFailed { node, source, .. } = err else { panic!("{err:?}") };
    assert_eq!(node, "tools");
    let Some(ToolNodeError::Failed { tool, call_id, source }) = source.downcast_ref() else {
        panic!("{source:?}")
    };
    assert_eq!((tool.as_str(), call_id.as_str()), ("broken", "c3"));
    assert_eq!(source.to_string(), "the service is down");

    // Without the failing call, the other two are answered as LangGraph answers them.
    let node = ToolNode::new(faulty_tools());
    let graph = per_call_graph(node, NodeOptions::new()).compile().unwrap();
    let out = graph.invoke(asking(faulty_calls()[..2].to_vec()), RunConfig::default());
    let state = out.await.unwrap().finished().unwrap();
    assert_eq!(
        state.messages[2..],
        [error_answer("c1", "translate", UNKNOWN), error_answer("c2", "weather", INVALID)]
    );
}

#[tokio::test]
async fn catch_all_answers_every_failure() {
    let answers = run_faulty(ToolErrorPolicy::catch_all()).await.unwrap();
    assert_eq!(
        answers,
        [
            error_answer("c1", "translate", UNKNOWN),
            error_answer("c2", "weather", &format!("Error: {INVALID}\n Please fix your mistakes.")),
            error_answer("c3", "broken", "Error: the service is down\n Please fix your mistakes."),
        ]
    );
}

#[tokio::test]
async fn a_fixed_message_answers_every_failure_but_unknown_tools() {
    let answers = run_faulty(ToolErrorPolicy::message("That did not work.")).await.unwrap();
    assert_eq!(
        answers,
        [
            error_answer("c1", "translate", UNKNOWN),
            error_answer("c2", "weather", "That did not work."),
            error_answer("c3", "broken", "That did not work."),
        ]
    );
}

#[tokio::test]
async fn a_handler_sees_the_call_and_the_typed_error() {
    let policy = ToolErrorPolicy::handler(|call, error| match error.downcast_ref() {
        Some(ToolNodeError::InvalidArgs { reason, .. }) => {
            format!("{} ({}) needs other arguments: {reason}", call.name, call.id)
        }
        _ => format!("{} ({}) failed: {error}", call.name, call.id),
    });
    let answers = run_faulty(policy).await.unwrap();
    assert_eq!(
        answers,
        [
            error_answer("c1", "translate", UNKNOWN),
            error_answer(
                "c2",
                "weather",
                "weather (c2) needs other arguments: missing field `city`"
            ),
            error_answer("c3", "broken", "broken (c3) failed: the service is down"),
        ]
    );
}

/// Hands the conversation to a person: answers its call and routes to `human`.
struct Escalate {
    answer: bool,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ReasonArgs {
    reason: String,
}

#[async_trait]
impl Tool for Escalate {
    type Args = ReasonArgs;
    type Output = Command<Chat>;

    fn name(&self) -> &str {
        "escalate"
    }

    fn description(&self) -> &str {
        "Hands the conversation to a person."
    }

    async fn call(&self, args: ReasonArgs, ctx: &ToolContext) -> Result<Command<Chat>, BoxError> {
        let mut update = Chat::update().notes(vec![format!("escalated: {}", args.reason)]);
        if self.answer {
            update = update.messages(vec![Message::tool(ctx.call_id(), "A person takes over.")]);
        }
        Ok(Command::new().update(update).goto("human"))
    }
}

fn escalation_graph(node: ToolNode<Chat>) -> CompiledGraph<Chat> {
    let options = NodeOptions::new().destinations(["human"]);
    per_call_graph(node, options)
        .add_node("human", |_: Arc<Chat>| async {
            Chat::update().messages(vec![Message::user("Hello, I am Ana.")])
        })
        .compile()
        .unwrap()
}

#[tokio::test]
async fn a_tool_returning_a_command_updates_the_state_and_routes() {
    let tools = Toolbox::new().with(Escalate { answer: true }).with(Fake::new("weather", 10));
    let graph = escalation_graph(ToolNode::new(tools));
    let calls = vec![
        call("c1", "weather", json!({"city": "Porto"})),
        call("c2", "escalate", json!({"reason": "refund"})),
    ];
    let out = graph.invoke(asking(calls.clone()), RunConfig::default()).await.unwrap();
    let mut expected = asking(calls);
    expected.messages.extend([
        answer("c1", "weather", "weather: Porto"),
        Message::tool("c2", "A person takes over."),
        Message::user("Hello, I am Ana."),
    ]);
    expected.notes = vec!["escalated: refund".into()];
    assert_eq!(out.finished().unwrap(), expected);
}

#[tokio::test]
async fn a_command_that_does_not_answer_its_call_is_an_error() {
    let graph = escalation_graph(ToolNode::new(Toolbox::new().with(Escalate { answer: false })));
    let calls = vec![call("c7", "escalate", json!({"reason": "refund"}))];
    let err = graph.invoke(asking(calls.clone()), RunConfig::default()).await.unwrap_err();
    let message = "tool `escalate` returned a Command whose update holds no tool message answering call `c7`; every tool call needs one: add `Message::tool(ctx.call_id(), ..)` to the command's update";
    assert_eq!(err.to_string(), format!("node `tools` failed in step 0 (attempt 1): {message}"));
    let GraphError::NodeFailed { source, .. } = err else { panic!("{err:?}") };
    assert!(matches!(
        source.downcast_ref(),
        Some(ToolNodeError::MissingToolMessage { tool, call_id }) if tool == "escalate" && call_id == "c7"
    ));

    // Under catch-all, the model is told instead, and the command is dropped.
    let node = ToolNode::new(Toolbox::new().with(Escalate { answer: false }))
        .handle_errors(ToolErrorPolicy::catch_all());
    let out = escalation_graph(node).invoke(asking(calls), RunConfig::default()).await.unwrap();
    let state = out.finished().unwrap();
    let told = format!("Error: {message}\n Please fix your mistakes.");
    assert_eq!(state.messages[2..], [error_answer("c7", "escalate", &told)]);
    assert!(state.notes.is_empty());
}

/// Asks a person before sending an email.
struct SendEmail {
    calls: Arc<AtomicUsize>,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct EmailArgs {
    to: String,
}

#[async_trait]
impl Tool for SendEmail {
    type Args = EmailArgs;
    type Output = String;

    fn name(&self) -> &str {
        "send_email"
    }

    fn description(&self) -> &str {
        "Sends an email, once a person approves."
    }

    async fn call(&self, args: EmailArgs, ctx: &ToolContext) -> Result<String, BoxError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let verdict: String = ctx.interrupt(format!("send an email to {}?", args.to))?;
        Ok(format!("{verdict}: sent to {}", args.to))
    }
}

#[tokio::test]
async fn an_interrupt_inside_a_tool_pauses_the_run_whatever_the_policy() {
    let weather = Fake::new("weather", 10);
    let weather_calls = weather.counter();
    let email_calls = Arc::new(AtomicUsize::new(0));
    let tools = Toolbox::new().with(weather).with(SendEmail { calls: Arc::clone(&email_calls) });
    let node = ToolNode::new(tools).handle_errors(ToolErrorPolicy::catch_all());
    let graph = per_call_graph(node, NodeOptions::new())
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new());
    let thread = RunConfig::default().thread_id("email");
    let calls = vec![
        call("c1", "weather", json!({"city": "Faro"})),
        call("c2", "send_email", json!({"to": "ana@example.com"})),
    ];

    let outcome = graph.invoke(asking(calls.clone()), thread.clone()).await.unwrap();
    assert!(outcome.is_paused());
    let interrupts = outcome.interrupts();
    assert_eq!(interrupts.len(), 1);
    assert_eq!(interrupts[0].node, "tools");
    assert_eq!(interrupts[0].value, json!("send an email to ana@example.com?"));

    let out = graph.invoke(Command::<Chat>::resume("approved"), thread).await.unwrap();
    let mut expected = asking(calls);
    expected.messages.extend([
        answer("c1", "weather", "weather: Faro"),
        answer("c2", "send_email", "approved: sent to ana@example.com"),
    ]);
    assert_eq!(out.finished().unwrap(), expected);
    assert_eq!(weather_calls.load(Ordering::SeqCst), 1, "the finished call did not run again");
    assert_eq!(email_calls.load(Ordering::SeqCst), 2, "asked, then answered");
}

/// `flights`, failing its first call once every other tool has answered.
struct FailsOnceAfter {
    calls: Arc<AtomicUsize>,
    others: Vec<Arc<AtomicUsize>>,
}

#[async_trait]
impl Tool for FailsOnceAfter {
    type Args = CityArgs;
    type Output = String;

    fn name(&self) -> &str {
        "flights"
    }

    fn description(&self) -> &str {
        "Fails once, last."
    }

    async fn call(&self, args: CityArgs, _: &ToolContext) -> Result<String, BoxError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            while self.others.iter().any(|done| done.load(Ordering::SeqCst) == 0) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            return Err("the airline timed out".into());
        }
        Ok(format!("flights: {}", args.city))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_on_sqlite_runs_only_the_call_that_failed() {
    let dir = std::env::temp_dir().join("graph-agent-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let database = dir.join(format!("tool-node-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&database);

    // `flights` fails once, after the two other calls have finished.
    let (hotels, weather) = (Fake::new("hotels", 10), Fake::new("weather", 20));
    let flights = FailsOnceAfter {
        calls: Arc::default(),
        others: vec![hotels.successes(), weather.successes()],
    };
    let counters = [Arc::clone(&flights.calls), hotels.counter(), weather.counter()];
    let tools = Toolbox::new().with(flights).with(hotels).with(weather);
    let node = ToolNode::new(tools);
    let thread = RunConfig::default().thread_id("trip");

    let graph = per_call_graph(node.clone(), NodeOptions::new())
        .compile()
        .unwrap()
        .with_checkpointer(SqliteSaver::open(&database).unwrap());
    let err = graph.invoke(asking(three_calls()), thread.clone()).await.unwrap_err();
    assert!(matches!(err, GraphError::NodeFailed { ref node, .. } if node == "tools"), "{err:?}");
    drop(graph);

    // A new graph on the same file, as a restarted process would build it.
    let graph = per_call_graph(node, NodeOptions::new())
        .compile()
        .unwrap()
        .with_checkpointer(SqliteSaver::open(&database).unwrap());
    let out = graph.invoke(Command::<Chat>::new(), thread).await.unwrap();
    let mut expected = asking(three_calls());
    expected.messages.extend(trip_answers());
    assert_eq!(out.finished().unwrap(), expected);
    let runs: Vec<usize> = counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(runs, [2, 1, 1], "only the failed call ran again");
    let _ = std::fs::remove_file(&database);
}

#[test]
fn tools_condition_reads_the_last_message() {
    let calls = vec![call("c1", "weather", json!({"city": "Faro"}))];
    let mut state = asking(calls);
    assert_eq!(tools_condition(&state), "tools");
    state.messages.push(Message::tool("c1", "sunny"));
    assert_eq!(tools_condition(&state), END, "an answered call is not the last message");
    state.messages.push(Message::assistant("Sunny in Faro."));
    assert_eq!(tools_condition(&state), END);
    state.messages.push(Message::user("And tomorrow?"));
    assert_eq!(tools_condition(&state), END);
    assert_eq!(tools_condition(&Chat::default()), END);
}

#[test]
fn pending_calls_are_those_of_the_last_assistant_message_without_a_later_answer() {
    let old = call("c0", "weather", json!({"city": "Faro"}));
    let calls = three_calls();
    let mut state = Chat::default();
    assert!(pending_tool_calls(&state).is_empty(), "no assistant message");
    state.messages = vec![
        Message::assistant("").with_tool_calls([old]),
        // An answer to c2 before the last assistant message does not count.
        Message::tool("c2", "stale"),
        Message::assistant("").with_tool_calls(calls.clone()),
        Message::tool("c3", "sunny"),
    ];
    assert_eq!(pending_tool_calls(&state), [calls[0].clone(), calls[1].clone()]);

    let route = route_tool_calls::<Chat>("tools", "agent");
    let sends = route(&state);
    let targets: Vec<(&str, Option<&str>)> = sends
        .iter()
        .map(|goto| match goto {
            graph_core::Goto::Send(send) => (send.node(), Some(send.payload_type())),
            other => (other.target(), None),
        })
        .collect();
    let payload = std::any::type_name::<ToolCall>();
    assert_eq!(targets, [("tools", Some(payload)), ("tools", Some(payload))]);

    state.messages.push(Message::tool("c1", "booked"));
    state.messages.push(Message::tool("c2", "booked"));
    assert!(pending_tool_calls(&state).is_empty());
    let route = route(&state);
    assert!(matches!(&route[..], [graph_core::Goto::Node(node)] if node == "agent"));
}

/// `START -> tools (whole message) -> END`.
fn whole_message_graph(node: ToolNode<Chat>) -> CompiledGraph<Chat> {
    StateGraph::<Chat>::new()
        .add_node("tools", node.whole_message())
        .add_edge(START, "tools")
        .compile()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn whole_message_mode_runs_the_pending_calls_in_one_task_in_call_order() {
    let graph = whole_message_graph(ToolNode::new(trip_tools()));
    // c2 is already answered: only c1 (150 ms) and c3 (100 ms) run.
    let mut input = asking(three_calls());
    input.messages.push(Message::tool("c2", "hotels: booked earlier"));
    let start = Instant::now();
    let out = graph.invoke(input.clone(), RunConfig::default()).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(150));
    let mut expected = input;
    expected.messages.push(answer("c1", "flights", "flights: Lisbon"));
    expected.messages.push(answer("c3", "weather", "weather: Lisbon"));
    assert_eq!(out.finished().unwrap(), expected);
}

#[tokio::test]
async fn whole_message_mode_returns_a_lone_command_and_refuses_one_among_others() {
    let tools = || Toolbox::new().with(Escalate { answer: true }).with(Fake::new("weather", 10));
    let graph = StateGraph::<Chat>::new()
        .add_node_with(
            "tools",
            ToolNode::new(tools()).whole_message(),
            NodeOptions::new().destinations(["human"]),
        )
        .add_node("human", |_: Arc<Chat>| async {
            Chat::update().messages(vec![Message::user("Hello, I am Ana.")])
        })
        .add_conditional_edges(START, tools_condition, ["tools", END])
        .compile()
        .unwrap();
    let alone = vec![call("c1", "escalate", json!({"reason": "refund"}))];
    let out = graph.invoke(asking(alone.clone()), RunConfig::default()).await.unwrap();
    let state = out.finished().unwrap();
    assert_eq!(
        state.messages[2..],
        [Message::tool("c1", "A person takes over."), Message::user("Hello, I am Ana.")]
    );

    let mixed = vec![call("c1", "weather", json!({"city": "Porto"})), alone[0].clone()];
    let err = graph.invoke(asking(mixed), RunConfig::default()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "node `tools` failed in step 0 (attempt 1): tool `escalate` returned a Command for call `c1` beside 1 other call(s) of the same message; a whole-message tool node returns one update and cannot merge a Command with other answers: run the calls one task each with `ToolNode::per_call` and `route_tool_calls`"
    );

    // Without an assistant message there is nothing to run.
    let graph = whole_message_graph(ToolNode::new(tools()));
    let err = graph.invoke(Chat::default(), RunConfig::default()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "node `tools` failed in step 0 (attempt 1): node `tools` found no assistant message whose tool calls it could run"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_runs_the_failed_call_again_alone() {
    let (flights, hotels, weather) = (
        Fake::new("flights", 150).failing(1, "the airline timed out"),
        Fake::new("hotels", 50),
        Fake::new("weather", 100),
    );
    let counters = [flights.counter(), hotels.counter(), weather.counter()];
    let tools = Toolbox::new().with(flights).with(hotels).with(weather);
    let retry = RetryPolicy::new(2).initial_interval(Duration::from_millis(10)).jitter(false);
    let graph =
        per_call_graph(ToolNode::new(tools), NodeOptions::new().retry(retry)).compile().unwrap();
    let start = Instant::now();
    let out = graph.invoke(asking(three_calls()), RunConfig::default()).await.unwrap();
    // flights fails at 150 ms, waits 10 ms, and takes 150 ms again.
    assert_eq!(start.elapsed(), Duration::from_millis(310));
    assert_eq!(out.finished().unwrap().messages[2..], trip_answers());
    let runs: Vec<usize> = counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(runs, [2, 1, 1]);
}

/// Finds records and keeps them, in full, beside the summary the model reads.
struct Search;

#[async_trait]
impl Tool for Search {
    type Args = CityArgs;
    type Output = graph_agent::ToolOutput;

    fn name(&self) -> &str {
        "search"
    }

    fn description(&self) -> &str {
        "Finds hotels."
    }

    async fn call(&self, args: CityArgs, _: &ToolContext) -> Result<Self::Output, BoxError> {
        let records =
            json!([{"hotel": "Sol", "city": args.city}, {"hotel": "Mar", "city": args.city}]);
        Ok(graph_agent::ToolOutput::new("2 hotels found").with_artifact(records))
    }
}

#[tokio::test]
async fn an_output_artifact_lands_on_the_tool_message() {
    let graph = per_call_graph(ToolNode::new(Toolbox::new().with(Search)), NodeOptions::new())
        .compile()
        .unwrap();
    let calls = vec![call("c1", "search", json!({"city": "Faro"}))];
    let out = graph.invoke(asking(calls), RunConfig::default()).await.unwrap();
    let Message::Tool(expected) = answer("c1", "search", "2 hotels found") else { unreachable!() };
    let records = json!([{"hotel": "Sol", "city": "Faro"}, {"hotel": "Mar", "city": "Faro"}]);
    let expected = Message::Tool(ToolMessage { artifact: Some(records), ..expected });
    assert_eq!(out.finished().unwrap().messages[2..], [expected]);
}

/// A tool that words its own failure for the model.
struct Refusing;

#[async_trait]
impl Tool for Refusing {
    type Args = CityArgs;
    type Output = graph_agent::ToolOutput;
    fn name(&self) -> &str {
        "refusing"
    }
    fn description(&self) -> &str {
        "Knows no city."
    }
    async fn call(&self, args: CityArgs, _: &ToolContext) -> Result<Self::Output, BoxError> {
        Ok(graph_agent::ToolOutput::error(format!("unknown city `{}`", args.city)))
    }
}

#[tokio::test]
async fn an_error_output_is_an_error_answer_whatever_the_policy() {
    let node = ToolNode::new(Toolbox::new().with(Refusing));
    let graph = per_call_graph(node, NodeOptions::new()).compile().unwrap();
    let call = ToolCall::new("c1", "refusing", json!({"city": "Atlantis"}));
    let out = graph.invoke(asking(vec![call]), RunConfig::default()).await.unwrap();
    let state = out.finished().unwrap();
    assert_eq!(state.messages[2..], [error_answer("c1", "refusing", "unknown city `Atlantis`")]);
}
