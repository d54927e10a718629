//! The store's items: put, get, delete, search, and list namespaces.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use graph_core::store::{Filter, Item, ListNamespaces, Namespace, SearchQuery};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{body, Page, Query, RawBody};
use crate::error::ApiError;
use crate::records::rfc3339;
use crate::server::Shared;

/// An item as the API shows it.
fn item_json(item: &Item) -> Value {
    json!({
        "namespace": item.namespace.labels(),
        "key": item.key,
        "value": item.value,
        "created_at": rfc3339(item.created_at),
        "updated_at": rfc3339(item.updated_at),
    })
}

/// The body of `PUT /store/items`.
#[derive(Deserialize)]
struct Put {
    namespace: Vec<String>,
    key: String,
    value: Value,
    /// Minutes until the item expires.
    #[serde(default)]
    ttl: Option<f64>,
}

/// `PUT /store/items`: stores a value.
pub(super) async fn put_item(
    State(shared): State<Arc<Shared>>,
    RawBody(bytes): RawBody,
) -> Result<StatusCode, ApiError> {
    let Put { namespace, key, value, ttl } = body(&bytes)?;
    if !value.is_object() {
        return Err(ApiError::invalid("value", "must be a JSON object"));
    }
    let ttl = match ttl {
        None => None,
        Some(minutes) if minutes.is_finite() && minutes > 0.0 => {
            Some(Duration::from_secs_f64((minutes * 60.0).min(1e12)))
        }
        Some(_) => return Err(ApiError::invalid("ttl", "must be a positive number of minutes")),
    };
    shared.store.put(&Namespace::new(namespace)?, &key, value, ttl).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The query of `GET /store/items`: the namespace with its labels joined by dots.
#[derive(Deserialize)]
pub(super) struct GetQuery {
    key: String,
    #[serde(default)]
    namespace: Option<String>,
}

/// `GET /store/items`: one item, or `null`.
pub(super) async fn get_item(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<GetQuery>,
) -> Result<Json<Value>, ApiError> {
    let labels: Vec<&str> =
        query.namespace.as_deref().map_or(Vec::new(), |n| n.split('.').collect());
    let namespace = Namespace::new(labels)?;
    // A missing item is `null`, not an error, as the clients expect.
    let item = shared.store.get(&namespace, &query.key).await?;
    Ok(Json(item.as_ref().map_or(Value::Null, item_json)))
}

/// The body of `DELETE /store/items`.
#[derive(Deserialize)]
struct Delete {
    namespace: Vec<String>,
    key: String,
}

/// `DELETE /store/items`: deletes an item; deleting nothing is not an error.
pub(super) async fn delete_item(
    State(shared): State<Arc<Shared>>,
    RawBody(bytes): RawBody,
) -> Result<StatusCode, ApiError> {
    let Delete { namespace, key } = body(&bytes)?;
    shared.store.delete(&Namespace::new(namespace)?, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `POST /store/items/search`.
#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    namespace_prefix: Vec<String>,
    #[serde(default)]
    filter: Option<Value>,
    #[serde(default)]
    query: Option<String>,
    #[serde(flatten)]
    page: Page,
}

/// `POST /store/items/search`: the items under a prefix matching a filter, newest first.
pub(super) async fn search(
    State(shared): State<Arc<Shared>>,
    RawBody(bytes): RawBody,
) -> Result<Json<Value>, ApiError> {
    let Search { namespace_prefix, filter, query, page } = body(&bytes)?;
    if query.is_some() {
        return Err(ApiError::invalid("query", "semantic search is not supported by this store"));
    }
    let mut search = SearchQuery::new().limit(page.limit).offset(page.offset);
    if let Some(filter) = filter.filter(|f| !f.is_null()) {
        search = search.filter(Filter::from_json(&filter)?);
    }
    let items = shared.store.search(&Namespace::new(namespace_prefix)?, &search).await?;
    Ok(Json(json!({"items": items.iter().map(item_json).collect::<Vec<_>>()})))
}

/// The body of `POST /store/namespaces`.
#[derive(Deserialize)]
struct Namespaces {
    #[serde(default)]
    prefix: Option<Vec<String>>,
    #[serde(default)]
    suffix: Option<Vec<String>>,
    #[serde(default)]
    max_depth: Option<usize>,
    #[serde(default = "hundred")]
    limit: usize,
    #[serde(default)]
    offset: usize,
}

fn hundred() -> usize {
    100
}

/// `POST /store/namespaces`: the namespaces holding items.
pub(super) async fn namespaces(
    State(shared): State<Arc<Shared>>,
    RawBody(bytes): RawBody,
) -> Result<Json<Value>, ApiError> {
    let Namespaces { prefix, suffix, max_depth, limit, offset } = body(&bytes)?;
    let mut query = ListNamespaces::new().limit(limit).offset(offset);
    if let Some(prefix) = prefix {
        query = query.prefix(Namespace::new(prefix)?);
    }
    if let Some(suffix) = suffix {
        query = query.suffix(Namespace::new(suffix)?);
    }
    if let Some(depth) = max_depth {
        query = query.max_depth(depth);
    }
    let found = shared.store.list_namespaces(&query).await?;
    let labels: Vec<&[String]> = found.iter().map(Namespace::labels).collect();
    Ok(Json(json!({"namespaces": labels})))
}
