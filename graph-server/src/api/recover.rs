//! Runs that a stopped server left unfinished, carried on when it starts again: each resumes
//! from its thread's last checkpoint when its input was applied, and starts over when it was
//! not, so nothing is applied twice and nothing is lost.

use std::sync::Arc;

use graph_core::RunConfig;
use serde_json::Value;

use super::runs::{prepare, Prepared, Request};
use crate::error::ApiError;
use crate::records::{Run, RunStatus, ThreadStatus};
use crate::runner::{Launch, Multitask};
use crate::server::Shared;

/// Relaunches every run left pending or running, oldest first, so each thread's runs keep
/// their order. A run that cannot be relaunched is marked `error`, and the reason logged.
pub(crate) async fn recover(shared: Arc<Shared>) {
    let runs = match shared.records.unfinished_runs().await {
        Ok(runs) => runs,
        Err(error) => {
            tracing::error!(%error, "could not list the runs left unfinished");
            return;
        }
    };
    for run in runs {
        let run_id = run.run_id.clone();
        if let Err(error) = relaunch(&shared, run).await {
            tracing::error!(%run_id, %error, "could not carry on a run left unfinished");
            if let Err(error) = shared.records.set_run_status(&run_id, RunStatus::Error).await {
                tracing::error!(%run_id, %error, "could not mark an unfinished run as failed");
            }
        }
    }
}

async fn relaunch(shared: &Shared, run: Run) -> Result<(), ApiError> {
    match again(shared, run).await? {
        Some(launch) => shared.runner.launch(&shared.saved(), launch).await.map(drop),
        None => Ok(()),
    }
}

/// A run left unfinished, ready to start again: from its request when its input was not
/// applied, from its thread's last checkpoint when it was. `None` when that checkpoint was
/// its last step, and the run is now recorded as finished.
pub(crate) async fn again(shared: &Shared, mut run: Run) -> Result<Option<Launch>, ApiError> {
    let mut request: Request = serde_json::from_value(run.kwargs.clone())
        .map_err(|error| ApiError::Storage(format!("run `{}` is corrupt: {error}", run.run_id)))?;
    let assistant = shared.assistant(&run.assistant_id)?;
    if run.status == RunStatus::Running {
        let thread = RunConfig::default().thread_id(&run.thread_id);
        let latest = assistant.graph.state(&thread, false).await?;
        let latest_id =
            latest.as_ref().and_then(|state| state["checkpoint"]["checkpoint_id"].as_str());
        if latest_id != run.started_from() {
            // The input was applied: carry on from the last checkpoint, not from the input.
            let latest = latest.unwrap_or_default();
            if latest["next"].as_array().is_some_and(Vec::is_empty) {
                finished(shared, &run, latest["values"].clone()).await?;
                return Ok(None);
            }
            request.input = None;
            request.command = None;
            request.checkpoint_id = None;
            request.checkpoint = None;
            if let Some(Value::Object(configurable)) =
                request.config.as_mut().and_then(|config| config.get_mut("configurable"))
            {
                configurable.remove("checkpoint_id");
            }
        }
    }
    run.status = RunStatus::Pending;
    let Prepared { modes, cancel, events } = prepare(&*assistant.graph, &run.thread_id, &request)?;
    Ok(Some(Launch { run, events, modes, cancel, multitask: Multitask::Enqueue }))
}

/// Records a run whose last step was saved before the server stopped, but not its end.
async fn finished(shared: &Shared, run: &Run, values: Value) -> Result<(), ApiError> {
    shared.records.set_run_status(&run.run_id, RunStatus::Success).await?;
    let ended = shared.records.update_thread(&run.thread_id, |thread| {
        thread.status = ThreadStatus::Idle;
        thread.values = values;
        thread.interrupts.clear();
        thread.error = None;
    });
    ended.await.map(drop)
}
