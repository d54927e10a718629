//! A worker process of the property test that runs generated graphs on worker processes.
//!
//! `generated_worker <database> <queue> <worker id> <spec file> <seen file>` builds the graph
//! the spec file describes (JSON of [`graph_tests::generated::Spec`]), runs the queue's tasks
//! of it, printing `ready` once it claims, until its standard input closes; then it writes
//! what its tasks saw to the seen file, as JSON.

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};

use graph_core::distributed::{TaskQueue, Worker};
use graph_core::CancellationToken;
use graph_tests::generated::{self, Spec};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [database, queue, id, spec, seen_file] = args.as_slice() else {
        return Err("usage: generated_worker <database> <queue> <id> <spec> <seen>".into());
    };
    let spec: Spec = serde_json::from_str(&std::fs::read_to_string(spec)?)?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let graph = generated::build(&Arc::new(spec), &seen);

    let stop = CancellationToken::new();
    let on_eof = stop.clone();
    std::thread::spawn(move || {
        for _ in std::io::stdin().lock().lines() {}
        on_eof.cancel();
    });
    let queue = TaskQueue::connect(database, queue).await?;
    let worker = Worker::new(queue).id(id.as_str()).graph("generated", graph);
    println!("ready");
    std::io::stdout().flush()?;
    worker.run(stop).await?;

    let seen = std::mem::take(&mut *seen.lock().expect("no task panicked"));
    std::fs::write(seen_file, serde_json::to_string(&seen)?)?;
    Ok(())
}
