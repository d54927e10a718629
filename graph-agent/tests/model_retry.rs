//! `ModelError::retry_policy` in a graph, on tokio's paused clock: a rate-limited model is
//! called again after exactly the wait it asked for; a rejected request is not retried.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use graph_agent::{
    AssistantMessage, ChatModel, ChatRequest, HasMessages, Message, MessagesState, ModelError,
};
use graph_core::prelude::*;
use graph_core::{BoxError, GraphError, NodeOptions};
use tokio::time::Instant;

/// A model that answers with `script`, one entry per call, and notes when it was called.
struct Flaky {
    script: Mutex<VecDeque<Result<AssistantMessage, ModelError>>>,
    started: Instant,
    calls: Mutex<Vec<Duration>>,
}

impl Flaky {
    fn new(script: Vec<Result<AssistantMessage, ModelError>>) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(script.into()),
            started: Instant::now(),
            calls: Mutex::default(),
        })
    }
}

#[async_trait]
impl ChatModel for Flaky {
    async fn generate(&self, _: ChatRequest<'_>) -> Result<AssistantMessage, BoxError> {
        self.calls.lock().unwrap().push(self.started.elapsed());
        Ok(self.script.lock().unwrap().pop_front().expect("a scripted answer")?)
    }
}

fn chat(model: Arc<Flaky>) -> CompiledGraph<MessagesState> {
    StateGraph::<MessagesState>::new()
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
        .unwrap()
}

fn question() -> MessagesState {
    MessagesState { messages: vec![Message::user("Hi?").with_id("q")].into() }
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_call_is_retried_after_exactly_the_wait_the_provider_asked_for() {
    let model = Flaky::new(vec![
        Err(ModelError::RateLimited {
            provider: "openai".into(),
            retry_after: Some(Duration::from_secs(2)),
            message: "Rate limit reached".into(),
        }),
        Ok(AssistantMessage {
            id: Some("a".into()),
            content: "Hello!".into(),
            ..Default::default()
        }),
    ]);
    let out = chat(Arc::clone(&model))
        .invoke(question(), RunConfig::default())
        .await
        .unwrap()
        .into_state();
    assert_eq!(*model.calls.lock().unwrap(), [Duration::ZERO, Duration::from_secs(2)]);
    assert_eq!(out.messages().last().unwrap().content(), "Hello!");
}

#[tokio::test(start_paused = true)]
async fn a_rejected_request_is_not_retried() {
    let rejected = ModelError::BadRequest {
        provider: "openai".into(),
        status: 400,
        message: "Invalid 'messages'".into(),
    };
    let model = Flaky::new(vec![Err(rejected.clone())]);
    let error =
        chat(Arc::clone(&model)).invoke(question(), RunConfig::default()).await.unwrap_err();
    assert_eq!(*model.calls.lock().unwrap(), [Duration::ZERO]);
    let GraphError::NodeFailed { node, attempt, source, .. } = error else {
        panic!("expected the node's failure, got {error:?}")
    };
    assert_eq!((node.as_str(), attempt), ("chat", 1));
    assert_eq!(ModelError::in_error(source.as_ref()), Some(&rejected));
}

#[tokio::test(start_paused = true)]
async fn a_server_error_without_a_wait_keeps_the_backoff() {
    let failed = ModelError::Server {
        provider: "openai".into(),
        status: 500,
        retry_after: None,
        message: "The server had an error".into(),
    };
    let model = Flaky::new(vec![Err(failed.clone()), Err(failed.clone()), Err(failed)]);
    let error =
        chat(Arc::clone(&model)).invoke(question(), RunConfig::default()).await.unwrap_err();
    let calls = model.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 3);
    // The default backoff with jitter: 250..500 ms, then 500 ms..1 s more.
    let first = calls[1] - calls[0];
    let second = calls[2] - calls[1];
    assert!(
        first >= Duration::from_millis(250) && first <= Duration::from_millis(500),
        "{first:?}"
    );
    assert!(second >= Duration::from_millis(500) && second <= Duration::from_secs(1), "{second:?}");
    assert!(matches!(error, GraphError::NodeFailed { attempt: 3, .. }), "{error:?}");
}
