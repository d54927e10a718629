//! A pause for a person is an outcome, not an error; a pause that could never be resumed
//! (no checkpointer) is a typed error.

use std::sync::Arc;

use futures::StreamExt;
use graph_core::checkpoint::MemorySaver;
use graph_core::prelude::*;
use graph_core::{Interrupt, InterruptError, StreamEvent};
use serde_json::json;

#[derive(State, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Mail {
    draft: String,
    sent: bool,
}

async fn review(s: Arc<Mail>, ctx: NodeContext) -> Result<MailUpdate, InterruptError> {
    let approved: bool = ctx.interrupt(format!("send {:?}?", s.draft))?;
    Ok(Mail::update().sent(approved))
}

fn builder() -> StateGraph<Mail> {
    StateGraph::<Mail>::new().add_node("review", review).add_edge(START, "review")
}

#[tokio::test]
async fn invoke_returns_a_paused_outcome_with_state_and_questions() {
    let graph = builder().compile().unwrap().with_checkpointer(MemorySaver::new());
    let config = RunConfig::default().thread_id("mail-1");
    let outcome = graph.invoke(Mail::update().draft("hi"), config.clone()).await.unwrap();
    let question =
        Interrupt { id: "0:review#0".into(), node: "review".into(), value: json!("send \"hi\"?") };
    assert_eq!(
        outcome,
        RunOutcome::Paused {
            state: Mail { draft: "hi".into(), sent: false },
            interrupts: vec![question.clone()]
        }
    );
    let err = outcome.finished().unwrap_err();
    assert_eq!(err.to_string(), "the run paused at 0:review#0; resume it with Command::resume");

    let outcome = graph.invoke(Command::resume(true), config).await.unwrap();
    assert_eq!(outcome, RunOutcome::Finished(Mail { draft: "hi".into(), sent: true }));
    assert!(outcome.interrupts().is_empty());
}

#[tokio::test]
async fn a_stream_ends_with_a_paused_event() {
    let graph = builder().compile().unwrap().with_checkpointer(MemorySaver::new());
    let config = RunConfig::default().thread_id("mail-2");
    let events: Vec<_> = graph.stream(Mail::update().draft("hi"), config).collect().await;
    let Some(Ok(StreamEvent::Paused { state, interrupts })) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(state.draft, "hi");
    assert_eq!(interrupts[0].id, "0:review#0");
}

#[tokio::test]
async fn pausing_without_a_checkpointer_is_a_typed_error() {
    let graph = builder().compile().unwrap();
    let err = graph.invoke(Mail::default(), RunConfig::default()).await.unwrap_err();
    assert!(
        matches!(&err, GraphError::NoCheckpointer { needed_for } if needed_for == "pausing in node `review`")
    );
    assert_eq!(
        err.to_string(),
        "pausing in node `review` needs a checkpointer, and this graph has none: compile it and call `.with_checkpointer(..)`, for example with `MemorySaver::new()`"
    );
}

#[tokio::test]
async fn static_interrupts_without_a_checkpointer_fail_before_any_node_runs() {
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    let graph = StateGraph::<Mail>::new()
        .add_node("write", move |_: Arc<Mail>| {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            async {}
        })
        .add_node("send", |_: Arc<Mail>| async {})
        .add_edge(START, "write")
        .add_edge("write", "send")
        .interrupt_before(["send"])
        .compile()
        .unwrap();
    let err = graph.invoke(Mail::default(), RunConfig::default()).await.unwrap_err();
    assert!(
        matches!(&err, GraphError::NoCheckpointer { needed_for } if needed_for == "interrupt_before(`send`)")
    );
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test]
async fn an_answer_that_cannot_be_saved_is_refused_before_anything_is_saved() {
    let graph = builder().compile().unwrap().with_checkpointer(MemorySaver::new());
    let config = RunConfig::default().thread_id("mail-3");
    assert!(graph.invoke(Mail::default(), config.clone()).await.unwrap().is_paused());
    let err = graph.invoke(Command::resume(f64::NAN), config.clone()).await.unwrap_err();
    let GraphError::InvalidResume(graph_core::InvalidResume::UnsaveableAnswer {
        thread_id,
        reason,
    }) = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(thread_id, "mail-3");
    assert!(reason.starts_with("cannot save the non-finite float NaN at `.`"), "{reason}");
    // The question is still open and a good answer goes through.
    let outcome = graph.invoke(Command::resume(true), config).await.unwrap();
    assert!(outcome.finished().unwrap().sent);
}

#[tokio::test]
async fn a_question_that_cannot_be_saved_fails_the_node_instead_of_pausing() {
    async fn ask(_: Arc<Mail>, ctx: NodeContext) -> Result<MailUpdate, InterruptError> {
        let _: bool = ctx.interrupt(Some(None::<u8>))?;
        Ok(Mail::update())
    }
    let graph = StateGraph::<Mail>::new()
        .add_node("ask", ask)
        .add_edge(START, "ask")
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new());
    let config = RunConfig::default().thread_id("mail-4");
    let err = graph.invoke(Mail::default(), config).await.unwrap_err();
    let GraphError::NodeFailed { node, source, .. } = &err else { panic!("{err:?}") };
    assert_eq!(node, "ask");
    assert!(
        matches!(source.downcast_ref::<InterruptError>(), Some(InterruptError::Unsaveable { id, .. }) if id == "0:ask#0"),
        "{source}"
    );
}
