//! Damaged stored data: every kind of damage gives a typed error in bounded time, never a
//! hang, an abort or an overflow panic. Chains that loop, step numbers at the integer limit,
//! deltas without a base and missing parents on every backend; byte-level damage of stored
//! rows on SQLite and PostgreSQL; and a property test of random damage.

mod support;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use graph_core::checkpoint::{
    ChainProblem, Checkpoint, CheckpointError, CheckpointMetadata, CheckpointSource, Checkpointer,
    MemorySaver, PendingRecord, SqliteSaver, StateRecord,
};
use graph_core::prelude::*;
use proptest::prelude::*;
use serde_json::json;
use support::backends::{on_every_backend, postgres, postgres_url, sqlite_file, unique};
use support::{visit, Log};

/// `a` then `b`: stored checkpoints below leave `b` to run.
fn graph(saver: Arc<dyn Checkpointer>) -> CompiledGraph<Log> {
    StateGraph::<Log>::new()
        .add_node("a", visit("a"))
        .add_node("b", visit("b"))
        .add_edge(START, "a")
        .add_edge("a", "b")
        .compile()
        .unwrap()
        .with_checkpointer(saver)
}

fn full() -> StateRecord {
    StateRecord::Full { values: json!({ "visited": ["a"], "n": 1, "last": null }) }
}

fn delta() -> StateRecord {
    StateRecord::Delta { writes: vec![("a".into(), json!({ "visited": ["a"], "n": 1 }))] }
}

fn record(
    thread: &str,
    id: &str,
    parent: Option<&str>,
    state: StateRecord,
    step: i64,
) -> Checkpoint {
    Checkpoint::new(
        id,
        thread,
        parent.map(str::to_owned),
        state,
        PendingRecord::new(vec!["b".into()], Vec::new(), Vec::new()),
        CheckpointMetadata::new(CheckpointSource::Loop, step, vec!["a".into()]),
    )
}

/// Fails instead of hanging.
async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 10 s"))
}

/// Reading, listing and resuming the thread all fail with `expected`.
async fn every_read_fails(
    graph: &CompiledGraph<Log>,
    config: &RunConfig,
    expected: &CheckpointError,
) {
    let state = bounded("get_state", graph.get_state(config)).await.unwrap_err();
    assert_same(&state, expected);
    let resumed =
        bounded("resume", graph.invoke(Command::<Log>::new(), config.clone())).await.unwrap_err();
    assert_same(&resumed, expected);
}

fn assert_same(err: &GraphError, expected: &CheckpointError) {
    match (err, expected) {
        (
            GraphError::Checkpoint(CheckpointError::CorruptChain {
                thread_id,
                checkpoint_id,
                problem,
            }),
            CheckpointError::CorruptChain { thread_id: t, checkpoint_id: c, problem: p },
        ) => assert_eq!((thread_id, checkpoint_id, problem), (t, c, p)),
        (
            GraphError::Checkpoint(CheckpointError::Corrupt { thread_id, checkpoint_id, .. }),
            CheckpointError::Corrupt { thread_id: t, checkpoint_id: c, .. },
        ) => assert_eq!((thread_id, checkpoint_id), (t, c)),
        _ => panic!("expected {expected:?}, got {err:?}"),
    }
}

fn chain_error(thread: &str, id: &str, problem: ChainProblem) -> CheckpointError {
    CheckpointError::CorruptChain { thread_id: thread.into(), checkpoint_id: id.into(), problem }
}

on_every_backend!(
    a_delta_that_is_its_own_parent,
    a_loop_through_other_checkpoints,
    a_step_number_at_the_integer_limit,
    a_delta_without_a_base,
    a_delta_whose_parent_is_missing,
);

async fn a_delta_that_is_its_own_parent(saver: Arc<dyn Checkpointer>) {
    let thread = unique("self-loop");
    let id = unique("c");
    saver.put(&record(&thread, &id, Some(&id), delta(), 0), None).await.unwrap();
    let graph = graph(saver);
    let config = RunConfig::default().thread_id(thread.clone());
    let expected = chain_error(&thread, &id, ChainProblem::Loop { back_to: id.clone() });
    every_read_fails(&graph, &config, &expected).await;
    let history = bounded("history", graph.get_state_history(&config)).await.unwrap_err();
    assert_same(&history, &expected);
    assert_eq!(
        history.to_string(),
        format!("checkpoint `{id}` of thread `{thread}` cannot be rebuilt: its parents loop back to checkpoint `{id}`; the stored thread is damaged: load an earlier checkpoint with RunConfig::checkpoint_id, or delete the thread")
    );
}

async fn a_loop_through_other_checkpoints(saver: Arc<dyn Checkpointer>) {
    let thread = unique("loop");
    let (first, second, third) = (unique("c1"), unique("c2"), unique("c3"));
    saver.put(&record(&thread, &first, Some(&third), delta(), 0), None).await.unwrap();
    saver.put(&record(&thread, &second, Some(&first), delta(), 1), Some(&first)).await.unwrap();
    saver.put(&record(&thread, &third, Some(&second), delta(), 2), Some(&second)).await.unwrap();
    let graph = graph(saver);
    let config = RunConfig::default().thread_id(thread.clone());
    let from_latest = chain_error(&thread, &third, ChainProblem::Loop { back_to: third.clone() });
    every_read_fails(&graph, &config, &from_latest).await;
    // The history rebuilds oldest first, so it meets the loop at the first checkpoint.
    let history = bounded("history", graph.get_state_history(&config)).await.unwrap_err();
    assert_same(
        &history,
        &chain_error(&thread, &first, ChainProblem::Loop { back_to: first.clone() }),
    );
}

async fn a_step_number_at_the_integer_limit(saver: Arc<dyn Checkpointer>) {
    for step in [i64::MAX, i64::MIN, -2] {
        let thread = unique("step");
        let id = unique("c");
        saver.put(&record(&thread, &id, None, full(), step), None).await.unwrap();
        let graph = graph(Arc::clone(&saver));
        let config = RunConfig::default().thread_id(thread.clone());
        let expected = chain_error(&thread, &id, ChainProblem::StepOutOfRange { step });
        every_read_fails(&graph, &config, &expected).await;
        let history = bounded("history", graph.get_state_history(&config)).await.unwrap_err();
        assert_same(&history, &expected);
        let edit = graph.update_state(&config, Log::update().n(1), Some("a"));
        assert_same(&bounded("update_state", edit).await.unwrap_err(), &expected);
    }
}

async fn a_delta_without_a_base(saver: Arc<dyn Checkpointer>) {
    let thread = unique("no-base");
    let id = unique("c");
    saver.put(&record(&thread, &id, None, delta(), 0), None).await.unwrap();
    let graph = graph(saver);
    let config = RunConfig::default().thread_id(thread.clone());
    let expected = chain_error(&thread, &id, ChainProblem::NoBase);
    every_read_fails(&graph, &config, &expected).await;
    assert_same(&graph.get_state_history(&config).await.unwrap_err(), &expected);
}

async fn a_delta_whose_parent_is_missing(saver: Arc<dyn Checkpointer>) {
    let thread = unique("orphan");
    let id = unique("c");
    saver.put(&record(&thread, &id, Some("gone"), delta(), 0), None).await.unwrap();
    let graph = graph(saver);
    let config = RunConfig::default().thread_id(thread.clone());
    let expected =
        chain_error(&thread, &id, ChainProblem::MissingParent { parent_id: "gone".into() });
    every_read_fails(&graph, &config, &expected).await;
    assert_same(&graph.get_state_history(&config).await.unwrap_err(), &expected);
}

/// A thread of three checkpoints (input, `a`, `b`) saved through `saver`; returns its config
/// and checkpoint ids, oldest first.
async fn saved_thread(saver: Arc<dyn Checkpointer>) -> (RunConfig, Vec<String>) {
    let graph = graph(Arc::clone(&saver));
    let config = RunConfig::default().thread_id(unique("thread"));
    graph.invoke(Log::default(), config.clone()).await.unwrap().into_state();
    let history = graph.get_state_history(&config).await.unwrap();
    (config, history.iter().rev().map(|s| s.checkpoint_id.clone()).collect())
}

fn corrupt(config: &RunConfig, id: &str) -> CheckpointError {
    CheckpointError::Corrupt {
        thread_id: config.thread_id.as_deref().unwrap().into(),
        checkpoint_id: id.into(),
        reason: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_sqlite_rows_are_corrupt() {
    let file = sqlite_file();
    let saver: Arc<dyn Checkpointer> = Arc::new(SqliteSaver::open(&file).unwrap());
    let graph = graph(Arc::clone(&saver));
    let conn = rusqlite::Connection::open(&file).unwrap();
    // Bytes that are not UTF-8, a number, a truncated body, and a body naming another id.
    let damage = [
        "UPDATE graph_checkpoints SET body = CAST(X'7BFFFE22' AS TEXT) WHERE id = ?1",
        "UPDATE graph_checkpoints SET body = X'00FF' WHERE id = ?1",
        "UPDATE graph_checkpoints SET body = 42 WHERE id = ?1",
        "UPDATE graph_checkpoints SET body = substr(body, 1, length(body) / 2) WHERE id = ?1",
    ];
    for statement in damage {
        let (config, ids) = saved_thread(Arc::clone(&saver)).await;
        let latest = ids.last().unwrap();
        conn.execute(statement, [latest]).unwrap();
        every_read_fails(&graph, &config, &corrupt(&config, latest)).await;
        let history = graph.get_state_history(&config).await.unwrap_err();
        assert_same(&history, &corrupt(&config, latest));
    }

    // A body copied from another checkpoint: the record does not match where it is stored,
    // so it must not pass for the latest state.
    let (config, ids) = saved_thread(Arc::clone(&saver)).await;
    conn.execute(
        "UPDATE graph_checkpoints SET body = (SELECT body FROM graph_checkpoints WHERE id = ?1) WHERE id = ?2",
        [&ids[1], &ids[2]],
    )
    .unwrap();
    every_read_fails(&graph, &config, &corrupt(&config, &ids[2])).await;

    // The thread's latest checkpoint is gone: not a thread that never ran.
    let (config, _) = saved_thread(Arc::clone(&saver)).await;
    let thread = config.thread_id.as_deref().unwrap();
    conn.execute("UPDATE graph_threads SET latest = 'gone' WHERE thread_id = ?1", [thread])
        .unwrap();
    every_read_fails(&graph, &config, &corrupt(&config, "gone")).await;

    // A damaged pending write.
    let (config, ids) = saved_thread(Arc::clone(&saver)).await;
    conn.execute(
        "INSERT INTO graph_writes (thread_id, checkpoint_id, body) VALUES (?1, ?2, X'FF')",
        [config.thread_id.as_deref().unwrap(), &ids[2]],
    )
    .unwrap();
    every_read_fails(&graph, &config, &corrupt(&config, &ids[2])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_postgres_rows_are_corrupt() {
    let saver: Arc<dyn Checkpointer> = Arc::new(postgres().await);
    let graph = graph(Arc::clone(&saver));
    let (client, connection) =
        tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let damage = [
        "UPDATE graph_checkpoints SET body = substr(body, 1, length(body) / 2) WHERE id = $1",
        "UPDATE graph_checkpoints SET body = replace(body, '\"', '''') WHERE id = $1",
        "UPDATE graph_checkpoints SET body = '[]' WHERE id = $1",
    ];
    for statement in damage {
        let (config, ids) = saved_thread(Arc::clone(&saver)).await;
        let latest = ids.last().unwrap();
        client.execute(statement, &[latest]).await.unwrap();
        every_read_fails(&graph, &config, &corrupt(&config, latest)).await;
    }
    let (config, _) = saved_thread(Arc::clone(&saver)).await;
    let thread = config.thread_id.as_deref().unwrap();
    client
        .execute("UPDATE graph_threads SET latest = 'gone' WHERE thread_id = $1", &[&thread])
        .await
        .unwrap();
    every_read_fails(&graph, &config, &corrupt(&config, "gone")).await;
}

/// One random change to a stored thread.
#[derive(Debug, Clone)]
enum Damage {
    /// Overwrite the byte at (position modulo length) of checkpoint `index`'s body.
    Byte { index: usize, position: usize, byte: u8 },
    /// Cut checkpoint `index`'s body to (length modulo its length) bytes.
    Truncate { index: usize, length: usize },
    /// Point checkpoint `index`'s parent at checkpoint `to` (itself included), or at none.
    Parent { index: usize, to: Option<usize> },
    /// Give checkpoint `index` another step number.
    Step { index: usize, step: i64 },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0..4usize, any::<usize>(), any::<u8>()).prop_map(|(index, position, byte)| Damage::Byte {
            index,
            position,
            byte
        }),
        (0..4usize, any::<usize>()).prop_map(|(index, length)| Damage::Truncate { index, length }),
        (0..4usize, proptest::option::of(0..4usize))
            .prop_map(|(index, to)| Damage::Parent { index, to }),
        (0..4usize, prop_oneof![any::<i64>(), Just(i64::MAX), Just(i64::MAX - 1), -3..3i64])
            .prop_map(|(index, step)| Damage::Step { index, step }),
    ]
}

/// Runs a thread of four checkpoints on `template`, then stores a damaged copy as raw
/// SQLite rows under a new thread, and reads it back every way.
async fn read_damaged(file: &std::path::Path, template: &[Checkpoint], damages: &[Damage]) {
    let thread = unique("damaged");
    let mut records: Vec<Checkpoint> = template
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.thread_id = thread.clone();
            c
        })
        .collect();
    let ids: Vec<String> = records.iter().map(|c| c.id.clone()).collect();
    for damage in damages {
        match *damage {
            Damage::Parent { index, to } => records[index].parent_id = to.map(|to| ids[to].clone()),
            Damage::Step { index, step } => records[index].metadata.step = step,
            _ => {}
        }
    }
    let mut bodies: Vec<Vec<u8>> = records.iter().map(|c| serde_json::to_vec(c).unwrap()).collect();
    for damage in damages {
        match *damage {
            // A body an earlier damage truncated to nothing has nothing left to damage.
            Damage::Byte { index, position, byte } if !bodies[index].is_empty() => {
                let body = &mut bodies[index];
                let at = position % body.len();
                body[at] = byte;
            }
            Damage::Truncate { index, length } if !bodies[index].is_empty() => {
                let body = &mut bodies[index];
                body.truncate(length % body.len());
            }
            _ => {}
        }
    }
    {
        let conn = rusqlite::Connection::open(file).unwrap();
        for (id, body) in ids.iter().zip(&bodies) {
            conn.execute(
                "INSERT INTO graph_checkpoints (thread_id, id, body) VALUES (?1, ?2, ?3)",
                rusqlite::params![thread, id, body],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO graph_threads (thread_id, latest) VALUES (?1, ?2)",
            rusqlite::params![thread, ids.last().unwrap()],
        )
        .unwrap();
    }
    let graph = graph(Arc::new(SqliteSaver::open(file).unwrap()));
    let config = RunConfig::default().thread_id(thread);
    let acceptable = |result: Result<(), GraphError>| match result {
        Ok(())
        | Err(GraphError::Checkpoint(
            CheckpointError::Corrupt { .. } | CheckpointError::CorruptChain { .. },
        ))
        | Err(GraphError::NothingToResume { .. }) => {}
        Err(other) => panic!("damage {damages:?} gave {other:?}"),
    };
    acceptable(bounded("get_state", graph.get_state(&config)).await.map(drop));
    acceptable(bounded("history", graph.get_state_history(&config)).await.map(drop));
    acceptable(
        bounded("resume", graph.invoke(Command::<Log>::new(), config.clone())).await.map(drop),
    );
}

#[test]
fn random_damage_gives_a_typed_error_or_a_state() {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let file = sqlite_file();
    // Four checkpoints: input, `a` ... through a three-step walk on a saved thread.
    let template = runtime.block_on(async {
        let saver = Arc::new(MemorySaver::new());
        let graph = StateGraph::<Log>::new()
            .add_node("a", visit("a"))
            .add_node("b", visit("b"))
            .add_node("c", visit("c"))
            .add_edge(START, "a")
            .add_edge("a", "b")
            .add_edge("b", "c")
            .interrupt_before(["c"])
            .compile()
            .unwrap()
            .with_checkpointer(Arc::clone(&saver));
        let config = RunConfig::default().thread_id("template");
        assert!(graph.invoke(Log::default(), config).await.unwrap().is_paused());
        let mut list = saver.list("template").await.unwrap();
        list.reverse();
        SqliteSaver::open(&file).unwrap();
        list
    });
    assert_eq!(template.len(), 3);
    let mut template = template;
    // A fourth: an edit on top, so the chain is three deltas long.
    let mut edit = template[2].clone();
    edit.id = format!("{}-edit", edit.id);
    edit.parent_id = Some(template[2].id.clone());
    edit.state = StateRecord::Delta { writes: vec![("__update__".into(), json!({ "n": 5 }))] };
    template.push(edit);

    let config =
        ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(damages in proptest::collection::vec(damage(), 1..4))| {
        runtime.block_on(read_damaged(&file, &template, &damages));
    });
}
