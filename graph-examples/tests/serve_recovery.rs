//! The `serve` binary SIGKILLed in the middle of a run, then started again on its SQLite
//! file: the run carries on from its last checkpoint and ends with the state of a run that
//! was never interrupted, each fetch applied once.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;

/// Starts the server on a free port and the SQLite file `db`; returns it and its base URL.
fn start(db: &Path) -> (Child, String) {
    common::start_serve(|serve| {
        serve.env("GRAPH_SERVER_DB", db).env_remove("DATABASE_URL");
    })
}

async fn get(client: &reqwest::Client, url: String) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    client.post(url).json(&body).send().await.unwrap().json().await.unwrap()
}

/// The briefing for Oslo, as a run that was never interrupted ends.
fn oslo() -> Value {
    let sections = [
        "calendar: standup at 9:30, design review at 14:00",
        "news: Oslo opens its new riverside park",
        "weather: sunny and 21°C in Oslo",
    ];
    json!({
        "city": "Oslo",
        "sections": sections,
        "sequential_ms": 400,
        "summary": format!("Briefing for Oslo:\n- {}", sections.join("\n- ")),
    })
}

#[tokio::test]
async fn a_run_whose_server_was_killed_finishes_when_the_server_starts_again() {
    let db = std::env::temp_dir().join(format!("serve-recovery-{}.sqlite", std::process::id()));
    // The examples' HTTP client leaves the choice of TLS provider to the program (ring,
    // which lacks only the post-quantum key exchange, hence the deprecation).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    // The fetches take 200 ms; the kill lands inside them. Should the machine stall past
    // them, the scenario is tried again.
    for attempt in 1..=3 {
        let _ = std::fs::remove_file(&db);
        let (mut server, url) = start(&db);
        let thread = post(&client, format!("{url}/threads"), json!({})).await;
        let thread = thread["thread_id"].as_str().unwrap().to_owned();
        let body = json!({"assistant_id": "briefing", "input": {"city": "Oslo"}});
        let run = post(&client, format!("{url}/threads/{thread}/runs"), body).await;
        let run_url = format!("/threads/{thread}/runs/{}", run["run_id"].as_str().unwrap());
        // Once the run's input is saved, the server dies.
        loop {
            let history = post(&client, format!("{url}/threads/{thread}/history"), json!({})).await;
            if history.as_array().is_some_and(|h| !h.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let before = get(&client, format!("{url}{run_url}")).await["status"].clone();
        server.kill().unwrap();
        server.wait().unwrap();
        if before != "running" {
            assert!(attempt < 3, "the run was {before} when the server was killed, three times");
            continue;
        }

        let (mut server, url) = start(&db);
        let deadline = Instant::now() + Duration::from_secs(30);
        let run = loop {
            let run = get(&client, format!("{url}{run_url}")).await;
            if run["status"] != "running" && run["status"] != "pending" {
                break run;
            }
            assert!(Instant::now() < deadline, "the run did not finish after the restart");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(run["status"], "success");
        let state = get(&client, format!("{url}/threads/{thread}/state")).await;
        assert_eq!(state["values"], oslo());
        let runs = get(&client, format!("{url}/threads/{thread}/runs")).await;
        assert_eq!(runs.as_array().unwrap().len(), 1);
        let joined = get(&client, format!("{url}{run_url}/join")).await;
        assert_eq!(joined, oslo());
        server.kill().unwrap();
        server.wait().unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        return;
    }
}
