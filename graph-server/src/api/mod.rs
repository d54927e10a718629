//! The HTTP routes, one module per resource.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::server::Shared;

#[cfg(feature = "postgres")]
pub(crate) use recover::again;
pub(crate) use recover::recover;

mod assistants;
mod recover;
mod runs;
mod store;
mod threads;

/// Every route of the API.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/ok", get(|| async { axum::Json(serde_json::json!({"ok": true})) }))
        .route("/assistants/search", post(assistants::search))
        .route("/assistants/count", post(assistants::count))
        .route("/assistants/{assistant_id}", get(assistants::get))
        .route("/assistants/{assistant_id}/graph", get(assistants::graph))
        .route("/assistants/{assistant_id}/schemas", get(assistants::schemas))
        .route("/threads", post(threads::create))
        .route("/threads/search", post(threads::search))
        .route("/threads/count", post(threads::count))
        .route(
            "/threads/{thread_id}",
            get(threads::get).delete(threads::delete).patch(threads::patch),
        )
        .route("/threads/{thread_id}/copy", post(threads::copy))
        .route("/threads/{thread_id}/state", get(threads::state).post(threads::update_state))
        .route("/threads/{thread_id}/state/{checkpoint_id}", get(threads::state_at))
        .route("/threads/{thread_id}/history", get(threads::history).post(threads::history_post))
        .route("/runs", post(runs::create))
        .route("/runs/stream", post(runs::stream))
        .route("/runs/wait", post(runs::wait))
        .route("/threads/{thread_id}/runs", post(runs::create).get(runs::list))
        .route("/threads/{thread_id}/runs/stream", post(runs::stream))
        .route("/threads/{thread_id}/runs/wait", post(runs::wait))
        .route("/threads/{thread_id}/runs/{run_id}", get(runs::get))
        .route("/threads/{thread_id}/runs/{run_id}/join", get(runs::join))
        .route("/threads/{thread_id}/runs/{run_id}/stream", get(runs::join_stream))
        .route("/threads/{thread_id}/runs/{run_id}/cancel", post(runs::cancel))
        .route("/store/items", get(store::get_item).put(store::put_item).delete(store::delete_item))
        .route("/store/items/search", post(store::search))
        .route("/store/namespaces", post(store::namespaces))
}

/// `limit` (10 when absent) and `offset` of a listing.
#[derive(serde::Deserialize)]
pub(crate) struct Page {
    #[serde(default = "ten")]
    pub limit: usize,
    #[serde(default)]
    pub offset: usize,
}

impl Page {
    /// The page of `items`.
    pub fn of<T>(&self, items: impl IntoIterator<Item = T>) -> Vec<T> {
        items.into_iter().skip(self.offset).take(self.limit).collect()
    }
}

/// The default `limit` of a listing.
pub(crate) fn ten() -> usize {
    10
}

/// One of `options` by name, the first when `value` is absent; a 422 naming `field` and the
/// options otherwise.
pub(crate) fn choice<T: Copy>(
    field: &str,
    value: Option<&str>,
    options: &[(&str, T)],
) -> Result<T, ApiError> {
    let name = value.unwrap_or(options[0].0);
    match options.iter().find(|(option, _)| *option == name) {
        Some(&(_, chosen)) => Ok(chosen),
        None => {
            let names: Vec<&str> = options.iter().map(|(option, _)| *option).collect();
            Err(ApiError::invalid(
                field,
                format!("unknown value `{name}`; use {}", names.join(", ")),
            ))
        }
    }
}

/// The query string, decoded into `T`; a query that does not fit is a JSON 422.
pub(crate) struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let query = axum::extract::Query::<T>::from_request_parts(parts, state).await;
        query
            .map(|query| Query(query.0))
            .map_err(|rejection| ApiError::invalid("query", rejection.body_text()))
    }
}

/// The path's parameters, decoded into `T`; a path that does not decode is a JSON 422.
pub(crate) struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let path = axum::extract::Path::<T>::from_request_parts(parts, state).await;
        path.map(|path| Path(path.0))
            .map_err(|rejection| ApiError::invalid("path", rejection.body_text()))
    }
}

impl<T, S> axum::extract::OptionalFromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send + 'static,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, ApiError> {
        let path = <axum::extract::Path<T> as axum::extract::OptionalFromRequestParts<S>>::from_request_parts(parts, state).await;
        path.map(|path| path.map(|path| Path(path.0)))
            .map_err(|rejection| ApiError::invalid("path", rejection.body_text()))
    }
}

/// A request's body, refused with a JSON error when it is over the limit or unreadable.
pub(crate) struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(request, state).await.map(RawBody).map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge
            } else {
                ApiError::invalid("body", rejection.body_text())
            }
        })
    }
}

/// Decodes a JSON request body (an empty body reads as `{}`), naming what is wrong.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    serde_json::from_slice(bytes).map_err(|error| ApiError::invalid("body", error.to_string()))
}
