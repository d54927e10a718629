//! Property test: random graphs (chains, fan-outs, joins, conditional edges, Sends,
//! `Command` gotos, deferred nodes, reducer and last-value fields) run on the real runtime
//! and on a small sequential reference interpreter written here from the behaviour
//! contract. Both must agree on the final state, the nodes of every step, and the error.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use graph_core::prelude::*;
use graph_core::{Goto, Input, NodeOptions};
use proptest::prelude::*;

#[derive(State, Clone, Debug, Default, PartialEq)]
struct Trace {
    #[reducer(append)]
    log: Vec<String>,
    #[reducer(add)]
    count: u64,
    last: Option<String>,
    #[reducer(overwrite)]
    stamp: u64,
}

const LIMIT: usize = 12;

/// A routing destination in a generated graph.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Node(usize),
    End,
    /// A Send to the worker `w`.
    Worker,
}

#[derive(Debug, Clone)]
struct NodeSpec {
    writes_last: bool,
    writes_stamp: bool,
    defer: bool,
    /// A `Command` goto to this node, if any.
    goto: Option<usize>,
}

#[derive(Debug, Clone)]
struct Branch {
    source: usize,
    targets: Vec<Target>,
    rule: u64,
}

#[derive(Debug, Clone)]
struct Spec {
    nodes: Vec<NodeSpec>,
    /// `(None = START, to)`.
    edges: Vec<(Option<usize>, usize)>,
    joins: Vec<(Vec<usize>, usize)>,
    branches: Vec<Branch>,
}

fn name(i: usize) -> String {
    format!("n{i}")
}

/// What node `i` writes in `step`; shared by both interpreters.
fn node_update(spec: &Spec, i: usize, step: usize) -> TraceUpdate {
    let node = &spec.nodes[i];
    let mut update = Trace::update().log(vec![format!("{}@{step}", name(i))]).count(1);
    if node.writes_last {
        update = update.last(Some(name(i)));
    }
    if node.writes_stamp {
        update = update.stamp(step as u64);
    }
    update
}

fn worker_update(payload: u32, step: usize) -> TraceUpdate {
    Trace::update().log(vec![format!("w@{step}:{payload}")]).count(u64::from(payload))
}

/// A router: a deterministic function of the state it sees.
fn route(branch: &Branch, state: &Trace) -> Vec<Target> {
    let k = (state.count + state.log.len() as u64 * branch.rule) as usize;
    let first = branch.targets[k % branch.targets.len()];
    if branch.rule % 2 == 1 && branch.targets.len() > 1 {
        vec![first, branch.targets[(k + 1) % branch.targets.len()]]
    } else {
        vec![first]
    }
}

fn payload(state: &Trace) -> u32 {
    (state.count % 5) as u32 + 1
}

// ---- The runtime under test -------------------------------------------------------------

fn jitter() -> Duration {
    Duration::from_micros(RandomState::new().hash_one(0_u8) % 400)
}

fn build(spec: &Spec) -> CompiledGraph<Trace> {
    let spec = Arc::new(spec.clone());
    let mut graph = StateGraph::<Trace>::new();
    for (i, node) in spec.nodes.iter().enumerate() {
        let spec = Arc::clone(&spec);
        let mut options = NodeOptions::new();
        if node.defer {
            options = options.defer();
        }
        if let Some(goto) = node.goto {
            options = options.destinations([name(goto)]);
        }
        graph = graph.add_node_with(
            name(i),
            move |_: Arc<Trace>, ctx: NodeContext| {
                let spec = Arc::clone(&spec);
                async move {
                    tokio::time::sleep(jitter()).await;
                    let command = Command::new().update(node_update(&spec, i, ctx.step()));
                    match spec.nodes[i].goto {
                        Some(goto) => command.goto(name(goto)),
                        None => command,
                    }
                }
            },
            options,
        );
    }
    graph = graph.add_node("w", |Input(p): Input<u32>, ctx: NodeContext| async move {
        tokio::time::sleep(jitter()).await;
        worker_update(p, ctx.step())
    });
    for (from, to) in &spec.edges {
        graph = graph.add_edge(from.map_or(START.to_owned(), name), name(*to));
    }
    for (sources, to) in &spec.joins {
        graph = graph.add_join(sources.iter().map(|&s| name(s)), name(*to));
    }
    let mut worker_declared = false;
    for branch in &spec.branches {
        let declared: Vec<String> = branch
            .targets
            .iter()
            .map(|t| match t {
                Target::Node(i) => name(*i),
                Target::End => END.to_owned(),
                Target::Worker => "w".to_owned(),
            })
            .collect();
        worker_declared |= branch.targets.contains(&Target::Worker);
        let router = branch.clone();
        graph = graph.add_conditional_edges(
            name(branch.source),
            move |s: &Trace| {
                route(&router, s)
                    .into_iter()
                    .map(|t| match t {
                        Target::Node(i) => Goto::from(name(i)),
                        Target::End => Goto::from(END),
                        Target::Worker => Goto::from(graph_core::Send::new("w", payload(s))),
                    })
                    .collect::<Vec<_>>()
            },
            declared,
        );
    }
    if !worker_declared {
        // Keep `w` reachable so the graph compiles; it is simply never sent to.
        graph = graph.add_node_with(
            "never",
            |_: Arc<Trace>| async {},
            NodeOptions::new().destinations(["w"]),
        );
    }
    graph.compile().expect("generated graphs are valid")
}

type Outcome = Result<(Trace, Vec<Vec<String>>), String>;

fn run_runtime(spec: &Spec) -> Outcome {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap()
    });
    let graph = build(spec);
    let report = runtime.block_on(
        graph.invoke_with_report(Trace::default(), RunConfig::default().recursion_limit(LIMIT)),
    );
    report
        .map(|r| {
            let steps =
                r.steps.iter().map(|s| s.nodes().iter().map(|n| n.to_string()).collect()).collect();
            (r.state, steps)
        })
        .map_err(|e| e.to_string())
}

// ---- The reference interpreter: the behaviour contract, written plainly ------------------

/// One task: a node triggered by name, or the worker with a payload.
#[derive(Clone)]
enum Task {
    Pull(usize),
    Push(u32),
}

fn run_reference(spec: &Spec) -> Outcome {
    let mut state = Trace::default();
    let mut triggered: BTreeSet<usize> =
        spec.edges.iter().filter(|(f, _)| f.is_none()).map(|(_, t)| *t).collect();
    let mut sends: Vec<u32> = Vec::new();
    let mut seen: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); spec.joins.len()];
    let mut steps = Vec::new();
    for step in 0.. {
        // Plan: triggered nodes by name (`w` sorts after every `n<i>`) (deferred ones only when nothing else is ready),
        // then Sends in emission order.
        let ready: Vec<usize> =
            triggered.iter().copied().filter(|&i| !spec.nodes[i].defer).collect();
        let pulls: Vec<usize> = if ready.is_empty() && sends.is_empty() {
            triggered.iter().copied().collect()
        } else {
            ready
        };
        for i in &pulls {
            triggered.remove(i);
        }
        let tasks: Vec<Task> =
            pulls.into_iter().map(Task::Pull).chain(sends.drain(..).map(Task::Push)).collect();
        if tasks.is_empty() {
            break;
        }
        let names: Vec<String> = tasks
            .iter()
            .map(|t| if let Task::Pull(i) = t { name(*i) } else { "w".into() })
            .collect();
        if step >= LIMIT {
            return Err(GraphError::RecursionLimit { limit: LIMIT, pending: names }.to_string());
        }

        // Run: every task sees the same snapshot.
        let updates: Vec<TraceUpdate> = tasks
            .iter()
            .map(|t| match t {
                Task::Pull(i) => node_update(spec, *i, step),
                Task::Push(p) => worker_update(*p, step),
            })
            .collect();

        // Routers see the snapshot plus their own task's update.
        let snapshot = state.clone();
        let mut routes: Vec<Vec<Vec<Target>>> = Vec::new();
        for (task, update) in tasks.iter().zip(&updates) {
            let Task::Pull(i) = task else {
                routes.push(Vec::new());
                continue;
            };
            let mut view = snapshot.clone();
            apply_by_hand(&mut view, &[(name(*i), update.clone())])
                .expect("one writer cannot conflict");
            routes.push(
                spec.branches.iter().filter(|b| b.source == *i).map(|b| route(b, &view)).collect(),
            );
        }

        // Apply in task order.
        let writes: Vec<(String, TraceUpdate)> = names.iter().cloned().zip(updates).collect();
        if let Err(source) = apply_by_hand(&mut state, &writes) {
            return Err(GraphError::InvalidUpdate { step, source }.to_string());
        }

        // Fire edges, joins, Command gotos, then routes, task by task.
        for (task, routes) in tasks.iter().zip(routes) {
            let Task::Pull(i) = *task else { continue };
            triggered.extend(spec.edges.iter().filter(|(f, _)| *f == Some(i)).map(|(_, t)| *t));
            for (j, (sources, target)) in spec.joins.iter().enumerate() {
                if sources.contains(&i) {
                    seen[j].insert(i);
                    if sources.iter().all(|s| seen[j].contains(s)) {
                        seen[j].clear();
                        triggered.insert(*target);
                    }
                }
            }
            if let Some(goto) = spec.nodes[i].goto {
                triggered.insert(goto);
            }
            for target in routes.into_iter().flatten() {
                match target {
                    Target::Node(n) => {
                        triggered.insert(n);
                    }
                    Target::End => {}
                    Target::Worker => {
                        sends.push(payload(&snapshot_plus(&snapshot, &name(i), spec, i, step)))
                    }
                }
            }
        }
        steps.push(names);
    }
    Ok((state, steps))
}

/// The view a router of node `i` saw: the snapshot plus `i`'s own update.
fn snapshot_plus(snapshot: &Trace, writer: &str, spec: &Spec, i: usize, step: usize) -> Trace {
    let mut view = snapshot.clone();
    apply_by_hand(&mut view, &[(writer.to_owned(), node_update(spec, i, step))])
        .expect("one writer");
    view
}

/// The reducers, by hand: append, add, last value (one writer per step), overwrite.
fn apply_by_hand(
    state: &mut Trace,
    writes: &[(String, TraceUpdate)],
) -> Result<(), graph_core::InvalidUpdate> {
    let mut last_writers = Vec::new();
    for (writer, update) in writes {
        if let Some(log) = &update.log {
            state.log.extend(log.iter().cloned());
        }
        if let Some(count) = update.count {
            state.count += count;
        }
        if let Some(last) = &update.last {
            last_writers.push(writer.clone());
            state.last = last.clone();
        }
        if let Some(stamp) = update.stamp {
            state.stamp = stamp;
        }
    }
    if last_writers.len() > 1 {
        return Err(graph_core::InvalidUpdate::ConflictingWrites {
            field: "last",
            writers: last_writers,
        });
    }
    Ok(())
}

// ---- Generating graphs -------------------------------------------------------------------

fn spec() -> impl Strategy<Value = Spec> {
    (2..=5_usize).prop_flat_map(|n| {
        let node = (any::<bool>(), prop::bool::weighted(0.3), prop::bool::weighted(0.15), prop::option::weighted(0.15, 0..n))
            .prop_map(|(writes_last, writes_stamp, defer, goto)| NodeSpec {
                writes_last: writes_last && writes_stamp, // last-value writes are rarer
                writes_stamp,
                defer,
                goto,
            });
        let edge = (prop::option::weighted(0.8, 0..n), 0..n);
        let join = (prop::collection::btree_set(0..n, 2..=3.min(n)), 0..n)
            .prop_map(|(sources, target)| (sources.into_iter().collect::<Vec<_>>(), target));
        let target = prop_oneof![4 => (0..n).prop_map(Target::Node), 2 => Just(Target::End), 2 => Just(Target::Worker)];
        let branch = (0..n, prop::collection::vec(target, 1..=3), 0..4_u64)
            .prop_map(|(source, mut targets, rule)| {
                targets.dedup();
                Branch { source, targets, rule }
            });
        (
            prop::collection::vec(node, n),
            0..n,
            prop::collection::vec(edge, 0..=2 * n),
            prop::collection::vec(join, 0..=1),
            prop::collection::vec(branch, 0..=2),
        )
            .prop_map(|(nodes, entry, mut edges, joins, branches)| {
                edges.insert(0, (None, entry));
                Spec { nodes, edges, joins, branches }
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn the_runtime_matches_the_reference_interpreter(spec in spec()) {
        let expected = run_reference(&spec);
        let actual = run_runtime(&spec);
        prop_assert_eq!(actual, expected, "{:#?}", spec);
    }
}
