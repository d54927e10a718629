//! Errors of the HTTP API: each a status code and a JSON body `{"detail": ...}`, the shape the
//! LangGraph Platform API and its clients use; and the mistakes of a server's configuration,
//! found when its router is built.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use graph_core::checkpoint::CheckpointError;
use graph_core::store::StoreError;
use graph_core::GraphError;
use serde_json::json;

/// A request the server refused or could not serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A field of the request is missing or malformed (422).
    #[error("invalid `{field}`: {message}")]
    Invalid {
        /// The field at fault, as a path such as `command.update`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// No such assistant, thread, run or item, or one that belongs to another owner (404).
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// What was looked for: `assistant`, `thread`, `run`, `checkpoint` or `item`.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The thread is running another run and the request asked not to wait (409).
    #[error("thread `{thread_id}` is busy with run `{run_id}`")]
    Busy {
        /// The thread.
        thread_id: String,
        /// The run in progress.
        run_id: String,
    },
    /// The thread exists and the request asked to create it (409).
    #[error("thread `{0}` already exists")]
    Exists(String),
    /// The request's body is over the server's limit (413).
    #[error("the request body is over the server's limit")]
    TooLarge,
    /// No API key, or one the server does not know (401).
    #[error("missing or unknown API key")]
    Unauthorized,
    /// The graph refused the request or failed (a state that does not decode, an unknown node).
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The server's records of threads and runs could not be read or written (500).
    #[error("the server's records failed: {0}")]
    Storage(String),
    /// The store refused the request or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A server configured so that it cannot serve, found by
/// [`Server::try_router`](crate::Server::try_router).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A graph runs its steps on a task queue, whose workers read each step's checkpoint with
    /// the queue's own checkpointer, and the server keeps its checkpoints with another one.
    #[error(
        "graph `{graph}` runs its steps on task queue `{queue}`, whose workers read each step's \
         checkpoint from the queue's database, but the server keeps its checkpoints with \
         another checkpointer: give the server the queue's, `.checkpointer(queue.saver())` \
         (after `sqlite` or `postgres`, which set their own), and serve every graph on a queue \
         with that one `TaskQueue` or its clones"
    )]
    CheckpointerNotOnQueue {
        /// The graph on the queue.
        graph: String,
        /// The queue's name.
        queue: String,
    },
}

impl ApiError {
    /// A 422 naming `field`.
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid { field: field.to_owned(), message: message.into() }
    }

    /// A 404 for `kind` `id`.
    pub(crate) fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        ApiError::NotFound { kind, id: id.into() }
    }

    /// The status code the error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Busy { .. } | ApiError::Exists(_) => StatusCode::CONFLICT,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Graph(error) => graph_status(error),
            ApiError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Store(error) => match error {
                StoreError::InvalidNamespace { .. }
                | StoreError::InvalidKey { .. }
                | StoreError::InvalidFilter { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }
}

/// Errors a request causes are the client's (4xx); the rest are the server's.
fn graph_status(error: &GraphError) -> StatusCode {
    match error {
        GraphError::InvalidInput(_)
        | GraphError::InvalidUpdate { .. }
        | GraphError::UnknownNode { .. }
        | GraphError::InvalidResume(_)
        | GraphError::InvalidThreadId { .. }
        | GraphError::NothingToResume { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        GraphError::UnknownThread { .. } => StatusCode::NOT_FOUND,
        GraphError::Checkpoint(CheckpointError::NotFound { .. }) => StatusCode::NOT_FOUND,
        GraphError::Checkpoint(CheckpointError::ThreadInUse { .. }) => StatusCode::CONFLICT,
        GraphError::Checkpoint(
            CheckpointError::NonFiniteFloat { .. } | CheckpointError::NullInSome { .. },
        ) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Invalid { field, message } => {
                json!({"detail": self.to_string(), "field": field, "message": message})
            }
            _ => json!({"detail": self.to_string()}),
        };
        (status, Json(body)).into_response()
    }
}
