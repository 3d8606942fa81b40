//! `/api/keys` (admin): list, create (the secret is shown once), revoke.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::dto::Role;
use super::dto::{CreatedKeyDto, KeyDto};
use crate::auth::create_key;
use crate::gateway::Gateway;
use crate::http::{Admin, ApiError, Envelope, ErrorEnvelope, JsonBody, ok};
use crate::send::FieldError;
use crate::store::RevokeOutcome;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// A label for people: what or who uses the key (1–100 characters, no control characters,
    /// not only white space).
    #[schema(
        example = "billing app",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    pub role: Role,
}

/// Every key: name, prefix, role, last use, status.
#[utoipa::path(get, path = "/api/keys", tag = "keys", operation_id = "listKeys",
    responses(
        (status = 200, description = "Keys, newest first", body = Envelope<Vec<KeyDto>>),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key", body = ErrorEnvelope),
        (status = 429, description = "Read budget spent", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(State(app): State<Gateway>, _admin: Admin) -> Result<Response, ApiError> {
    let keys = app.store().list_keys().await?;
    Ok(ok(keys.iter().map(KeyDto::from_row).collect::<Vec<_>>()).into_response())
}

/// Create a key. The answer holds the whole key: it is never shown again.
#[utoipa::path(post, path = "/api/keys", tag = "keys", operation_id = "createKey", request_body = CreateKeyRequest,
    responses(
        (status = 201, description = "Created; `secret` is the key to use", body = Envelope<CreatedKeyDto>,
            links(("revoke" = (operation_id = "revokeKey", parameters(("id" = "$response.body#/data/id")))))),
        (status = 400, description = "Body is not JSON of the right shape", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key", body = ErrorEnvelope),
        (status = 422, description = "Invalid name", body = ErrorEnvelope),
        (status = 429, description = "Read budget spent", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(app): State<Gateway>,
    Admin(admin): Admin,
    JsonBody(req): JsonBody<CreateKeyRequest>,
) -> Result<Response, ApiError> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::fields(vec![FieldError::new(
            "name",
            "must be 1 to 100 printable characters",
        )]));
    }
    let (key, row) = create_key(app.store(), name, req.role.into(), app.clock().now_ms()).await?;
    tracing::info!(key = %row.id, role = row.role.as_str(), by = %admin.key_id, "key created");
    let body = ok(CreatedKeyDto {
        key: KeyDto::from_row(&row),
        secret: key.expose().to_string(),
    });
    let mut response = (StatusCode::CREATED, body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Revoke a key: the very next request with it fails.
#[utoipa::path(delete, path = "/api/keys/{id}", tag = "keys", operation_id = "revokeKey",
    params(("id" = String, Path, description = "The key's 8-character public id")),
    responses(
        (status = 200, description = "Revoked", body = Envelope<KeyDto>),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key", body = ErrorEnvelope),
        (status = 404, description = "No such key", body = ErrorEnvelope),
        (status = 409, description = "It is the last active admin key", body = ErrorEnvelope),
        (status = 429, description = "Read budget spent", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn revoke(
    State(app): State<Gateway>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match app.store().revoke_key(&id, app.clock().now_ms()).await? {
        RevokeOutcome::Revoked(row) => {
            tracing::info!(key = %row.id, by = %admin.key_id, "key revoked");
            Ok(ok(KeyDto::from_row(&row)).into_response())
        }
        RevokeOutcome::LastAdmin => Err(ApiError::Conflict(
            "this is the last active admin key; create another admin key first".into(),
        )),
        RevokeOutcome::NotFound => Err(ApiError::NotFound(format!("no key with id {id:?}"))),
    }
}
