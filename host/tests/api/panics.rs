//! A handler that panics answers 500 `INTERNAL` through the edge: the request id in the sentence,
//! nothing of the panic in the body.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const SECRET: &str = "db password is hunter2";

async fn boom() -> &'static str {
    panic!("{SECRET}")
}

async fn call_panicking_route(request_id: Option<&str>) -> (StatusCode, String, String) {
    let router = Router::new()
        .route("/boom", get(boom))
        .layer(axum::middleware::from_fn(wapi::http::edge));
    let mut request = Request::get("/boom");
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
    }
    let response = router
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .expect("the edge answers");
    let status = response.status();
    let id = response
        .headers()
        .get("x-request-id")
        .expect("X-Request-Id")
        .to_str()
        .unwrap()
        .to_string();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, id, String::from_utf8(body.to_vec()).expect("UTF-8 body"))
}

fn assert_internal_without_leaks(status: StatusCode, id: &str, body: &str) {
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let envelope: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    assert_eq!(envelope["success"], false);
    assert_eq!(envelope["code"], "INTERNAL");
    let sentence = envelope["error"].as_str().expect("error sentence");
    assert!(
        sentence.contains(id),
        "the sentence {sentence:?} does not quote the request id {id}"
    );
    for leak in [SECRET, "hunter2", "panicked", "boom", ".rs"] {
        assert!(!body.contains(leak), "the body leaks {leak:?}: {body}");
    }
}

#[tokio::test]
async fn panics_become_500_internal_with_the_request_id() {
    let (status, id, body) = call_panicking_route(None).await;
    assert!(!id.is_empty());
    assert_internal_without_leaks(status, &id, &body);
}

#[tokio::test]
async fn a_client_request_id_is_quoted_in_the_500() {
    let (status, id, body) = call_panicking_route(Some("support-ticket-9")).await;
    assert_eq!(id, "support-ticket-9");
    assert_internal_without_leaks(status, &id, &body);
}
