//! The superstep loop: plan, run, apply, until no task is left.

use std::sync::Arc;

use tracing::Instrument;

use super::algo::{self, Pending};
use super::{runner, StepRecord, TaskRecord};
use crate::config::RunConfig;
use crate::error::GraphError;
use crate::graph::GraphInner;
use crate::state::State;

/// Runs a graph from `state` until no task is left, recording each step if asked.
pub(crate) async fn run<S: State>(
    graph: &GraphInner<S>,
    state: S,
    config: &RunConfig,
    mut record: Option<&mut Vec<StepRecord>>,
) -> Result<S, GraphError> {
    let span = tracing::info_span!("run", nodes = graph.nodes.len());
    async move {
        let mut state = Arc::new(state);
        let mut pending = Pending::new(graph);
        algo::enter(graph, &state, &mut pending)?;
        for step in 0.. {
            let mut tasks = algo::plan(graph, &mut pending, step);
            if tasks.is_empty() {
                break;
            }
            if step >= config.get_recursion_limit() {
                return Err(GraphError::RecursionLimit {
                    limit: config.get_recursion_limit(),
                    pending: tasks.iter().map(|t| graph.name(t.node).to_string()).collect(),
                });
            }
            let step_span = tracing::info_span!("superstep", step, tasks = tasks.len());
            let outputs = runner::run_tasks(graph, &state, step, &mut tasks)
                .instrument(step_span.clone())
                .await?;
            step_span.in_scope(|| {
                algo::apply_step(graph, &mut state, step, &tasks, outputs, &mut pending)
            })?;
            if let Some(steps) = record.as_deref_mut() {
                let tasks = tasks
                    .iter()
                    .map(|t| TaskRecord { id: t.id.clone(), node: Arc::clone(graph.name(t.node)) })
                    .collect();
                steps.push(StepRecord { step, tasks });
            }
        }
        Ok(Arc::try_unwrap(state).unwrap_or_else(|shared| S::clone(&shared)))
    }
    .instrument(span)
    .await
}
