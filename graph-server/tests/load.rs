//! The server on a real socket under load, and a client that drops its stream and rejoins.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use graph_core::prelude::*;
use graph_server::Server;
use serde_json::{json, Value};

#[derive(State, Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Trail {
    tag: String,
    #[reducer(append)]
    steps: Vec<String>,
}

/// Appends `node:tag`, after `PAUSE` milliseconds.
async fn step<const PAUSE: u64>(s: Arc<Trail>, ctx: NodeContext) -> TrailUpdate {
    tokio::time::sleep(Duration::from_millis(PAUSE)).await;
    Trail::update().steps(vec![format!("{}:{}", ctx.node(), s.tag)])
}

/// `a`, `b`, `c` in a chain, each waiting `PAUSE` ms and appending `node:tag`.
fn chain<const PAUSE: u64>() -> CompiledGraph<Trail> {
    StateGraph::<Trail>::new()
        .add_node("a", step::<PAUSE>)
        .add_node("b", step::<PAUSE>)
        .add_node("c", step::<PAUSE>)
        .add_edge(START, "a")
        .add_edge("a", "b")
        .add_edge("b", "c")
        .compile()
        .unwrap()
}

/// `chain` at once, `ticker` with 150 ms per node.
fn server() -> Server {
    Server::new().graph("chain", chain::<0>()).graph("ticker", chain::<150>())
}

/// Serves `server` on a loopback port; returns its base URL.
async fn serve(server: Server) -> String {
    // Built with the whole workspace, the HTTP client leaves the choice of TLS provider to
    // the program (ring, which lacks only the post-quantum key exchange, hence the
    // deprecation); the tests speak plain HTTP, but the client wants one all the same.
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, server.router()).await.unwrap() });
    url
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    let response = client.post(url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_runs_from_fifty_clients_lose_and_repeat_nothing() {
    use std::collections::BTreeSet;

    let path =
        std::env::temp_dir().join(format!("graph-server-load-{}.sqlite", uuid::Uuid::new_v4()));
    let url = serve(server().sqlite(&path).unwrap()).await;
    let client = reqwest::Client::new();
    let mut shared = Vec::new();
    for _ in 0..10 {
        shared.push(
            post(&client, format!("{url}/threads"), json!({})).await["thread_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let shared = Arc::new(shared);
    let mut clients = Vec::new();
    for c in 0..50 {
        let (client, url, shared) = (client.clone(), url.clone(), shared.clone());
        clients.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for r in 0..20 {
                let tag = format!("c{c}r{r}");
                if c < 40 {
                    // A run on a thread of its own, awaited.
                    let thread = post(&client, format!("{url}/threads"), json!({})).await;
                    let thread = thread["thread_id"].as_str().unwrap();
                    let body = json!({"assistant_id": "chain", "input": {"tag": tag}});
                    let done = post(&client, format!("{url}/threads/{thread}/runs/wait"), body).await;
                    let steps = [format!("a:{tag}"), format!("b:{tag}"), format!("c:{tag}")];
                    assert_eq!(done, json!({"tag": tag, "steps": steps}));
                } else {
                    // Runs queued on shared threads by ten clients at once.
                    let thread = &shared[r % 10];
                    let body = json!({"assistant_id": "chain", "input": {"tag": tag}, "multitask_strategy": "enqueue"});
                    let run = post(&client, format!("{url}/threads/{thread}/runs"), body).await;
                    sent.push((thread.clone(), tag, run["run_id"].as_str().unwrap().to_owned()));
                }
            }
            sent
        }));
    }
    let mut queued = Vec::new();
    for client in clients {
        queued.extend(client.await.unwrap());
    }
    assert_eq!(queued.len(), 200);
    for (thread, _, run) in &queued {
        let joined =
            client.get(format!("{url}/threads/{thread}/runs/{run}/join")).send().await.unwrap();
        assert_eq!(joined.status(), 200);
    }
    for thread in shared.iter() {
        let state: Value = client
            .get(format!("{url}/threads/{thread}/state"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let steps: Vec<&str> = state["values"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        // Twenty runs, one after another: each run's three steps together, each run once.
        assert_eq!(steps.len(), 60, "{thread}");
        let mut tags = BTreeSet::new();
        for run in steps.chunks(3) {
            let tag = run[0].strip_prefix("a:").unwrap();
            assert_eq!(
                run,
                [format!("a:{tag}"), format!("b:{tag}"), format!("c:{tag}")],
                "{thread}"
            );
            assert!(tags.insert(tag.to_owned()), "{tag} applied twice on {thread}");
        }
        let expected: BTreeSet<String> =
            queued.iter().filter(|(t, ..)| t == thread).map(|(_, tag, _)| tag.clone()).collect();
        assert_eq!(tags, expected);
        let runs: Value = client
            .get(format!("{url}/threads/{thread}/runs?limit=100"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let statuses: Vec<&Value> = runs.as_array().unwrap().iter().map(|r| &r["status"]).collect();
        assert_eq!(statuses, vec![&json!("success"); 20]);
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Reads server-sent events from a response until `stop` of them have arrived (all when
/// `None`); returns each as (id, event, data).
async fn events(response: reqwest::Response, stop: Option<usize>) -> Vec<(String, String, Value)> {
    let mut body = response.bytes_stream();
    let (mut text, mut found) = (String::new(), Vec::new());
    while stop.is_none_or(|stop| found.len() < stop) {
        let Some(chunk) = body.next().await else { break };
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let field = |name: &str| {
                block.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned())
            };
            if let (Some(id), Some(event), Some(data)) =
                (field("id:"), field("event:"), field("data:"))
            {
                found.push((id, event, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    found.truncate(stop.unwrap_or(usize::MAX));
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_drops_its_stream_rejoins_without_missing_an_event() {
    let url = serve(server()).await;
    let client = reqwest::Client::new();
    let thread = post(&client, format!("{url}/threads"), json!({})).await;
    let thread = thread["thread_id"].as_str().unwrap();
    let body = json!({"assistant_id": "ticker", "input": {"tag": "t"}, "stream_mode": ["updates", "values"]});
    let response = client
        .post(format!("{url}/threads/{thread}/runs/stream"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let rejoin_at = response.headers()["location"].to_str().unwrap().to_owned();
    // The metadata and the first update, then the connection drops mid-run.
    let seen = events(response, Some(2)).await;
    assert_eq!(seen[1].2, json!({"a": {"steps": ["a:t"]}}));
    let last_id = seen.last().unwrap().0.clone();
    let rest = client
        .get(format!("{url}{rejoin_at}"))
        .header("last-event-id", &last_id)
        .send()
        .await
        .unwrap();
    let rest = events(rest, None).await;
    let all = events(client.get(format!("{url}{rejoin_at}")).send().await.unwrap(), None).await;
    let mut joined = seen.clone();
    joined.extend(rest);
    assert_eq!(joined, all);
    let names: Vec<&str> = all.iter().map(|(_, event, _)| event.as_str()).collect();
    assert_eq!(names, ["metadata", "updates", "values", "updates", "values", "updates", "values"]);
    assert_eq!(all.last().unwrap().2, json!({"tag": "t", "steps": ["a:t", "b:t", "c:t"]}));
}
