//! Mermaid drawings of a graph's shape.

use std::fmt::Write;
use std::sync::Arc;

use super::{InputKind, StateGraph, END, START};
use crate::state::State;

/// How [`CompiledGraph::draw_mermaid_with`](crate::CompiledGraph::draw_mermaid_with) draws a
/// graph. The default is what [`draw_mermaid`](crate::CompiledGraph::draw_mermaid) draws.
///
/// ```
/// use graph_core::MermaidOptions;
///
/// let options = MermaidOptions::new().collapse_subgraphs(true);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct MermaidOptions {
    collapse_subgraphs: bool,
}

impl MermaidOptions {
    /// The default drawing: every subgraph drawn as a block holding its own nodes and edges.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a subgraph node is drawn as one node in the subroutine shape (`[[name]]`),
    /// leaving its insides out, instead of as a block holding its own nodes and edges
    /// (default `false`).
    pub fn collapse_subgraphs(mut self, collapse: bool) -> Self {
        self.collapse_subgraphs = collapse;
        self
    }
}

/// The graph's shape by name, kept from the builder for drawing.
pub(crate) struct Topology {
    /// In declaration order.
    nodes: Vec<NodeShape>,
    edges: Vec<(String, String)>,
    joins: Vec<(Vec<String>, String)>,
    branches: Vec<(String, Vec<String>)>,
    destinations: Vec<(String, Vec<String>)>,
}

/// One node of a [`Topology`].
struct NodeShape {
    name: String,
    /// The payload type of a node taking `Input<T>`.
    payload: Option<&'static str>,
    defer: bool,
    /// The shape of the graph the node runs, for a subgraph node.
    subgraph: Option<Arc<Topology>>,
}

impl NodeShape {
    /// The name, then the payload type and deferral, each after `separator`.
    fn label(&self, separator: &str) -> String {
        let mut label = escape(&self.name);
        if let Some(payload) = self.payload {
            let payload = escape(short_type(payload));
            let _ = write!(label, "{separator}<i>Input&lt;{payload}&gt;</i>");
        }
        if self.defer {
            let _ = write!(label, "{separator}<i>deferred</i>");
        }
        label
    }
}

impl Topology {
    pub(crate) fn of<S: State, C>(graph: &StateGraph<S, C>) -> Self {
        let nodes = graph
            .nodes
            .iter()
            .map(|spec| NodeShape {
                name: spec.name.clone(),
                payload: match spec.node.input {
                    InputKind::State => None,
                    InputKind::Payload { type_name, .. } => Some(type_name),
                },
                defer: spec.options.defer,
                subgraph: spec.node.subgraph.clone(),
            })
            .collect();
        let destinations = graph
            .nodes
            .iter()
            .filter(|spec| !spec.options.destinations.is_empty())
            .map(|spec| (spec.name.clone(), spec.options.destinations.clone()))
            .collect();
        Self {
            nodes,
            edges: graph.edges.clone(),
            joins: graph.joins.clone(),
            branches: graph
                .branches
                .iter()
                .map(|b| (b.source.clone(), b.targets.clone()))
                .collect(),
            destinations,
        }
    }

    fn index(&self, name: &str) -> usize {
        self.nodes.iter().position(|node| node.name == name).unwrap_or_default()
    }

    fn takes_payload(&self, name: &str) -> bool {
        self.nodes.iter().any(|node| node.name == name && node.payload.is_some())
    }

    /// The nodes and edges as JSON, in the drawing format of the LangGraph Platform API.
    pub(crate) fn json(&self) -> serde_json::Value {
        use serde_json::json;
        let point = |name: &str| json!({"id": name, "type": "schema", "data": name});
        let mut nodes = vec![point(START)];
        nodes.extend(self.nodes.iter().map(|node| {
            json!({"id": node.name, "type": "runnable",
                   "data": {"name": node.name, "subgraph": node.subgraph.is_some()}})
        }));
        nodes.push(point(END));
        let edge = |from: &str, to: &str, conditional: bool| json!({"source": from, "target": to, "conditional": conditional});
        let mut edges: Vec<_> = self.edges.iter().map(|(from, to)| edge(from, to, false)).collect();
        for (sources, to) in &self.joins {
            edges.extend(sources.iter().map(|from| edge(from, to, false)));
        }
        for (from, targets) in self.branches.iter().chain(&self.destinations) {
            edges.extend(targets.iter().map(|to| edge(from, to, true)));
        }
        json!({"nodes": nodes, "edges": edges})
    }

    pub(crate) fn mermaid(&self, options: MermaidOptions) -> String {
        let mut out = String::from("flowchart TD\n");
        self.draw(&mut out, &Scope::top(), options);
        out
    }

    /// Writes the nodes, then the edges, of this graph in `scope`; a subgraph node's block
    /// holds its own graph, drawn the same way one scope deeper.
    fn draw(&self, out: &mut String, scope: &Scope, options: MermaidOptions) {
        let pad = scope.pad();
        let id = |name: &str| scope.id(name, || self.index(name));
        let _ = writeln!(out, "{pad}{}([START])", id(START));
        for (index, node) in self.nodes.iter().enumerate() {
            let node_id = scope.node(index);
            match &node.subgraph {
                Some(child) if !options.collapse_subgraphs => {
                    // A block's title has room for one line. Mermaid turns a nested block
                    // sideways unless told its direction.
                    let title = node.label(" ");
                    let _ = writeln!(out, "{pad}subgraph {node_id}[\"{title}\"]");
                    let _ = writeln!(out, "{pad}    direction TB");
                    child.draw(out, &scope.inside(node_id), options);
                    let _ = writeln!(out, "{pad}end");
                }
                Some(_) => {
                    let _ = writeln!(out, "{pad}{node_id}[[\"{}\"]]", node.label("<br/>"));
                }
                None => {
                    let _ = writeln!(out, "{pad}{node_id}[\"{}\"]", node.label("<br/>"));
                }
            }
        }
        let _ = writeln!(out, "{pad}{}([END])", id(END));
        for (from, to) in &self.edges {
            let _ = writeln!(out, "{pad}{} --> {}", id(from), id(to));
        }
        for (sources, to) in &self.joins {
            let sources: Vec<String> = sources.iter().map(|s| id(s)).collect();
            let _ = writeln!(out, "{pad}{} ==> {}", sources.join(" & "), id(to));
        }
        for (source, targets) in &self.branches {
            for target in targets {
                let arrow = if self.takes_payload(target) { "-.->|Send|" } else { "-.->" };
                let _ = writeln!(out, "{pad}{} {arrow} {}", id(source), id(target));
            }
        }
        for (source, targets) in &self.destinations {
            for target in targets {
                let _ = writeln!(out, "{pad}{} -.->|goto| {}", id(source), id(target));
            }
        }
    }
}

/// Where a graph is drawn: at the top of the chart, or inside the block of a subgraph node.
///
/// Mermaid ids are `n0`, `n1`, ... in declaration order, so any node name draws safely.
/// Inside a block they take the block's id as a prefix (`n2_n0`, and `n2_start` and
/// `n2_end` for the subgraph's own `START` and `END`), so ids stay unique across levels.
struct Scope {
    /// The id of the enclosing block; `None` at the top.
    block: Option<String>,
    depth: usize,
}

impl Scope {
    fn top() -> Self {
        Self { block: None, depth: 0 }
    }

    fn inside(&self, block: String) -> Self {
        Self { block: Some(block), depth: self.depth + 1 }
    }

    fn pad(&self) -> String {
        " ".repeat(4 * (self.depth + 1))
    }

    fn node(&self, index: usize) -> String {
        match &self.block {
            None => format!("n{index}"),
            Some(block) => format!("{block}_n{index}"),
        }
    }

    /// The id of `START`, `END`, or the node whose declaration index `index` finds.
    fn id(&self, name: &str, index: impl FnOnce() -> usize) -> String {
        match (name, &self.block) {
            (START | END, None) => name.to_owned(),
            (START, Some(block)) => format!("{block}_start"),
            (END, Some(block)) => format!("{block}_end"),
            _ => self.node(index()),
        }
    }
}

/// `alloc::string::String` reads better as `String`.
fn short_type(type_name: &str) -> &str {
    match type_name.find('<') {
        Some(_) => type_name,
        None => type_name.rsplit("::").next().unwrap_or(type_name),
    }
}

fn escape(text: &str) -> String {
    text.replace('"', "#quot;").replace('<', "&lt;").replace('>', "&gt;")
}
