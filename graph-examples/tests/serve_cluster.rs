//! Several `serve` processes on one PostgreSQL database: one answers the clients, the others'
//! workers run the runs. A worker SIGKILLed in the middle of a run loses it to another, which
//! finishes it from the last checkpoint while the client's stream goes on; and many runs
//! from many clients each end exactly once, with the state a run alone would reach.

use std::collections::HashSet;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;

/// A `serve` process, killed when dropped.
struct Serve {
    child: Child,
    url: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` on a free port and the database `db`, taking `workers` runs at once, and
/// given up for dead by the others after a second of silence.
fn serve(db: &str, workers: usize) -> Serve {
    let (child, url) = common::start_serve(|serve| {
        serve
            .env("DATABASE_URL", db)
            .env("GRAPH_SERVER_WORKERS", workers.to_string())
            .env("GRAPH_SERVER_WORKER_TIMEOUT", "1");
    });
    Serve { child, url }
}

/// A new, empty database named `name` on the test server (`DATABASE_URL`), as a
/// libpq-style string: the test's servers share nothing with any other test's.
async fn fresh_database(name: &str) -> String {
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    let (admin, connection) =
        tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let config: tokio_postgres::Config = admin_url.parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    format!("host={host} port={port} user={user} dbname={name}")
}

async fn get(client: &reqwest::Client, url: String) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    client.post(url).json(&body).send().await.unwrap().json().await.unwrap()
}

/// A server-sent event stream's events: id, name and data.
fn events(text: &str) -> Vec<(u64, String, Value)> {
    text.split("\n\n")
        .filter(|block| block.contains("data:"))
        .map(|block| {
            let field = |name: &str| {
                block.lines().find_map(|line| line.strip_prefix(name)).unwrap().trim().to_owned()
            };
            let data = serde_json::from_str(&field("data:")).unwrap();
            (field("id:").parse().unwrap(), field("event:"), data)
        })
        .collect()
}

/// The briefing for `city`, as a run that was never interrupted ends.
fn briefing(city: &str) -> Value {
    let sections = [
        "calendar: standup at 9:30, design review at 14:00".to_owned(),
        format!("news: {city} opens its new riverside park"),
        format!("weather: sunny and 21°C in {city}"),
    ];
    json!({
        "city": city,
        "sections": sections,
        "sequential_ms": 400,
        "summary": format!("Briefing for {city}:\n- {}", sections.join("\n- ")),
    })
}

fn install_tls_provider() {
    // The examples' HTTP client leaves the choice of TLS provider to the program (ring,
    // which lacks only the post-quantum key exchange, hence the deprecation).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_worker_was_killed_is_finished_by_another_while_its_client_streams() {
    install_tls_provider();
    let db = fresh_database("graph_examples_cluster_kill").await;
    let client = reqwest::Client::new();
    let front = serve(&db, 0);
    // The fetches take 200 ms; the kill lands inside them. Should the machine stall past
    // them, the scenario is tried again.
    for attempt in 1..=3 {
        let doomed = serve(&db, 4);
        let thread = post(&client, format!("{}/threads", front.url), json!({})).await;
        let thread = thread["thread_id"].as_str().unwrap().to_owned();
        let body = json!({"assistant_id": "briefing", "input": {"city": "Oslo"},
                          "stream_mode": ["updates"]});
        let run = post(&client, format!("{}/threads/{thread}/runs", front.url), body).await;
        let run_url = format!("/threads/{thread}/runs/{}", run["run_id"].as_str().unwrap());
        let stream = tokio::spawn(
            client.get(format!("{}{run_url}/stream", front.url)).send().await.unwrap().text(),
        );
        // Once the run's input is saved, its worker dies.
        loop {
            let history =
                post(&client, format!("{}/threads/{thread}/history", front.url), json!({})).await;
            if history.as_array().is_some_and(|h| !h.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let before = get(&client, format!("{}{run_url}", front.url)).await["status"].clone();
        drop(doomed);
        if before != "running" {
            assert!(attempt < 3, "the run was {before} when its worker was killed, three times");
            stream.abort();
            continue;
        }

        let _heir = serve(&db, 4);
        let deadline = Instant::now() + Duration::from_secs(30);
        let run = loop {
            let run = get(&client, format!("{}{run_url}", front.url)).await;
            if !["running", "pending"].contains(&run["status"].as_str().unwrap()) {
                break run;
            }
            assert!(Instant::now() < deadline, "no other worker finished the run");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(run["status"], "success");
        let state = get(&client, format!("{}/threads/{thread}/state", front.url)).await;
        assert_eq!(state["values"], briefing("Oslo"));
        let runs = get(&client, format!("{}/threads/{thread}/runs", front.url)).await;
        assert_eq!(runs.as_array().unwrap().len(), 1);
        let joined = get(&client, format!("{}{run_url}/join", front.url)).await;
        assert_eq!(joined, briefing("Oslo"));

        // The client's stream went on across the two workers: every id once, in order; each
        // attempt announced; no node's update twice; the last one the summary.
        let events = events(&stream.await.unwrap().unwrap());
        let ids: Vec<u64> = events.iter().map(|(id, _, _)| *id).collect();
        assert_eq!(ids, (0..events.len() as u64).collect::<Vec<_>>());
        let attempts: Vec<&Value> = events
            .iter()
            .filter(|(_, name, _)| name == "metadata")
            .map(|(_, _, data)| &data["attempt"])
            .collect();
        if attempts == [1] {
            // The run ended in the moment between its status read and the kill.
            assert!(attempt < 3, "the run ended before its worker was killed, three times");
            continue;
        }
        assert_eq!(attempts, [1, 2], "{events:?}");
        let updated: Vec<&str> = events
            .iter()
            .filter(|(_, name, _)| name == "updates")
            .flat_map(|(_, _, data)| data.as_object().unwrap().keys().map(String::as_str))
            .collect();
        let distinct: HashSet<&str> = updated.iter().copied().collect();
        assert_eq!(distinct.len(), updated.len(), "{updated:?}");
        assert_eq!(updated.last(), Some(&"summarize"));
        return;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_runs_from_many_clients_on_three_servers_each_end_exactly_once() {
    install_tls_provider();
    let db = fresh_database("graph_examples_cluster_load").await;
    let servers = [serve(&db, 0), serve(&db, 8), serve(&db, 8)];
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    let client = reqwest::Client::new();
    const CLIENTS: usize = 20;
    const RUNS_EACH: usize = 10;
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (client, urls) = (client.clone(), urls.clone());
        clients.push(tokio::spawn(async move {
            let mut ended = Vec::new();
            for r in 0..RUNS_EACH {
                // Asked of one server, followed from another.
                let (ask, follow) = (&urls[(c + r) % 3], &urls[(c + r + 1) % 3]);
                let city = format!("city-{c}-{r}");
                let thread = post(&client, format!("{ask}/threads"), json!({})).await;
                let thread = thread["thread_id"].as_str().unwrap().to_owned();
                let body = json!({"assistant_id": "briefing", "input": {"city": city},
                                  "stream_mode": ["values"]});
                let run = post(&client, format!("{ask}/threads/{thread}/runs"), body).await;
                let run_url = format!("/threads/{thread}/runs/{}", run["run_id"].as_str().unwrap());
                let text = client.get(format!("{follow}{run_url}/stream")).send().await.unwrap();
                let events = events(&text.text().await.unwrap());
                let last = events.last().map(|(_, _, data)| data.clone()).unwrap_or_default();
                let runs = get(&client, format!("{follow}/threads/{thread}/runs")).await;
                ended.push((city, last, runs));
            }
            ended
        }));
    }
    let mut cities = HashSet::new();
    for client in clients {
        for (city, last, runs) in client.await.unwrap() {
            assert_eq!(last, briefing(&city), "the last values of {city}'s run");
            let runs = runs.as_array().unwrap();
            assert_eq!(runs.len(), 1);
            assert_eq!(runs[0]["status"], "success");
            assert!(cities.insert(city));
        }
    }
    assert_eq!(cities.len(), CLIENTS * RUNS_EACH);
}
