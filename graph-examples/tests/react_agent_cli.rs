//! The `react_agent` demo as a person runs it: its own process, no model configured, its MCP
//! server a real child process, the booking approved because no one is at the terminal.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use graph_examples::agent_demo;

mod support;

/// The provider variables the demo reads, removed so that it runs on its script.
const MODEL_VARIABLES: [&str; 7] = [
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GRAPH_MODEL",
    "GRAPH_LOCAL_MODEL",
];

/// The output's lines without their leading times (`  447 ms  `), which vary run to run.
fn untimed(output: &str) -> Vec<String> {
    output
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            match trimmed.split_once(" ms  ") {
                Some((time, rest)) if time.chars().all(|c| c.is_ascii_digit()) => rest.to_owned(),
                _ => line.to_owned(),
            }
        })
        .collect()
}

/// Runs the demo with `args` and no provider variables; returns its untimed lines.
fn demo(args: &[&str]) -> Vec<String> {
    let sources = ["examples/react_agent.rs", "src/react_agent.rs", "src/agent_demo.rs"];
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, Ordering::SeqCst);
    let db =
        std::env::temp_dir().join(format!("graph-react-agent-{}-{run}.sqlite", std::process::id()));
    let mut command = Command::new(support::example("react_agent", &sources));
    for var in MODEL_VARIABLES {
        command.env_remove(var);
    }
    let output = command
        .args(args)
        .arg("--db")
        .arg(&db)
        .stdin(Stdio::null())
        .output()
        .expect("the demo runs");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the demo failed: {stderr}\n{stdout}");
    untimed(&stdout)
}

#[test]
fn with_no_model_configured_the_demo_says_so_and_runs_its_script_with_an_mcp_tool() {
    let lines = demo(&[]);

    assert_eq!(lines[0], agent_demo::NO_MODEL);
    assert_eq!(
        lines[1],
        r#"MCP server travel-mcp (a child process) offers ["convert_currency", "local_time"]"#
    );
    let has = |expected: &str| lines.iter().any(|line| line == expected);
    assert!(
        has("model       calls weather, flights, hotels, convert_currency at once"),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("✓ convert_currency") && l.ends_with("400.00 GBP = 460.00 EUR")),
        "{lines:#?}"
    );
    assert!(has(&format!("model       {}", agent_demo::PROPOSAL)), "{lines:#?}");
    assert!(has("   approved (stdin is not a terminal, so no one can be asked)"), "{lines:#?}");
    assert!(has(&format!("model       {}", agent_demo::ANSWER)), "{lines:#?}");
    // Each run ends with its timeline: the lookups are four tasks of step 1.
    let tools_rows = lines.iter().filter(|l| l.starts_with("1     tools     1")).count();
    assert_eq!(tools_rows, 4, "{lines:#?}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("step  node")).count(), 2);
}

/// The demo on the local model (`scripts/fetch-local-model` puts it in the cache, or
/// `GRAPH_LOCAL_MODEL` names it): a real model calls tools and answers, and the run ends.
#[cfg(feature = "local")]
#[test]
fn the_demo_runs_on_the_local_model() {
    let model = std::env::var("GRAPH_LOCAL_MODEL")
        .ok()
        .or_else(|| agent_demo::cached_local_model().map(|p| p.display().to_string()))
        .expect("no local model: run scripts/fetch-local-model (scripts/test does)");
    let lines = demo(&["--local", &model]);
    assert_eq!(lines[0], format!("model: {model} (in-process, llama.cpp)"), "{lines:#?}");
    // The model called at least one tool (the first turn is forced to), then answered.
    assert!(lines.iter().any(|l| l.starts_with('✓')), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("step  node")), "{lines:#?}");
}
