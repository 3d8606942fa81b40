//! `/api/session/*` (admin): link the WhatsApp account — the current QR code (as text, PNG or
//! SVG), a pairing code for linking by phone number, and logout.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::SessionState;
use super::qr;
use crate::gateway::Gateway;
use crate::http::{Admin, ApiError, Envelope, ErrorEnvelope, JsonBody, ok, query_pairs};
use crate::send::{FieldError, PhoneNumber};

#[derive(Debug, Serialize, ToSchema)]
pub struct QrDto {
    pub state: SessionState,
    /// What the QR encodes, while the session waits for a scan; `null` otherwise.
    pub code: Option<String>,
    /// The same code as an SVG image, for pages that show it inline.
    pub svg: Option<String>,
}

/// The current linking QR code.
///
/// WhatsApp rotates the code (the first lives 60 s, the next 20 s each): poll while showing it.
/// `?format=png` or `?format=svg` answer with the image itself (404 `NOT_FOUND` while there is no
/// code, e.g. when linked).
#[utoipa::path(get, path = "/api/session/qr", tag = "session", operation_id = "getQrCode",
    params(("format" = inline(Option<QrFormat>), Query, description = "`json` (default), `png` or `svg`")),
    responses(
        (status = 200, description = "The code (JSON), or the image", content(
            (Envelope<QrDto> = "application/json"),
            (String = "image/svg+xml"),
            (Vec<u8> = "image/png"),
        )),
        (status = 400, description = "Unknown format", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key", body = ErrorEnvelope),
        (status = 404, description = "An image was asked for but there is no code now", body = ErrorEnvelope),
        (status = 429, description = "Read budget spent", body = ErrorEnvelope),
        (status = 503, description = "This backend cannot link", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn qr_code(
    State(app): State<Gateway>,
    _admin: Admin,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let format = parse_format(query.as_deref())?;
    let code = app.session().qr_code().await?;
    let state = app.session_status().state;
    let image = |what: &str| {
        ApiError::NotFound(format!(
            "no QR code to draw as {what}: the session is {}",
            state.as_str()
        ))
    };
    match format {
        Format::Json => {
            let svg = code.as_deref().and_then(qr::svg);
            Ok(ok(QrDto {
                state: state.into(),
                code,
                svg,
            })
            .into_response())
        }
        Format::Png => {
            let png = code.as_deref().and_then(qr::png).ok_or_else(|| image("PNG"))?;
            Ok(image_response("image/png", png))
        }
        Format::Svg => {
            let svg = code.as_deref().and_then(qr::svg).ok_or_else(|| image("SVG"))?;
            Ok(image_response("image/svg+xml", svg.into_bytes()))
        }
    }
}

enum Format {
    Json,
    Png,
    Svg,
}

/// The forms `GET /api/session/qr` answers in.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum QrFormat {
    Json,
    Png,
    Svg,
}

fn parse_format(query: Option<&str>) -> Result<Format, ApiError> {
    let mut format = Format::Json;
    for (name, value) in query_pairs(query)? {
        format = match (name.as_str(), value.as_str()) {
            ("format", "json") => Format::Json,
            ("format", "png") => Format::Png,
            ("format", "svg") => Format::Svg,
            ("format", _) => return Err(bad_query("format", "must be json, png or svg")),
            (other, _) => return Err(bad_query(other, "is not a known parameter (format)")),
        };
    }
    Ok(format)
}

fn bad_query(field: &str, message: &str) -> ApiError {
    ApiError::query(vec![FieldError::new(field, message)])
}

fn image_response(content_type: &'static str, bytes: Vec<u8>) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairRequest {
    // The phone number of the account to link (documented by `PhoneText`).
    #[schema(inline, value_type = super::dto::PhoneText)]
    pub phone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PairDto {
    /// Enter this in WhatsApp: Linked devices → Link with phone number.
    pub code: String,
}

/// A pairing code, to link by phone number instead of scanning.
#[utoipa::path(post, path = "/api/session/pair", tag = "session", operation_id = "pairPhone", request_body = PairRequest,
    responses(
        (status = 200, description = "The code to enter on the phone", body = Envelope<PairDto>),
        (status = 400, description = "Body is not JSON of the right shape", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key", body = ErrorEnvelope),
        (status = 409, description = "Already linked, or WhatsApp refused for now", body = ErrorEnvelope),
        (status = 422, description = "Invalid phone number", body = ErrorEnvelope),
        (status = 429, description = "Read budget spent", body = ErrorEnvelope),
        (status = 503, description = "This backend cannot link", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn pair(
    State(app): State<Gateway>,
    Admin(admin): Admin,
    JsonBody(req): JsonBody<PairRequest>,
) -> Result<Response, ApiError> {
    let phone = PhoneNumber::parse(req.phone.trim()).map_err(|m| ApiError::invalid("phone", m))?;
    let code = app.session().pair_code(&phone).await?;
    tracing::info!(by = %admin.key_id, "pairing code issued");
    Ok(ok(PairDto { code }).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogoutDto {
    pub state: SessionState,
}

/// Unlink the WhatsApp account and forget its session; a fresh QR code follows.
///
/// Queued messages stay queued (held) until an account is linked again.
#[utoipa::path(post, path = "/api/session/logout", tag = "session", operation_id = "logout",
    responses(
        (status = 200, description = "Unlinked", body = Envelope<LogoutDto>),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key", body = ErrorEnvelope),
        (status = 429, description = "Read budget spent", body = ErrorEnvelope),
        (status = 503, description = "This backend cannot link", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn logout(State(app): State<Gateway>, Admin(admin): Admin) -> Result<Response, ApiError> {
    app.session().logout().await?;
    tracing::warn!(by = %admin.key_id, "logged out of WhatsApp");
    Ok(ok(LogoutDto {
        state: app.session_status().state.into(),
    })
    .into_response())
}
