//! The conformance suite every [`Store`] must pass: faithful round trips, overwrites,
//! validation, prefix search, filters, paging and order, namespace listing, expiry and
//! concurrent writers.
//!
//! Call [`run`] from a test; it panics with a message naming the broken rule. Everything
//! it writes lives under a namespace unique to the call, so a shared database can be
//! reused. It takes a few seconds: expiry is tested with real sleeps, so run it on a
//! runtime whose clock is not paused.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, SystemTime};

use futures::future::join_all;
use serde_json::{json, Value};

use super::{
    Filter, FilterFault, Item, KeyFault, ListNamespaces, Namespace, NamespaceFault, SearchQuery,
    Store, StoreError,
};

/// Runs every rule against `store`.
pub async fn run<S: Store>(store: &S) {
    let root = Namespace::new([format!("conformance-{}", uuid::Uuid::now_v7().simple())])
        .expect("a valid root");
    let section = |name: &str| root.child(name).expect("a valid section");
    round_trip(store, &section("round-trip")).await;
    overwrite(store, &section("overwrite")).await;
    validation(store, &section("validation")).await;
    prefixes(store, &section("prefixes")).await;
    filters(store, &section("filters")).await;
    pages(store, &section("pages")).await;
    order(store, &section("order")).await;
    namespaces(store, &section("namespaces")).await;
    expiry(store, &section("expiry")).await;
    let (on_get, on_search) = (section("get-ttl"), section("search-ttl"));
    futures::join!(refresh_on_get(store, &on_get), refresh_on_search(store, &on_search));
    sweep(store, &section("sweep")).await;
    one_key_many_writers(store, &section("one-key")).await;
    many_keys_many_writers(store, &section("many-keys")).await;
}

fn ns(base: &Namespace, labels: &[&str]) -> Namespace {
    labels.iter().fold(base.clone(), |ns, label| ns.child(*label).expect("a valid label"))
}

/// Writes `(namespace, key, value)` in order, a little apart, so `updated_at` follows it.
async fn put_in_order<S: Store>(store: &S, items: &[(Namespace, &str, Value)]) {
    for (namespace, key, value) in items {
        tokio::time::sleep(Duration::from_millis(2)).await;
        store.put(namespace, key, value.clone(), None).await.expect("put");
    }
}

/// `(dotted namespace, key)` of each item, in order.
fn places(items: &[Item]) -> Vec<(String, String)> {
    items.iter().map(|item| (item.namespace.to_string(), item.key.clone())).collect()
}

fn keys(items: &[Item]) -> Vec<&str> {
    items.iter().map(|item| item.key.as_str()).collect()
}

async fn search<S: Store>(store: &S, prefix: &Namespace, query: SearchQuery) -> Vec<Item> {
    store.search(prefix, &query).await.expect("search")
}

async fn round_trip<S: Store>(store: &S, base: &Namespace) {
    let key = "ключ 🔑/with spaces";
    assert_eq!(store.get(base, key).await.expect("get"), None, "a missing item is None");
    let value = json!({
        "text": "Ünïcode ✓ 日本語 🦀 \"quoted\" \\ \n tab\t",
        "nested": { "list": [1, -2, 3.5, null, true, "x", [], {}], "empty": "" },
        "floats": { "tiny": 1e-7, "max": f64::MAX, "pi": std::f64::consts::PI, "neg": -0.1 },
        "ints": { "beyond_f64": 9_007_199_254_740_993_i64, "u64_max": u64::MAX, "min": i64::MIN },
    });
    let before = SystemTime::now();
    store.put(base, key, value.clone(), None).await.expect("put");
    let item = store.get(base, key).await.expect("get").expect("a stored item is found");
    assert_eq!(item.value, value, "values round-trip exactly");
    assert_eq!((&item.namespace, item.key.as_str()), (base, key), "the item knows its place");
    assert_eq!(item.created_at, item.updated_at, "a new item was created when last updated");
    let slack = Duration::from_secs(60);
    assert!(
        item.created_at + slack > before && item.created_at < SystemTime::now() + slack,
        "created_at is the time of the write: {:?} for a write at {before:?}",
        item.created_at
    );
    for (key, value) in
        [("null", Value::Null), ("zero", json!(0)), ("text", json!("s")), ("list", json!([]))]
    {
        store.put(base, key, value.clone(), None).await.expect("put");
        let found = store.get(base, key).await.expect("get").map(|item| item.value);
        assert_eq!(found, Some(value), "a top-level {key} round-trips");
    }
    assert_eq!(store.get(base, "other").await.expect("get"), None, "keys do not leak");
    assert_eq!(
        store.get(&ns(base, &["deeper"]), key).await.expect("get"),
        None,
        "namespaces do not leak"
    );
    store.delete(base, key).await.expect("delete");
    assert_eq!(store.get(base, key).await.expect("get"), None, "a deleted item is gone");
    store.delete(base, key).await.expect("deleting a missing item is not an error");
}

async fn overwrite<S: Store>(store: &S, base: &Namespace) {
    store.put(base, "k", json!({ "v": 1 }), None).await.expect("put");
    let first = store.get(base, "k").await.expect("get").expect("stored");
    store.put(base, "k", json!({ "v": 2 }), None).await.expect("put");
    let second = store.get(base, "k").await.expect("get").expect("stored");
    assert_eq!(second.value, json!({ "v": 2 }), "a put replaces the value");
    assert_eq!(second.created_at, first.created_at, "an overwrite keeps created_at");
    assert!(
        second.updated_at > first.updated_at,
        "an overwrite advances updated_at, even at once: {:?} then {:?}",
        first.updated_at,
        second.updated_at
    );
    store.put(base, "k", json!({ "v": 2 }), None).await.expect("put");
    let third = store.get(base, "k").await.expect("get").expect("stored");
    assert!(third.updated_at > second.updated_at, "writing the same value again is a write");
    store.delete(base, "k").await.expect("delete");
    store.put(base, "k", json!({ "v": 3 }), None).await.expect("put");
    let fresh = store.get(base, "k").await.expect("get").expect("stored");
    assert!(fresh.created_at > first.created_at, "a put after a delete creates a new item");
}

fn expect_namespace_fault(labels: Vec<String>, expected: NamespaceFault) {
    match Namespace::new(labels.clone()) {
        Err(StoreError::InvalidNamespace { namespace, reason }) => {
            assert_eq!((namespace, reason), (labels, expected), "namespace validation")
        }
        other => panic!("{labels:?} must be refused with {expected:?}, got {other:?}"),
    }
}

fn expect_key_fault<T: Debug>(
    operation: &str,
    result: Result<T, StoreError>,
    key: &str,
    expected: KeyFault,
) {
    match result {
        Err(StoreError::InvalidKey { key: found, reason }) => {
            assert_eq!((found.as_str(), reason), (key, expected), "{operation} validates keys")
        }
        other => panic!("{operation} with key {key:?} must fail with {expected:?}, got {other:?}"),
    }
}

async fn validation<S: Store>(store: &S, base: &Namespace) {
    let root = base.labels()[0].clone();
    expect_namespace_fault(Vec::new(), NamespaceFault::Empty);
    expect_namespace_fault(
        vec![root.clone(), String::new()],
        NamespaceFault::EmptyLabel { index: 1 },
    );
    expect_namespace_fault(vec![root.clone(), "a.b".into()], NamespaceFault::Dot { index: 1 });
    expect_namespace_fault(vec![root, "a\0b".into()], NamespaceFault::Nul { index: 1 });
    for (key, fault) in [("", KeyFault::Empty), ("a\0b", KeyFault::Nul)] {
        expect_key_fault("put", store.put(base, key, json!(1), None).await, key, fault);
        expect_key_fault("get", store.get(base, key).await, key, fault);
        expect_key_fault("delete", store.delete(base, key).await, key, fault);
    }
    assert_eq!(
        store.list_namespaces(&ListNamespaces::new().prefix(base.clone())).await.expect("list"),
        Vec::<Namespace>::new(),
        "refused writes store nothing"
    );
    match Filter::from_json(&json!({ "n": { "$foo": 1 } })) {
        Err(StoreError::InvalidFilter { field, reason }) => assert_eq!(
            (field, reason),
            (Some("n".to_owned()), FilterFault::UnknownOperator { operator: "$foo".into() })
        ),
        other => panic!("an unknown operator must be refused, got {other:?}"),
    }
}

async fn prefixes<S: Store>(store: &S, base: &Namespace) {
    let v = json!({});
    put_in_order(
        store,
        &[
            (ns(base, &["a"]), "k1", v.clone()),
            (ns(base, &["a", "x"]), "k2", v.clone()),
            (ns(base, &["ab"]), "k3", v.clone()),
            (ns(base, &["a-b"]), "k4", v.clone()),
            (base.clone(), "k5", v.clone()),
            (ns(base, &["a", "x", "y"]), "k6", v.clone()),
            (ns(base, &["a%"]), "k7", v.clone()),
            (ns(base, &["a_", "x"]), "k8", v.clone()),
        ],
    )
    .await;
    let under = |labels: &[&str]| ns(base, labels);
    assert_eq!(
        keys(&search(store, &under(&["a"]), SearchQuery::new()).await),
        ["k6", "k2", "k1"],
        "a prefix covers its namespace and those below, whole labels only, newest first"
    );
    assert_eq!(keys(&search(store, &under(&["a", "x"]), SearchQuery::new()).await), ["k6", "k2"]);
    assert_eq!(
        keys(&search(store, base, SearchQuery::new()).await),
        ["k8", "k7", "k6", "k5", "k4", "k3", "k2", "k1"]
    );
    assert_eq!(
        keys(&search(store, &under(&["a%"]), SearchQuery::new()).await),
        ["k7"],
        "SQL wildcards in labels are plain characters"
    );
    assert_eq!(keys(&search(store, &under(&["a_"]), SearchQuery::new()).await), ["k8"]);
    assert!(search(store, &under(&["b"]), SearchQuery::new()).await.is_empty(), "an empty prefix");
    let first = &search(store, &under(&["a", "x", "y"]), SearchQuery::new()).await;
    assert_eq!(places(first), [(under(&["a", "x", "y"]).to_string(), "k6".to_owned())]);
}

async fn filters<S: Store>(store: &S, base: &Namespace) {
    put_in_order(
        store,
        &[
            (
                base.clone(),
                "n1",
                json!({ "n": 1, "s": "apple", "kind": "fruit", "meta": { "rank": 3 } }),
            ),
            (
                base.clone(),
                "n2",
                json!({ "n": 2.5, "s": "banana", "kind": "fruit", "meta": { "rank": 1 } }),
            ),
            (base.clone(), "n3", json!({ "n": 3, "s": "cherry", "kind": "berry" })),
            (base.clone(), "n4", json!({ "n": "3", "s": 7, "kind": null })),
            (base.clone(), "n5", json!({ "other": true })),
        ],
    )
    .await;
    let cases: Vec<(&str, Filter, Vec<&str>)> = vec![
        ("no filter", Filter::new(), vec!["n5", "n4", "n3", "n2", "n1"]),
        ("$eq string", Filter::new().eq("kind", "fruit"), vec!["n2", "n1"]),
        ("$eq number, not its string", Filter::new().eq("n", 3), vec!["n3"]),
        ("$eq numbers by value", Filter::new().eq("n", 3.0), vec!["n3"]),
        ("$eq null", Filter::new().eq("kind", Value::Null), vec!["n4"]),
        ("$ne matches its type only", Filter::new().ne("n", 3), vec!["n2", "n1"]),
        ("$gt numbers", Filter::new().gt("n", 1), vec!["n3", "n2"]),
        ("$gte numbers", Filter::new().gte("n", 2.5), vec!["n3", "n2"]),
        ("$lt numbers", Filter::new().lt("n", 3), vec!["n2", "n1"]),
        ("$lte numbers", Filter::new().lte("n", 1), vec!["n1"]),
        ("$gt strings", Filter::new().gt("s", "b"), vec!["n3", "n2"]),
        ("$lt strings", Filter::new().lt("s", "banana"), vec!["n1"]),
        ("$gt across types", Filter::new().gt("s", 0), vec!["n4"]),
        ("a nested field", Filter::new().eq("meta.rank", 1), vec!["n2"]),
        ("a nested range", Filter::new().gte("meta.rank", 1), vec!["n2", "n1"]),
        ("a missing field", Filter::new().ne("missing", 1), vec![]),
        ("all conditions", Filter::new().gt("n", 1).eq("kind", "fruit"), vec!["n2"]),
    ];
    for (rule, filter, expected) in cases {
        let found = search(store, base, SearchQuery::new().filter(filter)).await;
        assert_eq!(keys(&found), expected, "filter: {rule}");
    }
    let parsed = Filter::from_json(&json!({ "n": { "$gt": 1, "$lte": 3 }, "kind": "fruit" }))
        .expect("a valid filter");
    let found = search(store, base, SearchQuery::new().filter(parsed)).await;
    assert_eq!(keys(&found), ["n2"], "a filter written as JSON");
}

async fn pages<S: Store>(store: &S, base: &Namespace) {
    let items: Vec<_> =
        (0..12).map(|i| (base.clone(), format!("k{i:02}"), json!({ "i": i }))).collect();
    let items: Vec<_> =
        items.iter().map(|(ns, key, value)| (ns.clone(), key.as_str(), value.clone())).collect();
    put_in_order(store, &items).await;
    let page =
        |query: SearchQuery| async move { keys(&search(store, base, query).await).join(" ") };
    assert_eq!(
        page(SearchQuery::new()).await,
        "k11 k10 k09 k08 k07 k06 k05 k04 k03 k02",
        "10 by default"
    );
    assert_eq!(page(SearchQuery::new().offset(10)).await, "k01 k00");
    assert_eq!(page(SearchQuery::new().limit(3).offset(2)).await, "k09 k08 k07");
    assert_eq!(page(SearchQuery::new().offset(12)).await, "", "an offset past the end");
    assert_eq!(page(SearchQuery::new().limit(0)).await, "", "a limit of 0");
    assert_eq!(page(SearchQuery::new().limit(100)).await.split(' ').count(), 12);
    let filtered = SearchQuery::new().filter(Filter::new().lt("i", 6)).limit(2).offset(1);
    assert_eq!(page(filtered).await, "k04 k03", "limit and offset count matching items only");
}

async fn order<S: Store>(store: &S, base: &Namespace) {
    put_in_order(
        store,
        &[
            (base.clone(), "a", json!(1)),
            (base.clone(), "b", json!(2)),
            (base.clone(), "c", json!(3)),
        ],
    )
    .await;
    assert_eq!(
        keys(&search(store, base, SearchQuery::new()).await),
        ["c", "b", "a"],
        "newest first"
    );
    put_in_order(store, &[(base.clone(), "a", json!(4))]).await;
    let found = search(store, base, SearchQuery::new()).await;
    assert_eq!(keys(&found), ["a", "c", "b"], "an overwrite makes an item the newest");
    assert!(
        found.windows(2).all(|pair| pair[0].updated_at > pair[1].updated_at),
        "results are ordered by updated_at, newest first"
    );
}

async fn namespaces<S: Store>(store: &S, base: &Namespace) {
    let leaf = format!("z-{}", base.labels()[0]);
    let v = json!(null);
    let all = [
        ns(base, &["u", "ada", "notes"]),
        ns(base, &["u", "ada", "todo"]),
        ns(base, &["u", "bob"]),
        ns(base, &["t", "x", "notes"]),
        ns(base, &["u-v"]),
        ns(base, &["u", "ada", &leaf]),
    ];
    for namespace in &all {
        store.put(namespace, "k", v.clone(), None).await.expect("put");
        store.put(namespace, "k2", v.clone(), None).await.expect("put");
    }
    store.put(&ns(base, &["gone"]), "k", v.clone(), None).await.expect("put");
    store.delete(&ns(base, &["gone"]), "k").await.expect("delete");
    let list = |query: ListNamespaces| async move {
        let found = store.list_namespaces(&query).await.expect("list_namespaces");
        let base = format!("{base}.");
        found.iter().map(|ns| ns.to_string().replacen(&base, "", 1)).collect::<Vec<_>>().join(" ")
    };
    let under = ListNamespaces::new().prefix(base.clone());
    assert_eq!(
        list(under.clone()).await,
        format!("t.x.notes u-v u.ada.notes u.ada.todo u.ada.{leaf} u.bob"),
        "namespaces of live items, each once, by dotted path"
    );
    let depth = base.depth();
    assert_eq!(
        list(under.clone().max_depth(depth + 1)).await,
        "t u u-v",
        "max_depth counts labels from the root, cuts and de-duplicates"
    );
    assert_eq!(
        list(under.clone().max_depth(depth + 2).offset(1).limit(2)).await,
        "u-v u.ada",
        "cut, then paged"
    );
    assert_eq!(list(under.clone().max_depth(depth)).await, base.to_string(), "cut to the prefix");
    assert_eq!(
        list(ListNamespaces::new().prefix(ns(base, &["u"]))).await,
        format!("u.ada.notes u.ada.todo u.ada.{leaf} u.bob"),
        "a prefix matches whole labels"
    );
    assert_eq!(
        list(under.clone().suffix(Namespace::new(["notes"]).expect("valid"))).await,
        "t.x.notes u.ada.notes",
        "a suffix"
    );
    let leaf_ns = Namespace::new([leaf.clone()]).expect("valid");
    assert_eq!(
        list(ListNamespaces::new().suffix(leaf_ns)).await,
        format!("u.ada.{leaf}"),
        "a suffix alone"
    );
    assert_eq!(list(under.clone().limit(1).offset(5)).await, "u.bob");

    let many = ns(base, &["many"]);
    join_all((0..101).map(|i| {
        let namespace = many.child(format!("n{i:03}")).expect("valid");
        async move { store.put(&namespace, "k", json!(i), None).await.expect("put") }
    }))
    .await;
    let found =
        store.list_namespaces(&ListNamespaces::new().prefix(many.clone())).await.expect("list");
    assert_eq!(found.len(), 100, "100 namespaces by default");
    assert_eq!(found.last(), Some(&many.child("n099").expect("valid")));
}

async fn expiry<S: Store>(store: &S, base: &Namespace) {
    let (short, kept) = (ns(base, &["short"]), ns(base, &["kept"]));
    store
        .put(&short, "e", json!("soon gone"), Some(Duration::from_millis(300)))
        .await
        .expect("put");
    store.put(&kept, "k", json!("stays"), None).await.expect("put");
    let first = store.get(&short, "e").await.expect("get").expect("live before its ttl");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(store.get(&short, "e").await.expect("get"), None, "an expired item is gone");
    assert_eq!(
        keys(&search(store, base, SearchQuery::new()).await),
        ["k"],
        "search skips expired items"
    );
    let listed =
        store.list_namespaces(&ListNamespaces::new().prefix(base.clone())).await.expect("list");
    assert_eq!(listed, [kept], "a namespace of expired items is not listed");
    store.put(&short, "e", json!("back"), None).await.expect("put");
    let again = store.get(&short, "e").await.expect("get").expect("stored");
    assert!(again.created_at > first.updated_at, "a put after expiry creates a new item");
}

async fn refresh_on_get<S: Store>(store: &S, base: &Namespace) {
    store.put(base, "r", json!(1), Some(Duration::from_millis(600))).await.expect("put");
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(store.get(base, "r").await.expect("get").is_some(), "live before its ttl");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        store.get(base, "r").await.expect("get").is_some(),
        "a get restarts the time to live (750 ms after the put, read at 350 ms, ttl 600 ms)"
    );
    tokio::time::sleep(Duration::from_millis(750)).await;
    assert_eq!(store.get(base, "r").await.expect("get"), None, "unread, it expires");
}

async fn refresh_on_search<S: Store>(store: &S, base: &Namespace) {
    store.put(base, "s", json!(1), Some(Duration::from_millis(800))).await.expect("put");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(keys(&search(store, base, SearchQuery::new()).await), ["s"]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let peek = SearchQuery::new().refresh_ttl(false);
    assert_eq!(
        keys(&search(store, base, peek.clone()).await),
        ["s"],
        "a search restarts the time to live (1000 ms after the put, found at 400 ms, ttl 800 ms)"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        search(store, base, peek).await.is_empty(),
        "a search with refresh_ttl(false) does not restart it"
    );
}

async fn sweep<S: Store>(store: &S, base: &Namespace) {
    let ttl = Some(Duration::from_millis(100));
    store.put(base, "a", json!(1), ttl).await.expect("put");
    store.put(base, "b", json!(2), ttl).await.expect("put");
    store.put(base, "c", json!(3), ttl).await.expect("put");
    store.put(base, "c", json!(4), None).await.expect("an overwrite without ttl keeps the item");
    store.put(base, "d", json!(5), None).await.expect("put");
    tokio::time::sleep(Duration::from_millis(250)).await;
    let swept = store.sweep().await.expect("sweep");
    // A shared database may hold other expired items too.
    assert!(swept >= 2, "sweep deletes the expired items, found {swept}");
    assert_eq!(keys(&search(store, base, SearchQuery::new()).await), ["d", "c"], "and only those");
}

async fn one_key_many_writers<S: Store>(store: &S, base: &Namespace) {
    store.put(base, "neighbour", json!({ "n": "kept" }), None).await.expect("put");
    join_all((0..20).map(|writer| store.put(base, "hot", json!({ "writer": writer }), None)))
        .await
        .into_iter()
        .for_each(|result| result.expect("concurrent puts of one key succeed"));
    let hot = store.get(base, "hot").await.expect("get").expect("stored").value;
    let writer = hot["writer"].as_u64().expect("a written value");
    assert!(hot == json!({ "writer": writer }) && writer < 20, "one written value wins: {hot}");
    let neighbour = store.get(base, "neighbour").await.expect("get").expect("stored");
    assert_eq!(neighbour.value, json!({ "n": "kept" }), "other keys are untouched");
    assert_eq!(search(store, base, SearchQuery::new()).await.len(), 2, "no other key appears");
}

async fn many_keys_many_writers<S: Store>(store: &S, base: &Namespace) {
    join_all((0..20).map(|writer| async move {
        for j in 0..5 {
            let key = format!("w{writer:02}-{j}");
            store.put(base, &key, json!({ "w": writer, "j": j }), None).await.expect("put");
        }
    }))
    .await;
    let found: BTreeMap<String, Value> = search(store, base, SearchQuery::new().limit(1000))
        .await
        .into_iter()
        .map(|item| (item.key, item.value))
        .collect();
    let expected: BTreeMap<String, Value> = (0..20)
        .flat_map(|w| (0..5).map(move |j| (format!("w{w:02}-{j}"), json!({ "w": w, "j": j }))))
        .collect();
    assert_eq!(found, expected, "every concurrent write of its own key is kept");
}
