//! The API's own description: OpenAPI 3.1 generated from the handlers (`/api/openapi.json`)
//! and Swagger UI over it (`/docs`), served from assets embedded in the binary.

use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{batch, dto, keys, media, messages, numbers, ops, plugins, session, status, webhooks};
use crate::http::{Envelope, ErrorCode, ErrorEnvelope};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wapi",
        description = "Self-hosted WhatsApp HTTP API gateway. Every send drains through an anti-ban queue: one at a time, a random gap, typing, cool-downs, a daily cap, number checks.\n\nEvery answer is `{ \"success\": bool, \"data\": …, \"error\": \"\", \"code\": \"\" }`.",
        license(name = "MIT")
    ),
    paths(
        status::status,
        messages::send, media::send_media, batch::batch, messages::list, messages::get, messages::cancel,
        numbers::check,
        session::qr_code, session::pair, session::logout,
        keys::list, keys::create, keys::revoke,
        plugins::list,
        webhooks::failed, webhooks::retry, webhooks::delivery,
        ops::healthz,
    ),
    components(schemas(ErrorEnvelope, ErrorCode, dto::MessageDto, Envelope<dto::MessageDto>)),
    modifiers(&Security),
    tags(
        (name = "status", description = "Session and queue state"),
        (name = "messages", description = "Send, list, read and cancel messages"),
        (name = "numbers", description = "Number checks"),
        (name = "session", description = "Linking the WhatsApp account (admin)"),
        (name = "keys", description = "API keys (admin)"),
        (name = "plugins", description = "WebAssembly plugins in the watched folder (admin)"),
        (name = "webhooks", description = "Webhook deliveries plugins asked for: dead letters and retries (admin)"),
        (name = "ops", description = "Liveness for probes (no key)"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("wapi_<id>_<secret>")
                    .build(),
            ),
        );
    }
}

static SPEC: LazyLock<String> = LazyLock::new(|| {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
    document_edge(&mut doc);
    serde_json::to_string_pretty(&doc).expect("the OpenAPI document serializes")
});

/// Adds to every operation what the edge and the error mapping give every answer, rather than
/// repeating it in each handler's annotation: the headers (`X-Request-Id` and `Cache-Control:
/// no-store` on all, `WWW-Authenticate` on 401, `Retry-After` on 429 — required, which utoipa's
/// `Header` cannot say), and for operations that take a body, the 408 of a body that stalls and
/// the 413 of one over the limit; for operations that write, the 503 of a database that cannot
/// take the write (disk full, locked by another process).
fn document_edge(doc: &mut Value) {
    let error = json!({ "application/json": { "schema": { "$ref": "#/components/schemas/ErrorEnvelope" } } });
    let edge_errors = [
        (
            "408",
            "The body stalled past `server.body_timeout`; the connection is closed",
        ),
        ("413", "Body over `limits.max_body`"),
    ];
    let operations = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.iter_mut());
    for (method, operation) in operations {
        let takes_body = operation.get("requestBody").is_some();
        let writes = matches!(method.as_str(), "post" | "put" | "patch" | "delete");
        let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        if writes {
            responses.entry("503").or_insert_with(|| {
                json!({
                    "description": "The database cannot take the write now: the disk is full (STORAGE_FULL) or another process holds its lock (STORAGE_BUSY); nothing was changed, try again later",
                    "content": error,
                })
            });
            responses.sort_keys();
        }
        if takes_body {
            for (status, description) in edge_errors {
                responses
                    .entry(status)
                    .or_insert_with(|| json!({ "description": description, "content": error }));
            }
            responses.sort_keys();
        }
        for (status, response) in responses.iter_mut() {
            let headers = &mut response["headers"];
            headers["X-Request-Id"] = required_header(
                "The request's id (the client's own `X-Request-Id` when it is plain and at most 64 characters); the log lines of the request carry it",
                json!({ "type": "string", "minLength": 1 }),
            );
            headers["Cache-Control"] = required_header("API answers are never cached", json!({ "const": "no-store" }));
            match status.as_str() {
                "401" => {
                    headers["WWW-Authenticate"] = required_header("How to authenticate", json!({ "const": "Bearer" }))
                }
                "429" => {
                    headers["Retry-After"] = required_header(
                        "Seconds until the budget (or the daily cap) allows the request",
                        json!({ "type": "integer", "minimum": 0 }),
                    )
                }
                _ => {}
            }
        }
    }
}

fn required_header(description: &str, schema: Value) -> Value {
    json!({ "description": description, "required": true, "schema": schema })
}

/// The OpenAPI document.
pub async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], SPEC.as_str()).into_response()
}

static SWAGGER: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
    LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::from("/api/openapi.json")));

pub async fn docs_root() -> Redirect {
    Redirect::permanent("/docs/")
}

pub async fn docs_index() -> Response {
    swagger_file("")
}

/// Swagger UI's files.
pub async fn docs_file(Path(tail): Path<String>) -> Response {
    swagger_file(&tail)
}

fn swagger_file(tail: &str) -> Response {
    match utoipa_swagger_ui::serve(tail, SWAGGER.clone()) {
        Ok(Some(file)) => {
            let mut response = Response::new(Body::from(file.bytes.into_owned()));
            if let Ok(v) = HeaderValue::from_str(&file.content_type) {
                response.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            response
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => crate::http::ApiError::Internal(format!("swagger ui: {e}")).into_response(),
    }
}
