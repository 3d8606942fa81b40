//! `/api/messages`: send a text, list queue and history, read one message, cancel one.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::dto::{MessageDto, MessagePage, SendRequest, Status as StatusDto};
use crate::accept::{ItemResult, text_fingerprint};
use crate::events::GatewayEvent;
use crate::gateway::Gateway;
use crate::http::{ApiError, Envelope, ErrorEnvelope, JsonBody, Reader, Sender, idempotency_key, ok, query_pairs};
use crate::send::{FieldError, TextInput};
use crate::store::{CancelOutcome, EnqueueItem, IdemClaim, ListFilter, MessageRecord, Status, valid_cursor};

/// Send a text message.
///
/// The answer is `sent` when the message went out while the request waited (up to
/// `antiban.sync_wait`, when the queue is idle), else `queued`: it will send when its turn
/// comes. With `Idempotency-Key`, a repeat of the same request within 24 h returns the first
/// answer (header `Idempotent-Replayed: true`) and sends nothing.
#[utoipa::path(post, path = "/api/messages", tag = "messages", operation_id = "sendMessage", request_body = SendRequest,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$",
        description = "1–255 visible ASCII characters; repeats within 24 h replay the first answer")),
    responses(
        (status = 200, description = "Sent (or failed) while the request waited", body = Envelope<MessageDto>,
            links(("message" = (operation_id = "getMessage", parameters(("id" = "$response.body#/data/id")))))),
        (status = 202, description = "Queued: it will send when its turn comes", body = Envelope<MessageDto>,
            links(
                ("message" = (operation_id = "getMessage", parameters(("id" = "$response.body#/data/id")))),
                ("cancel" = (operation_id = "cancelMessage", parameters(("id" = "$response.body#/data/id")))),
            )),
        (status = 400, description = "Body is not JSON of the right shape", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 404, description = "The number is not on WhatsApp", body = ErrorEnvelope),
        (status = 413, description = "Body too large", body = ErrorEnvelope),
        (status = 422, description = "Invalid fields, or Idempotency-Key reused with another body", body = ErrorEnvelope),
        (status = 429, description = "Rate limited or daily cap reached", body = ErrorEnvelope),
        (status = 503, description = "No linked WhatsApp session (WHATSAPP_NOT_CONNECTED), or the database cannot take the write: disk full (STORAGE_FULL) or locked by another process (STORAGE_BUSY)", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn send(
    State(app): State<Gateway>,
    Sender(principal): Sender,
    headers: HeaderMap,
    JsonBody(req): JsonBody<SendRequest>,
) -> Result<Response, ApiError> {
    let idem = idempotency_key(&headers)?;
    let req = TextInput::from(req);
    let send = app.accept().compose_text(&req, &principal.name, "").await?;
    let claim = idem.map(|key| IdemClaim {
        key,
        fingerprint: text_fingerprint(&req),
    });
    let events = may_wait(&app).then(|| app.events().subscribe());
    let item = EnqueueItem {
        send,
        idem: claim,
        upload: None,
    };
    send_one(&app, &principal.key_id, item, events).await
}

/// Accepts a single send (text or media) and answers it: wait for `sent` when it is soon, keep
/// the first answer for idempotent replays, or replay / refuse.
pub(super) async fn send_one(
    app: &Gateway,
    key_id: &str,
    item: EnqueueItem,
    events: Option<broadcast::Receiver<GatewayEvent>>,
) -> Result<Response, ApiError> {
    let claim = item.idem.clone();
    let claim = claim.as_ref();
    let result = app
        .accept()
        .accept(key_id, vec![item])
        .await?
        .pop()
        .expect("one result per item");
    match result {
        ItemResult::Queued(message) => {
            let message = wait_for_send(app, message, events).await?;
            let dto = MessageDto::from_record(&message);
            if let Some(claim) = claim {
                let first = serde_json::to_string(&ok(&dto).0).expect("serializable");
                app.store().save_response(key_id, &claim.key, first).await?;
            }
            Ok(message_response(&dto))
        }
        ItemResult::Replayed { message, response } => Ok(replay(&message, response)),
        ItemResult::Refused(e) => Err(e.into()),
    }
}

/// 202 while the message waits in the queue, 200 once it is final.
pub fn message_response(dto: &MessageDto) -> Response {
    let status = if !matches!(dto.status, StatusDto::Queued | StatusDto::Sending) {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    (status, ok(dto)).into_response()
}

/// The first answer again, marked as a replay.
pub fn replay(message: &MessageRecord, first: Option<String>) -> Response {
    let mut response = match first.and_then(|text| serde_json::from_str::<Value>(&text).ok()) {
        Some(body) => {
            let queued = body
                .pointer("/data/status")
                .and_then(Value::as_str)
                .is_some_and(|s| s == "queued" || s == "sending");
            let status = if queued { StatusCode::ACCEPTED } else { StatusCode::OK };
            (status, axum::Json(body)).into_response()
        }
        None => message_response(&MessageDto::from_record(message)),
    };
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// Whether a send arriving now could go out within `sync_wait`: the queue is empty and the
/// sender may start within that time. Only then does a request listen for its outcome.
pub(super) fn may_wait(app: &Gateway) -> bool {
    let wait = app.config().antiban.sync_wait;
    !wait.is_zero()
        && app.session_status().gate() == crate::whatsapp::Gate::Open
        && app.store().pending() == 0
        && app
            .sender()
            .view()
            .next_start
            .is_some_and(|t| t <= Instant::now() + wait)
}

/// Waits up to `sync_wait` for the message to be sent when [`may_wait`] said so (and it is still
/// the only one queued); otherwise answers at once with `queued`.
async fn wait_for_send(
    app: &Gateway,
    message: MessageRecord,
    events: Option<broadcast::Receiver<GatewayEvent>>,
) -> Result<MessageRecord, ApiError> {
    let Some(mut events) = events.filter(|_| app.store().pending() <= 1) else {
        return Ok(message);
    };
    let id = message.id;
    let done = async {
        loop {
            match events.recv().await {
                Ok(event) if event.message_id() == Some(id) && event.is_final() => break,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    };
    // A stop ends the wait too: the client gets `queued` rather than a dropped connection.
    tokio::select! {
        _ = tokio::time::timeout(app.config().antiban.sync_wait, done) => {}
        _ = app.shutdown().cancelled() => {}
    }
    Ok(app.store().message(id).await?.map(|(m, _)| m).unwrap_or(message))
}

/// Queue and history.
///
/// Queued messages first, in send order (the top one sends next), then the rest newest first.
/// Filter with `status`; follow `nextCursor` for more.
#[utoipa::path(get, path = "/api/messages", tag = "messages", operation_id = "listMessages",
    params(
        ("status" = Option<StatusDto>, Query, description = "Only messages in this status"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page", pattern = "^[sqh][0-9]{1,18}$"),
        ("limit" = Option<u32>, Query, description = "Page size, 1–500 (default 50)", minimum = 1, maximum = 500),
    ),
    responses(
        (status = 200, description = "One page", body = Envelope<MessagePage>),
        (status = 400, description = "Bad query parameter", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 429, description = "Read budget spent", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(app): State<Gateway>,
    _caller: Reader,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let filter = parse_list_query(query.as_deref())?;
    let page = app.store().list(filter).await?;
    let items = page.items.iter().map(MessageDto::from_record).collect();
    Ok(ok(MessagePage {
        items,
        next_cursor: page.next_cursor,
    })
    .into_response())
}

fn parse_list_query(query: Option<&str>) -> Result<ListFilter, ApiError> {
    let pairs = query_pairs(query)?;
    let mut filter = ListFilter {
        limit: 50,
        ..Default::default()
    };
    let mut errors = Vec::new();
    for (name, value) in pairs {
        match name.as_str() {
            "status" => match Status::parse(&value) {
                Some(s) => filter.status = Some(s),
                None => errors.push(FieldError::new(
                    "status",
                    "must be queued, sending, sent, failed or cancelled",
                )),
            },
            "cursor" if valid_cursor(&value) => filter.cursor = Some(value),
            "cursor" => errors.push(FieldError::new("cursor", "is not a cursor this server gave out")),
            "limit" => match value.parse::<u32>() {
                Ok(n @ 1..=500) => filter.limit = n,
                _ => errors.push(FieldError::new("limit", "must be a whole number from 1 to 500")),
            },
            other => errors.push(FieldError::new(
                other,
                "is not a known parameter (status, cursor, limit)",
            )),
        }
    }
    if errors.is_empty() {
        Ok(filter)
    } else {
        Err(ApiError::query(errors))
    }
}

fn message_id(text: &str) -> Result<i64, ApiError> {
    Some(text)
        .filter(|t| !t.is_empty() && t.len() <= 18 && t.bytes().all(|b| b.is_ascii_digit()) && !t.starts_with('0'))
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| ApiError::NotFound(format!("no message with id {text:?}")))
}

/// One message, with its status history.
#[utoipa::path(get, path = "/api/messages/{id}", tag = "messages", operation_id = "getMessage",
    params(("id" = i64, Path, description = "Message id", minimum = 1)),
    responses(
        (status = 200, description = "The message", body = Envelope<MessageDto>),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 404, description = "No such message", body = ErrorEnvelope),
        (status = 429, description = "Read budget spent", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(State(app): State<Gateway>, _caller: Reader, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = message_id(&id)?;
    let (message, history) = app
        .store()
        .message(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no message with id {id}")))?;
    Ok(ok(MessageDto::from_record(&message).with_history(&history)).into_response())
}

/// Cancel a message that is still queued.
#[utoipa::path(delete, path = "/api/messages/{id}", tag = "messages", operation_id = "cancelMessage",
    params(("id" = i64, Path, description = "Message id", minimum = 1)),
    responses(
        (status = 200, description = "Cancelled: it will not be sent", body = Envelope<MessageDto>),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 404, description = "No such message", body = ErrorEnvelope),
        (status = 409, description = "Not queued any more (sending, sent, failed or cancelled)", body = ErrorEnvelope),
        (status = 429, description = "Read budget spent", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn cancel(State(app): State<Gateway>, _caller: Reader, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = message_id(&id)?;
    match app.lifecycle().cancel(id).await? {
        CancelOutcome::Cancelled(message) => Ok(ok(MessageDto::from_record(&message)).into_response()),
        CancelOutcome::NotQueued(status) => Err(ApiError::Conflict(format!(
            "message {id} is {}; only queued messages can be cancelled",
            status.as_str()
        ))),
        CancelOutcome::NotFound => Err(ApiError::NotFound(format!("no message with id {id}"))),
    }
}
