//! The node cache in runs: hits skip the node but their writes go through reducers, streams
//! and checkpoints; misses run and are stored; TTLs, versions, fan-outs, resumes, subgraphs,
//! clearing and a failing backend.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use graph_core::cache::{CacheEntry, CacheError, CacheKey, CachePolicy, MemoryCache, NodeCache};
use graph_core::checkpoint::MemorySaver;
use graph_core::prelude::*;
use graph_core::{Input, InterruptError, RunWarning, StreamEvent, StreamMode, Timeline};
use serde_json::{json, Value};

#[derive(State, Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Research {
    query: String,
    #[reducer(append)]
    results: Vec<String>,
    approved: bool,
}

/// Counts the calls of each node, and of each `Send` payload.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<BTreeMap<String, usize>>>);

impl Calls {
    fn count(&self, what: impl Into<String>) {
        *self.0.lock().unwrap().entry(what.into()).or_default() += 1;
    }

    fn get(&self) -> BTreeMap<String, usize> {
        self.0.lock().unwrap().clone()
    }

    fn of(&self, what: &str) -> usize {
        self.get().get(what).copied().unwrap_or(0)
    }
}

/// `search` (cached as `policy` says) after `START`.
fn search_graph(calls: &Calls, policy: CachePolicy) -> StateGraph<Research> {
    let calls = calls.clone();
    StateGraph::<Research>::new()
        .add_node_with(
            "search",
            move |s: Arc<Research>| {
                let calls = calls.clone();
                async move {
                    calls.count("search");
                    Research::update().results(vec![format!("found {}", s.query)])
                }
            },
            NodeOptions::new().cache(policy),
        )
        .add_edge(START, "search")
}

async fn ask(graph: &CompiledGraph<Research>, query: &str) -> Research {
    graph.invoke(Research::update().query(query), RunConfig::default()).await.unwrap().into_state()
}

fn found(query: &str) -> Research {
    Research { query: query.into(), results: vec![format!("found {query}")], approved: false }
}

#[tokio::test]
async fn a_second_run_with_the_same_input_hits_and_another_input_misses() {
    let calls = Calls::default();
    let cache = MemoryCache::new();
    let graph =
        search_graph(&calls, CachePolicy::new()).compile().unwrap().with_cache(cache.clone());

    assert_eq!(ask(&graph, "rust").await, found("rust"));
    assert_eq!(ask(&graph, "rust").await, found("rust"));
    assert_eq!(calls.of("search"), 1);
    assert_eq!(ask(&graph, "tokio").await, found("tokio"));
    assert_eq!(calls.of("search"), 2);
    assert_eq!(cache.len(), 2);
}

#[tokio::test]
async fn a_hit_is_streamed_as_cached_in_updates_and_tasks() {
    let calls = Calls::default();
    let graph =
        search_graph(&calls, CachePolicy::new()).compile().unwrap().with_cache(MemoryCache::new());
    let config =
        RunConfig::default().stream_mode(StreamMode::Updates).stream_mode(StreamMode::Tasks);
    let describe = |events: Vec<Result<StreamEvent<Research>, GraphError>>| -> Vec<String> {
        events
            .into_iter()
            .map(|event| match event.unwrap() {
                StreamEvent::TaskStart { node, attempt, .. } => format!("start {node} #{attempt}"),
                StreamEvent::Update { node, update, cached, .. } => {
                    format!("update {node} {:?} cached={cached}", update.results)
                }
                StreamEvent::TaskEnd { node, attempt, duration, cached, error, .. } => {
                    let zero = duration.is_zero();
                    format!("end {node} #{attempt} cached={cached} zero={zero} error={error:?}")
                }
                StreamEvent::Done { state } => format!("done {:?}", state.results),
                other => format!("{other:?}"),
            })
            .collect()
    };

    let first = graph.stream(Research::update().query("rust"), config.clone()).collect().await;
    let first = describe(first);
    assert_eq!(first[0], "start search #1");
    assert_eq!(first[1], "update search Some([\"found rust\"]) cached=false");
    assert!(first[2].starts_with("end search #1 cached=false"), "{first:?}");
    assert_eq!(first[3], "done [\"found rust\"]");

    let events: Vec<_> = graph.stream(Research::update().query("rust"), config).collect().await;
    let json: Vec<Value> = events
        .iter()
        .filter_map(|e| match e {
            Ok(event @ StreamEvent::Update { .. }) => Some(serde_json::to_value(event).unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(json[0]["cached"], json!(true));
    let timeline = Timeline::from_events(events.iter().flatten());
    assert!(timeline.entries()[0].cached);
    assert!(timeline.to_table().contains("cached"), "{}", timeline.to_table());
    assert_eq!(
        describe(events),
        [
            "update search Some([\"found rust\"]) cached=true",
            "end search #0 cached=true zero=true error=None",
            "done [\"found rust\"]",
        ]
    );
    assert_eq!(calls.of("search"), 1);
}

#[tokio::test(start_paused = true)]
async fn an_entry_expires_after_its_ttl_on_tokio_s_clock() {
    let calls = Calls::default();
    let policy = CachePolicy::new().ttl(Duration::from_secs(60));
    let graph = search_graph(&calls, policy).compile().unwrap().with_cache(MemoryCache::new());

    ask(&graph, "rust").await;
    tokio::time::advance(Duration::from_secs(59)).await;
    ask(&graph, "rust").await;
    assert_eq!(calls.of("search"), 1, "still fresh at 59 s");
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(ask(&graph, "rust").await, found("rust"));
    assert_eq!(calls.of("search"), 2, "expired at 61 s, so it ran again");
    ask(&graph, "rust").await;
    assert_eq!(calls.of("search"), 2, "and its new result is cached afresh");
}

#[tokio::test]
async fn a_new_version_misses_what_the_old_one_stored() {
    let (calls, cache) = (Calls::default(), MemoryCache::new());
    let graph = |version: &str| {
        let policy = CachePolicy::new().version(version);
        search_graph(&calls, policy).compile().unwrap().with_cache(cache.clone())
    };
    ask(&graph("v1"), "rust").await;
    ask(&graph("v1"), "rust").await;
    assert_eq!(calls.of("search"), 1);
    ask(&graph("v2"), "rust").await;
    assert_eq!(calls.of("search"), 2, "v2 does not see v1's entry");
    ask(&graph("v1"), "rust").await;
    ask(&graph("v2"), "rust").await;
    assert_eq!(calls.of("search"), 2, "each version keeps its own entry");
}

/// `plan` sends one task per topic in the state to `lookup`, which is cached by payload.
fn fan_out(calls: &Calls, topics: &'static [&'static str]) -> CompiledGraph<Research> {
    let calls = calls.clone();
    StateGraph::<Research>::new()
        .add_node("plan", |_: Arc<Research>| async {})
        .add_node_with(
            "lookup",
            move |Input(topic): Input<String>| {
                let calls = calls.clone();
                async move {
                    calls.count(format!("lookup {topic}"));
                    Research::update().results(vec![format!("about {topic}")])
                }
            },
            NodeOptions::new().cache(CachePolicy::new()),
        )
        .add_edge(START, "plan")
        .add_conditional_edges(
            "plan",
            move |_: &Research| {
                topics
                    .iter()
                    .map(|t| graph_core::Send::new("lookup", t.to_string()))
                    .collect::<Vec<_>>()
            },
            ["lookup"],
        )
        .compile()
        .unwrap()
}

#[tokio::test]
async fn a_fan_out_runs_only_the_payloads_not_seen_before() {
    let (calls, cache) = (Calls::default(), MemoryCache::new());
    let first = fan_out(&calls, &["a", "b", "c", "d"]).with_cache(cache.clone());
    let second = fan_out(&calls, &["c", "d", "e", "f"]).with_cache(cache.clone());

    ask(&first, "").await;
    let out = ask(&second, "").await;
    // Cached or not, results merge in task order.
    assert_eq!(out.results, ["about c", "about d", "about e", "about f"]);
    let expected: BTreeMap<String, usize> =
        ["a", "b", "c", "d", "e", "f"].iter().map(|t| (format!("lookup {t}"), 1)).collect();
    assert_eq!(calls.get(), expected, "c and d ran once, in the first run only");
    let uncached = fan_out(&Calls::default(), &["c", "d", "e", "f"]);
    assert_eq!(out, ask(&uncached, "").await, "the same state as a run without a cache");
}

/// `search` (cached) and `review` (asks a person) run side by side, then `summary`.
fn reviewed(calls: &Calls, cache: &MemoryCache) -> CompiledGraph<Research> {
    let review = |_: Arc<Research>, ctx: NodeContext| async move {
        let approved: bool = ctx.interrupt("publish?")?;
        Ok::<_, InterruptError>(Research::update().approved(approved))
    };
    let summary = |s: Arc<Research>| async move {
        Research::update().results(vec![format!("{} results", s.results.len())])
    };
    search_graph(calls, CachePolicy::new())
        .add_node("review", review)
        .add_node("summary", summary)
        .add_edge(START, "review")
        .add_join(["search", "review"], "summary")
        .compile()
        .unwrap()
        .with_checkpointer(MemorySaver::new())
        .with_cache(cache.clone())
}

#[tokio::test]
async fn a_resumed_run_reads_cached_results_and_saves_them_in_its_checkpoints() {
    let (calls, cache) = (Calls::default(), MemoryCache::new());
    let graph = reviewed(&calls, &cache);
    let done = Research {
        query: "rust".into(),
        results: vec!["found rust".into(), "1 results".into()],
        approved: true,
    };

    // Thread 1 runs `search` before pausing; the resume keeps its saved result.
    let one = RunConfig::default().thread_id("cache-resume-1");
    let paused = graph.invoke(Research::update().query("rust"), one.clone()).await.unwrap();
    assert_eq!(paused.interrupts().len(), 1);
    assert_eq!(calls.of("search"), 1);
    let out = graph.invoke(Command::resume(true), one).await.unwrap();
    assert_eq!(out, RunOutcome::Finished(done.clone()));
    assert_eq!(calls.of("search"), 1);

    // Thread 2 finds `search` in the cache and pauses. The hit is saved with the paused
    // step, so the resume reads it even after the cache forgot it.
    let two = RunConfig::default().thread_id("cache-resume-2");
    let paused = graph.invoke(Research::update().query("rust"), two.clone()).await.unwrap();
    assert_eq!(paused.interrupts().len(), 1);
    graph.clear_cache(["search"]).await.unwrap();
    assert!(cache.is_empty());
    let out = graph.invoke(Command::resume(true), two.clone()).await.unwrap();
    assert_eq!(out, RunOutcome::Finished(done));
    let saved = graph.get_state(&two).await.unwrap().unwrap();
    assert_eq!(saved.values.results, ["found rust", "1 results"]);
    assert_eq!(calls.of("search"), 1, "search never ran for thread 2");
}

#[tokio::test]
async fn clearing_no_nodes_keeps_everything_and_clearing_a_node_runs_it_again() {
    let (calls, cache) = (Calls::default(), MemoryCache::new());
    let graph =
        search_graph(&calls, CachePolicy::new()).compile().unwrap().with_cache(cache.clone());
    ask(&graph, "rust").await;

    graph.clear_cache(Vec::<String>::new()).await.unwrap();
    assert_eq!(cache.len(), 1, "an empty list clears nothing");
    ask(&graph, "rust").await;
    assert_eq!(calls.of("search"), 1);

    let error = graph.clear_cache(["search", "nope"]).await.unwrap_err();
    assert!(matches!(&error, GraphError::UnknownNode { node } if node == "nope"), "{error}");
    assert_eq!(cache.len(), 1, "nothing is cleared when a name is wrong");

    graph.clear_cache(["search"]).await.unwrap();
    assert!(cache.is_empty());
    ask(&graph, "rust").await;
    assert_eq!(calls.of("search"), 2);

    let uncached = search_graph(&calls, CachePolicy::new()).compile().unwrap();
    let error = uncached.clear_cache(["search"]).await.unwrap_err();
    assert!(matches!(error, GraphError::NoCache), "{error}");
}

#[tokio::test]
async fn a_node_without_a_policy_or_a_graph_without_a_cache_always_runs() {
    let calls = Calls::default();
    let graph = search_graph(&calls, CachePolicy::new()).compile().unwrap();
    ask(&graph, "rust").await;
    ask(&graph, "rust").await;
    assert_eq!(calls.of("search"), 2);
}

#[tokio::test]
async fn a_subgraph_uses_its_parent_s_cache() {
    let (calls, cache) = (Calls::default(), MemoryCache::new());
    let child = search_graph(&calls, CachePolicy::new()).compile().unwrap();
    let parent = StateGraph::<Research>::new()
        .add_subgraph("research", child)
        .add_edge(START, "research")
        .compile()
        .unwrap()
        .with_cache(cache.clone());
    assert_eq!(ask(&parent, "rust").await, found("rust"));
    assert_eq!(ask(&parent, "rust").await, found("rust"));
    assert_eq!(calls.of("search"), 1);
    assert_eq!(cache.len(), 1);
}

/// A backend whose every operation fails.
struct Broken;

#[async_trait]
impl NodeCache for Broken {
    async fn get(&self, _: &[CacheKey]) -> Result<Vec<Option<Value>>, CacheError> {
        Err(CacheError::backend("connection refused"))
    }

    async fn set(&self, _: Vec<CacheEntry>) -> Result<(), CacheError> {
        Err(CacheError::backend("connection refused"))
    }

    async fn clear(&self, _: &[String]) -> Result<(), CacheError> {
        Err(CacheError::backend("connection refused"))
    }
}

#[tokio::test]
async fn a_failing_backend_is_a_warning_and_the_node_runs() {
    let calls = Calls::default();
    let graph = search_graph(&calls, CachePolicy::new()).compile().unwrap().with_cache(Broken);
    let config = RunConfig::default().stream_mode(StreamMode::Updates);
    let events: Vec<_> = graph.stream(Research::update().query("rust"), config).collect().await;
    let warnings: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Ok(StreamEvent::Warning { warning }) => Some(warning.to_string()),
            _ => None,
        })
        .collect();
    let failed = "the node cache failed, so the step ran without it: cache backend failed: connection refused";
    assert_eq!(warnings, [failed, failed], "one for the lookup, one for the store");
    assert!(matches!(events.last(), Some(Ok(StreamEvent::Done { .. }))));
    assert_eq!(calls.of("search"), 1);

    let strict = graph.invoke(Research::update().query("rust"), RunConfig::default().strict(true));
    let error = strict.await.unwrap_err();
    let GraphError::StrictWarning(RunWarning::CacheFailed { error }) = error else {
        panic!("{error}")
    };
    assert_eq!(error, "cache backend failed: connection refused");
    let cleared = graph.clear_cache(["search"]).await.unwrap_err();
    assert_eq!(cleared.to_string(), "cache backend failed: connection refused");
}

#[tokio::test]
async fn a_key_function_keys_on_part_of_the_input() {
    let (calls, cache) = (Calls::default(), MemoryCache::new());
    let policy = CachePolicy::new().key(|state| state["query"].clone());
    let graph = search_graph(&calls, policy).compile().unwrap().with_cache(cache.clone());
    ask(&graph, "rust").await;
    let input = Research::update().query("rust").approved(true);
    let out = graph.invoke(input, RunConfig::default()).await.unwrap().into_state();
    assert_eq!(out.results, ["found rust"]);
    assert_eq!(calls.of("search"), 1, "`approved` is not part of the key");

    let panicking = CachePolicy::new().key(|_| panic!("no key today"));
    let graph = search_graph(&calls, panicking).compile().unwrap().with_cache(cache);
    let error = graph
        .invoke(Research::update().query("rust"), RunConfig::default().strict(true))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the node cache failed, so the step ran without it: keying `search`: its key function panicked: no key today (an error under RunConfig::strict)"
    );
}
