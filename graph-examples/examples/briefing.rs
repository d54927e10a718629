//! The main demo: a briefing assembled from three parallel sources, checkpointed in a local
//! SQLite file, streaming progress as tasks start and finish, then printing the result and
//! the run's timeline.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use graph_core::checkpoint::SqliteSaver;
use graph_core::prelude::*;
use graph_core::{StreamEvent, StreamMode, Timeline};
use graph_examples::briefing::{self, Briefing};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let database = std::path::Path::new("target").join("briefing-demo.sqlite");
    std::fs::create_dir_all("target")?;
    let graph = briefing::graph().with_checkpointer(SqliteSaver::open(&database)?);
    let thread = format!("briefing-{}", SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis());
    let config = RunConfig::default().thread_id(&thread).stream_mode(StreamMode::Tasks);

    println!("{}\n", graph.draw_mermaid());
    let started = Instant::now();
    let mut events = Vec::new();
    let mut final_state = None;
    let mut stream = graph.stream(Briefing::update().city("Lyon"), config.clone());
    while let Some(event) = stream.next().await {
        let event = event?;
        let at = started.elapsed().as_millis();
        match &event {
            StreamEvent::TaskStart { node, step, .. } => {
                println!("{at:>4} ms  step {step}  start  {node}")
            }
            StreamEvent::TaskEnd { node, step, duration, .. } => {
                println!("{at:>4} ms  step {step}  done   {node} ({} ms)", duration.as_millis())
            }
            StreamEvent::Done { state } => final_state = Some(state.clone()),
            _ => {}
        }
        events.push(event);
    }
    let state = final_state.ok_or("the run ended without a state")?;

    println!("\n{}\n", state.summary);
    println!(
        "sequential would take {} ms; parallel took {} ms",
        state.sequential_ms,
        started.elapsed().as_millis()
    );
    let timeline = Timeline::from_events(&events);
    println!("\n{}\n{}", timeline.to_table(), timeline.to_gantt());
    let history = graph.get_state_history(&config).await?;
    println!("{} checkpoints saved to {} (thread {thread})", history.len(), database.display());
    Ok(())
}
