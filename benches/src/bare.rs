//! The comparison workloads done on bare tokio, with no framework: the floor each
//! workload's time is set against. Each returns its result, so that callers can check it
//! and the work cannot be optimised away.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use graph_core::State;
use rusqlite::{params, Connection};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::{increment, next_step, Counter, Steps};

/// The inline limit of a chain or a loop: the node function called `steps` times in a row
/// and its update applied to the counter each time, with no scheduling at all.
pub async fn steps(steps: u64) -> Counter {
    let mut state = Arc::new(Counter::default());
    for _ in 0..steps {
        let update = increment(Arc::clone(&state)).await;
        // The node has dropped its reference, so this writes in place.
        Arc::make_mut(&mut state).apply([("step", update)]).expect("`add` takes any write");
    }
    Arc::unwrap_or_clone(state)
}

/// The inline limit of `calls` parent steps that each call a node: the subgraph's node
/// function called `calls` times in a row, its update applied each time.
pub async fn calls(calls: u64) -> Steps {
    let mut state = Arc::new(Steps::default());
    for _ in 0..calls {
        let update = next_step(Arc::clone(&state)).await;
        Arc::make_mut(&mut state).apply([("call", update)]).expect("one write per step");
    }
    Arc::unwrap_or_clone(state)
}

/// A static fan-out of `branches`: one spawned task per branch in a `JoinSet`, each
/// returning an increment, all applied, then the join's own increment.
pub async fn fan_out(branches: usize) -> Counter {
    let state = Arc::new(Counter::default());
    let mut tasks = JoinSet::new();
    for _ in 0..branches {
        tasks.spawn(increment(Arc::clone(&state)));
    }
    let updates = tasks.join_all().await;
    let mut state = Arc::unwrap_or_clone(state);
    state.apply(updates.into_iter().map(|u| ("branch", u))).expect("`add` takes any write");
    state.apply([("join", Counter::update().n(1))]).expect("`add` takes any write");
    state
}

/// A map-reduce of `tasks` Sends: one spawned task per payload `i` in a `JoinSet`, each
/// returning `vec![i]`; the lists are put back in emission order, by index, and
/// concatenated.
pub async fn map_reduce(tasks: u32) -> Vec<u32> {
    let mut set = JoinSet::new();
    for i in 0..tasks {
        set.spawn(async move { (i, vec![i]) });
    }
    in_order(set, tasks).await
}

/// `tasks` spawned tasks that each wait `wait` (an I/O-bound call), all at once, or at
/// most `limit` at a time; their payloads in emission order.
pub async fn io_fan_out(tasks: u32, wait: Duration, limit: Option<usize>) -> Vec<u32> {
    let permits = limit.map(|limit| Arc::new(Semaphore::new(limit)));
    let mut set = JoinSet::new();
    for i in 0..tasks {
        let permit = match &permits {
            Some(permits) => Some(Arc::clone(permits).acquire_owned().await.expect("never closed")),
            None => None,
        };
        set.spawn(async move {
            tokio::time::sleep(wait).await;
            drop(permit);
            (i, vec![i])
        });
    }
    in_order(set, tasks).await
}

/// The tasks' lists, in the order of their indexes rather than of completion.
async fn in_order(mut set: JoinSet<(u32, Vec<u32>)>, tasks: u32) -> Vec<u32> {
    let mut slots = vec![Vec::new(); tasks as usize];
    while let Some(joined) = set.join_next().await {
        let (i, items) = joined.expect("the task ends");
        slots[i as usize] = items;
    }
    slots.concat()
}

/// A SQLite file (WAL, `synchronous = NORMAL`, as the framework's saver) of checkpoint-sized
/// rows: the storage floor of a checkpointed chain. Open it once, as a saver is: closing
/// the last connection to a WAL file checkpoints the whole log.
pub struct SqliteRows {
    conn: Mutex<Connection>,
}

impl SqliteRows {
    /// Opens (or creates) the file at `path`.
    pub fn open(path: &Path) -> Self {
        let conn = Connection::open(path).expect("the SQLite file opens");
        conn.pragma_update(None, "journal_mode", "WAL").expect("WAL mode");
        conn.pragma_update(None, "synchronous", "NORMAL").expect("synchronous = NORMAL");
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS checkpoints (
                 thread_id TEXT NOT NULL,
                 step      INTEGER NOT NULL,
                 body      TEXT NOT NULL,
                 PRIMARY KEY (thread_id, step)
             )",
        )
        .expect("the table exists");
        Self { conn: Mutex::new(conn) }
    }

    /// A chain of `steps` steps for `thread_id`: one insert of a JSON body like a
    /// checkpoint's per step, each in its own transaction, written on the calling thread
    /// with no hop to another: the write itself and nothing else. Returns the number of
    /// rows the thread has.
    pub fn chain(&self, steps: u64, thread_id: &str) -> u64 {
        let mut conn = self.conn.lock().expect("no insert panics");
        for step in 0..steps {
            let body = serde_json::json!({
                "id": format!("{step:032x}"),
                "thread_id": thread_id,
                "parent_id": step.checked_sub(1).map(|parent| format!("{parent:032x}")),
                "state": { "kind": "full", "values": { "n": step } },
                "pending": { "next": [format!("n{:05}", step + 1)], "sends": [], "writes": [] },
                "metadata": { "source": "loop", "step": step, "writes": { "n": 1 } },
            })
            .to_string();
            let tx = conn.transaction().expect("a transaction starts");
            tx.execute(
                "INSERT INTO checkpoints (thread_id, step, body) VALUES (?1, ?2, ?3)",
                params![thread_id, step, body],
            )
            .expect("the row is written");
            tx.commit().expect("the transaction commits");
        }
        conn.query_row(
            "SELECT count(*) FROM checkpoints WHERE thread_id = ?1",
            [thread_id],
            |row| row.get(0),
        )
        .expect("the rows are counted")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_baseline_does_all_its_work() {
        assert_eq!(steps(1_000).await, Counter { n: 1_000 });
        assert_eq!(calls(100).await, Steps { n: 100 });
        assert_eq!(fan_out(100).await, Counter { n: 101 });
        assert_eq!(map_reduce(1_000).await, (0..1_000).collect::<Vec<_>>());
        let wait = Duration::from_millis(1);
        assert_eq!(io_fan_out(50, wait, None).await, (0..50).collect::<Vec<_>>());
        assert_eq!(io_fan_out(50, wait, Some(5)).await, (0..50).collect::<Vec<_>>());

        let dir = std::env::temp_dir().join(format!("graph-bare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bare.sqlite");
        let rows = SqliteRows::open(&path);
        assert_eq!(rows.chain(10, "a"), 10);
        assert_eq!(rows.chain(5, "b"), 5);
        drop(rows);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
