//! `GET /api/plugins` (admin): every plugin in the folder — version, hooks, file hash, state,
//! load error, calls, failures and call latency.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::gateway::Gateway;
use crate::http::{Admin, ApiError, Envelope, ErrorEnvelope, ok};
use crate::plugins::PluginView;

/// The plugins, in call order, then those that failed to load.
#[utoipa::path(get, path = "/api/plugins", tag = "plugins", operation_id = "listPlugins",
    responses(
        (status = 200, description = "Plugins in call order", body = Envelope<Vec<PluginView>>),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key", body = ErrorEnvelope),
        (status = 429, description = "Read budget spent", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(State(app): State<Gateway>, _admin: Admin) -> Result<Response, ApiError> {
    Ok(ok(app.plugins().list()).into_response())
}
