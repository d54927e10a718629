//! Runs of a thread: start one in the background, stream it, wait for it, join it later,
//! cancel it.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::{Extension, Json};
use futures::{Stream, StreamExt};
use graph_core::{CancellationToken, RunConfig};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{body, choice, Page, Path, Query, RawBody};
use crate::error::ApiError;
use crate::log::RunLog;
use crate::modes::Modes;
use crate::records::{now, Run, RunStatus, Thread, ThreadStatus};
use crate::runner::{Handle, Launch, Multitask};
use crate::served::{Events, RunInput, ServedGraph};
use crate::server::{Owner, Shared};

/// The body that starts a run.
#[derive(Deserialize)]
pub(super) struct Request {
    pub assistant_id: String,
    #[serde(default)]
    pub input: Option<Value>,
    #[serde(default)]
    pub command: Option<Value>,
    #[serde(default)]
    stream_mode: Option<Value>,
    #[serde(default)]
    stream_subgraphs: bool,
    #[serde(default)]
    metadata: Map<String, Value>,
    #[serde(default)]
    pub config: Option<Value>,
    #[serde(default)]
    pub checkpoint_id: Option<String>,
    #[serde(default)]
    pub checkpoint: Option<Value>,
    #[serde(default)]
    multitask_strategy: Option<String>,
    #[serde(default)]
    if_not_exists: Option<String>,
    #[serde(default)]
    on_disconnect: Option<String>,
    #[serde(default)]
    on_completion: Option<String>,
    #[serde(default)]
    interrupt_before: Option<Value>,
    #[serde(default)]
    interrupt_after: Option<Value>,
}

/// A run just started, and whether it should be cancelled when its client goes away.
struct Started {
    run: Run,
    handle: Handle,
    cancel_on_disconnect: bool,
}

/// Where a run goes: a thread named in the path, or a new thread of its own.
#[derive(Clone, Copy)]
enum On<'a> {
    Thread(&'a str),
    /// A thread made for the run, deleted when it ends unless `on_completion` is `keep`.
    Temporary,
}

/// Checks a run request and starts it in the background.
async fn start(
    shared: &Arc<Shared>,
    owner: &Owner,
    on: On<'_>,
    bytes: &Bytes,
) -> Result<Started, ApiError> {
    let mut request: Request = body(bytes)?;
    let temporary_id;
    let thread_id = match on {
        On::Thread(thread_id) => thread_id,
        On::Temporary => {
            if request.command.as_ref().is_some_and(|c| c.get("resume").is_some()) {
                return Err(ApiError::invalid("command.resume", "resuming needs a thread"));
            }
            request.if_not_exists = Some("create".into());
            temporary_id = uuid::Uuid::new_v4().to_string();
            &temporary_id
        }
    };
    let keep = choice(
        "on_completion",
        request.on_completion.as_deref(),
        &[("delete", false), ("keep", true)],
    )?;
    let kwargs: Value = serde_json::from_slice(bytes).unwrap_or_default();
    for (field, value) in [
        ("interrupt_before", &request.interrupt_before),
        ("interrupt_after", &request.interrupt_after),
    ] {
        if value
            .as_ref()
            .is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|v| !v.is_empty()))
        {
            return Err(ApiError::invalid(
                field,
                "not supported per run: compile the graph with it instead",
            ));
        }
    }
    let cancel_on_disconnect = choice(
        "on_disconnect",
        request.on_disconnect.as_deref(),
        &[("continue", false), ("cancel", true)],
    )?;
    let multitask =
        choice("multitask_strategy", request.multitask_strategy.as_deref(), &Multitask::NAMES)?;
    let assistant = shared.assistant(&request.assistant_id)?;
    let thread = find_or_create(shared, owner, thread_id, request.if_not_exists.as_deref()).await?;
    if let Some(graph_id) = thread.metadata.get("graph_id").and_then(Value::as_str) {
        if graph_id != assistant.graph_id {
            return Err(ApiError::invalid(
                "assistant_id",
                format!(
                    "thread `{thread_id}` runs the graph `{graph_id}`, not `{}`",
                    assistant.graph_id
                ),
            ));
        }
    }
    let Prepared { modes, cancel, events } = prepare(&*assistant.graph, thread_id, &request)?;
    let now = now();
    let run = Run {
        run_id: uuid::Uuid::now_v7().to_string(),
        thread_id: thread_id.to_owned(),
        assistant_id: assistant.assistant_id.clone(),
        created_at: now.clone(),
        updated_at: now,
        status: RunStatus::Pending,
        metadata: request.metadata,
        kwargs,
        multitask_strategy: multitask.name().to_owned(),
        started_at: None,
    };
    if !thread.metadata.contains_key("graph_id") {
        // The thread's first run names its graph, which its state belongs to from now on.
        let (graph_id, assistant_id) = (assistant.graph_id.clone(), assistant.assistant_id.clone());
        let named = shared.records.update_thread(thread_id, |thread| {
            thread.metadata.insert("graph_id".into(), Value::String(graph_id));
            thread.metadata.insert("assistant_id".into(), Value::String(assistant_id));
        });
        named.await?;
    }
    let launch = Launch { run: run.clone(), events, modes, cancel, multitask };
    let handle = shared.launch(launch).await?;
    if matches!(on, On::Temporary) && !keep {
        let (shared, handle, thread_id) = (shared.clone(), handle.clone(), thread_id.to_owned());
        tokio::spawn(async move {
            handle.wait().await;
            // A thread nobody can name again: nothing to report a failure to.
            let _ = super::threads::remove(&shared, &thread_id).await;
        });
    }
    Ok(Started { run, handle, cancel_on_disconnect })
}

/// A run's events, its stream modes and how to cancel it, as its request asks.
pub(super) struct Prepared {
    pub modes: Modes,
    pub cancel: CancellationToken,
    pub events: Events,
}

/// Starts `graph`'s events on `thread_id` as `request` asks: its input or command, stream
/// modes, checkpoint to start from and recursion limit. Nothing runs until they are polled.
pub(super) fn prepare(
    graph: &dyn ServedGraph,
    thread_id: &str,
    request: &Request,
) -> Result<Prepared, ApiError> {
    let modes = Modes::parse(request.stream_mode.as_ref(), request.stream_subgraphs)?;
    let cancel = CancellationToken::new();
    let mut config = RunConfig::default().thread_id(thread_id).cancellation_token(cancel.clone());
    for mode in modes.graph_modes() {
        config = config.stream_mode(mode);
    }
    let checkpoint_id = request
        .checkpoint_id
        .clone()
        .or_else(|| checkpoint_of(request.checkpoint.as_ref()))
        .or_else(|| checkpoint_of(request.config.as_ref().and_then(|c| c.get("configurable"))));
    if let Some(id) = checkpoint_id {
        config = config.checkpoint_id(id);
    }
    if let Some(limit) = request.config.as_ref().and_then(|c| c.get("recursion_limit")) {
        let limit = limit.as_u64().filter(|&l| l > 0).ok_or_else(|| {
            ApiError::invalid("config.recursion_limit", "must be a positive integer")
        })?;
        config = config.recursion_limit(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    let input = RunInput { input: request.input.clone(), command: request.command.clone() };
    let events = graph.run(input, config)?;
    Ok(Prepared { modes, cancel, events })
}

/// The checkpoint id in `{"checkpoint_id": ...}`.
fn checkpoint_of(value: Option<&Value>) -> Option<String> {
    value?.get("checkpoint_id")?.as_str().map(str::to_owned)
}

/// The thread, created first when `if_not_exists` is `create`.
async fn find_or_create(
    shared: &Shared,
    owner: &Owner,
    thread_id: &str,
    if_not_exists: Option<&str>,
) -> Result<Thread, ApiError> {
    match shared.records.thread(thread_id, owner.key()).await {
        Err(ApiError::NotFound { .. }) if if_not_exists == Some("create") => {
            let now = now();
            let thread = Thread {
                thread_id: thread_id.to_owned(),
                created_at: now.clone(),
                updated_at: now,
                metadata: Map::new(),
                status: ThreadStatus::Idle,
                values: Value::Null,
                interrupts: Map::new(),
                error: None,
                owner: owner.0.clone(),
            };
            shared.records.insert_thread(thread).await
        }
        found => found,
    }
}

/// The thread a run route names, or a temporary one on the routes without a thread.
fn target(thread_id: &Option<Path<String>>) -> On<'_> {
    thread_id.as_ref().map_or(On::Temporary, |Path(id)| On::Thread(id))
}

/// `POST /threads/{thread_id}/runs` (or `/runs`, on a thread of its own): starts a run in the
/// background.
pub(super) async fn create(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    thread_id: Option<Path<String>>,
    RawBody(bytes): RawBody,
) -> Result<(AppendHeaders<[(HeaderName, String); 2]>, Json<Value>), ApiError> {
    let run = start(&shared, &owner, target(&thread_id), &bytes).await?.run;
    Ok((locations(&run, ""), Json(run.shown())))
}

/// `Location` (where to rejoin: the run's URL and `tail`) and `Content-Location` (the run),
/// which the clients read to reconnect.
fn locations(run: &Run, tail: &str) -> AppendHeaders<[(HeaderName, String); 2]> {
    let url = format!("/threads/{}/runs/{}", run.thread_id, run.run_id);
    AppendHeaders([(header::LOCATION, format!("{url}{tail}")), (header::CONTENT_LOCATION, url)])
}

/// `POST /threads/{thread_id}/runs/stream` (or `/runs/stream`): starts a run and streams its
/// events.
pub(super) async fn stream(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    thread_id: Option<Path<String>>,
    RawBody(bytes): RawBody,
) -> Result<
    (AppendHeaders<[(HeaderName, String); 2]>, Sse<impl Stream<Item = Result<Event, Infallible>>>),
    ApiError,
> {
    let Started { run, handle, cancel_on_disconnect } =
        start(&shared, &owner, target(&thread_id), &bytes).await?;
    let guard = CancelOnDrop(cancel_on_disconnect.then(|| handle.cancel.clone()));
    Ok((locations(&run, "/stream"), sse(handle.log, None, guard)))
}

/// `POST /threads/{thread_id}/runs/wait` (or `/runs/wait`): starts a run and answers with its
/// result: the final state, the state with `__interrupt__` where it paused, or `__error__`
/// where it failed.
pub(super) async fn wait(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    thread_id: Option<Path<String>>,
    RawBody(bytes): RawBody,
) -> Result<(AppendHeaders<[(HeaderName, String); 2]>, Json<Value>), ApiError> {
    let Started { run, handle, cancel_on_disconnect } =
        start(&shared, &owner, target(&thread_id), &bytes).await?;
    let mut guard = CancelOnDrop(cancel_on_disconnect.then(|| handle.cancel.clone()));
    let result = handle.wait().await;
    guard.0 = None;
    Ok((locations(&run, "/join"), Json((*result).clone())))
}

/// Cancels a run when the client that started it goes away (its request is dropped); holds
/// `None` when the run should go on.
struct CancelOnDrop(Option<CancellationToken>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = &self.0 {
            token.cancel();
        }
    }
}

/// The events of a run's log after `after`, as server-sent events with ids.
fn sse(
    log: Arc<RunLog>,
    after: Option<u64>,
    guard: CancelOnDrop,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = log.follow(after).map(move |event| {
        // The guard lives as long as the stream: a client that goes away drops it.
        let _ = &guard;
        let data = serde_json::to_string(&*event.data).unwrap_or_default();
        Ok(Event::default().id(event.id.to_string()).event(&*event.event).data(data))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// The run of thread `thread_id`, if the caller may see the thread.
async fn run_of(
    shared: &Shared,
    owner: &Owner,
    thread_id: &str,
    run_id: &str,
) -> Result<Run, ApiError> {
    shared.records.thread(thread_id, owner.key()).await?;
    shared.records.run(thread_id, run_id).await
}

/// `GET /threads/{thread_id}/runs`: the thread's runs, newest first.
pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    Path(thread_id): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<Value>>, ApiError> {
    shared.records.thread(&thread_id, owner.key()).await?;
    let runs = shared.records.runs(&thread_id).await?;
    Ok(Json(page.of(runs.iter().map(Run::shown))))
}

/// `GET /threads/{thread_id}/runs/{run_id}`.
pub(super) async fn get(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    Path((thread_id, run_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(run_of(&shared, &owner, &thread_id, &run_id).await?.shown()))
}

/// `GET /threads/{thread_id}/runs/{run_id}/join`: waits for the run; answers as `wait` does.
pub(super) async fn join(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    Path((thread_id, run_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    run_of(&shared, &owner, &thread_id, &run_id).await?;
    match shared.handle(&run_id).await? {
        Some(handle) => Ok(Json((*handle.wait().await).clone())),
        // Long finished: what the thread holds now.
        None => Ok(Json(shared.records.thread(&thread_id, owner.key()).await?.values)),
    }
}

/// The query of `GET /threads/{thread_id}/runs/{run_id}/stream`.
#[derive(Deserialize)]
pub(super) struct JoinQuery {
    #[serde(default)]
    cancel_on_disconnect: bool,
}

/// `GET /threads/{thread_id}/runs/{run_id}/stream`: follows a run's events; with a
/// `Last-Event-ID` header, from the event after that one.
pub(super) async fn join_stream(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    Path((thread_id, run_id)): Path<(String, String)>,
    Query(query): Query<JoinQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    run_of(&shared, &owner, &thread_id, &run_id).await?;
    let after = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|id| id.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::invalid("Last-Event-ID", "must be an event id"))?,
        ),
    };
    let log = match shared.handle(&run_id).await? {
        Some(handle) => {
            let guard = CancelOnDrop(query.cancel_on_disconnect.then(|| handle.cancel.clone()));
            return Ok(sse(handle.log, after, guard));
        }
        None => {
            // Its events are gone: an empty stream, over at once.
            let log = RunLog::default();
            log.close();
            Arc::new(log)
        }
    };
    Ok(sse(log, after, CancelOnDrop(None)))
}

/// The query of `POST /threads/{thread_id}/runs/{run_id}/cancel`.
#[derive(Deserialize)]
pub(super) struct CancelQuery {
    #[serde(default, deserialize_with = "flag")]
    wait: bool,
    #[serde(default)]
    action: Option<String>,
}

/// A query flag: `true`, `1` or `yes` (any case) is true.
fn flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    let text = String::deserialize(deserializer)?;
    Ok(["true", "1", "yes"].iter().any(|yes| text.eq_ignore_ascii_case(yes)))
}

/// `POST /threads/{thread_id}/runs/{run_id}/cancel`: stops a run that has not ended (404 for
/// one that has). Its checkpoints stay; with `action=rollback` the run is undone: its
/// checkpoints and its record are deleted, and its thread is as it was before the run.
/// Answers 202 at once, or with `wait=true` 200 and the run's result once it has stopped.
pub(super) async fn cancel(
    State(shared): State<Arc<Shared>>,
    Extension(owner): Extension<Owner>,
    Path((thread_id, run_id)): Path<(String, String)>,
    Query(query): Query<CancelQuery>,
) -> Result<Response, ApiError> {
    let rollback =
        choice("action", query.action.as_deref(), &[("interrupt", false), ("rollback", true)])?;
    let run = run_of(&shared, &owner, &thread_id, &run_id).await?;
    let in_progress = run.status.unfinished();
    let handle = shared
        .handle(&run_id)
        .await?
        .filter(|handle| in_progress && handle.ended.borrow().is_none())
        .ok_or_else(|| ApiError::not_found("run in progress", &run_id))?;
    handle.stop(rollback);
    let result = if query.wait || rollback { Some(handle.wait().await) } else { None };
    Ok(match result.filter(|_| query.wait) {
        Some(result) => Json((*result).clone()).into_response(),
        None => StatusCode::ACCEPTED.into_response(),
    })
}
