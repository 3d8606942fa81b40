//! What handlers take from a request: the caller (authenticated and charged to a budget), a
//! JSON body read with every bad field named, and the `Idempotency-Key`.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::auth::{self, AuthError, Principal};
use crate::gateway::Gateway;
use crate::limits::{Budget, RateInfo};
use crate::send::FieldError;

/// Per-request facts the edge middleware sets and reads back: the id, and the rate-limit state
/// to put in the headers.
#[derive(Debug)]
pub struct RequestCtx {
    pub id: String,
    pub rate: Mutex<Option<RateInfo>>,
}

/// A caller with any role, charged to the read budget.
pub struct Reader(pub Principal);
/// A caller with any role, charged to the send budget.
pub struct Sender(pub Principal);
/// An admin caller, charged to the read budget.
pub struct Admin(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Reader
where
    Gateway: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        authorize(parts, &Gateway::from_ref(state), Budget::Read, false)
            .await
            .map(Self)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Sender
where
    Gateway: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        authorize(parts, &Gateway::from_ref(state), Budget::Send, false)
            .await
            .map(Self)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Admin
where
    Gateway: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        authorize(parts, &Gateway::from_ref(state), Budget::Read, true)
            .await
            .map(Self)
    }
}

/// Authenticates (401 costs nothing), checks the role (403 costs nothing), then charges the
/// budget (429 when spent).
async fn authorize(parts: &Parts, app: &Gateway, budget: Budget, admin: bool) -> Result<Principal, ApiError> {
    let presented = presented_key(&parts.headers)?;
    let (principal, row) = auth::authenticate(app.store(), &presented).await.map_err(|e| match e {
        AuthError::Invalid => ApiError::Unauthorized("invalid or revoked API key".into()),
        AuthError::Store(e) => e.into(),
    })?;
    if admin && !principal.is_admin() {
        return Err(ApiError::AdminRequired);
    }
    let info = app.limits().check(budget, &principal.key_id);
    if let Some(ctx) = parts.extensions.get::<Arc<RequestCtx>>() {
        *ctx.rate.lock().expect("rate slot") = Some(info);
    }
    if info.retry_after.is_some() {
        return Err(ApiError::RateLimited(info));
    }
    let minute = app.clock().now_ms() / 60_000 * 60_000;
    if row.last_used_at.is_none_or(|t| t < minute) {
        let store = app.store().clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch_key(&row.id, minute).await {
                tracing::warn!(error = %e, "could not record key use");
            }
        });
    }
    tracing::Span::current().record("key", principal.key_id.as_str());
    Ok(principal)
}

/// The key from `X-API-Key` or `Authorization: Bearer`; never from the URL.
fn presented_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let text = |name| {
        headers
            .get(name)
            .map(|v| v.to_str().map(str::trim).unwrap_or_default().to_string())
    };
    let x_api_key = text(header::HeaderName::from_static("x-api-key"));
    let bearer = match text(header::AUTHORIZATION) {
        None => None,
        Some(value) => match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Some(token.trim().to_string()),
            _ => {
                return Err(ApiError::Unauthorized("Authorization must be `Bearer <key>`".into()));
            }
        },
    };
    match (x_api_key, bearer) {
        (Some(a), Some(b)) if a != b => Err(ApiError::Unauthorized(
            "X-API-Key and Authorization carry different keys".into(),
        )),
        (Some(key), _) | (None, Some(key)) if !key.is_empty() => Ok(key),
        _ => Err(ApiError::Unauthorized(
            "an API key is required: send X-API-Key or Authorization: Bearer".into(),
        )),
    }
}

/// A JSON body; a wrong content type, malformed JSON or a wrongly typed field is 400
/// `VALIDATION_ERROR` naming the field.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|essence| {
                let essence = essence.trim().to_ascii_lowercase();
                essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::BadRequest {
                message: "send a JSON body with Content-Type: application/json".into(),
                details: vec![FieldError::new("Content-Type", "must be application/json")],
            });
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::Upload("request body too large (limits.max_body)".into())
            } else {
                // The client went away or stalled mid-body (the edge answers a stall 408).
                ApiError::BadRequest {
                    message: "the request body could not be read to its end".into(),
                    details: vec![FieldError::new("body", "ended early")],
                }
            }
        })?;
        parse_json(&bytes).map(Self)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path == "?" {
            "body".to_string()
        } else {
            path
        };
        let message = e.inner().to_string();
        // serde's message ends with " at line L column C": useful for syntax errors only.
        let message = if e.inner().is_syntax() || e.inner().is_eof() {
            message
        } else {
            strip_position(&message)
        };
        // "expected struct SendRequest" says nothing to a client: every body is a JSON object.
        let message = match message.find("expected struct ") {
            Some(i) => format!("{}expected a JSON object", &message[..i]),
            None => message,
        };
        ApiError::BadRequest {
            message: format!("the JSON body is invalid at {field}: {message}"),
            details: vec![FieldError::new(field, message)],
        }
    })?;
    de.end().map_err(|e| ApiError::BadRequest {
        message: format!("the JSON body is invalid: {e}"),
        details: vec![FieldError::new("body", e.to_string())],
    })?;
    Ok(value)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// A query string's parameters in order; a malformed one is 400 `VALIDATION_ERROR`.
pub fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(query.unwrap_or("")).map_err(|_| ApiError::BadRequest {
        message: "the query string is malformed".into(),
        details: vec![],
    })
}

/// The `Idempotency-Key` header: 1–255 visible ASCII characters (quotes of the structured-field
/// form are accepted and removed).
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || ApiError::invalid("Idempotency-Key", "must be 1 to 255 visible ASCII characters");
    let text = value.to_str().map_err(|_| bad())?.trim();
    let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
    if text.is_empty() || text.len() > 255 || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(text.to_string()))
}
