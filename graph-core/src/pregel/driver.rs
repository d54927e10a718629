//! The superstep loop: plan, run, apply, until no task is left.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::algo::{self, Pending};
use super::runner::{self, StepScope};
use super::{StepRecord, TaskRecord};
use crate::config::RunConfig;
use crate::error::GraphError;
use crate::graph::GraphInner;
use crate::state::State;
use crate::stream::{Emitter, StreamEvent, StreamMode};

/// Runs a graph from `state` until no task is left, recording each step if asked.
pub(crate) async fn run<S: State>(
    graph: &Arc<GraphInner<S>>,
    state: S,
    config: &RunConfig,
    emitter: Emitter<S>,
    mut record: Option<&mut Vec<StepRecord>>,
) -> Result<S, GraphError> {
    let span = tracing::info_span!("run", nodes = graph.nodes.len());
    // The run's own token: cancelled from outside through the config's token, and on exit
    // (failure or drop) so that nodes watching it stop too.
    let cancellation =
        config.cancellation.as_ref().map_or_else(CancellationToken::new, |t| t.child_token());
    let _cancel_on_exit = cancellation.clone().drop_guard();
    let limit = config.max_concurrency.map(|n| Arc::new(Semaphore::new(n)));

    let run_started = Instant::now();
    let run = async {
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
            let scope = StepScope {
                graph,
                state: &state,
                step,
                limit: limit.as_ref(),
                cancellation: &cancellation,
                emitter: &emitter,
                run_started,
            };
            let running = runner::run_tasks(&scope, &mut tasks).instrument(step_span.clone());
            let outputs = match config.step_timeout {
                Some(timeout) => tokio::time::timeout(timeout, running)
                    .await
                    .map_err(|_| GraphError::StepTimedOut { step, timeout })??,
                None => running.await?,
            };
            step_span.in_scope(|| {
                algo::apply_step(graph, &mut state, step, &tasks, outputs, &mut pending)
            })?;
            if emitter.wants(StreamMode::Values) {
                emitter.send(StreamEvent::Values { step, state: Arc::clone(&state) }).await;
            }
            if let Some(steps) = record.as_deref_mut() {
                let tasks = tasks
                    .iter()
                    .map(|t| TaskRecord { id: t.id.clone(), node: Arc::clone(graph.name(t.node)) })
                    .collect();
                steps.push(StepRecord { step, tasks });
            }
        }
        for warning in algo::unfired_joins(graph, &pending) {
            if config.strict_joins {
                return Err(GraphError::JoinNeverFired(warning));
            }
            tracing::warn!(%warning, "run ended with a join waiting");
            if emitter.is_streaming() {
                emitter.send(StreamEvent::Warning { warning }).await;
            }
        }
        Ok(Arc::try_unwrap(state).unwrap_or_else(|shared| S::clone(&shared)))
    };
    cancellation
        .run_until_cancelled(run)
        .instrument(span)
        .await
        .unwrap_or(Err(GraphError::Cancelled))
}
