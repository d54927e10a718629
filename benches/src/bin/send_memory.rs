//! Measures the framework's memory per Send task: peak heap during a map-reduce of N tiny
//! payloads, minus the heap before it and the output list, divided by N. Build in release.
//! dhat's allocator changes the resident set, so `send_rss` measures that one separately.

use graph_benches::{map_reduce, runtime, Items};
use graph_core::RunConfig;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let rt = runtime();
    for tasks in [10_000_u32, 100_000] {
        let graph = map_reduce(tasks);
        let before = dhat::HeapStats::get();
        let out = rt
            .block_on(graph.invoke(Items::default(), RunConfig::default()))
            .expect("the run succeeds")
            .into_state();
        let after = dhat::HeapStats::get();
        // `max_bytes` is the peak over the whole process; the first run sets it for 10k tasks
        // and the second, larger run raises it, so each line reads its own peak.
        let output = out.items.capacity() * std::mem::size_of::<u32>();
        let per_task = (after.max_bytes - before.curr_bytes - output) as f64 / f64::from(tasks);
        println!("{tasks} Sends: {per_task:.0} bytes of framework memory per task at peak");
    }
}
