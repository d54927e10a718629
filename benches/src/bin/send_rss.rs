//! Measures memory per Send task as the operating system sees it: the process's peak
//! resident set (`VmHWM`) during a map-reduce of 1,000,000 tiny payloads, minus the resident
//! set before it, divided by the number of tasks; for the framework and for the same
//! map-reduce on bare tokio. Each runs in a fresh process (this binary re-executes itself),
//! so that one peak does not hide the other. Linux only; build in release.

use std::process::Command;

use graph_benches::{bare, map_reduce, runtime, Items};
use graph_core::RunConfig;

const TASKS: u32 = 1_000_000;

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("framework") => measure(|| {
            let graph = map_reduce(TASKS);
            let rt = runtime();
            move || {
                let out = rt.block_on(graph.invoke(Items::default(), RunConfig::default()));
                out.expect("the run succeeds").into_state().items
            }
        }),
        Some("bare") => measure(|| {
            let rt = runtime();
            move || rt.block_on(bare::map_reduce(TASKS))
        }),
        _ => {
            let framework = child("framework");
            let bare = child("bare");
            println!(
                "{TASKS} Sends, peak RSS per task: framework {framework:.0} bytes, bare tokio \
                 {bare:.0} bytes ({:.2}x)",
                framework / bare
            );
        }
    }
}

/// Runs this binary with `which` and reads back the bytes per task it prints.
fn child(which: &str) -> f64 {
    let exe = std::env::current_exe().expect("this binary's path");
    let out = Command::new(exe).arg(which).output().expect("the measuring process starts");
    assert!(
        out.status.success(),
        "the {which} run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("a number");
    text.trim().parse().unwrap_or_else(|_| panic!("bytes per task, not {text:?}"))
}

/// Sets up with `setup`, then prints the peak RSS the run it returns adds, per task.
fn measure<R: FnOnce() -> Vec<u32>>(setup: impl FnOnce() -> R) {
    let run = setup();
    let before = status_kib("VmRSS");
    let items = run();
    let peak = status_kib("VmHWM");
    assert!(items.iter().copied().eq(0..TASKS), "every item, in order");
    println!("{}", (peak - before) as f64 * 1024.0 / f64::from(TASKS));
}

/// A figure in KiB from `/proc/self/status`.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux's /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}
