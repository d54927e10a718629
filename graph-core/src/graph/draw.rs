//! Mermaid drawings of a graph's shape.

use std::fmt::Write;

use super::{InputKind, StateGraph, END, START};
use crate::state::State;

/// The graph's shape by name, kept from the builder for drawing.
pub(crate) struct Topology {
    /// Node names in declaration order, with the payload type of nodes taking `Input<T>`.
    nodes: Vec<(String, Option<&'static str>, bool)>,
    edges: Vec<(String, String)>,
    joins: Vec<(Vec<String>, String)>,
    branches: Vec<(String, Vec<String>)>,
    destinations: Vec<(String, Vec<String>)>,
}

impl Topology {
    pub(crate) fn of<S: State, C>(graph: &StateGraph<S, C>) -> Self {
        let nodes = graph
            .nodes
            .iter()
            .map(|spec| {
                let payload = match spec.node.input {
                    InputKind::State => None,
                    InputKind::Payload { type_name, .. } => Some(type_name),
                };
                (spec.name.clone(), payload, spec.options.defer)
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

    /// Mermaid ids are `n0`, `n1`, ... in declaration order, so any node name draws safely.
    fn id(&self, name: &str) -> String {
        match name {
            START | END => name.to_owned(),
            _ => {
                let index = self.nodes.iter().position(|(n, ..)| n == name).unwrap_or_default();
                format!("n{index}")
            }
        }
    }

    fn takes_payload(&self, name: &str) -> bool {
        self.nodes.iter().any(|(n, payload, _)| n == name && payload.is_some())
    }

    pub(crate) fn mermaid(&self) -> String {
        let mut out = String::from("flowchart TD\n");
        let _ = writeln!(out, "    {START}([START])");
        for (index, (name, payload, defer)) in self.nodes.iter().enumerate() {
            let mut label = escape(name);
            if let Some(payload) = payload {
                let _ = write!(label, "<br/><i>Input&lt;{}&gt;</i>", escape(short_type(payload)));
            }
            if *defer {
                label.push_str("<br/><i>deferred</i>");
            }
            let _ = writeln!(out, "    n{index}[\"{label}\"]");
        }
        let _ = writeln!(out, "    {END}([END])");
        for (from, to) in &self.edges {
            let _ = writeln!(out, "    {} --> {}", self.id(from), self.id(to));
        }
        for (sources, to) in &self.joins {
            let sources: Vec<String> = sources.iter().map(|s| self.id(s)).collect();
            let _ = writeln!(out, "    {} ==> {}", sources.join(" & "), self.id(to));
        }
        for (source, targets) in &self.branches {
            for target in targets {
                let arrow = if self.takes_payload(target) { "-.->|Send|" } else { "-.->" };
                let _ = writeln!(out, "    {} {arrow} {}", self.id(source), self.id(target));
            }
        }
        for (source, targets) in &self.destinations {
            for target in targets {
                let _ = writeln!(out, "    {} -.->|goto| {}", self.id(source), self.id(target));
            }
        }
        out
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
