//! The API's own description: OpenAPI 3.1 generated from the handlers (`/api/openapi.json`)
//! and Swagger UI over it (`/docs`), served from assets embedded in the binary.

use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{batch, dto, keys, media, messages, numbers, plugins, session, status, webhooks};
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
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
});

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
