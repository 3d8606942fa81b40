//! `/api/webhooks` (admin): the dead letters (deliveries whose every attempt failed), retrying
//! one, and the state of any delivery.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::rfc3339_ms;
use crate::gateway::Gateway;
use crate::http::{Admin, ApiError, Envelope, ErrorEnvelope, ok, query_pairs};
use crate::send::FieldError;
use crate::store::{DeliveryRecord, RetryOutcome, valid_delivery_cursor};

/// A webhook delivery a plugin asked for.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryDto {
    /// `msg_…`: the `webhook-id` header, the same on every attempt (receivers dedupe on it).
    pub id: String,
    /// The plugin that asked for it.
    pub plugin: String,
    pub url: String,
    /// `pending`, `delivered` or `failed` (dead-lettered).
    #[schema(example = "failed")]
    pub state: String,
    /// Attempts made since it was created or last retried.
    pub attempts: u32,
    /// While pending: when the next attempt is due.
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<u16>,
    pub created_at: String,
    pub updated_at: String,
    /// When it was dead-lettered.
    pub failed_at: Option<String>,
    /// The JSON payload (only on `GET /api/webhooks/deliveries/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
}

impl DeliveryDto {
    fn from_record(d: &DeliveryRecord) -> Self {
        Self {
            id: d.id.clone(),
            plugin: d.plugin.clone(),
            url: d.url.clone(),
            state: d.state.as_str().to_string(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at.map(rfc3339_ms),
            last_error: d.last_error.clone(),
            last_status: d.last_status,
            created_at: rfc3339_ms(d.created_at),
            updated_at: rfc3339_ms(d.updated_at),
            failed_at: d.failed_at.map(rfc3339_ms),
            payload: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPageDto {
    pub items: Vec<DeliveryDto>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Dead-lettered deliveries, newest first.
///
/// Every attempt of the retry schedule failed (or the plugin has no secret to sign with).
/// Follow `nextCursor` for more.
#[utoipa::path(get, path = "/api/webhooks/failed", tag = "webhooks", operation_id = "listFailedWebhooks",
    params(
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page",
            pattern = "^[0-9]{1,18}\\.msg_[0-9A-Za-z]{1,64}$"),
        ("limit" = Option<u32>, Query, description = "Page size, 1–500 (default 50)", minimum = 1, maximum = 500),
    ),
    responses(
        (status = 200, description = "One page", body = Envelope<DeliveryPageDto>),
        (status = 400, description = "Bad query parameter", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key", body = ErrorEnvelope),
        (status = 429, description = "Read budget spent", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn failed(
    State(app): State<Gateway>,
    _admin: Admin,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (cursor, limit) = parse_page_query(query.as_deref())?;
    let page = app.webhooks().failed(cursor.as_deref(), limit).await?;
    Ok(ok(DeliveryPageDto {
        items: page.items.iter().map(DeliveryDto::from_record).collect(),
        next_cursor: page.next_cursor,
    })
    .into_response())
}

fn parse_page_query(query: Option<&str>) -> Result<(Option<String>, u32), ApiError> {
    let (mut cursor, mut limit, mut errors) = (None, 50, Vec::new());
    for (name, value) in query_pairs(query)? {
        match name.as_str() {
            "cursor" if valid_delivery_cursor(&value) => cursor = Some(value),
            "cursor" => errors.push(FieldError::new("cursor", "is not a cursor this server gave out")),
            "limit" => match value.parse::<u32>() {
                Ok(n @ 1..=500) => limit = n,
                _ => errors.push(FieldError::new("limit", "must be a whole number from 1 to 500")),
            },
            other => errors.push(FieldError::new(other, "is not a known parameter (cursor, limit)")),
        }
    }
    if errors.is_empty() {
        Ok((cursor, limit))
    } else {
        Err(ApiError::query(errors))
    }
}

/// Retry a dead-lettered delivery.
///
/// It becomes pending again with its attempts reset and is attempted at once, with the same
/// `webhook-id`, then on the retry schedule.
#[utoipa::path(post, path = "/api/webhooks/failed/{id}/retry", tag = "webhooks", operation_id = "retryWebhook",
    params(("id" = String, Path, description = "The delivery's id (`msg_…`)")),
    responses(
        (status = 202, description = "Pending again", body = Envelope<DeliveryDto>),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key", body = ErrorEnvelope),
        (status = 404, description = "No such delivery", body = ErrorEnvelope),
        (status = 409, description = "The delivery is not dead-lettered", body = ErrorEnvelope),
        (status = 429, description = "Read budget spent", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn retry(
    State(app): State<Gateway>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match app.webhooks().retry_failed(&id).await? {
        RetryOutcome::Retried(d) => {
            tracing::info!(delivery = %d.id, by = %admin.key_id, "webhook retry asked for");
            Ok((StatusCode::ACCEPTED, ok(DeliveryDto::from_record(&d))).into_response())
        }
        RetryOutcome::NotDeadLettered(d) => Err(ApiError::Conflict(format!(
            "delivery {id:?} is {}, not dead-lettered; only failed deliveries can be retried",
            d.state.as_str()
        ))),
        RetryOutcome::NotFound => Err(ApiError::NotFound(format!("no webhook delivery with id {id:?}"))),
    }
}

/// One delivery, in any state, with its payload.
#[utoipa::path(get, path = "/api/webhooks/deliveries/{id}", tag = "webhooks", operation_id = "getWebhookDelivery",
    params(("id" = String, Path, description = "The delivery's id (`msg_…`)")),
    responses(
        (status = 200, description = "The delivery", body = Envelope<DeliveryDto>),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key", body = ErrorEnvelope),
        (status = 404, description = "No such delivery (delivered ones are kept 7 days)", body = ErrorEnvelope),
        (status = 429, description = "Read budget spent", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn delivery(State(app): State<Gateway>, _admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let Some(d) = app.webhooks().delivery(&id).await? else {
        return Err(ApiError::NotFound(format!("no webhook delivery with id {id:?}")));
    };
    let mut dto = DeliveryDto::from_record(&d);
    dto.payload = serde_json::from_str(&d.payload).ok();
    Ok(ok(dto).into_response())
}
