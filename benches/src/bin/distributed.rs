//! Distributed supersteps against local execution: the map-reduce of
//! `graph_tests::fanout` (a `Send` per task, then a sum) with its tasks run here, and on 1, 2,
//! 4 and 8 worker processes (this binary again, with `worker`) through the `pgmq` queue of
//! the local PostgreSQL (`DATABASE_URL`, else `host=127.0.0.1 user=postgres dbname=test`;
//! `scripts/ensure-pgmq` installs `pgmq` there). Prints the wall time of each run, tasks per
//! second and time per task, and the bare queue's cost per task: sending the step's messages,
//! then claiming them 64 at a time and committing each claim's deletion and outputs, which
//! is what a worker does around a node.
//!
//! Usage, in release mode:
//! - `distributed [tasks] [task ms]`: the comparison (default 10,000 tasks of 0 ms);
//! - `distributed faults [tasks]`: 3 workers, one killed after a tenth of the tasks started
//!   and one stopped after a fifth (woken at the end), leases of 5 s; checks the final state and the
//!   checkpoints equal a local run's (default 100,000 tasks).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use graph_core::checkpoint::PostgresSaver;
use graph_core::distributed::{TaskQueue, Worker};
use graph_core::{CancellationToken, Executor, RunConfig};
use graph_tests::fanout::{self, Fanout};

fn database() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into())
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    format!("{prefix}_{}_{}", std::process::id(), nanos.as_micros() % 1_000_000_000)
}

/// Worker processes, killed when dropped.
struct Workers(Vec<Child>);

impl Workers {
    fn start(queue: &str, count: usize) -> Self {
        let exe = std::env::current_exe().unwrap();
        let children = (0..count)
            .map(|i| {
                let mut child = Command::new(&exe)
                    .args(["worker", queue, &format!("w{i}")])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut ready = String::new();
                BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
                assert_eq!(ready.trim(), "ready");
                child
            })
            .collect();
        Self(children)
    }

    fn signal(&self, i: usize, signal: &str) {
        Command::new("kill").arg(signal).arg(self.0[i].id().to_string()).status().unwrap();
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the map-reduce with `config`, returning its wall time.
async fn timed(
    graph: &graph_core::CompiledGraph<Fanout>,
    tasks: u32,
    ms: u64,
    config: RunConfig,
) -> Duration {
    let started = Instant::now();
    graph.invoke(fanout::input(tasks, ms, ""), config).await.unwrap().finished().unwrap();
    started.elapsed()
}

fn report(what: &str, tasks: u32, elapsed: Duration) {
    let per_task = elapsed.as_secs_f64() * 1e6 / f64::from(tasks);
    let rate = f64::from(tasks) / elapsed.as_secs_f64();
    println!(
        "{what:<34} {:>9.1} ms {rate:>10.0} tasks/s {per_task:>9.1} µs/task",
        elapsed.as_secs_f64() * 1e3
    );
}

/// The bare queue: `tasks` messages sent in one batch, then claimed 64 at a time, each claim
/// committed as one transaction deleting its messages and inserting an output row each.
async fn bare_queue(tasks: u32) -> Duration {
    let (client, connection) =
        tokio_postgres::connect(&database(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let name = unique("bare");
    client.execute("SELECT pgmq.create($1)", &[&name]).await.unwrap();
    client
        .batch_execute(&format!(
            "CREATE TEMP TABLE outputs_{name} (id BIGINT PRIMARY KEY, worker TEXT, body TEXT)"
        ))
        .await
        .unwrap();
    let body = r#"{"graph":"fanout","task_id":"1:send#0","output":{"update":{"results":[1]}}}"#;
    let bodies: Vec<&str> = (0..tasks).map(|_| body).collect();
    let started = Instant::now();
    client
        .execute("SELECT pgmq.send_batch($1, $2::text[]::jsonb[])", &[&name, &bodies])
        .await
        .unwrap();
    let insert = format!(
        "INSERT INTO outputs_{name} SELECT d, 'w', $2 FROM pgmq.delete($1, $3::bigint[]) AS d ON CONFLICT DO NOTHING"
    );
    loop {
        let ids: Vec<i64> = client
            .query("SELECT msg_id FROM pgmq.read($1, 30, 64)", &[&name])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        if ids.is_empty() {
            break;
        }
        client.batch_execute("BEGIN").await.unwrap();
        client.execute(&insert, &[&name, &body, &ids]).await.unwrap();
        client.batch_execute("COMMIT").await.unwrap();
    }
    let elapsed = started.elapsed();
    client.execute("SELECT pgmq.drop_queue($1)", &[&name]).await.unwrap();
    elapsed
}

async fn compare(tasks: u32, ms: u64) {
    println!("map-reduce of {tasks} tasks of {ms} ms (median of 3 runs each)");
    let saver = PostgresSaver::connect(&database()).await.unwrap();
    let local = fanout::graph();
    let checkpointed = fanout::graph().with_checkpointer(saver);
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(timed(&local, tasks, ms, RunConfig::default()).await);
    }
    report("local, no checkpoints", tasks, median(&mut runs));
    runs.clear();
    for _ in 0..3 {
        let config = RunConfig::default().thread_id(unique("local"));
        runs.push(timed(&checkpointed, tasks, ms, config).await);
    }
    report("local, PostgreSQL checkpoints", tasks, median(&mut runs));
    runs.clear();
    for _ in 0..3 {
        runs.push(bare_queue(tasks).await);
    }
    report("bare queue: send, claim, commit", tasks, median(&mut runs));
    for count in [1, 2, 4, 8] {
        let elapsed = on_queue(tasks, ms, count, None).await;
        report(&format!("queue, {count} worker process(es)"), tasks, elapsed);
    }
    // A run-wide cap counted across the workers: each task takes a slot and frees it.
    let elapsed = on_queue(tasks, ms, 4, Some(64)).await;
    report("queue, 4 workers, run capped at 64", tasks, elapsed);
}

/// The median wall time of 3 runs on `count` worker processes, with the run capped at `cap`
/// tasks at once if given.
async fn on_queue(tasks: u32, ms: u64, count: usize, cap: Option<usize>) -> Duration {
    let name = unique("q");
    let queue = TaskQueue::connect(&database(), &name).await.unwrap();
    let _workers = Workers::start(&name, count);
    let graph = fanout::graph().with_checkpointer(queue.saver());
    let mut runs = Vec::new();
    for _ in 0..3 {
        let mut config =
            RunConfig::default().thread_id(unique("t")).executor(Executor::queue(&queue, "fanout"));
        if let Some(cap) = cap {
            config = config.max_concurrency(cap);
        }
        runs.push(timed(&graph, tasks, ms, config).await);
    }
    median(&mut runs)
}

fn median(runs: &mut [Duration]) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

async fn faults(tasks: u32) {
    let name = unique("q");
    let queue = TaskQueue::connect(&database(), &name).await.unwrap();
    let workers = Workers::start(&name, 3);
    let graph = fanout::graph().with_checkpointer(queue.saver());
    let thread = unique("faults");
    let config =
        RunConfig::default().thread_id(&thread).executor(Executor::queue(&queue, "fanout"));
    let started = Instant::now();
    let run = graph.invoke(fanout::input(tasks, 0, ""), config.clone());
    let inject = async {
        let client = queue_client().await;
        for (share, i, signal) in [(10, 0, "-KILL"), (5, 1, "-STOP")] {
            while (stored(&client, &thread).await as u32) < tasks / share {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            workers.signal(i, signal);
            println!("{signal} worker w{i} after {:.1} s", started.elapsed().as_secs_f64());
        }
    };
    let (outcome, ()) = tokio::join!(run, inject);
    outcome.unwrap().finished().unwrap();
    report("queue, 3 workers, 1 killed, 1 stopped", tasks, started.elapsed());
    workers.signal(1, "-CONT");
    let history = graph.get_state_history(&RunConfig::default().thread_id(&thread)).await.unwrap();
    let saver = PostgresSaver::connect(&database()).await.unwrap();
    let local = fanout::graph().with_checkpointer(saver);
    let config = RunConfig::default().thread_id(unique("local"));
    local.invoke(fanout::input(tasks, 0, ""), config.clone()).await.unwrap().finished().unwrap();
    let reference = local.get_state_history(&config).await.unwrap();
    let identical = fanout::contents(&history) == fanout::contents(&reference);
    println!("final state and checkpoints identical to the local run: {identical}");
    assert!(identical);
}

async fn queue_client() -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&database(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// How many task outputs the thread's current step has stored.
async fn stored(client: &tokio_postgres::Client, thread: &str) -> i64 {
    let row = client
        .query_one("SELECT count(*) FROM graph_task_outputs WHERE thread_id = $1", &[&thread])
        .await
        .unwrap();
    row.get(0)
}

async fn worker(queue: &str, id: &str) {
    let queue = TaskQueue::connect(&database(), queue).await.unwrap();
    let stop = CancellationToken::new();
    let on_eof = stop.clone();
    std::thread::spawn(move || {
        for _ in std::io::stdin().lock().lines() {}
        on_eof.cancel();
    });
    let worker =
        Worker::new(queue).id(id).lease(Duration::from_secs(5)).graph("fanout", fanout::graph());
    println!("ready");
    std::io::stdout().flush().unwrap();
    worker.run(stop).await.unwrap();
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    match arg(0) {
        Some("worker") => worker(arg(1).unwrap(), arg(2).unwrap()).await,
        Some("faults") => faults(arg(1).map_or(100_000, |n| n.parse().unwrap())).await,
        _ => {
            let tasks = arg(0).map_or(10_000, |n| n.parse().unwrap());
            compare(tasks, arg(1).map_or(0, |n| n.parse().unwrap())).await;
        }
    }
}
