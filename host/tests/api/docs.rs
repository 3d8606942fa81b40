//! What needs no key: the OpenAPI 3.1 document of every route so far, Swagger UI served from the
//! binary, liveness and Prometheus metrics.

use reqwest::Method;
use serde_json::Value;

use crate::support::Gateway;

/// Every route of PRODUCT.md §2 implemented so far, with its methods.
const ROUTES: &[(&str, &[&str])] = &[
    ("/api/status", &["get"]),
    ("/api/messages", &["get", "post"]),
    ("/api/messages/media", &["post"]),
    ("/api/messages/batch", &["post"]),
    ("/api/messages/{id}", &["get", "delete"]),
    ("/api/numbers/check", &["post"]),
    ("/api/session/qr", &["get"]),
    ("/api/session/pair", &["post"]),
    ("/api/session/logout", &["post"]),
    ("/api/keys", &["get", "post"]),
    ("/api/keys/{id}", &["delete"]),
];

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let gw = Gateway::start(&[]).await;
    let response = gw.call(Method::GET, "/api/openapi.json").raw().await;
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.expect("JSON");
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1."), "openapi {version}");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["type"], "apiKey");
    assert_eq!(schemes["api_key"]["in"], "header");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(
        schemes["bearer"]["scheme"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("bearer")
    );
    for (path, methods) in ROUTES {
        for method in *methods {
            let operation = &doc["paths"][path][method];
            assert!(operation.is_object(), "{method} {path} is not documented");
            let security = operation["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path}: no security"));
            let names: Vec<&str> = security
                .iter()
                .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
                .collect();
            assert!(
                names.contains(&"api_key") && names.contains(&"bearer"),
                "{method} {path}: security {names:?}"
            );
            assert!(
                operation["responses"]["401"].is_object(),
                "{method} {path}: 401 not documented"
            );
        }
    }
    gw.stop().await;
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let gw = Gateway::start(&[]).await;
    let redirect = gw.call(Method::GET, "/docs").raw().await;
    assert!(redirect.status().is_redirection(), "/docs → {}", redirect.status());
    assert_eq!(redirect.headers()["location"], "/docs/");
    let page = gw.call(Method::GET, "/docs/").raw().await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.to_lowercase().contains("swagger"), "{html}");
    let scripts: Vec<&str> = html
        .split("src=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert!(!scripts.is_empty(), "no scripts in {html}");
    let mut bundle = false;
    for src in scripts {
        assert!(!src.starts_with("http"), "{src} is not served from the binary");
        let path = format!("/docs/{}", src.trim_start_matches("./"));
        let script = gw.call(Method::GET, &path).raw().await;
        assert_eq!(script.status(), 200, "{path}");
        assert!(
            script.headers()["content-type"]
                .to_str()
                .unwrap()
                .contains("javascript"),
            "{path}"
        );
        let body = script.text().await.unwrap();
        assert!(!body.is_empty(), "{path} is empty");
        bundle |= body.len() > 100_000;
    }
    assert!(bundle, "the Swagger UI bundle itself is not served");
    gw.stop().await;
}

#[tokio::test]
async fn health_and_metrics_need_no_key() {
    let gw = Gateway::start(&[]).await;
    let health = gw.call(Method::GET, "/healthz").send().await.expect(200);
    assert_eq!(health.data()["status"], "ok");
    let response = gw.call(Method::GET, "/metrics").raw().await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for metric in ["wapi_http_requests_total", "wapi_queue_depth"] {
        assert!(text.lines().any(|l| l.starts_with(metric)), "no {metric} in\n{text}");
    }
    // Requests are counted by route (the matched pattern) and status.
    let healthz = r#"route="/healthz",method="GET",status="200""#;
    assert!(
        text.lines()
            .any(|l| l.starts_with("wapi_http_requests_total") && l.contains(healthz)),
        "{text}"
    );
    gw.stop().await;
}
