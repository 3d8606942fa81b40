//! `POST /api/messages/batch`: up to `limits.max_batch` text sends in one request — one unit of
//! the rate limit, each item against the daily cap, one result per item.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::MessageDto;
use crate::accept::{ItemResult, text_fingerprint};
use crate::gateway::Gateway;
use crate::http::{ApiError, Envelope, ErrorCode, ErrorEnvelope, FieldDetail, JsonBody, Sender, idempotency_key, ok};
use crate::send::{FieldError, TextInput};
use crate::store::{EnqueueItem, IdemClaim};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to `limits.max_batch` (default 500) sends.
    #[schema(min_items = 1, max_items = 500)]
    pub items: Vec<BatchItem>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({ "to": "923001234567", "text": "Hello from wapi", "idempotencyKey": "row-2" }))]
pub struct BatchItem {
    // As in `POST /api/messages` (`SendRequest`); an item's bad fields refuse that item only.
    #[schema(inline, value_type = super::dto::RecipientText, required = true)]
    pub to: Option<String>,
    #[schema(inline, value_type = super::dto::MessageText, required = false)]
    pub text: Option<String>,
    pub template: Option<String>,
    pub vars: Option<BTreeMap<String, String>>,
    /// Per-item idempotency key (a re-run of a sheet never sends a row twice), 1 to 255 visible
    /// ASCII characters. Without it, the request's `Idempotency-Key` header plus `:<index>` is
    /// used, when given.
    #[schema(pattern = "^[!-~]{1,255}$")]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    pub items: Vec<BatchItemResult>,
    /// How many items were queued now (replays not counted).
    pub queued: usize,
    /// How many items were refused.
    pub refused: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItemResult {
    pub index: usize,
    pub success: bool,
    pub message: Option<MessageDto>,
    /// True when an earlier request with the same idempotency key queued this message.
    pub replayed: bool,
    pub error: Option<String>,
    pub code: Option<ErrorCode>,
    pub details: Option<Vec<FieldDetail>>,
}

impl BatchItemResult {
    fn refused(index: usize, e: &ApiError) -> Self {
        let details = match e {
            ApiError::Invalid { details, .. } | ApiError::BadRequest { details, .. } => Some(FieldDetail::all(details)),
            _ => None,
        };
        Self {
            index,
            success: false,
            message: None,
            replayed: false,
            error: Some(e.to_string()),
            code: Some(e.code()),
            details,
        }
    }
}

/// Send many texts in one request.
#[utoipa::path(post, path = "/api/messages/batch", tag = "messages", operation_id = "sendBatch", request_body = BatchRequest,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$",
        description = "Base for per-item keys (`<key>:<index>`): 1–255 visible ASCII characters")),
    responses(
        (status = 200, description = "One result per item, in order", body = Envelope<BatchResult>),
        (status = 400, description = "Body is not JSON of the right shape", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 413, description = "Body too large", body = ErrorEnvelope),
        (status = 422, description = "No items, or too many", body = ErrorEnvelope),
        (status = 429, description = "Rate limited", body = ErrorEnvelope),
        (status = 503, description = "No linked WhatsApp session (WHATSAPP_NOT_CONNECTED), or the database cannot take the write: disk full (STORAGE_FULL) or locked by another process (STORAGE_BUSY)", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn batch(
    State(app): State<Gateway>,
    Sender(principal): Sender,
    headers: HeaderMap,
    JsonBody(req): JsonBody<BatchRequest>,
) -> Result<Response, ApiError> {
    let max = app.config().limits.max_batch;
    if req.items.is_empty() || req.items.len() > max {
        return Err(ApiError::invalid(
            "items",
            format!("must hold 1 to {max} sends, not {}", req.items.len()),
        ));
    }
    let base_key = idempotency_key(&headers)?;
    let mut results: Vec<Option<BatchItemResult>> = (0..req.items.len()).map(|_| None).collect();
    let mut indexes = Vec::new();
    let mut pending = Vec::new();
    for (index, item) in req.items.into_iter().enumerate() {
        match validate_item(&app, &principal.name, index, item, base_key.as_deref()).await {
            Ok(valid) => {
                indexes.push(index);
                pending.push(valid);
            }
            Err(e) => results[index] = Some(BatchItemResult::refused(index, &e)),
        }
    }
    let mut all_replayed = !pending.is_empty() && indexes.len() == results.len();
    if !pending.is_empty() {
        let outcomes = app.accept().accept(&principal.key_id, pending).await?;
        for (index, outcome) in indexes.into_iter().zip(outcomes) {
            let replayed = matches!(outcome, ItemResult::Replayed { .. });
            all_replayed &= replayed;
            results[index] = Some(match outcome {
                ItemResult::Queued(m) | ItemResult::Replayed { message: m, .. } => BatchItemResult {
                    index,
                    success: true,
                    message: Some(MessageDto::from_record(&m)),
                    replayed,
                    error: None,
                    code: None,
                    details: None,
                },
                ItemResult::Refused(e) => BatchItemResult::refused(index, &e.into()),
            });
        }
    }
    let items: Vec<BatchItemResult> = results
        .into_iter()
        .map(|r| r.expect("every item has a result"))
        .collect();
    let queued = items.iter().filter(|r| r.success && !r.replayed).count();
    let refused = items.iter().filter(|r| !r.success).count();
    let mut response = ok(BatchResult { items, queued, refused }).into_response();
    if all_replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

async fn validate_item(
    app: &Gateway,
    key_name: &str,
    index: usize,
    item: BatchItem,
    base_key: Option<&str>,
) -> Result<EnqueueItem, ApiError> {
    let prefix = format!("items[{index}].");
    let key = match (item.idempotency_key, base_key) {
        (Some(key), _) => Some(key),
        (None, Some(base)) => Some(format!("{base}:{index}")),
        (None, None) => None,
    };
    let mut errors = Vec::new();
    if let Some(key) = &key
        && (key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()))
    {
        errors.push(FieldError::new(
            format!("{prefix}idempotencyKey"),
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    let req = TextInput {
        to: item.to,
        text: item.text,
        template: item.template,
        vars: item.vars,
    };
    if !errors.is_empty() {
        // Field errors of the item itself come first; the hooks run only on a well-formed item.
        let templating = app.accept().templating();
        if let Err(more) = app.validator().draft(&req, &prefix, templating) {
            errors.extend(more);
        }
        return Err(ApiError::fields(errors));
    }
    let send = app.accept().compose_text(&req, key_name, &prefix).await?;
    let idem = key.map(|key| IdemClaim {
        key,
        fingerprint: text_fingerprint(&req),
    });
    Ok(EnqueueItem {
        send,
        idem,
        upload: None,
    })
}
