//! `POST /api/numbers/check`: which numbers are on WhatsApp (cached for `antiban.verify_cache`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::gateway::Gateway;
use crate::http::{ApiError, Envelope, ErrorEnvelope, JsonBody, Sender, ok};
use crate::send::{FieldError, PhoneNumber};
use crate::whatsapp::Gate;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// 1 to 500 numbers: digits with country code, no `+`.
    #[schema(inline, value_type = Vec<super::dto::PhoneText>, min_items = 1, max_items = 500, example = json!(["923001234567"]))]
    pub numbers: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NumberResult {
    pub number: String,
    pub on_whatsapp: bool,
    /// WhatsApp's LID for the number, when known.
    pub lid: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResult {
    pub results: Vec<NumberResult>,
}

const MAX_NUMBERS: usize = 500;

/// Which of the given numbers are on WhatsApp.
#[utoipa::path(post, path = "/api/numbers/check", tag = "numbers", operation_id = "checkNumbers", request_body = CheckRequest,
    responses(
        (status = 200, description = "One result per number, in order", body = Envelope<CheckResult>),
        (status = 400, description = "Body is not JSON of the right shape", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 409, description = "WhatsApp refused the check; `error` carries its reason", body = ErrorEnvelope),
        (status = 422, description = "Invalid numbers", body = ErrorEnvelope),
        (status = 429, description = "Rate limited", body = ErrorEnvelope),
        (status = 503, description = "WhatsApp is not connected", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn check(
    State(app): State<Gateway>,
    _caller: Sender,
    JsonBody(req): JsonBody<CheckRequest>,
) -> Result<Response, ApiError> {
    if req.numbers.is_empty() || req.numbers.len() > MAX_NUMBERS {
        return Err(ApiError::invalid(
            "numbers",
            format!("must hold 1 to {MAX_NUMBERS} numbers"),
        ));
    }
    let mut errors = Vec::new();
    let numbers: Vec<PhoneNumber> = req
        .numbers
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            PhoneNumber::parse(n)
                .map_err(|m| errors.push(FieldError::new(format!("numbers[{i}]"), m)))
                .ok()
        })
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let status = app.session_status();
    if status.gate() != Gate::Open {
        return Err(ApiError::NotConnected(format!(
            "the session is {}; numbers can be checked once connected",
            status.state.as_str()
        )));
    }
    let checks = app.verifier().check(&numbers).await?;
    let results = checks
        .into_iter()
        .map(|c| NumberResult {
            number: c.number.as_str().to_string(),
            on_whatsapp: c.on_whatsapp,
            lid: c.lid,
        })
        .collect();
    Ok(ok(CheckResult { results }).into_response())
}
