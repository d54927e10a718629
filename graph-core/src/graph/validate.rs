//! Pure checks run by `compile()`: every mistake becomes one [`BuildError`] variant.

use std::collections::HashMap;

use super::{InputKind, StateGraph, END, START};
use crate::error::BuildError;
use crate::state::State;

pub(crate) fn validate<S: State, C>(graph: &StateGraph<S, C>) -> Result<(), BuildError> {
    let mut inputs: HashMap<&str, InputKind> = HashMap::new();
    for spec in &graph.nodes {
        let name = spec.name.as_str();
        if name.is_empty() || name == START || name == END {
            return Err(BuildError::ReservedName { node: name.to_owned() });
        }
        if inputs.insert(name, spec.node.input).is_some() {
            return Err(BuildError::DuplicateNode { node: name.to_owned() });
        }
        if let Some((field, problem)) = &spec.node.shared_field_mismatch {
            let (node, problem) = (name.to_owned(), problem.clone());
            return Err(BuildError::SharedField { node, field, problem });
        }
    }
    let known = |node: &str, edge: &dyn Fn() -> String| {
        if inputs.contains_key(node) {
            Ok(())
        } else {
            Err(BuildError::UnknownNode { node: node.to_owned(), edge: edge() })
        }
    };
    let outside = |edge: String| Err(BuildError::EdgeOutsideGraph { edge });

    for (from, to) in &graph.edges {
        let edge = || format!("edge `{from}` -> `{to}`");
        if from == END || to == START {
            return outside(edge());
        }
        if from != START {
            known(from, &edge)?;
        }
        if to != END {
            known(to, &edge)?;
            payload_free(to, inputs[to.as_str()], edge)?;
        }
    }

    for (sources, to) in &graph.joins {
        let edge = || format!("join [{}] -> `{to}`", quoted(sources));
        if to == START || sources.iter().any(|s| s == START || s == END) {
            return outside(edge());
        }
        for source in sources {
            known(source, &edge)?;
        }
        if to != END {
            known(to, &edge)?;
            payload_free(to, inputs[to.as_str()], edge)?;
        }
        let mut distinct: Vec<String> = Vec::new();
        for source in sources {
            if !distinct.contains(source) {
                distinct.push(source.clone());
            }
        }
        if distinct.len() < 2 {
            return Err(BuildError::JoinTooSmall { target: to.clone(), sources: distinct });
        }
    }

    for branch in &graph.branches {
        let source = branch.source.as_str();
        let edge = || format!("conditional edge from `{source}`");
        if source == END {
            return outside(edge());
        }
        if source != START {
            known(source, &edge)?;
        }
        if branch.targets.is_empty() {
            return Err(BuildError::NoConditionalTargets { source_node: source.to_owned() });
        }
        for target in &branch.targets {
            if target != END && !inputs.contains_key(target.as_str()) {
                return Err(BuildError::UnknownConditionalTarget {
                    source_node: source.to_owned(),
                    target: target.clone(),
                });
            }
        }
    }

    for spec in &graph.nodes {
        let edge = || format!("destinations of `{}`", spec.name);
        for target in &spec.options.destinations {
            if target != END {
                known(target, &edge)?;
            }
        }
    }

    for (list, names) in
        [("interrupt_before", &graph.interrupt_before), ("interrupt_after", &graph.interrupt_after)]
    {
        for name in names {
            known(name, &|| list.to_owned())?;
        }
    }

    let has_entry = graph.edges.iter().any(|(from, _)| from == START)
        || graph.branches.iter().any(|b| b.source == START);
    if !has_entry {
        return Err(BuildError::NoEntry);
    }

    for spec in &graph.nodes {
        let InputKind::Payload { type_name, .. } = spec.node.input else { continue };
        let reachable = graph.branches.iter().flat_map(|b| &b.targets).any(|t| *t == spec.name)
            || graph.nodes.iter().flat_map(|n| &n.options.destinations).any(|t| *t == spec.name);
        if !reachable {
            return Err(BuildError::UnreachableInputNode {
                node: spec.name.clone(),
                input_type: type_name,
            });
        }
    }
    Ok(())
}

/// Fails when a static edge would start a node that needs a `Send` payload.
fn payload_free(node: &str, input: InputKind, edge: impl Fn() -> String) -> Result<(), BuildError> {
    match input {
        InputKind::State => Ok(()),
        InputKind::Payload { type_name, .. } => Err(BuildError::InputNodeOnEdge {
            node: node.to_owned(),
            input_type: type_name,
            edge: edge(),
        }),
    }
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}
