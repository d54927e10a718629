//! `tracing` spans: run > superstep > task, with the node, step and task id as fields.

mod support;

use std::sync::{Arc, Mutex};

use graph_core::prelude::*;
use support::{visit, Log};
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Records every new span as `parent > name {fields}`.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!(" {}={:?}", field.name(), value));
            }
        }
        let mut fields = Fields(String::new());
        attrs.record(&mut fields);
        let span = ctx.span(id).unwrap();
        let parent = span.parent().map_or("-".to_owned(), |p| p.name().to_owned());
        self.0.lock().unwrap().push(format!("{parent} > {}{}", span.name(), fields.0));
    }

    fn on_record(&self, id: &Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!(" {}={:?}", field.name(), value));
            }
        }
        let mut fields = Fields(String::new());
        values.record(&mut fields);
        let name = ctx.span(id).unwrap().name();
        self.0.lock().unwrap().push(format!("record {name}{}", fields.0));
    }
}

/// The spans a run of `graph` creates and records, in order.
async fn spans_of(graph: &CompiledGraph<Log>) -> Vec<String> {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    graph.invoke(Log::default(), RunConfig::default()).await.unwrap().into_state();
    let spans = recorder.0.lock().unwrap().clone();
    spans
}

#[tokio::test]
async fn runs_steps_and_tasks_are_nested_spans() {
    let graph = StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("b", visit("b"))
        .add_node("c", visit("c"))
        .add_edge(START, "a")
        .add_edge("a", "b")
        .add_edge("a", "c")
        .compile()
        .unwrap();
    let spans = spans_of(&graph).await;
    assert_eq!(
        spans,
        [
            "- > run nodes=3",
            "run > superstep step=0 tasks=1",
            "superstep > task node=a task_id=0:a",
            "record task attempt=1",
            "record task outcome=\"ok\"",
            "run > superstep step=1 tasks=2",
            "superstep > task node=b task_id=1:b",
            "superstep > task node=c task_id=1:c",
            "record task attempt=1",
            "record task outcome=\"ok\"",
            "record task attempt=1",
            "record task outcome=\"ok\"",
        ]
    );
}

#[tokio::test]
async fn a_subgraphs_spans_nest_under_its_task() {
    let child = StateGraph::<Log>::new().add_node("inner", visit("inner")).add_edge(START, "inner");
    let graph = StateGraph::<Log>::new()
        .add_subgraph("child", child.compile().unwrap())
        .add_edge(START, "child")
        .compile()
        .unwrap();
    let spans = spans_of(&graph).await;
    assert_eq!(
        spans,
        [
            "- > run nodes=1",
            "run > superstep step=0 tasks=1",
            "superstep > task node=child task_id=0:child",
            "record task attempt=1",
            "task > run nodes=1 namespace=child:0:child",
            "run > superstep step=0 tasks=1",
            "superstep > task node=inner task_id=0:inner",
            "record task attempt=1",
            "record task outcome=\"ok\"",
            "record task outcome=\"ok\"",
        ]
    );
}
