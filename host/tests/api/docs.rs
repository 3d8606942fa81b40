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

/// Every `$ref` in `node` (a JSON pointer into the document), with where it was found.
fn refs<'a>(node: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match node {
        Value::Object(map) => {
            if let Some(target) = map.get("$ref").and_then(Value::as_str) {
                out.push((at.clone(), target));
            }
            for (key, value) in map {
                refs(value, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, value) in items.iter().enumerate() {
                refs(value, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Regression (found by the schemathesis run, `tests/e2e/fuzz.rs`): three operations shared the
/// operation id `list`, which OpenAPI forbids and which leaves links and generated clients
/// ambiguous. Every operation has its own id, every link names one of them, every `$ref`
/// resolves, every operation that takes a path parameter documents it, every response documents
/// the `X-Request-Id` every answer carries, and every operation that takes a body its 413.
#[tokio::test]
async fn the_openapi_document_is_consistent() {
    let gw = Gateway::start(&[]).await;
    let doc: Value = gw.openapi().await;
    let mut ids = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            if let Some(other) = ids.insert(id.to_string(), format!("{method} {path}")) {
                panic!("operationId {id} is both {other} and {method} {path}");
            }
            for (status, response) in operation["responses"].as_object().expect("responses") {
                let header = &response["headers"]["X-Request-Id"];
                assert_eq!(header["required"], true, "{method} {path} {status}: X-Request-Id");
            }
            if operation["requestBody"].is_object() {
                assert!(
                    operation["responses"]["413"].is_object(),
                    "{method} {path}: 413 not documented"
                );
            }
            for name in path.split('{').skip(1).filter_map(|s| s.split('}').next()) {
                let documented = operation["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path" && p["name"] == name));
                assert!(documented, "{method} {path}: path parameter {name} is not documented");
            }
        }
    }
    let mut found = Vec::new();
    refs(&doc, String::new(), &mut found);
    assert!(!found.is_empty(), "no $ref at all");
    for (at, target) in found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: external $ref {target}"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{at}: $ref {target} resolves to nothing"
        );
    }
    let mut links = 0;
    for item in doc["paths"].as_object().expect("paths").values() {
        for operation in item.as_object().expect("path item").values() {
            for response in operation["responses"].as_object().into_iter().flat_map(|r| r.values()) {
                for (name, link) in response["links"].as_object().into_iter().flatten() {
                    let target = link["operationId"].as_str().unwrap_or_default();
                    assert!(
                        ids.contains_key(target),
                        "link {name} names unknown operation {target:?}"
                    );
                    links += 1;
                }
            }
        }
    }
    assert!(
        links > 0,
        "the document links created resources to the operations that read them"
    );
    gw.stop().await;
}

/// Regression (found by the schemathesis run): the example of the send body carried `vars: {}`,
/// which a gateway without a templating plugin refuses, and the request schemas stated none of
/// the formats the handlers check, so generated requests almost never reached the queue. The
/// examples the document shows are accepted as they are, and the formats are stated.
#[tokio::test]
async fn the_documented_request_examples_are_accepted() {
    let gw = Gateway::start(&[]).await;
    let doc: Value = gw.openapi().await;
    let schemas = &doc["components"]["schemas"];

    let send = schemas["SendRequest"]["example"].clone();
    assert!(send.is_object(), "SendRequest has no example");
    let answer = gw.admin(Method::POST, "/api/messages").json(&send).send().await;
    assert!(
        answer.status.is_success(),
        "the documented send example was refused: {}",
        answer.text
    );

    let item = schemas["BatchItem"]["example"].clone();
    let answer = gw
        .admin(Method::POST, "/api/messages/batch")
        .json(&serde_json::json!({ "items": [item] }))
        .send()
        .await
        .expect(200);
    assert_eq!(answer.data()["items"][0]["success"], true, "{}", answer.text);

    let numbers = schemas["CheckRequest"]["properties"]["numbers"]["example"].clone();
    gw.admin(Method::POST, "/api/numbers/check")
        .json(&serde_json::json!({ "numbers": numbers }))
        .send()
        .await
        .expect(200);

    for (schema, field) in [
        ("SendRequest", "to"),
        ("SendRequest", "text"),
        ("CreateKeyRequest", "name"),
    ] {
        let property = &schemas[schema]["properties"][field];
        assert!(
            property["pattern"].is_string(),
            "{schema}.{field} states no format: {property}"
        );
    }
    assert_eq!(schemas["SendRequest"]["required"], serde_json::json!(["to"]));
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
    // SQLite's own memory, which the process's RSS includes: an open store holds some.
    let sqlite = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    let (used, peak) = (
        sqlite("wapi_sqlite_memory_bytes"),
        sqlite("wapi_sqlite_memory_peak_bytes"),
    );
    assert!(used > 0.0 && peak >= used, "{used} / {peak}");
    // Requests are counted by route (the matched pattern) and status.
    let healthz = r#"route="/healthz",method="GET",status="200""#;
    assert!(
        text.lines()
            .any(|l| l.starts_with("wapi_http_requests_total") && l.contains(healthz)),
        "{text}"
    );
    gw.stop().await;
}
