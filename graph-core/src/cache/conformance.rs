//! The conformance suite every [`NodeCache`] must pass: batch lookups in order, overwrites,
//! expiry on real time, clearing by node (and never everything), node names that look like
//! patterns, racing writers, and faithful round trips.
//!
//! Call [`run`] from a test with a fresh backend, on a runtime whose clock is not paused:
//! it sleeps for real to see entries expire. It panics with a message naming the broken
//! rule. Node names are unique per call, so a shared server or file can be reused.

use std::time::Duration;

use serde_json::{json, Value};

use super::{CacheEntry, CacheKey, NodeCache};

/// The short time to live of the expiry rules.
const TTL: Duration = Duration::from_millis(300);

/// How long the expiry rules wait: long past [`TTL`], on a busy machine too.
const PAST_TTL: Duration = Duration::from_millis(600);

/// Runs every rule against `cache`.
pub async fn run<C: NodeCache>(cache: &C) {
    let run = Names(uuid::Uuid::now_v7().simple().to_string());
    misses(cache, &run.node("miss")).await;
    batches_in_order(cache, &run.node("batch")).await;
    overwrites(cache, &run.node("overwrite")).await;
    expiry(cache, &run.node("expiry")).await;
    clear_nothing(cache, &run.node("keep")).await;
    clear_by_node(cache, &run).await;
    racing_writers(cache, &run.node("race")).await;
    large_values(cache, &run.node("large")).await;
    faithful_values(cache, &run.node("values")).await;
}

/// Node names unique to one call of [`run`].
struct Names(String);

impl Names {
    fn node(&self, name: &str) -> String {
        format!("{}-{name}", self.0)
    }
}

fn key(node: &str, hash: &str) -> CacheKey {
    CacheKey { node: node.to_owned(), hash: hash.to_owned() }
}

fn entry(key: &CacheKey, value: Value, ttl: Option<Duration>) -> CacheEntry {
    CacheEntry { key: key.clone(), value, ttl }
}

async fn get<C: NodeCache>(cache: &C, keys: &[CacheKey]) -> Vec<Option<Value>> {
    cache.get(keys).await.unwrap_or_else(|e| panic!("get of {keys:?} failed: {e}"))
}

async fn set<C: NodeCache>(cache: &C, entries: Vec<CacheEntry>) {
    cache.set(entries).await.unwrap_or_else(|e| panic!("set failed: {e}"))
}

async fn clear<C: NodeCache>(cache: &C, nodes: &[String]) {
    cache.clear(nodes).await.unwrap_or_else(|e| panic!("clear of {nodes:?} failed: {e}"))
}

async fn misses<C: NodeCache>(cache: &C, node: &str) {
    assert_eq!(get(cache, &[]).await, [] as [Option<Value>; 0], "an empty batch finds nothing");
    assert_eq!(get(cache, &[key(node, "h")]).await, [None], "an unknown key is a miss");
    set(cache, Vec::new()).await;
    assert_eq!(get(cache, &[key(node, "h")]).await, [None], "storing nothing stores nothing");
}

async fn batches_in_order<C: NodeCache>(cache: &C, node: &str) {
    let other = format!("{node}-other");
    let (a, b, c) = (key(node, "a"), key(node, "b"), key(&other, "a"));
    set(cache, vec![entry(&a, json!(1), None), entry(&c, json!({ "c": true }), None)]).await;
    set(cache, vec![entry(&b, json!("two"), None)]).await;
    assert_eq!(
        get(cache, &[b.clone(), key(node, "missing"), a.clone(), c.clone(), a.clone()]).await,
        [Some(json!("two")), None, Some(json!(1)), Some(json!({ "c": true })), Some(json!(1))],
        "a batch answers every key in order, a miss as None, a repeated key twice"
    );
    assert_eq!(
        get(cache, &[key(&other, "b")]).await,
        [None],
        "a hash is looked up under its own node only"
    );
}

async fn overwrites<C: NodeCache>(cache: &C, node: &str) {
    let (a, b) = (key(node, "a"), key(node, "b"));
    set(cache, vec![entry(&a, json!("first"), None)]).await;
    set(cache, vec![entry(&a, json!(["second"]), None)]).await;
    assert_eq!(get(cache, &[a]).await, [Some(json!(["second"]))], "the last set wins");
    set(cache, vec![entry(&b, json!(1), None), entry(&b, json!(2), None)]).await;
    assert_eq!(get(cache, &[b]).await, [Some(json!(2))], "within one batch, the last entry wins");
}

async fn expiry<C: NodeCache>(cache: &C, node: &str) {
    let short = key(node, "short");
    let forever = key(node, "forever");
    let long = key(node, "long");
    let huge = key(node, "huge");
    let now_forever = key(node, "now-forever");
    let now_short = key(node, "now-short");
    let zero = key(node, "zero");
    let zero_again = key(node, "zero-again");
    set(
        cache,
        vec![
            entry(&short, json!("short"), Some(TTL)),
            entry(&forever, json!("forever"), None),
            entry(&long, json!("long"), Some(Duration::from_secs(3600))),
            entry(&huge, json!("huge"), Some(Duration::MAX)),
            entry(&now_forever, json!("was short"), Some(TTL)),
            entry(&now_short, json!("was forever"), None),
            entry(&zero_again, json!("was forever"), None),
        ],
    )
    .await;
    set(
        cache,
        vec![
            entry(&now_forever, json!("now forever"), None),
            entry(&now_short, json!("now short"), Some(TTL)),
            entry(&zero, json!("zero"), Some(Duration::ZERO)),
            entry(&zero_again, json!("zero"), Some(Duration::ZERO)),
        ],
    )
    .await;
    let all = [short, forever, long, huge, now_forever, now_short, zero, zero_again];
    assert_eq!(
        get(cache, &all).await,
        [
            Some(json!("short")),
            Some(json!("forever")),
            Some(json!("long")),
            Some(json!("huge")),
            Some(json!("now forever")),
            Some(json!("now short")),
            None,
            None,
        ],
        "entries live until their time is up; a zero time to live stores nothing and removes \
         what was there"
    );
    tokio::time::sleep(PAST_TTL).await;
    assert_eq!(
        get(cache, &all).await,
        [
            None,
            Some(json!("forever")),
            Some(json!("long")),
            Some(json!("huge")),
            Some(json!("now forever")),
            None,
            None,
            None,
        ],
        "an expired entry is a miss; entries without a time to live (or with one too long to \
         count) stay; an overwrite's time to live replaces the old one"
    );
    assert_eq!(
        get(cache, &all[..1]).await,
        [None],
        "an expired entry stays a miss when looked up again"
    );
}

async fn clear_nothing<C: NodeCache>(cache: &C, node: &str) {
    let kept = key(node, "h");
    set(cache, vec![entry(&kept, json!("kept"), None)]).await;
    clear(cache, &[]).await;
    assert_eq!(
        get(cache, &[kept]).await,
        [Some(json!("kept"))],
        "clearing an empty list of nodes removes nothing"
    );
}

async fn clear_by_node<C: NodeCache>(cache: &C, run: &Names) {
    // Names that are patterns, separators or prefixes of each other in one backend or another.
    let names =
        ["a", "a:b", "a*", "a?", "a[bc]", "ab", "ac", "a|b", "a\\", "a:", ":a", "ä✓ノード", "b"];
    let nodes: Vec<String> = names.iter().map(|name| run.node(name)).collect();
    let keys: Vec<CacheKey> = nodes.iter().map(|node| key(node, "h:1*")).collect();
    let entries = keys.iter().zip(names).map(|(key, name)| entry(key, json!(name), None)).collect();
    set(cache, entries).await;
    let stored = |cleared: &[&str]| -> Vec<Option<Value>> {
        names.iter().map(|name| (!cleared.contains(name)).then(|| json!(name))).collect()
    };
    assert_eq!(get(cache, &keys).await, stored(&[]), "nodes with look-alike names keep apart");

    clear(cache, &[run.node("a")]).await;
    assert_eq!(
        get(cache, &keys).await,
        stored(&["a"]),
        "clearing node `a` removes its entries only, not those of `a:b`, `a*` or `ab`"
    );
    let patterns = [run.node("a*"), run.node("a?"), run.node("a[bc]")];
    clear(cache, &patterns).await;
    assert_eq!(
        get(cache, &keys).await,
        stored(&["a", "a*", "a?", "a[bc]"]),
        "a node named like a pattern is cleared as a name, matching no other node"
    );
    clear(cache, &[run.node("a:"), run.node("ä✓ノード"), run.node("unknown")]).await;
    assert_eq!(
        get(cache, &keys).await,
        stored(&["a", "a*", "a?", "a[bc]", "a:", "ä✓ノード"]),
        "clearing several nodes at once, one unknown, removes exactly theirs"
    );
    let again = key(&run.node("a"), "h:1*");
    set(cache, vec![entry(&again, json!("again"), None)]).await;
    assert_eq!(get(cache, &[again]).await, [Some(json!("again"))], "a cleared node stores again");
}

async fn racing_writers<C: NodeCache>(cache: &C, node: &str) {
    let shared = key(node, "shared");
    let writers = (0..20).map(|writer| {
        let own = key(node, &format!("own-{writer}"));
        let entries = vec![entry(&own, json!(writer), None), entry(&shared, json!(writer), None)];
        cache.set(entries)
    });
    for result in futures::future::join_all(writers).await {
        result.unwrap_or_else(|e| panic!("a racing set failed: {e}"));
    }
    let own: Vec<CacheKey> = (0..20).map(|writer| key(node, &format!("own-{writer}"))).collect();
    let expected: Vec<Option<Value>> = (0..20).map(|writer| Some(json!(writer))).collect();
    assert_eq!(get(cache, &own).await, expected, "racing writers lose none of each other's keys");
    let winner = get(cache, &[shared]).await;
    assert!(
        matches!(&winner[..], [Some(Value::Number(n))] if n.as_u64().is_some_and(|n| n < 20)),
        "a key written by racing writers holds one of their values, got {winner:?}"
    );
}

async fn large_values<C: NodeCache>(cache: &C, node: &str) {
    let text: String = (0..1 << 20).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let items: Vec<Value> =
        (0..10_000).map(|i| json!({ "i": i, "f": f64::from(i) / 7.0 })).collect();
    let value = json!({ "text": text, "items": items });
    let big = key(node, "big");
    set(cache, vec![entry(&big, value.clone(), None)]).await;
    let found = get(cache, &[big]).await;
    assert!(found == [Some(value)], "a value of over a megabyte round-trips exactly");
}

async fn faithful_values<C: NodeCache>(cache: &C, node: &str) {
    let values = [
        json!(null),
        json!(true),
        json!(0),
        json!(-0.0),
        json!(0.1),
        json!(1e-300),
        json!(-1.7976931348623157e308),
        json!(2.2250738585072014e-308),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(""),
        json!("ünïcödé ✓ 🦀 \u{0} \"quoted\" \\ \n\t ノード"),
        json!([]),
        json!({}),
        json!({ "nested": { "list": [1, [2, [3, { "deep": [0.5, "x", null] }]]], "z": {}, "a": [] } }),
        json!({ "b": 1, "a": 2, "ключ": "значение" }),
    ];
    let keys: Vec<CacheKey> = (0..values.len()).map(|i| key(node, &format!("value-{i}"))).collect();
    let entries = keys.iter().zip(&values).map(|(key, value)| entry(key, value.clone(), None));
    set(cache, entries.collect()).await;
    let found = get(cache, &keys).await;
    for ((value, found), key) in values.iter().zip(found).zip(&keys) {
        assert_eq!(found.as_ref(), Some(value), "a JSON value round-trips exactly ({key:?})");
    }
}
