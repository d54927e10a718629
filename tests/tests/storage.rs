//! Checkpoint storage stays within a fixed multiple of the final state on every backend, at
//! 1,000 steps and at 10,000: a run appending one 100-byte item per step, measured as each
//! backend keeps it. A full snapshot comes only when loading would otherwise read more than
//! about twice the state, so the multiple does not grow with the run; every checkpoint
//! still loads back exactly.

mod support;

use std::sync::Arc;

use graph_core::checkpoint::{
    ChainProblem, Checkpoint, CheckpointError, Checkpointer, MemorySaver, SqliteSaver, StateRecord,
};
use graph_core::prelude::*;
use support::backends::{postgres, postgres_url, sqlite_file, thread};

const ITEM_LEN: usize = 100;

#[derive(State, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Items {
    #[reducer(append)]
    items: Vec<String>,
}

/// Item `i`: `len` pseudo-random hex digits, so no compression flatters the figures.
fn item(i: usize, len: usize) -> String {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_digit((x & 15) as u32, 16).unwrap()
        })
        .collect()
}

/// Appends item `i` of `len` digits at step `i` until it holds `steps` items.
fn appender(steps: usize, len: usize) -> CompiledGraph<Items> {
    StateGraph::<Items>::new()
        .add_node("append", move |s: Arc<Items>| async move {
            Items::update().items(vec![item(s.items.len(), len)])
        })
        .add_edge(START, "append")
        .add_conditional_edges(
            "append",
            move |s: &Items| if s.items.len() < steps { "append" } else { END },
            ["append", END],
        )
        .compile()
        .unwrap()
}

fn limit(config: RunConfig, steps: usize) -> RunConfig {
    config.recursion_limit(steps + 10)
}

/// A run of `steps` steps on a new thread of `saver`: checks it ends in the state a run
/// without checkpoints reaches, and that its checkpoints load back exactly. Returns the
/// thread's config and the final state's JSON size.
async fn run(saver: Arc<dyn Checkpointer>, steps: usize, history: bool) -> (RunConfig, usize) {
    let expected = appender(steps, ITEM_LEN)
        .invoke(Items::default(), limit(RunConfig::default(), steps))
        .await
        .unwrap()
        .into_state();
    assert_eq!(expected.items.len(), steps);
    let graph = appender(steps, ITEM_LEN).with_checkpointer(Arc::clone(&saver));
    let config = thread();
    let out = graph.invoke(Items::default(), limit(config.clone(), steps)).await.unwrap();
    assert_eq!(out.into_state(), expected);
    check_loads(&graph, &*saver, &config, &expected, history).await;
    (config, serde_json::to_string(&expected).unwrap().len())
}

/// The latest and a middle checkpoint (and with `history`, every one) load back as the
/// state after their step; loading the latest reads at most about twice the state.
async fn check_loads(
    graph: &CompiledGraph<Items>,
    saver: &dyn Checkpointer,
    config: &RunConfig,
    expected: &Items,
    history: bool,
) {
    // After step `s` (-1 for the input) the state holds `s + 1` items.
    let at = |step: i64| Items { items: expected.items[..(step + 1) as usize].to_vec() };
    let latest = graph.get_state(config).await.unwrap().unwrap();
    assert_eq!(&latest.values, expected);
    let checkpoints = saver.list(config.thread_id.as_deref().unwrap()).await.unwrap();
    assert_eq!(checkpoints.len(), expected.items.len() + 1);
    let middle = &checkpoints[checkpoints.len() / 2];
    let loaded = graph.get_state(&config.clone().checkpoint_id(&middle.id)).await.unwrap();
    assert_eq!(loaded.unwrap().values, at(middle.metadata.step));
    let state_len = serde_json::to_string(expected).unwrap().len();
    let read = read_to_load(&checkpoints);
    assert!(read <= 2 * state_len + 1_000, "loading reads {read} bytes, the state is {state_len}");
    if history {
        let snapshots = graph.get_state_history(config).await.unwrap();
        let ids: Vec<_> = snapshots.iter().map(|s| s.checkpoint_id.as_str()).collect();
        let listed: Vec<_> = checkpoints.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, listed);
        for snapshot in &snapshots {
            assert_eq!(snapshot.values, at(snapshot.metadata.step), "{}", snapshot.checkpoint_id);
        }
    }
}

/// The state bytes loading the latest of `checkpoints` (newest first) reads: its last full
/// snapshot and the deltas since.
fn read_to_load(checkpoints: &[Checkpoint]) -> usize {
    let mut read = 0;
    for checkpoint in checkpoints {
        read += match &checkpoint.state {
            StateRecord::Full { values } => {
                return read + serde_json::to_string(values).unwrap().len()
            }
            StateRecord::Delta { writes } => serde_json::to_string(writes).unwrap().len(),
        };
    }
    panic!("no full snapshot")
}

/// Stored bytes per byte of the final state, checked against `max`: per checkpoint, the
/// writes of its step, its ids and its pending work; plus the snapshots, which a run that
/// only appends hardly needs.
fn ratio(backend: &str, steps: usize, stored: usize, state_len: usize, max: f64) -> f64 {
    let ratio = stored as f64 / state_len as f64;
    println!("{backend}, {steps} steps: {stored} bytes stored, state {state_len}: {ratio:.2}x");
    assert!(ratio <= max, "{backend}, {steps} steps: {ratio:.2}x the final state");
    ratio
}

async fn on_memory(steps: usize, history: bool) -> f64 {
    let saver = Arc::new(MemorySaver::new());
    let (config, state_len) = run(Arc::clone(&saver) as _, steps, history).await;
    let stored = saver.stored_bytes(config.thread_id.as_deref().unwrap());
    ratio("memory", steps, stored, state_len, 3.0)
}

async fn on_sqlite(steps: usize, history: bool) -> f64 {
    let file = sqlite_file();
    let (_, state_len) = run(Arc::new(SqliteSaver::open(&file).unwrap()), steps, history).await;
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    let stored = std::fs::metadata(&file).unwrap().len() as usize;
    ratio("sqlite", steps, stored, state_len, 3.0)
}

async fn on_postgres(steps: usize, history: bool) -> f64 {
    let (config, state_len) = run(Arc::new(postgres().await), steps, history).await;
    let (client, connection) =
        tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let mut stored = 0;
    for table in ["graph_checkpoints", "graph_writes"] {
        let query = format!(
            "SELECT coalesce(sum(pg_column_size(t.*)), 0)::bigint FROM {table} t WHERE thread_id = $1"
        );
        let row = client.query_one(&query, &[&config.thread_id]).await.unwrap();
        stored += row.get::<_, i64>(0) as usize;
    }
    ratio("postgres", steps, stored, state_len, 3.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_storage_is_a_bounded_multiple_of_the_state() {
    let short = on_memory(1_000, true).await;
    // Only the step numbers (and perhaps the thread id) grow longer, a byte or two a row.
    assert!(on_memory(10_000, false).await <= short + 0.05);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_storage_is_a_bounded_multiple_of_the_state() {
    let short = on_sqlite(1_000, true).await;
    assert!(on_sqlite(10_000, false).await <= short);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_storage_is_a_bounded_multiple_of_the_state() {
    let short = on_postgres(1_000, true).await;
    // Only the step numbers (and perhaps the thread id) grow longer, a byte or two a row,
    // which PostgreSQL may pad by up to 3 more to align the body.
    assert!(on_postgres(10_000, false).await <= short + 0.08);
}

/// The steps of the full snapshots among `checkpoints`.
fn snapshot_steps(checkpoints: &[Checkpoint]) -> Vec<i64> {
    let full = checkpoints.iter().filter(|c| matches!(c.state, StateRecord::Full { .. }));
    full.map(|c| c.metadata.step).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_continued_from_its_checkpoint_snapshots_where_one_run_does() {
    // With 10-digit items a 37-byte delta adds 13 bytes to the state, so after a snapshot
    // of S bytes the load outgrows twice the state after about S / 11 steps (S + 37n >
    // 2(S + 13n)), seen within an eighth of the state: one run of 1,000 steps snapshots
    // once after step 500 (at step 610). A run stopped after step 499 and continued must
    // keep counting the deltas since step 269, not start again from zero.
    const STEPS: usize = 1_000;
    const LEN: usize = 10;
    let saver = Arc::new(MemorySaver::new());
    let whole = thread();
    let config = limit(whole.clone(), STEPS);
    let graph = appender(STEPS, LEN).with_checkpointer(Arc::clone(&saver));
    let expected = graph.invoke(Items::default(), config).await.unwrap().into_state();
    let once = saver.list(whole.thread_id.as_deref().unwrap()).await.unwrap();
    assert_eq!(snapshot_steps(&once), [610, 269, 117, 52, 22, 9, 3, 0, -1]);

    let halves = thread();
    let config = limit(halves.clone(), STEPS);
    let first = appender(STEPS / 2, LEN).with_checkpointer(Arc::clone(&saver));
    let half = first.invoke(Items::default(), config.clone()).await.unwrap().into_state();
    assert_eq!(half.items, expected.items[..STEPS / 2]);
    let out = graph.invoke(Items::update(), config).await.unwrap().into_state();
    assert_eq!(out, expected);
    let continued = saver.list(halves.thread_id.as_deref().unwrap()).await.unwrap();
    // The continued thread has one more checkpoint, the second run's input, which takes
    // step 500: the snapshot holds the same state as the one run's, one step number later.
    assert_eq!(snapshot_steps(&continued), [611, 269, 117, 52, 22, 9, 3, 0, -1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reads_bodies_that_name_their_thread() {
    // Earlier versions stored the id and thread in the body too: such files keep loading,
    // and a body naming another thread is stored in the wrong row.
    let file = sqlite_file();
    let graph = appender(1, ITEM_LEN).with_checkpointer(SqliteSaver::open(&file).unwrap());
    let conn = rusqlite::Connection::open(&file).unwrap();
    let state = Items { items: vec![item(0, ITEM_LEN)] };
    for (thread_id, named) in [("old", "old"), ("moved", "elsewhere")] {
        let body = serde_json::json!({
            "id": "0001",
            "thread_id": named,
            "parent_id": null,
            "state": { "kind": "full", "values": state },
            "pending": { "triggered": [], "sends": [], "joins": [] },
            "metadata": { "source": "loop", "step": 0, "writers": ["append"] },
        });
        conn.execute(
            "INSERT INTO graph_threads (thread_id, latest) VALUES (?1, '0001')",
            [thread_id],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO graph_checkpoints (thread_id, id, body) VALUES (?1, '0001', ?2)",
            [thread_id, &body.to_string()],
        )
        .unwrap();
    }
    let old = graph.get_state(&RunConfig::default().thread_id("old")).await.unwrap().unwrap();
    assert_eq!((old.values, old.metadata.writers), (state.clone(), vec!["append".to_owned()]));
    // A copy's records name the copy: the body is read under its thread and written anew.
    SqliteSaver::open(&file).unwrap().copy_thread("old", "copied").await.unwrap();
    let copied = graph.get_state(&RunConfig::default().thread_id("copied")).await.unwrap();
    let copied = copied.expect("the copy of a thread whose bodies name it loads");
    assert_eq!((copied.values, copied.checkpoint_id.as_str()), (state, "0001"));
    let err = graph.get_state(&RunConfig::default().thread_id("moved")).await.unwrap_err();
    let GraphError::Checkpoint(CheckpointError::Corrupt { thread_id, checkpoint_id, reason }) = err
    else {
        panic!("{err:?}")
    };
    assert_eq!((thread_id.as_str(), checkpoint_id.as_str()), ("moved", "0001"));
    assert_eq!(reason, "the stored record names checkpoint `0001` of thread `elsewhere`");
}

/// The tables as the first versions created them: rowid tables, each with an index on its
/// primary key.
const FIRST_LAYOUT: &str = "
CREATE TABLE graph_threads (thread_id TEXT PRIMARY KEY, latest TEXT NOT NULL);
CREATE TABLE graph_checkpoints (
    thread_id TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (thread_id, id)
);
CREATE TABLE graph_writes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id TEXT NOT NULL, checkpoint_id TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX graph_writes_by_checkpoint ON graph_writes (thread_id, checkpoint_id);
";

/// The tables as the versions after created them: keyed by their primary keys, each
/// checkpoint row naming its thread.
const SECOND_LAYOUT: &str = "
CREATE TABLE graph_threads (thread_id TEXT PRIMARY KEY, latest TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE graph_checkpoints (
    thread_id TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (thread_id, id)
) WITHOUT ROWID;
CREATE TABLE graph_writes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id TEXT NOT NULL, checkpoint_id TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX graph_writes_by_checkpoint ON graph_writes (thread_id, checkpoint_id);
";

/// A file of `layout` holding thread `old` as earlier versions wrote it: a full snapshot
/// in the first body format, then a delta in the terse format with its parent spelled out.
/// Runs go on writing to it, every checkpoint, old or new, reads back, and the file keeps
/// its layout.
async fn an_old_file_keeps_loading_and_growing(layout: &str) {
    const FIRST: &str = "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7a";
    const SECOND: &str = "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b";
    let file = sqlite_file();
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch(layout).unwrap();
    let first = Items { items: vec![item(0, ITEM_LEN)] };
    let full = serde_json::json!({
        "id": FIRST,
        "parent_id": null,
        "state": { "kind": "full", "values": first },
        "pending": { "triggered": ["append"] },
        "metadata": { "source": "loop", "step": 0, "writers": ["append"] },
    });
    // Terse bodies start with the checksum of their id, 4109547576 for the second id.
    let delta = format!(
        r#"{{"k":4109547576,"p":"{FIRST}","d":[["append",{{"items":["{}"]}}]],"t":["append"],"s":1}}"#,
        item(1, ITEM_LEN)
    );
    conn.execute("INSERT INTO graph_threads (thread_id, latest) VALUES ('old', ?1)", [SECOND])
        .unwrap();
    for (id, body) in [(FIRST, full.to_string()), (SECOND, delta)] {
        conn.execute(
            "INSERT INTO graph_checkpoints (thread_id, id, body) VALUES ('old', ?1, ?2)",
            [id, &body],
        )
        .unwrap();
    }
    let created = |conn: &rusqlite::Connection| -> String {
        let sql = "SELECT sql FROM sqlite_master WHERE name = 'graph_checkpoints'";
        conn.query_row(sql, [], |row| row.get(0)).unwrap()
    };
    let before = created(&conn);
    drop(conn);

    let graph = appender(4, ITEM_LEN).with_checkpointer(SqliteSaver::open(&file).unwrap());
    let config = limit(RunConfig::default().thread_id("old"), 4);
    let out = graph.invoke(Items::update(), config.clone()).await.unwrap().into_state();
    let expected: Vec<_> = (0..4).map(|i| item(i, ITEM_LEN)).collect();
    assert_eq!(out.items, expected);
    let history = graph.get_state_history(&config).await.unwrap();
    let states: Vec<_> = history.iter().map(|s| s.values.items.len()).collect();
    // Newest first: steps 3 and 2, the second run's input and the two old checkpoints.
    assert_eq!(states, [4, 3, 2, 2, 1]);
    let old: Vec<_> = history[3..].iter().map(|s| s.checkpoint_id.as_str()).collect();
    assert_eq!(old, [SECOND, FIRST]);
    assert_eq!(history[3].parent_id.as_deref(), Some(FIRST));
    assert_eq!(history[2].parent_id.as_deref(), Some(SECOND));
    for snapshot in &history {
        assert_eq!(snapshot.values.items, expected[..snapshot.values.items.len()]);
    }
    let conn = rusqlite::Connection::open(&file).unwrap();
    assert_eq!(created(&conn), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_files_of_the_first_layout_keep_loading_and_growing() {
    an_old_file_keeps_loading_and_growing(FIRST_LAYOUT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_files_of_the_second_layout_keep_loading_and_growing() {
    an_old_file_keeps_loading_and_growing(SECOND_LAYOUT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_sqlite_files_key_checkpoints_by_a_number_per_thread() {
    // Each row holds a small number for its thread, not the thread's id; deleting a
    // thread drops its number with its rows.
    let file = sqlite_file();
    let saver = SqliteSaver::open(&file).unwrap();
    let graph = appender(3, ITEM_LEN).with_checkpointer(saver.clone());
    let config = limit(thread(), 3);
    let out = graph.invoke(Items::default(), config.clone()).await.unwrap();
    assert_eq!(out.into_state().items.len(), 3);
    let conn = rusqlite::Connection::open(&file).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |row| row.get(0)).unwrap() };
    assert_eq!(
        count("SELECT count(*) FROM graph_checkpoint_rows WHERE typeof(thread) = 'integer'"),
        4
    );
    assert_eq!(count("SELECT count(*) FROM graph_thread_keys"), 1);
    saver.delete_thread(config.thread_id.as_deref().unwrap()).await.unwrap();
    assert_eq!(count("SELECT count(*) FROM graph_checkpoint_rows"), 0);
    assert_eq!(count("SELECT count(*) FROM graph_thread_keys"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_walk_to_a_snapshot_finds_a_missing_parent() {
    // Loading the latest of 100 deltas walks past the parents it fetches one by one and
    // lists the thread instead: a parent missing from the listing is still a broken link.
    let file = sqlite_file();
    let graph = appender(100, ITEM_LEN).with_checkpointer(SqliteSaver::open(&file).unwrap());
    let config = limit(thread(), 100);
    let out = graph.invoke(Items::default(), config.clone()).await.unwrap();
    assert_eq!(out.into_state().items.len(), 100);
    let history = graph.get_state_history(&config).await.unwrap();
    let (child, gone) = (&history[79], &history[80]);
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute("DELETE FROM graph_checkpoints WHERE id = ?1", [&gone.checkpoint_id]).unwrap();
    let err = graph.get_state(&config).await.unwrap_err();
    let GraphError::Checkpoint(CheckpointError::CorruptChain { checkpoint_id, problem, .. }) = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(checkpoint_id, child.checkpoint_id);
    assert_eq!(problem, ChainProblem::MissingParent { parent_id: gone.checkpoint_id.clone() });
}
