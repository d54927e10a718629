//! The pure core of the runtime: plan a superstep's tasks, apply their updates in task order,
//! and evaluate edges, joins, routers and `Command`s. No async, no tokio.

use std::sync::Arc;

use fixedbitset::FixedBitSet;

use super::{TaskId, TaskPath};
use crate::error::{catch_panic, Callback, GraphError, InvalidUpdate, RouteOrigin, RouteRefusal};
use crate::graph::{
    AnyContext, Branch, Command, Goto, GraphInner, InputKind, Outgoing, Payload, Router, END, START,
};
use crate::state::{with_updates, State};
use crate::stream::RunWarning;

type NodeId = usize;

/// A task of one superstep. A pull task reads the state; a push task carries a payload.
pub(crate) struct Task {
    pub(crate) node: NodeId,
    pub(crate) id: TaskId,
    pub(crate) payload: Option<Box<dyn Payload>>,
}

/// A `Send` whose target and payload type were checked when it was emitted.
pub(crate) struct PendingSend {
    pub(crate) node: NodeId,
    pub(crate) payload: Box<dyn Payload>,
}

/// How far a join has got: which of its sources have run since it last fired.
pub(crate) struct JoinProgress {
    pub(crate) seen: Vec<bool>,
    pub(crate) count: usize,
}

/// The destinations routers chose, reused from step to step so routing allocates nothing:
/// every router's destinations in one list, in task then branch order, and how many each
/// router chose.
#[derive(Default)]
pub(crate) struct Routes {
    gotos: Vec<Goto>,
    counts: Vec<usize>,
}

impl Routes {
    /// Calls `router` on `view`, keeping the destinations it chose and how many.
    fn route<S>(&mut self, router: &Router<S>, view: &S, context: &AnyContext) {
        let before = self.gotos.len();
        router(view, context, &mut self.gotos);
        self.counts.push(self.gotos.len() - before);
    }

    /// Hands out the routed destinations router by router, emptying the list.
    fn drain(&mut self) -> Routed<'_> {
        // Reversed, so that handing out a destination is popping it off the end.
        self.gotos.reverse();
        Routed { routes: self, next: 0 }
    }
}

/// The destinations of a [`Routes`], handed out router by router; what is left when it is
/// dropped (after a routing error) is forgotten.
struct Routed<'a> {
    routes: &'a mut Routes,
    next: usize,
}

impl Routed<'_> {
    /// The next router's destinations, in the order it chose them.
    fn next_router(&mut self) -> impl Iterator<Item = Goto> + '_ {
        let count = self.routes.counts.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        let gotos = &mut self.routes.gotos;
        (0..count).map_while(move |_| gotos.pop())
    }
}

impl Drop for Routed<'_> {
    fn drop(&mut self) {
        self.routes.gotos.clear();
        self.routes.counts.clear();
    }
}

/// What the next superstep will run: triggered nodes, emitted Sends and join progress.
pub(crate) struct Pending {
    /// One bit per node, so triggering and planning allocate nothing; ids follow node names,
    /// so the set iterates in name order.
    pub(crate) triggered: FixedBitSet,
    pub(crate) sends: Vec<PendingSend>,
    pub(crate) joins: Vec<JoinProgress>,
    /// What routing noticed since the driver last looked (not saved in checkpoints).
    pub(crate) warnings: Vec<RunWarning>,
    /// Nodes of the parent graph to run next: a subgraph's run that routed in its parent
    /// ends with these.
    pub(crate) parent: Vec<String>,
}

impl Pending {
    pub(crate) fn new<S: State>(graph: &GraphInner<S>) -> Self {
        let joins = graph
            .joins
            .iter()
            .map(|j| JoinProgress { seen: vec![false; j.sources], count: 0 })
            .collect();
        let (sends, warnings, parent) = (Vec::new(), Vec::new(), Vec::new());
        let triggered = FixedBitSet::with_capacity(graph.nodes.len());
        Self { triggered, sends, joins, warnings, parent }
    }

    /// Ends a subgraph's run after this step when the step routed to `parent`'s nodes, which
    /// run next in the parent graph; routing nowhere in the parent changes nothing.
    pub(crate) fn end_in_parent<S: State>(&mut self, graph: &GraphInner<S>, parent: Vec<String>) {
        if !parent.is_empty() {
            *self = Self::new(graph);
            self.parent = parent;
        }
    }

    /// Whether nothing is left to run.
    pub(crate) fn is_empty(&self) -> bool {
        self.triggered.is_clear() && self.sends.is_empty()
    }
}

/// The nodes `plan` would run next, in task order, without planning them.
pub(crate) fn upcoming<S: State>(graph: &GraphInner<S>, pending: &Pending) -> Vec<NodeId> {
    let sends: Vec<NodeId> = pending.sends.iter().map(|send| send.node).collect();
    upcoming_pulls(graph, &pending.triggered, &sends).chain(sends).collect()
}

/// The triggered nodes `plan` would run: deferred ones wait while anything else is ready.
fn upcoming_pulls<'a, S: State>(
    graph: &'a GraphInner<S>,
    triggered: &'a FixedBitSet,
    sends: &[NodeId],
) -> impl Iterator<Item = NodeId> + 'a {
    let ready_now = !sends.is_empty() || triggered.ones().any(|id| !graph.nodes[id].defer);
    triggered.ones().filter(move |&id| !ready_now || !graph.nodes[id].defer)
}

/// The tasks `plan` would run in `step` for these triggered nodes and Sends' targets, as
/// `(node, task id)`.
pub(crate) fn upcoming_tasks<S: State>(
    graph: &GraphInner<S>,
    triggered: &FixedBitSet,
    sends: &[NodeId],
    step: usize,
) -> Vec<(NodeId, TaskId)> {
    let pulls = upcoming_pulls(graph, triggered, sends)
        .map(|node| (node, TaskId::new(step, TaskPath::Pull(Arc::clone(graph.name(node))))));
    let pushes = sends
        .iter()
        .enumerate()
        .map(|(index, &node)| (node, TaskId::new(step, TaskPath::Push(index))));
    pulls.chain(pushes).collect()
}

/// The node of the next step's one task, if it has just one: a single triggered node and
/// no `Send`, the step of a chain or a loop. That node runs, deferred or not, and the set
/// need not be walked.
pub(crate) fn lone(pending: &Pending) -> Option<NodeId> {
    if !pending.sends.is_empty() {
        return None;
    }
    // One word holds the bits of 64 nodes: a single set bit in the only non-zero word.
    let words = pending.triggered.as_slice();
    let at = words.iter().position(|&word| word != 0)?;
    let word = words[at];
    let alone = word.is_power_of_two() && words[at + 1..].iter().all(|&word| word == 0);
    alone.then(|| at * usize::BITS as usize + word.trailing_zeros() as usize)
}

/// Plans the tasks of `step` into `tasks`: triggered nodes by name, then Sends in emission
/// order. Deferred nodes wait while anything else is ready.
pub(crate) fn plan<S: State>(
    graph: &GraphInner<S>,
    pending: &mut Pending,
    step: usize,
    tasks: &mut Vec<Task>,
) {
    tasks.clear();
    if let Some(node) = lone(pending) {
        pending.triggered.set(node, false);
        let id = TaskId::new(step, TaskPath::Pull(Arc::clone(graph.name(node))));
        tasks.push(Task { node, id, payload: None });
        return;
    }
    let ready_now =
        !pending.sends.is_empty() || pending.triggered.ones().any(|id| !graph.nodes[id].defer);
    for node in pending.triggered.ones() {
        // Deferred nodes stay triggered while anything else runs.
        if ready_now && graph.nodes[node].defer {
            continue;
        }
        let id = TaskId::new(step, TaskPath::Pull(Arc::clone(graph.name(node))));
        tasks.push(Task { node, id, payload: None });
    }
    for task in tasks.iter() {
        pending.triggered.set(task.node, false);
    }
    // Taken, not drained: a step of a million Sends should not keep their list alive
    // beside its tasks.
    let sends =
        std::mem::take(&mut pending.sends).into_iter().enumerate().map(|(index, send)| Task {
            node: send.node,
            id: TaskId::new(step, TaskPath::Push(index)),
            payload: Some(send.payload),
        });
    tasks.extend(sends);
}

/// Applies one finished superstep: updates in task order, then each task's edges, joins,
/// `Command` destinations and routers, in task order.
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply_step<S: State>(
    graph: &GraphInner<S>,
    state: &mut Arc<S>,
    step: usize,
    tasks: &[Task],
    commands: &mut Vec<Command<S>>,
    context: &AnyContext,
    pending: &mut Pending,
    routes: &mut Routes,
) -> Result<(), GraphError> {
    if let ([task], [command]) = (tasks, &mut commands[..]) {
        return apply_lone(graph, state, step, task.node, command, context, pending, routes);
    }
    let invalid = |source| GraphError::InvalidUpdate { step, source };

    // A router sees the snapshot plus its own task's update.
    for (task, command) in tasks.iter().zip(commands.iter()) {
        let out = &graph.nodes[task.node].out;
        let name = &**graph.name(task.node);
        match (&command.update, command.more()) {
            _ if out.branches.is_empty() => {}
            (None, []) => route(out, name, step, context, state, routes)?,
            // The update is applied in place and undone after routing, at the cost of the
            // update. `make_mut` copies the state only if a node kept the snapshot, and
            // then just once: the apply below reuses the copy.
            (first, more) => {
                let view = Arc::make_mut(state);
                let routed = catch_panic(|| {
                    with_updates(view, name, first.iter().chain(more), |view| {
                        route(out, name, step, context, view, routes)
                    })
                })
                .map_err(|message| panicked(name, step, Callback::Reducer, message))?;
                routed.map_err(invalid)??
            }
        }
    }

    let writes = tasks.iter().zip(commands.iter_mut()).flat_map(|(task, command)| {
        let name = &**graph.name(task.node);
        let (first, more) = (command.update.take(), command.take_more());
        first.into_iter().chain(more).map(move |update| (name, update))
    });
    apply_guarded(Arc::make_mut(state), writes, step, invalid)?;

    let mut routed = routes.drain();
    for (task, command) in tasks.iter().zip(commands.iter_mut()) {
        let node = &graph.nodes[task.node];
        fire(graph, &node.out, &node.name, &mut command.goto, &mut routed, pending)?;
    }
    drop(routed);
    commands.clear();
    Ok(())
}

/// Applies the step of one task, of `node`: its updates, then what leaves it. Its routers
/// see the state after its updates, which is exactly the next state, so they run after the
/// apply rather than on a view of the snapshot.
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply_lone<S: State>(
    graph: &GraphInner<S>,
    state: &mut Arc<S>,
    step: usize,
    node: NodeId,
    command: &mut Command<S>,
    context: &AnyContext,
    pending: &mut Pending,
    routes: &mut Routes,
) -> Result<(), GraphError> {
    let node = &graph.nodes[node];
    let name = &*node.name;
    let (first, more) = (command.update.take(), command.take_more());
    // One guard for the reducers and the routers: every write is this node's, and every
    // router leaves it, so a panic names the node and which callback it was in.
    let mut callback = Callback::Reducer;
    let ran = catch_panic(|| {
        let writes = first.into_iter().chain(more).map(|update| (name, update));
        Arc::make_mut(state).apply(writes)?;
        callback = Callback::Router;
        for branch in &node.out.branches {
            routes.route(&branch.router, state, context);
        }
        Ok(())
    });
    match ran {
        Ok(Ok(())) => {}
        Ok(Err(source)) => return Err(GraphError::InvalidUpdate { step, source }),
        Err(message) => return Err(panicked(name, step, callback, message)),
    }
    fire(graph, &node.out, name, &mut command.goto, &mut routes.drain(), pending)
}

/// Applies `writes` to `state` in order, as `State::apply` does, but a reducer that panics (a
/// `with = path` function, or an `add` that overflows) fails with
/// [`GraphError::CallbackPanicked`] naming the writer whose update it was merging, instead of
/// unwinding. `invalid` turns conflicting writes into the caller's error.
pub(crate) fn apply_guarded<'w, S: State>(
    state: &mut S,
    writes: impl IntoIterator<Item = (&'w str, S::Update)>,
    step: usize,
    invalid: impl FnOnce(InvalidUpdate) -> GraphError,
) -> Result<(), GraphError> {
    // `apply` merges each update before pulling the next, so the last writer pulled is the
    // one being merged when a reducer panics.
    let mut merging = "";
    let applied =
        catch_panic(|| state.apply(writes.into_iter().inspect(|&(writer, _)| merging = writer)));
    match applied {
        Ok(result) => result.map_err(invalid),
        Err(message) => Err(panicked(merging, step, Callback::Reducer, message)),
    }
}

/// Calls each router leaving `origin` on `view`, adding their destinations to `routes`; a
/// router that panics fails with [`GraphError::CallbackPanicked`] naming `origin`.
fn route<S: State>(
    out: &Outgoing<S>,
    origin: &str,
    step: usize,
    context: &AnyContext,
    view: &S,
    routes: &mut Routes,
) -> Result<(), GraphError> {
    for branch in &out.branches {
        catch_panic(|| routes.route(&branch.router, view, context))
            .map_err(|message| panicked(origin, step, Callback::Router, message))?;
    }
    Ok(())
}

fn panicked(node: &str, step: usize, callback: Callback, message: String) -> GraphError {
    GraphError::CallbackPanicked { node: node.to_owned(), step, callback, message }
}

/// Fires what leaves `node` as if it had just run in `step` and produced `state`: how
/// `update_state(as_node)` makes an edit count as that node's output.
pub(crate) fn after_node<S: State>(
    graph: &GraphInner<S>,
    node: NodeId,
    state: &S,
    step: usize,
    context: &AnyContext,
    pending: &mut Pending,
) -> Result<(), GraphError> {
    let node = &graph.nodes[node];
    let mut routes = Routes::default();
    route(&node.out, &node.name, step, context, state, &mut routes)?;
    let fired = fire(graph, &node.out, &node.name, &mut Vec::new(), &mut routes.drain(), pending);
    fired
}

/// Evaluates the edges and routers leaving `START` on the input state, before `step`.
pub(crate) fn enter<S: State>(
    graph: &GraphInner<S>,
    state: &S,
    step: usize,
    context: &AnyContext,
    pending: &mut Pending,
) -> Result<(), GraphError> {
    let mut routes = Routes::default();
    route(&graph.entry, START, step, context, state, &mut routes)?;
    let fired = fire(graph, &graph.entry, START, &mut Vec::new(), &mut routes.drain(), pending);
    fired
}

/// Fires everything leaving one task (or `START`): static edges, joins, `Command`
/// destinations, then each router's destinations.
fn fire<S: State>(
    graph: &GraphInner<S>,
    out: &Outgoing<S>,
    origin: &str,
    goto: &mut Vec<Goto>,
    routed: &mut Routed<'_>,
    pending: &mut Pending,
) -> Result<(), GraphError> {
    pending.triggered.extend(out.edges.iter().copied());
    if !out.joins.is_empty() {
        fire_joins(graph, &out.joins, pending);
    }
    // Most tasks return no destinations, and an empty list is not worth draining.
    if !goto.is_empty() {
        fire_commands(graph, origin, goto, pending)?;
    }
    for branch in &out.branches {
        fire_router(graph, branch, origin, routed.next_router(), pending)?;
    }
    Ok(())
}

/// Counts a task's arrival at each of its `joins` (`(join, slot)`), triggering the joins
/// that all their sources have now reached.
// Kept out of `fire`, like `fire_commands`: most tasks reach no join, and inlined it would
// cost every step the registers it spills.
#[inline(never)]
fn fire_joins<S: State>(graph: &GraphInner<S>, joins: &[(usize, usize)], pending: &mut Pending) {
    for &(join, slot) in joins {
        let progress = &mut pending.joins[join];
        if !progress.seen[slot] {
            progress.seen[slot] = true;
            progress.count += 1;
        }
        if progress.count == progress.seen.len() {
            progress.seen.fill(false);
            progress.count = 0;
            pending.triggered.extend(graph.joins[join].target);
        }
    }
}

/// Fires the destinations a task's `Command` named, emptying the list.
#[inline(never)]
fn fire_commands<S: State>(
    graph: &GraphInner<S>,
    origin: &str,
    goto: &mut Vec<Goto>,
    pending: &mut Pending,
) -> Result<(), GraphError> {
    let command = || RouteOrigin::Command { node: origin.to_owned() };
    for destination in goto.drain(..) {
        let target = destination.target();
        if target == END {
            continue;
        }
        let Some(id) = graph.id(target) else {
            return Err(invalid_route(command(), target, RouteRefusal::UnknownNode));
        };
        route_to(graph, id, destination, command, pending)?;
    }
    Ok(())
}

/// Fires the `destinations` one router of `branch` chose, each of which it must have
/// declared; a router that chose none is warned about.
fn fire_router<S: State>(
    graph: &GraphInner<S>,
    branch: &Branch<S>,
    origin: &str,
    destinations: impl Iterator<Item = Goto>,
    pending: &mut Pending,
) -> Result<(), GraphError> {
    let router = || RouteOrigin::Router { node: origin.to_owned() };
    let undeclared = || {
        let mut declared: Vec<String> =
            branch.targets.iter().map(|&id| graph.name(id).to_string()).collect();
        if branch.allows_end {
            declared.push(END.to_owned());
        }
        RouteRefusal::Undeclared { declared }
    };
    // A router may send to thousands of tasks: room for them all at once.
    if let (_, Some(many @ 2..)) = destinations.size_hint() {
        pending.sends.reserve(many);
    }
    let mut routed_none = true;
    for destination in destinations {
        routed_none = false;
        let target = destination.target();
        if target == END && matches!(destination, Goto::Node(_)) {
            if !branch.allows_end {
                return Err(invalid_route(router(), target, undeclared()));
            }
            continue;
        }
        let Some(id) = branch_target(graph, &branch.targets, target) else {
            return Err(invalid_route(router(), target, undeclared()));
        };
        route_to(graph, id, destination, router, pending)?;
    }
    if routed_none {
        pending.warnings.push(RunWarning::NoDestination { node: origin.to_owned() });
    }
    Ok(())
}

/// The id of `target` if it is one of a branch's declared `targets` (sorted ids). A branch
/// declares a few targets, and comparing a few names is cheaper than hashing one.
fn branch_target<S: State>(
    graph: &GraphInner<S>,
    targets: &[NodeId],
    target: &str,
) -> Option<NodeId> {
    if targets.len() <= 8 {
        return targets.iter().copied().find(|&id| &**graph.name(id) == target);
    }
    declared_target(graph, targets, target)
}

/// The id of `target` if it is one of many declared `targets`, found by its name's hash.
// Out of line: inlined, the hash table's fields would be loaded ahead of every router's
// destinations, into registers that the common case of a few targets needs.
#[inline(never)]
fn declared_target<S: State>(
    graph: &GraphInner<S>,
    targets: &[NodeId],
    target: &str,
) -> Option<NodeId> {
    graph.id(target).filter(|id| targets.binary_search(id).is_ok())
}

/// Triggers node `id` or queues a `Send` to it, checking it can take what it is given.
fn route_to<S: State>(
    graph: &GraphInner<S>,
    id: NodeId,
    destination: Goto,
    origin: impl Fn() -> RouteOrigin,
    pending: &mut Pending,
) -> Result<(), GraphError> {
    let node = &graph.nodes[id];
    match destination {
        Goto::Node(name) => match node.func.input {
            InputKind::State => {
                pending.triggered.insert(id);
            }
            InputKind::Payload { type_name, .. } => {
                let refusal = RouteRefusal::NeedsPayload { input_type: type_name };
                return Err(invalid_route(origin(), &name, refusal));
            }
        },
        Goto::Send(send) => {
            let expected = graph.input_type(id);
            if send.type_id != expected.0 {
                return Err(GraphError::PayloadType {
                    node: node.name.to_string(),
                    expected: expected.1,
                    found: send.type_name,
                });
            }
            pending.sends.push(PendingSend { node: id, payload: send.payload });
        }
    }
    Ok(())
}

#[cold]
fn invalid_route(origin: RouteOrigin, target: &str, refusal: RouteRefusal) -> GraphError {
    GraphError::InvalidRoute { origin, target: target.to_owned(), refusal }
}

/// The joins that some but not all of their sources reached before the run ended.
pub(crate) fn unfired_joins<S: State>(graph: &GraphInner<S>, pending: &Pending) -> Vec<RunWarning> {
    let mut warnings = Vec::new();
    for (join, progress) in pending.joins.iter().enumerate() {
        if progress.count == 0 {
            continue;
        }
        let (mut ran, mut waiting_for) = (Vec::new(), Vec::new());
        for (node, out) in graph.nodes.iter().map(|n| (&n.name, &n.out)) {
            for &(j, slot) in &out.joins {
                if j == join {
                    let list = if progress.seen[slot] { &mut ran } else { &mut waiting_for };
                    list.push(node.to_string());
                }
            }
        }
        let target =
            graph.joins[join].target.map_or(END.to_owned(), |id| graph.name(id).to_string());
        warnings.push(RunWarning::JoinNeverFired { target, ran, waiting_for });
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(nodes: usize, triggered: &[usize]) -> Pending {
        let mut set = FixedBitSet::with_capacity(nodes);
        set.extend(triggered.iter().copied());
        let (sends, joins, warnings, parent) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        Pending { triggered: set, sends, joins, warnings, parent }
    }

    #[test]
    fn a_lone_node_is_the_one_triggered_node_in_every_word_of_the_set() {
        assert_eq!(lone(&pending(200, &[])), None);
        assert_eq!(lone(&pending(200, &[0])), Some(0));
        assert_eq!(lone(&pending(200, &[63])), Some(63));
        assert_eq!(lone(&pending(200, &[64])), Some(64));
        assert_eq!(lone(&pending(200, &[199])), Some(199));
        assert_eq!(lone(&pending(200, &[3, 5])), None);
        assert_eq!(lone(&pending(200, &[3, 130])), None);
        assert_eq!(lone(&pending(200, &[70, 199])), None);
    }

    #[test]
    fn a_step_with_a_send_has_no_lone_node() {
        let mut with_send = pending(4, &[1]);
        with_send.sends.push(PendingSend { node: 2, payload: Box::new(7_u32) });
        assert_eq!(lone(&with_send), None);
    }
}
