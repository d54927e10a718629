//! The web view's routes: the page and its files, mermaid's script from its file, and no key
//! needed for them where the API needs one.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use graph_core::prelude::*;
use graph_server::Server;
use http_body_util::BodyExt;
use tower::ServiceExt;

#[derive(State, Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Count {
    n: u64,
}

fn server() -> Server {
    let graph = StateGraph::<Count>::new()
        .add_node("one", |_: Arc<Count>| async { Count::update().n(1) })
        .add_edge(START, "one")
        .compile()
        .unwrap();
    Server::new().graph("count", graph)
}

/// A GET without a key: the status, the content type (empty when none) and the body.
async fn get(app: &Router, uri: &str) -> (StatusCode, String, String) {
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let location = response.headers().get(header::LOCATION).cloned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = match location {
        Some(location) => location.to_str().unwrap().to_owned(),
        None => String::from_utf8(bytes.to_vec()).unwrap(),
    };
    (status, content_type, body)
}

#[tokio::test]
async fn ui_redirects_to_the_page_relatively_so_it_works_when_nested() {
    let app = server().router();
    let (status, _, location) = get(&app, "/ui").await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(location, "ui/");

    let nested = Router::new().nest("/agents", server().router());
    let (status, _, location) = get(&nested, "/agents/ui").await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(location, "ui/");
    let (status, content_type, _) = get(&nested, "/agents/ui/").await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "text/html; charset=utf-8"));
}

#[tokio::test]
async fn the_page_and_its_files_are_served_with_their_types() {
    let app = server().router();
    let (status, content_type, page) = get(&app, "/ui/").await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "text/html; charset=utf-8"));
    assert!(page.contains(r#"<script type="module" src="app.js"></script>"#));
    for (file, content_type) in [
        ("style.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("dom.js", "text/javascript; charset=utf-8"),
        ("sse.js", "text/javascript; charset=utf-8"),
        ("timeline.js", "text/javascript; charset=utf-8"),
        ("graphs.js", "text/javascript; charset=utf-8"),
        ("threads.js", "text/javascript; charset=utf-8"),
    ] {
        let (status, served_type, body) = get(&app, &format!("/ui/{file}")).await;
        assert_eq!((status, served_type.as_str()), (StatusCode::OK, content_type), "{file}");
        assert!(!body.is_empty(), "{file}");
    }
    assert_eq!(get(&app, "/ui/missing.js").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/ui/..%2Fsrc%2Flib.rs").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_file_carries_the_content_policy() {
    let app = server().router();
    let request = Request::get("/ui/app.js").body(Body::empty()).unwrap();
    let response = app.oneshot(request).await.unwrap();
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'"
    );
}

#[tokio::test]
async fn mermaid_is_served_from_its_file_and_missing_without_one() {
    assert_eq!(get(&server().router(), "/ui/mermaid.min.js").await.0, StatusCode::NOT_FOUND);

    let dir = std::env::temp_dir().join(format!("graph-server-web-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mermaid.min.js");
    let app = server().mermaid_script(&path).router();
    // Named but not there yet: 404, then served once it is, without a restart.
    assert_eq!(get(&app, "/ui/mermaid.min.js").await.0, StatusCode::NOT_FOUND);
    std::fs::write(&path, "window.mermaid = {};").unwrap();
    let served = get(&app, "/ui/mermaid.min.js").await;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        served,
        (
            StatusCode::OK,
            "text/javascript; charset=utf-8".to_owned(),
            "window.mermaid = {};".to_owned()
        )
    );
}

#[tokio::test]
async fn the_page_needs_no_key_while_the_api_still_does() {
    let app = server().api_key("secret").router();
    assert_eq!(get(&app, "/ui/").await.0, StatusCode::OK);
    assert_eq!(get(&app, "/ui/app.js").await.0, StatusCode::OK);
    assert_eq!(get(&app, "/ok").await.0, StatusCode::UNAUTHORIZED);
    let (status, _, body) = get(&app, "/threads/t/state").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::UNAUTHORIZED, r#"{"detail":"missing or unknown API key"}"#)
    );
}
