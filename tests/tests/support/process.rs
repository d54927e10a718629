//! Processes a test starts: workers that say when they are ready.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Starts `command` with piped input and output, once its first line says `ready`. Its input
/// stays open: a process that stops when its input closes runs until the test drops it.
pub fn start_ready(command: &mut Command, name: &str) -> Child {
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "ready", "{name} did not start");
    child
}
