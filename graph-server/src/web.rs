//! The web view: a page at `/ui` that shows the graphs, threads and runs, starts and resumes
//! runs, and draws their timelines as they stream.
//!
//! The page and its scripts are compiled into the server; mermaid's script, which draws the
//! graphs, is too large for that and is read from a file named at run time. The page is
//! served to anyone: it holds no data, and the API calls it makes carry the key it asks for.

use std::path::PathBuf;

use axum::extract::Path;
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// The page's files: name under `/ui/`, content type, content.
const FILES: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../web/index.html")),
    ("style.css", "text/css; charset=utf-8", include_str!("../web/style.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../web/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_str!("../web/api.js")),
    ("dom.js", "text/javascript; charset=utf-8", include_str!("../web/dom.js")),
    ("sse.js", "text/javascript; charset=utf-8", include_str!("../web/sse.js")),
    ("timeline.js", "text/javascript; charset=utf-8", include_str!("../web/timeline.js")),
    ("graphs.js", "text/javascript; charset=utf-8", include_str!("../web/graphs.js")),
    ("threads.js", "text/javascript; charset=utf-8", include_str!("../web/threads.js")),
];

/// Only the page's own scripts run, and they talk only to this server; mermaid's drawings
/// carry inline styles.
const POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; \
                      img-src 'self' data:; object-src 'none'; base-uri 'none'";

/// The routes of the web view; `mermaid` is the path of mermaid's browser script, if any.
pub(crate) fn routes(mermaid: Option<PathBuf>) -> Router {
    Router::new()
        // Relative, so the page's relative links work wherever the router is nested.
        .route("/ui", get(|| async { Redirect::permanent("ui/") }))
        .route("/ui/", get(|| async { file("index.html") }))
        .route("/ui/mermaid.min.js", get(move || mermaid_script(mermaid.clone())))
        .route("/ui/{name}", get(|Path(name): Path<String>| async move { file(&name) }))
}

/// One of the page's files, or 404.
fn file(name: &str) -> Response {
    match FILES.iter().find(|(file, _, _)| *file == name) {
        Some((_, content_type, body)) => (headers(content_type), *body).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The headers of every file: its type, no sniffing, no caching (the files change with the
/// server) and the content policy.
fn headers(content_type: &str) -> [(HeaderName, String); 4] {
    [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::CACHE_CONTROL, "no-cache".to_owned()),
        (header::CONTENT_SECURITY_POLICY, POLICY.to_owned()),
    ]
}

/// Mermaid's script, read from its file on each request (so one fetched after the server
/// started is served too), or 404 when there is none: the page then lists nodes and edges.
async fn mermaid_script(path: Option<PathBuf>) -> Response {
    let Some(path) = path else { return StatusCode::NOT_FOUND.into_response() };
    match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
        Ok(Ok(bytes)) => (headers("text/javascript; charset=utf-8"), bytes).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
