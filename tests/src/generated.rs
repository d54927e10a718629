//! Random graphs described as plain data, for the property tests that run them on the real
//! runtime, locally and on worker processes, against a reference interpreter.
//!
//! A [`Spec`] is built into a real [`StateGraph`] by [`build`]. What nodes and routers
//! *compute* ([`node_behaviour`], [`worker_write`], [`route`]) is user code shared by the
//! graphs and the reference; everything the framework decides is the runtime's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use graph_core::prelude::*;
use graph_core::{Goto, NodeOptions};
use serde::{Deserialize, Serialize};

/// The state every generated graph runs over: one field per kind of reducer the test covers.
/// Serializable, as a subgraph over the parent's state requires.
#[derive(State, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Every task appends `node@step` (or `w@step:payload`), so the order of updates shows.
    #[reducer(append)]
    pub log: Vec<String>,
    /// Every task adds its count.
    #[reducer(add)]
    pub count: u64,
    /// No reducer: two writers in one step are a conflict.
    pub last: Option<String>,
    /// Last writer in task order wins.
    #[reducer(overwrite)]
    pub stamp: u64,
}

/// What one task saw: its step (within its own run), its node (with the payload for `w`,
/// after the scope of its graph) and its state snapshot.
pub type Seen = (usize, String, Option<Trace>);

/// The worker node, started only by Sends with a `u32` payload.
pub const WORKER: &str = "w";
/// A name that is not a node of any generated graph.
pub const GHOST: &str = "ghost";

// ---------------------------------------------------------------------------------------------
// Graph descriptions
// ---------------------------------------------------------------------------------------------

/// A Send's payload: `w` takes a `u32`; a state node (a subgraph too) takes a whole state,
/// [`sent_state`] of the seed, and runs from it instead of the snapshot; a `String` is the
/// wrong type for every node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Payload {
    /// A number, for `w`.
    Num(u32),
    /// The seed of a whole state, for a state node.
    State(u64),
    /// A string, which no node takes.
    Text,
}

/// The whole state a Send with [`Payload::State`] carries.
pub fn sent_state(seed: u64) -> Trace {
    Trace { log: vec![format!("sent:{seed}")], count: seed, last: None, stamp: seed }
}

/// A destination returned by a router or a `Command`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Dest {
    /// `Goto::Node(name)`: a node, `END`, `w` (which needs a payload) or [`GHOST`].
    Goto(String),
    /// `Send::new(node, payload)`.
    Send(String, Payload),
}

impl Dest {
    /// The node it goes to.
    pub fn target(&self) -> &str {
        match self {
            Dest::Goto(node) | Dest::Send(node, _) => node,
        }
    }

    /// As the runtime's destination.
    pub fn to_goto(&self) -> Goto {
        match self {
            Dest::Goto(node) => Goto::from(node.clone()),
            Dest::Send(node, Payload::Num(n)) => graph_core::Send::new(node.clone(), *n).into(),
            Dest::Send(node, Payload::State(seed)) => {
                graph_core::Send::new(node.clone(), sent_state(*seed)).into()
            }
            Dest::Send(node, Payload::Text) => {
                graph_core::Send::new(node.clone(), "text".to_owned()).into()
            }
        }
    }
}

/// One state node `n{i}`: user code, or a whole graph run as a subgraph.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Runs this graph as a subgraph (over the same state) instead of the behaviour the other
    /// fields describe; only `defer` still applies.
    pub subgraph: Option<Spec>,
    /// Writes `last`, the field without a reducer.
    pub writes_last: bool,
    /// Writes `stamp`, from the snapshot it sees.
    pub writes_stamp: bool,
    /// Returns no update at all (a bare `Command`), so its routers see the plain snapshot.
    pub silent: bool,
    /// Deferred: runs only when no other task is ready.
    pub defer: bool,
    /// Milliseconds of simulated work; 0 only yields.
    pub delay_ms: u64,
    /// Returns a `Command` whose gotos are picked from these by the state it sees.
    pub gotos: Option<Vec<Dest>>,
    /// Varies what it picks.
    pub salt: u64,
}

/// A conditional edge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Branch {
    /// `START`, a state node or `w`.
    pub source: String,
    /// Declared targets: state nodes, `END`, `w` (reached by Send); duplicates allowed.
    pub targets: Vec<String>,
    /// Varies what it picks.
    pub salt: u64,
    /// Sometimes also returned: a destination that may break the routing rules.
    pub rogue: Option<Dest>,
}

/// A whole generated graph: state nodes `n0..`, the worker `w`, edges, joins and routers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// Where the graph sits: empty for the parent, `n2/` for the subgraph node `n2`, `n2/n0/`
    /// below it. It prefixes what the graph's tasks write and record, so they show where they
    /// ran.
    pub scope: String,
    /// The state nodes `n0..`.
    pub nodes: Vec<NodeSpec>,
    /// `(from, to)`: from `START`, a state node or `w`; to a state node or `END`.
    pub edges: Vec<(String, String)>,
    /// `(distinct sources, target)`: sources are state nodes or `w`; target a node or `END`.
    pub joins: Vec<(Vec<String>, String)>,
    /// The conditional edges, in declaration order.
    pub branches: Vec<Branch>,
    /// Whether `w` writes `last` too.
    pub worker_writes_last: bool,
    /// Whether `w` takes a few milliseconds, by its payload.
    pub worker_delays: bool,
}

/// The name of state node `i`.
pub fn node_name(i: usize) -> String {
    format!("n{i}")
}

impl Spec {
    /// The state node `name`.
    pub fn node(&self, name: &str) -> &NodeSpec {
        let index = name.strip_prefix('n').and_then(|i| i.parse::<usize>().ok());
        &self.nodes[index.expect("a state node")]
    }

    /// Whether `name` is a node of the graph, `w` included.
    pub fn has_node(&self, name: &str) -> bool {
        name == WORKER || (0..self.nodes.len()).any(|i| node_name(i) == name)
    }
}

// ---------------------------------------------------------------------------------------------
// User code, shared by both sides
// ---------------------------------------------------------------------------------------------

/// A task's update as plain data, so the reference can apply it with its own reducers.
#[derive(Debug, Clone)]
pub struct Write {
    /// Appended to `log`.
    pub log: String,
    /// Added to `count`.
    pub count: u64,
    /// Written to `last`, if any.
    pub last: Option<String>,
    /// Written to `stamp`, if any.
    pub stamp: Option<u64>,
}

impl Write {
    /// As the state's update.
    pub fn to_update(&self) -> TraceUpdate {
        let mut update = Trace::update().log(vec![self.log.clone()]).count(self.count);
        if let Some(last) = &self.last {
            update = update.last(Some(last.clone()));
        }
        if let Some(stamp) = self.stamp {
            update = update.stamp(stamp);
        }
        update
    }
}

/// A number that depends on every field, so routing and gotos notice which updates a task saw.
pub fn mix(state: &Trace, salt: u64) -> u64 {
    let last = state.last.as_ref().map_or(0, |l| l.len() as u64 + 1);
    salt + 7 * state.count + 3 * state.log.len() as u64 + state.stamp + last
}

/// One option, all of them, or none, depending on `key`.
pub fn pick<T: Clone>(options: &[T], key: u64) -> Vec<T> {
    let n = options.len() as u64;
    match key % (n + 2) {
        k if k < n => vec![options[k as usize].clone()],
        k if k == n => options.to_vec(),
        _ => Vec::new(),
    }
}

/// What state node `name` returns when it runs in `step` and sees `state`.
pub fn node_behaviour(
    spec: &Spec,
    name: &str,
    state: &Trace,
    step: usize,
) -> (Option<Write>, Vec<Dest>) {
    let node = spec.node(name);
    let tag = format!("{}{name}@{step}", spec.scope);
    let write = (!node.silent).then(|| Write {
        log: tag.clone(),
        count: 1,
        last: node.writes_last.then_some(tag),
        // Depends on the snapshot, so a node seeing a sibling's update would show.
        stamp: node.writes_stamp.then(|| 100 * step as u64 + state.count),
    });
    let gotos = match &node.gotos {
        Some(options) => pick(options, mix(state, node.salt + step as u64)),
        None => Vec::new(),
    };
    (write, gotos)
}

/// What the worker returns for `payload` in `step`.
pub fn worker_write(spec: &Spec, payload: u32, step: usize) -> Write {
    let scope = &spec.scope;
    Write {
        log: format!("{scope}{WORKER}@{step}:{payload}"),
        count: u64::from(payload),
        last: spec.worker_writes_last.then(|| format!("{scope}{WORKER}@{step}")),
        // Several Sends in one step: the last in emission order must win.
        stamp: Some(1000 * step as u64 + u64::from(payload)),
    }
}

/// What a router chooses when it sees `view`: some of its declared targets, `w` as one to three
/// Sends.
pub fn route(branch: &Branch, view: &Trace) -> Vec<Dest> {
    let key = mix(view, branch.salt);
    let mut dests = Vec::new();
    for target in pick(&branch.targets, key) {
        if target == WORKER {
            for j in 0..=key % 3 {
                let payload = Payload::Num(((branch.salt + j) % 5) as u32);
                dests.push(Dest::Send(WORKER.to_owned(), payload));
            }
        } else if target != END && key % 4 == 1 {
            dests.push(Dest::Send(target, Payload::State(key % 5)));
        } else {
            dests.push(Dest::Goto(target));
        }
    }
    if let Some(rogue) = &branch.rogue {
        if key.is_multiple_of(3) {
            dests.push(rogue.clone());
        }
    }
    dests
}

/// Simulated work: `ms` milliseconds, or a yield.
pub async fn pause(ms: u64) {
    if ms == 0 {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// Builds `spec` (and its subgraphs) as a real graph whose tasks record what they saw in
/// `seen`.
pub fn build(spec: &Arc<Spec>, seen: &Arc<Mutex<Vec<Seen>>>) -> CompiledGraph<Trace> {
    let mut graph = StateGraph::<Trace>::new();
    for (i, node) in spec.nodes.iter().enumerate() {
        let mut options = NodeOptions::new();
        if node.defer {
            options = options.defer();
        }
        if i == 0 {
            // Declares `w` somewhere, so compile() accepts it even if no router targets it.
            options = options.destinations([WORKER]);
        }
        if let Some(child) = &node.subgraph {
            let child = build(&Arc::new(child.clone()), seen);
            graph = graph.add_subgraph_with(node_name(i), child, options);
            continue;
        }
        let (s, seen) = (Arc::clone(spec), Arc::clone(seen));
        if node.gotos.is_none() && !node.silent {
            // A node returning its update type.
            let f = move |state: Arc<Trace>, ctx: NodeContext| {
                record(&seen, &ctx, format!("{}{}", s.scope, ctx.node()), Some(&state));
                let s = Arc::clone(&s);
                async move {
                    pause(s.node(ctx.node()).delay_ms).await;
                    let (write, _) = node_behaviour(&s, ctx.node(), &state, ctx.step());
                    write.expect("not silent").to_update()
                }
            };
            graph = graph.add_node_with(node_name(i), f, options);
        } else {
            // A node returning a `Command`, with or without an update.
            let f = move |state: Arc<Trace>, ctx: NodeContext| {
                record(&seen, &ctx, format!("{}{}", s.scope, ctx.node()), Some(&state));
                let s = Arc::clone(&s);
                async move {
                    pause(s.node(ctx.node()).delay_ms).await;
                    let (write, gotos) = node_behaviour(&s, ctx.node(), &state, ctx.step());
                    let gotos: Vec<Goto> = gotos.iter().map(Dest::to_goto).collect();
                    let command = Command::new().goto(gotos);
                    match write {
                        Some(write) => command.update(write.to_update()),
                        None => command,
                    }
                }
            };
            graph = graph.add_node_with(node_name(i), f, options);
        }
    }

    let (s, seen) = (Arc::clone(spec), Arc::clone(seen));
    let worker = move |graph_core::Input(payload): graph_core::Input<u32>, ctx: NodeContext| {
        record(&seen, &ctx, format!("{}{WORKER}:{payload}", s.scope), None);
        let s = Arc::clone(&s);
        async move {
            pause(if s.worker_delays { u64::from(payload % 4) } else { 0 }).await;
            worker_write(&s, payload, ctx.step()).to_update()
        }
    };
    graph = graph.add_node(WORKER, worker);

    for (from, to) in &spec.edges {
        graph = graph.add_edge(from, to);
    }
    for (sources, target) in &spec.joins {
        graph = graph.add_join(sources.clone(), target);
    }
    for (b, branch) in spec.branches.iter().enumerate() {
        let s = Arc::clone(spec);
        let router = move |view: &Trace| -> Vec<Goto> {
            route(&s.branches[b], view).iter().map(Dest::to_goto).collect()
        };
        graph = graph.add_conditional_edges(&branch.source, router, branch.targets.clone());
    }
    graph.compile().expect("generated graphs are valid")
}

/// Records what a task saw.
pub fn record(
    seen: &Mutex<Vec<Seen>>,
    ctx: &NodeContext,
    task: String,
    state: Option<&Arc<Trace>>,
) {
    let state = state.map(|s| Trace::clone(s));
    seen.lock().expect("no panics while held").push((ctx.step(), task, state));
}
