//! What the tests of the `serve` binary share.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Starts the `serve` binary on a free port, with no API keys and the environment `configure`
/// sets; returns it and its base URL, once it listens.
pub fn start_serve(configure: impl FnOnce(&mut Command)) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_serve"));
    command.env("GRAPH_SERVER_ADDR", "127.0.0.1:0").env_remove("GRAPH_API_KEYS");
    configure(&mut command);
    let mut child = command.stdout(Stdio::piped()).spawn().expect("the serve binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("its output")).read_line(&mut line).unwrap();
    let url =
        line.split_whitespace().find(|word| word.starts_with("http://")).expect("its address");
    (child, url.to_owned())
}
