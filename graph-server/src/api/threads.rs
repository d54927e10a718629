//! Threads: create, find, copy and delete them; read and edit their state and history.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use graph_core::RunConfig;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::assistants::contains;
use super::{body, ten, Page, Path, Query, RawBody};
use crate::error::ApiError;
use crate::records::{now, Thread, ThreadStatus};
use crate::server::{Owner, Shared};

/// The body of `POST /threads`.
#[derive(Deserialize)]
struct Create {
    #[serde(default)]
    thread_id: Option<String>,
    #[serde(default)]
    metadata: Map<String, Value>,
    #[serde(default)]
    if_exists: Option<String>,
}

/// `POST /threads`: a new thread, or with `if_exists: "do_nothing"` the existing one.
pub(super) async fn create(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    RawBody(bytes): RawBody,
) -> Result<Json<Thread>, ApiError> {
    let Create { thread_id, metadata, if_exists } = body(&bytes)?;
    let thread_id = thread_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if thread_id.is_empty() || thread_id.contains('|') {
        return Err(ApiError::invalid("thread_id", "must be non-empty and without `|`"));
    }
    let now = now();
    let thread = Thread {
        thread_id: thread_id.clone(),
        created_at: now.clone(),
        updated_at: now,
        metadata,
        status: ThreadStatus::Idle,
        values: Value::Null,
        interrupts: Map::new(),
        error: None,
        owner: owner.0.clone(),
    };
    match (shared.records.insert_thread(thread).await, if_exists.as_deref()) {
        (Err(ApiError::Exists(_)), Some("do_nothing")) => {
            Ok(Json(shared.records.thread(&thread_id, owner.key()).await?))
        }
        (Err(ApiError::Exists(_)), _)
            if shared.records.thread(&thread_id, owner.key()).await.is_err() =>
        {
            // Another owner's thread: say no more than that the id is taken.
            Err(ApiError::Exists(thread_id))
        }
        (result, _) => result.map(Json),
    }
}

/// `GET /threads/{thread_id}`.
pub(super) async fn get(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    Path(thread_id): Path<String>,
) -> Result<Json<Thread>, ApiError> {
    Ok(Json(shared.records.thread(&thread_id, owner.key()).await?))
}

/// `DELETE /threads/{thread_id}`: the thread, its runs (cancelled first) and its checkpoints.
pub(super) async fn delete(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    Path(thread_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    shared.records.thread(&thread_id, owner.key()).await?;
    remove(&shared, &thread_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a thread: cancels its runs and waits for them, then deletes its records and
/// checkpoints.
pub(super) async fn remove(shared: &Shared, thread_id: &str) -> Result<(), ApiError> {
    let runs = shared.records.runs(thread_id).await?;
    for run in runs.into_iter().filter(|run| run.status.unfinished()) {
        if let Some(handle) = shared.handle(&run.run_id).await? {
            handle.cancel.cancel();
            handle.wait().await;
        }
    }
    shared.records.delete_thread(thread_id).await?;
    shared.checkpointer.delete_thread(thread_id).await.map_err(graph_core::GraphError::from)?;
    Ok(())
}

/// `POST /threads/{thread_id}/copy`: a new thread, owned by the caller, with the thread's
/// metadata and its whole checkpoint history (its subgraphs' checkpoints and pending writes
/// included), so its state, history and resumes are the original's. As on the LangGraph
/// Platform, the copy is `idle` and has no runs; its values show once a run or an edit
/// of it ends.
pub(super) async fn copy(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    Path(thread_id): Path<String>,
) -> Result<Json<Thread>, ApiError> {
    let original = shared.records.thread(&thread_id, owner.key()).await?;
    let copy_id = uuid::Uuid::new_v4().to_string();
    let copied = shared.checkpointer.copy_thread(&thread_id, &copy_id).await;
    copied.map_err(graph_core::GraphError::from)?;
    let now = now();
    let thread = Thread {
        thread_id: copy_id.clone(),
        created_at: now.clone(),
        updated_at: now,
        metadata: original.metadata,
        status: ThreadStatus::Idle,
        values: Value::Null,
        interrupts: Map::new(),
        error: None,
        owner: owner.0.clone(),
    };
    match shared.records.insert_thread(thread).await {
        Ok(thread) => Ok(Json(thread)),
        Err(error) => {
            // No record names the copied checkpoints: they go.
            let _ = shared.checkpointer.delete_thread(&copy_id).await;
            Err(error)
        }
    }
}

/// The body of `PATCH /threads/{thread_id}`.
#[derive(Deserialize)]
struct Patch {
    #[serde(default)]
    metadata: Map<String, Value>,
}

/// `PATCH /threads/{thread_id}`: merges metadata into the thread's.
pub(super) async fn patch(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    Path(thread_id): Path<String>,
    RawBody(bytes): RawBody,
) -> Result<Json<Thread>, ApiError> {
    let Patch { metadata } = body(&bytes)?;
    shared.records.thread(&thread_id, owner.key()).await?;
    let thread =
        shared.records.update_thread(&thread_id, |thread| thread.metadata.extend(metadata));
    thread.await?.map(Json).ok_or_else(|| ApiError::not_found("thread", thread_id))
}

/// The body of `POST /threads/search`.
#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
    #[serde(default)]
    values: Option<Map<String, Value>>,
    #[serde(default)]
    status: Option<String>,
    #[serde(flatten)]
    page: Page,
}

/// `POST /threads/search`: the caller's threads matching metadata, values and status, the
/// most recently updated first.
pub(super) async fn search(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    RawBody(bytes): RawBody,
) -> Result<Json<Vec<Thread>>, ApiError> {
    let search: Search = body(&bytes)?;
    let threads = matching(&shared, &owner, &search).await?;
    Ok(Json(search.page.of(threads)))
}

/// `POST /threads/count`: how many of the caller's threads match, as `search` would find
/// them without a limit.
pub(super) async fn count(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    RawBody(bytes): RawBody,
) -> Result<Json<usize>, ApiError> {
    Ok(Json(matching(&shared, &owner, &body(&bytes)?).await?.len()))
}

/// The caller's threads that `search` selects, the most recently updated first.
async fn matching(
    shared: &Shared,
    owner: &Owner,
    search: &Search,
) -> Result<Vec<Thread>, ApiError> {
    let Search { metadata, values, status, .. } = search;
    let mut threads = shared.records.threads(owner.key()).await?;
    threads.retain(|thread| {
        metadata
            .as_ref()
            .is_none_or(|wanted| wanted.iter().all(|(k, v)| thread.metadata.get(k) == Some(v)))
            && values.as_ref().is_none_or(|wanted| contains(&thread.values, wanted))
            && status.as_ref().is_none_or(|wanted| {
                serde_json::to_value(thread.status).is_ok_and(|status| status == **wanted)
            })
    });
    threads.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.thread_id.cmp(&a.thread_id)));
    Ok(threads)
}

/// The query of `GET /threads/{thread_id}/state`.
#[derive(Deserialize)]
pub(super) struct StateQuery {
    #[serde(default)]
    subgraphs: bool,
}

/// `GET /threads/{thread_id}/state`: the latest checkpoint's state.
pub(super) async fn state(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    Path(thread_id): Path<String>,
    Query(query): Query<StateQuery>,
) -> Result<Json<Value>, ApiError> {
    read_state(&shared, &owner, &thread_id, None, query.subgraphs).await.map(Json)
}

/// `GET /threads/{thread_id}/state/{checkpoint_id}`: one checkpoint's state.
pub(super) async fn state_at(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    Path((thread_id, checkpoint_id)): Path<(String, String)>,
    Query(query): Query<StateQuery>,
) -> Result<Json<Value>, ApiError> {
    read_state(&shared, &owner, &thread_id, Some(checkpoint_id), query.subgraphs).await.map(Json)
}

async fn read_state(
    shared: &Shared,
    owner: &Owner,
    thread_id: &str,
    checkpoint_id: Option<String>,
    subgraphs: bool,
) -> Result<Value, ApiError> {
    let thread = shared.records.thread(thread_id, owner.key()).await?;
    let mut config = RunConfig::default().thread_id(thread_id);
    if let Some(id) = &checkpoint_id {
        config = config.checkpoint_id(id);
    }
    let state = match shared.thread_graph(&thread) {
        Some(graph) => graph.state(&config, subgraphs).await?,
        None => None,
    };
    match (state, checkpoint_id) {
        (Some(state), _) => Ok(state),
        (None, Some(id)) => Err(ApiError::not_found("checkpoint", id)),
        (None, None) => Ok(empty_state()),
    }
}

/// The state of a thread that has no checkpoint yet.
fn empty_state() -> Value {
    json!({"values": {}, "next": [], "tasks": [], "checkpoint": null, "parent_checkpoint": null,
           "metadata": {}, "created_at": null, "interrupts": []})
}

/// The body of `POST /threads/{thread_id}/state`.
#[derive(Deserialize)]
struct Update {
    values: Value,
    #[serde(default)]
    as_node: Option<String>,
    #[serde(default)]
    checkpoint_id: Option<String>,
}

/// `POST /threads/{thread_id}/state`: writes values as if a node had returned them, as a new
/// checkpoint.
pub(super) async fn update_state(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    Path(thread_id): Path<String>,
    RawBody(bytes): RawBody,
) -> Result<Json<Value>, ApiError> {
    let Update { values, as_node, checkpoint_id } = body(&bytes)?;
    let thread = shared.records.thread(&thread_id, owner.key()).await?;
    if let Some(run_id) = shared.running(&thread_id).await? {
        return Err(ApiError::Busy { thread_id, run_id });
    }
    let graph = shared.thread_graph(&thread).ok_or_else(|| {
        ApiError::invalid("thread_id", "the thread has had no run, so it has no graph yet")
    })?;
    let mut config = RunConfig::default().thread_id(&thread_id);
    if let Some(id) = checkpoint_id {
        config = config.checkpoint_id(id);
    }
    let checkpoint_id = graph.update_state(&config, values, as_node.as_deref()).await?;
    if let Some(state) = graph.state(&RunConfig::default().thread_id(&thread_id), false).await? {
        let values = state["values"].clone();
        shared.records.update_thread(&thread_id, |thread| thread.values = values).await?;
    }
    Ok(Json(json!({"checkpoint": {"thread_id": thread_id, "checkpoint_ns": "",
                                  "checkpoint_id": checkpoint_id}})))
}

/// The query of `GET /threads/{thread_id}/history`, and the body of its `POST`.
#[derive(Deserialize)]
pub(super) struct HistoryQuery {
    #[serde(default = "ten")]
    limit: usize,
    #[serde(default)]
    before: Option<Value>,
}

/// `GET /threads/{thread_id}/history`: the thread's checkpoints, newest first.
pub(super) async fn history(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    Path(thread_id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    read_history(&shared, &owner, &thread_id, query).await.map(Json)
}

/// `POST /threads/{thread_id}/history`: as the `GET`, with the options in the body.
pub(super) async fn history_post(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    Path(thread_id): Path<String>,
    RawBody(bytes): RawBody,
) -> Result<Json<Vec<Value>>, ApiError> {
    read_history(&shared, &owner, &thread_id, body(&bytes)?).await.map(Json)
}

async fn read_history(
    shared: &Shared,
    owner: &Owner,
    thread_id: &str,
    query: HistoryQuery,
) -> Result<Vec<Value>, ApiError> {
    let thread = shared.records.thread(thread_id, owner.key()).await?;
    let Some(graph) = shared.thread_graph(&thread) else { return Ok(Vec::new()) };
    let history = graph.history(&RunConfig::default().thread_id(thread_id)).await?;
    // `before` is a checkpoint id, a checkpoint, or a config naming one.
    let before = query.before.as_ref().and_then(|before| {
        before
            .as_str()
            .or_else(|| before.get("checkpoint_id")?.as_str())
            .or_else(|| before.pointer("/configurable/checkpoint_id")?.as_str())
    });
    let skip = match before {
        Some(id) => {
            let at = history.iter().position(|state| state["checkpoint"]["checkpoint_id"] == id);
            at.map_or(history.len(), |at| at + 1)
        }
        None => 0,
    };
    Ok(history.into_iter().skip(skip).take(query.limit).collect())
}
