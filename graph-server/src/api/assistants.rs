//! Assistants: one per registered graph.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{body, Page, Path, RawBody};
use crate::error::ApiError;
use crate::server::{Assistant, Shared};

/// An assistant as the API shows it.
fn assistant_json(assistant: &Assistant) -> Value {
    json!({
        "assistant_id": assistant.assistant_id,
        "graph_id": assistant.graph_id,
        "name": assistant.graph_id,
        "description": null,
        "config": {},
        "context": {},
        "metadata": {"created_by": "system"},
        "version": 1,
        "created_at": assistant.created_at,
        "updated_at": assistant.created_at,
    })
}

/// The body of `POST /assistants/search`.
#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    graph_id: Option<String>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
    #[serde(flatten)]
    page: Page,
}

/// `POST /assistants/search`: the assistants matching a graph id and metadata.
pub(super) async fn search(
    State(shared): State<Arc<Shared>>,
    RawBody(bytes): RawBody,
) -> Result<Json<Vec<Value>>, ApiError> {
    let search: Search = body(&bytes)?;
    Ok(Json(search.page.of(matching(&shared, &search))))
}

/// `POST /assistants/count`: how many assistants match, as `search` would find them without
/// a limit.
pub(super) async fn count(
    State(shared): State<Arc<Shared>>,
    RawBody(bytes): RawBody,
) -> Result<Json<usize>, ApiError> {
    Ok(Json(matching(&shared, &body(&bytes)?).len()))
}

/// The assistants `search` selects, as JSON, in graph-name order.
fn matching(shared: &Shared, search: &Search) -> Vec<Value> {
    let Search { graph_id, metadata, .. } = search;
    shared
        .assistants
        .iter()
        .filter(|a| graph_id.as_ref().is_none_or(|id| *id == a.graph_id))
        .map(assistant_json)
        .filter(|a| metadata.as_ref().is_none_or(|m| contains(&a["metadata"], m)))
        .collect()
}

/// Whether `value` has every field of `wanted` with the same value.
pub(super) fn contains(value: &Value, wanted: &Map<String, Value>) -> bool {
    wanted.iter().all(|(key, wanted)| value.get(key) == Some(wanted))
}

/// `GET /assistants/{assistant_id}`.
pub(super) async fn get(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(assistant_json(shared.assistant(&id)?)))
}

/// `GET /assistants/{assistant_id}/graph`: the graph's nodes and edges, plus its Mermaid
/// drawing.
pub(super) async fn graph(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let graph = &shared.assistant(&id)?.graph;
    let mut drawing = graph.drawing();
    drawing["mermaid"] = Value::String(graph.mermaid());
    Ok(Json(drawing))
}

/// `GET /assistants/{assistant_id}/schemas`: the graph's schemas. A graph served with its
/// state's JSON Schema (`Server::graph_with_schema`) has it as its state and output schemas,
/// and with no field required as its input schema; the others are `null`, which the clients
/// accept.
pub(super) async fn schemas(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let assistant = shared.assistant(&id)?;
    let state = assistant.state_schema.clone().unwrap_or(Value::Null);
    let mut input = state.clone();
    if let Value::Object(fields) = &mut input {
        fields.remove("required");
    }
    Ok(Json(json!({"graph_id": assistant.graph_id, "input_schema": input, "output_schema": state,
                   "state_schema": state, "config_schema": null, "context_schema": null})))
}
