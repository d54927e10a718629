//! Checkpoints keep states exactly, on every backend: for random states and random updates
//! (cleared options, empty collections, unicode, extreme numbers), the live state after each
//! step equals the state `get_state` reads back, which equals the state the resumed run
//! starts from. A non-finite float is refused with a typed error instead of being changed.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use graph_core::checkpoint::{
    CheckpointError, Checkpointer, MemorySaver, PostgresSaver, SqliteSaver,
};
use graph_core::prelude::*;
use graph_core::{Interrupt, StreamEvent, StreamMode};
use proptest::prelude::*;

/// A state with a field of every shape a checkpoint must keep.
#[derive(State, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Record {
    title: String,
    note: Option<String>,
    #[reducer(append)]
    items: Vec<String>,
    #[reducer(add)]
    total: i64,
    #[reducer(overwrite)]
    score: Option<f64>,
    #[reducer(merge)]
    tags: BTreeMap<String, i64>,
    best: Option<Best>,
    big: u64,
    /// Steps taken: which scripted update the node returns next.
    #[reducer(add)]
    steps: u64,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Best {
    name: String,
    value: f64,
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "\\PC{0,12}",
        1 => Just(String::new()),
        1 => Just("nul \u{0} and quote \" and backslash \\".to_string()),
        1 => Just("emoji 🦀 · ünïcödé · 日本語".to_string()),
        1 => "[a-z]{2000,3000}",
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => -1e300..1e300f64,
        2 => any::<f64>().prop_filter("finite", |f| f.is_finite()),
        1 => Just(f64::MAX),
        1 => Just(f64::MIN_POSITIVE),
        1 => Just(-0.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
    ]
}

fn finite_float() -> impl Strategy<Value = f64> {
    float().prop_filter("finite", |f| f.is_finite())
}

fn best(value: impl Strategy<Value = f64>) -> impl Strategy<Value = Best> {
    (text(), value).prop_map(|(name, value)| Best { name, value })
}

fn initial() -> impl Strategy<Value = Record> {
    (
        (text(), proptest::option::of(text()), proptest::collection::vec(text(), 0..3)),
        (-1_000_000..1_000_000i64, proptest::option::of(finite_float())),
        proptest::collection::btree_map(text(), any::<i64>(), 0..3),
        (proptest::option::of(best(finite_float())), any::<u64>()),
    )
        .prop_map(|((title, note, items), (total, score), tags, (best, big))| Record {
            title,
            note,
            items,
            total,
            score,
            tags,
            best,
            big,
            steps: 0,
        })
}

/// One step's update: every field may be left out, set, or (for options) cleared.
#[derive(Debug, Clone)]
struct Step {
    title: Option<String>,
    note: Option<Option<String>>,
    items: Option<Vec<String>>,
    total: Option<i64>,
    score: Option<Option<f64>>,
    tags: Option<BTreeMap<String, i64>>,
    best: Option<Option<Best>>,
    big: Option<u64>,
}

impl Step {
    fn update(&self) -> RecordUpdate {
        let mut update = Record::update().steps(1);
        if let Some(title) = &self.title {
            update = update.title(title.clone());
        }
        if let Some(note) = &self.note {
            update = update.note(note.clone());
        }
        if let Some(items) = &self.items {
            update = update.items(items.clone());
        }
        if let Some(total) = self.total {
            update = update.total(total);
        }
        if let Some(score) = self.score {
            update = update.score(score);
        }
        if let Some(tags) = &self.tags {
            update = update.tags(tags.clone());
        }
        if let Some(best) = &self.best {
            update = update.best(best.clone());
        }
        if let Some(big) = self.big {
            update = update.big(big);
        }
        update
    }

    /// Where the update's first non-finite float sits, in field order.
    fn non_finite(&self) -> Option<&'static str> {
        if self.score.flatten().is_some_and(|f| !f.is_finite()) {
            return Some("score");
        }
        let best = self.best.as_ref().and_then(Option::as_ref);
        best.is_some_and(|b| !b.value.is_finite()).then_some("best.value")
    }
}

fn step() -> impl Strategy<Value = Step> {
    use proptest::option::of;
    (
        (of(text()), of(of(text())), of(proptest::collection::vec(text(), 0..3))),
        (of(-1_000_000..1_000_000i64), of(of(float()))),
        of(proptest::collection::btree_map(text(), any::<i64>(), 0..3)),
        (of(of(best(float()))), of(any::<u64>())),
    )
        .prop_map(|((title, note, items), (total, score), tags, (best, big))| Step {
            title,
            note,
            items,
            total,
            score,
            tags,
            best,
            big,
        })
}

/// One node that returns the scripted update of its step, records the state it starts
/// from, and pauses after every step.
fn graph(
    script: Arc<Vec<Step>>,
    seen: Arc<Mutex<Vec<Record>>>,
    saver: Arc<dyn Checkpointer>,
) -> CompiledGraph<Record> {
    let steps = script.len() as u64;
    StateGraph::<Record>::new()
        .add_node("step", move |s: Arc<Record>| {
            seen.lock().unwrap().push((*s).clone());
            let update = script[s.steps as usize].update();
            async move { update }
        })
        .add_edge(START, "step")
        .add_conditional_edges(
            "step",
            move |s: &Record| if s.steps < steps { "step" } else { END },
            ["step", END],
        )
        .interrupt_after(["step"])
        .compile()
        .unwrap()
        .with_checkpointer(saver)
}

/// The state after the run's one step, and how the run ended.
async fn one_step(
    graph: &CompiledGraph<Record>,
    input: Option<Record>,
    config: &RunConfig,
) -> (Option<Record>, GraphError) {
    let config = config.clone().stream_mode(StreamMode::Values);
    let events: Vec<_> = match input {
        Some(state) => graph.stream(state, config).collect().await,
        None => graph.stream(Command::<Record>::new(), config).collect().await,
    };
    let mut live = None;
    for event in events {
        match event {
            Ok(StreamEvent::Values { state, .. }) => live = Some((*state).clone()),
            // The pause, as the error a caller expecting a finished run would see.
            Ok(StreamEvent::Paused { interrupts, .. }) => {
                return (live, GraphError::Interrupted { interrupts })
            }
            Ok(other) => panic!("a paused run ends with its pause, got {other:?}"),
            Err(error) => return (live, error),
        }
    }
    panic!("every step pauses after the node")
}

async fn check(saver: Arc<dyn Checkpointer>, initial: Record, script: Vec<Step>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let graph = graph(Arc::new(script.clone()), Arc::clone(&seen), saver);
    let config = RunConfig::default().thread_id(support::backends::unique("roundtrip"));
    let mut before = initial.clone();
    let mut input = Some(initial);
    for (index, step) in script.iter().enumerate() {
        let (live, ended) = one_step(&graph, input.take(), &config).await;
        if let Some(path) = step.non_finite() {
            match ended {
                GraphError::Checkpoint(CheckpointError::NonFiniteFloat { path: p, value }) => {
                    assert_eq!(p, path);
                    assert!(!value.is_finite());
                }
                other => panic!("step {index}: expected a non-finite float error, got {other:?}"),
            }
            // Nothing was saved for the refused step.
            let stored = graph.get_state(&config).await.unwrap().unwrap();
            assert_eq!(stored.values, before, "step {index}: the thread keeps the step before");
            return;
        }
        let live = live.unwrap_or_else(|| panic!("step {index} ran: {ended:?}"));
        let after = Interrupt {
            id: "after:step".into(),
            node: "step".into(),
            value: serde_json::Value::Null,
        };
        assert!(
            matches!(&ended, GraphError::Interrupted { interrupts } if *interrupts == [after.clone()]),
            "step {index}: {ended:?}"
        );
        let stored = graph.get_state(&config).await.unwrap().unwrap();
        assert_eq!(stored.values, live, "step {index}: get_state reads back the live state");
        if index > 0 {
            let resumed_from = seen.lock().unwrap()[index].clone();
            assert_eq!(
                resumed_from, before,
                "step {index}: the resumed run starts from the saved state"
            );
        }
        before = live;
    }
    let err = graph.invoke(Command::<Record>::new(), config.clone()).await.unwrap_err();
    assert!(matches!(err, GraphError::NothingToResume { .. }), "{err:?}");
    assert_eq!(seen.lock().unwrap().len(), script.len());
    let history = graph.get_state_history(&config).await.unwrap();
    assert_eq!(history[0].values, before, "the history's newest state is the final state");
}

/// Where a case saves its checkpoints.
#[derive(Clone)]
enum Backend {
    Memory,
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Backend {
    async fn saver(&self) -> Arc<dyn Checkpointer> {
        match self {
            Backend::Memory => Arc::new(MemorySaver::new()),
            Backend::Sqlite(file) => Arc::new(SqliteSaver::open(file).unwrap()),
            Backend::Postgres(url) => Arc::new(
                PostgresSaver::connect(url)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {url:?} is required: {e}")),
            ),
        }
    }
}

fn run_cases(cases: u32, backend: Backend) {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(initial in initial(), script in proptest::collection::vec(step(), 1..5))| {
        runtime.block_on(async { check(backend.saver().await, initial, script).await });
    });
}

#[test]
fn memory_keeps_every_state() {
    run_cases(64, Backend::Memory);
}

#[test]
fn sqlite_keeps_every_state() {
    run_cases(48, Backend::Sqlite(support::backends::sqlite_file()));
}

#[test]
fn postgres_keeps_every_state() {
    run_cases(32, Backend::Postgres(support::backends::postgres_url()));
}
