//! The HTTP surface's edges: unknown routes and wrong methods answer with the envelope, every
//! `/api` route refuses a request without a key, and the OpenAPI document needs none.

use reqwest::Method;

use crate::{Gateway, Setup};

#[tokio::test]
async fn unknown_routes_wrong_methods_and_missing_keys_answer_with_the_envelope() {
    let gw = Gateway::start(Setup::new()).await;
    gw.get("/api/no-such-thing").send().await.expect_error(404, "NOT_FOUND");
    let wrong = gw
        .admin(Method::PUT, "/api/messages")
        .send()
        .await
        .expect_error(405, "METHOD_NOT_ALLOWED");
    let allow = wrong.header("allow").to_ascii_uppercase();
    assert!(allow.contains("GET") && allow.contains("POST"), "Allow: {allow}");

    let routes = [
        (Method::GET, "/api/status"),
        (Method::POST, "/api/messages"),
        (Method::GET, "/api/messages"),
        (Method::POST, "/api/messages/media"),
        (Method::POST, "/api/messages/batch"),
        (Method::GET, "/api/messages/1"),
        (Method::DELETE, "/api/messages/1"),
        (Method::POST, "/api/numbers/check"),
        (Method::GET, "/api/session/qr"),
        (Method::POST, "/api/session/pair"),
        (Method::POST, "/api/session/logout"),
        (Method::GET, "/api/keys"),
        (Method::POST, "/api/keys"),
        (Method::DELETE, "/api/keys/AAAAAAAA"),
        (Method::POST, "/api/simulator"),
    ];
    for (method, path) in routes {
        let refused = gw.call(method.clone(), path).send().await;
        assert_eq!(
            (refused.status.as_u16(), refused.body["code"].as_str()),
            (401, Some("UNAUTHORIZED")),
            "{method} {path}: {}",
            refused.body
        );
    }
    let openapi = gw.call(Method::GET, "/api/openapi.json").raw().await;
    assert_eq!(openapi.status(), 200);
    let doc: serde_json::Value = openapi.json().await.expect("JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")),
        "OpenAPI 3.1: {}",
        doc["openapi"]
    );
}
