//! A process of the distributed tests, on the map-reduce of `graph_tests::fanout`.
//!
//! - `fanout_worker work <database> <queue> <worker id> <lease seconds>` runs the queue's
//!   tasks, printing `ready` once it claims, until its standard input closes.
//! - `fanout_worker coordinate <database> <queue> <thread> <tasks> <task ms> <log>` runs the
//!   map-reduce on the queue's workers, or takes the thread over where it stands, and prints
//!   the final state as JSON.

// ANCHOR: uses
use std::io::{BufRead, Write};
use std::time::Duration;

use graph_core::distributed::{TaskQueue, Worker};
use graph_core::{CancellationToken, Command, Executor, RunConfig};
use graph_tests::fanout::{self, Fanout};
// ANCHOR_END: uses

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).ok_or(format!("missing argument {i}"));
    // ANCHOR: connect
    let queue = TaskQueue::connect(arg(1)?, arg(2)?).await?;
    // ANCHOR_END: connect
    match arg(0)? {
        "work" => {
            let stop = CancellationToken::new();
            let on_eof = stop.clone();
            // The test holds the other end: when it goes, so does this worker.
            std::thread::spawn(move || {
                for _ in std::io::stdin().lock().lines() {}
                on_eof.cancel();
            });
            // ANCHOR: worker
            let worker = Worker::new(queue)
                .id(arg(3)?)
                .lease(Duration::from_secs(arg(4)?.parse()?))
                .concurrency(16)
                .graph("fanout", fanout::graph())
                .graph("fanout_capped", fanout::capped_graph(2));
            println!("ready");
            std::io::stdout().flush()?;
            worker.run(stop).await?;
            // ANCHOR_END: worker
        }
        "coordinate" => {
            // ANCHOR: coordinate
            let graph = fanout::graph().with_checkpointer(queue.saver());
            let config =
                RunConfig::default().thread_id(arg(3)?).executor(Executor::queue(&queue, "fanout"));
            let started = graph.get_state(&config).await?.is_some();
            let state = if started {
                graph.invoke(Command::<Fanout>::new(), config).await?.finished()?
            } else {
                let input = fanout::input(arg(4)?.parse()?, arg(5)?.parse()?, arg(6)?);
                graph.invoke(input, config).await?.finished()?
            };
            // ANCHOR_END: coordinate
            println!("{}", serde_json::to_string(&state)?);
        }
        other => return Err(format!("unknown command {other:?}").into()),
    }
    Ok(())
}
