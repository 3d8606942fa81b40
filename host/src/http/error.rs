//! The response envelope and the one mapping from [`ApiError`] to HTTP. Client errors are not
//! logged; internal errors are logged once, and the client sees only the request id.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::accept::Refusal;
use crate::limits::RateInfo;
use crate::send::FieldError;
use crate::store::StoreError;
use crate::whatsapp::WaError;

/// `{ "success": true, "data": …, "error": "", "code": "" }`: the shape of every answer. Every
/// answer is made here: [`ok`] for a success, [`Envelope::failure`] for every error — a handler's
/// [`ApiError`] and the edge's own answers (routing, limits, stalled bodies, panics) alike.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    pub success: bool,
    pub data: T,
    /// A human-readable sentence; empty on success.
    pub error: String,
    /// A machine code (see `ErrorCode`); empty on success.
    pub code: String,
}

impl Envelope<Option<Value>> {
    /// An error answer: `data` is `null`, or carries details such as `details` or `retryAfter`.
    pub fn failure(code: ErrorCode, error: impl Into<String>, data: Option<Value>) -> Self {
        Self {
            success: false,
            data,
            error: error.into(),
            code: code.as_str().to_string(),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("an envelope serializes")
    }
}

/// One bad field in `data.details`, as the client wrote it (`to`, `items[3].text`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = FieldError)]
pub struct FieldDetail {
    pub field: String,
    pub message: String,
}

impl FieldDetail {
    pub fn all(errors: &[FieldError]) -> Vec<Self> {
        errors
            .iter()
            .map(|e| Self {
                field: e.field.clone(),
                message: e.message.clone(),
            })
            .collect()
    }
}

/// How an error answer is documented (the OpenAPI schema of [`Envelope::failure`]'s output):
/// `data` is `null`, or carries `details` (validation) or `retryAfter` (429).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    #[schema(example = false)]
    pub success: bool,
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    pub error: String,
    pub code: ErrorCode,
}

/// Every machine code an error answer may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ValidationError,
    Unauthorized,
    AdminRequired,
    RecipientNotFound,
    NotFound,
    MethodNotAllowed,
    Conflict,
    UploadError,
    RecipientRejected,
    RateLimited,
    DailyLimitReached,
    WhatsappNotConnected,
    StorageFull,
    StorageBusy,
    Unhealthy,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ValidationError => "VALIDATION_ERROR",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::AdminRequired => "ADMIN_REQUIRED",
            Self::RecipientNotFound => "RECIPIENT_NOT_FOUND",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::Conflict => "CONFLICT",
            Self::UploadError => "UPLOAD_ERROR",
            Self::RecipientRejected => "RECIPIENT_REJECTED",
            Self::RateLimited => "RATE_LIMITED",
            Self::DailyLimitReached => "DAILY_LIMIT_REACHED",
            Self::WhatsappNotConnected => "WHATSAPP_NOT_CONNECTED",
            Self::StorageFull => "STORAGE_FULL",
            Self::StorageBusy => "STORAGE_BUSY",
            Self::Unhealthy => "UNHEALTHY",
            Self::Internal => "INTERNAL",
        }
    }
}

/// Wraps a successful payload.
pub fn ok<T: Serialize>(data: T) -> Json<Envelope<T>> {
    Json(Envelope {
        success: true,
        data,
        error: String::new(),
        code: String::new(),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON of the expected shape.
    #[error("{message}")]
    BadRequest { message: String, details: Vec<FieldError> },
    /// 422: well-formed, but fields are invalid.
    #[error("{message}")]
    Invalid { message: String, details: Vec<FieldError> },
    #[error("{0}")]
    Unauthorized(String),
    #[error("this endpoint needs an admin key")]
    AdminRequired,
    #[error("{0} is not on WhatsApp")]
    RecipientNotFound(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Upload(String),
    #[error("{0}")]
    RecipientRejected(String),
    #[error("too many requests for this key; retry in {} s", .0.retry_after.unwrap_or(1))]
    RateLimited(RateInfo),
    #[error("the daily send limit of {limit} messages is reached; it resets at midnight UTC")]
    DailyLimit { limit: u32, retry_after: u64 },
    #[error("WhatsApp is not connected: {0}")]
    NotConnected(String),
    /// 503: the disk under the database or the media folder is full; nothing of the request was
    /// kept. The cause is logged.
    #[error("the gateway's disk is full: nothing was stored; retry once space is freed")]
    StorageFull(String),
    /// 503: another process held the database's write lock past the busy timeout; nothing of
    /// the request was kept. The cause is logged.
    #[error("the database is locked by another process: nothing was stored; retry in a few seconds")]
    StorageBusy(String),
    /// 503 from `/healthz`: these long-lived parts are down (their causes were logged).
    #[error("part of the gateway is down: {}; see the log", .0.join(", "))]
    Unhealthy(Vec<&'static str>),
    /// A bug or an unexpected failure; the cause is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

/// Marks a response as an internal error, so the edge adds the request id to its sentence.
#[derive(Debug, Clone, Copy)]
pub struct InternalMarker;

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Invalid {
            message: format!("{field} {message}"),
            details: vec![FieldError::new(field, message)],
        }
    }

    pub fn fields(details: Vec<FieldError>) -> Self {
        let message = match details.as_slice() {
            [one] => format!("{} {}", one.field, one.message),
            many => format!("{} fields are invalid; see data.details", many.len()),
        };
        Self::Invalid { message, details }
    }

    /// 400 for bad query parameters, each named in `details`.
    pub fn query(details: Vec<FieldError>) -> Self {
        let message = details.first().map_or_else(
            || "bad query parameters".into(),
            |d| format!("{} {}", d.field, d.message),
        );
        Self::BadRequest { message, details }
    }

    /// A failed file operation: a full disk is [`ApiError::StorageFull`], anything else internal.
    pub fn io(context: impl std::fmt::Display, e: &std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                Self::StorageFull(format!("{context}: {e}"))
            }
            _ => Self::Internal(format!("{context}: {e}")),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::AdminRequired => StatusCode::FORBIDDEN,
            Self::RecipientNotFound(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Upload(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RecipientRejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited(_) | Self::DailyLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotConnected(_) | Self::StorageFull(_) | Self::StorageBusy(_) | Self::Unhealthy(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest { .. } | Self::Invalid { .. } => ErrorCode::ValidationError,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::AdminRequired => ErrorCode::AdminRequired,
            Self::RecipientNotFound(_) => ErrorCode::RecipientNotFound,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::Upload(_) => ErrorCode::UploadError,
            Self::RecipientRejected(_) => ErrorCode::RecipientRejected,
            Self::RateLimited(_) => ErrorCode::RateLimited,
            Self::DailyLimit { .. } => ErrorCode::DailyLimitReached,
            Self::NotConnected(_) => ErrorCode::WhatsappNotConnected,
            Self::StorageFull(_) => ErrorCode::StorageFull,
            Self::StorageBusy(_) => ErrorCode::StorageBusy,
            Self::Unhealthy(_) => ErrorCode::Unhealthy,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    fn data(&self) -> Option<Value> {
        match self {
            Self::BadRequest { details, .. } | Self::Invalid { details, .. } => {
                Some(json!({ "details": FieldDetail::all(details) }))
            }
            Self::RateLimited(info) => Some(json!({ "retryAfter": info.retry_after })),
            Self::DailyLimit { retry_after, limit } => Some(json!({ "retryAfter": retry_after, "dailyLimit": limit })),
            Self::Unhealthy(down) => Some(json!({ "status": "degraded", "down": down })),
            _ => None,
        }
    }

    /// The envelope this error answers with.
    pub fn envelope(&self) -> Envelope<Option<Value>> {
        Envelope::failure(self.code(), self.to_string(), self.data())
    }
}

/// The one mapping of the accepting service's refusals to answers.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid(details) => Self::fields(details),
            Refusal::Rejected(reason) => Self::RecipientRejected(reason),
            Refusal::NotOnWhatsApp(number) => Self::RecipientNotFound(number),
            Refusal::NotConnected(why) => Self::NotConnected(why),
            Refusal::DailyLimit { limit, retry_after } => Self::DailyLimit { limit, retry_after },
            Refusal::IdempotencyReused => Self::invalid(
                "Idempotency-Key",
                "was already used in the last 24 hours with a different request",
            ),
            Refusal::Store(e) => e.into(),
        }
    }
}

/// The one mapping of WhatsApp's errors to answers: not connected (or not possible with this
/// backend) is 503; anything WhatsApp refused is 409 with its reason.
impl From<WaError> for ApiError {
    fn from(e: WaError) -> Self {
        match e {
            WaError::NotConnected => Self::NotConnected("the session is not connected".into()),
            WaError::Unsupported(why) => Self::NotConnected(why),
            WaError::Other(why) | WaError::SendFailed(why) => Self::Conflict(why),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_full() {
            Self::StorageFull(e.to_string())
        } else if e.is_busy() {
            Self::StorageBusy(e.to_string())
        } else {
            Self::Internal(e.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.envelope())).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::RateLimited(info) => {
                headers.insert(header::RETRY_AFTER, info.retry_after.unwrap_or(1).into());
            }
            Self::DailyLimit { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, (*retry_after).into());
            }
            Self::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                response.extensions_mut().insert(InternalMarker);
            }
            Self::StorageFull(cause) => {
                tracing::error!(%cause, "disk full; request refused");
            }
            Self::StorageBusy(cause) => {
                tracing::error!(%cause, "database locked by another process; request refused");
            }
            _ => {}
        }
        response
    }
}

/// The envelope for an answer produced outside the handlers (routing, body limits).
pub fn envelope_for_status(status: StatusCode) -> Envelope<Option<Value>> {
    let (code, error) = match status {
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such route".to_string()),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            "method not allowed on this route; see the Allow header".into(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorCode::UploadError, "request body too large".into()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            (ErrorCode::ValidationError, "the request could not be read".into())
        }
        s if s.is_server_error() => (ErrorCode::Internal, "internal error".into()),
        s => (
            ErrorCode::ValidationError,
            s.canonical_reason().unwrap_or("request refused").into(),
        ),
    };
    Envelope::failure(code, error, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_errors_map_to_one_answer_each() {
        let table = [
            (WaError::NotConnected, ErrorCode::WhatsappNotConnected),
            (WaError::Unsupported("no".into()), ErrorCode::WhatsappNotConnected),
            (WaError::Other("already linked".into()), ErrorCode::Conflict),
            (WaError::SendFailed("refused".into()), ErrorCode::Conflict),
        ];
        for (error, code) in table {
            assert_eq!(ApiError::from(error.clone()).code(), code, "{error:?}");
        }
        assert!(
            ApiError::from(WaError::Other("rate limited, retry in 60 s".into()))
                .to_string()
                .contains("60 s")
        );
    }
}
