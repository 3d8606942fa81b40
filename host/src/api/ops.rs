//! Operations endpoints without a key: `/healthz` (liveness) and `/metrics` (Prometheus).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::gateway::Gateway;
use crate::http::{ApiError, Envelope, ErrorEnvelope, ok};

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthDto {
    #[schema(example = "ok")]
    pub status: &'static str,
    /// The WhatsApp session's state: informative (a logged-out gateway is still up).
    #[schema(example = "connected")]
    pub session: &'static str,
}

/// Liveness: 200 while every long-lived part runs, 503 `UNHEALTHY` naming those that are down.
///
/// A part is down from the moment it ends or panics until it is restarted (or for good, for a
/// part that cannot be); its cause is in the log, never in the answer.
#[utoipa::path(get, path = "/healthz", tag = "ops", operation_id = "getHealth",
    responses(
        (status = 200, description = "Every part is running", body = Envelope<HealthDto>),
        (status = 503, description = "Parts are down (UNHEALTHY): `data` is `{\"status\": \"degraded\", \"down\": [names]}` — `sender`, `webhooks`, `events-hook`, `plugins-watch`, `session-watch`, `housekeeping`, `http`, `store-writer`, `store-checkpoint`", body = ErrorEnvelope),
    ))]
pub async fn healthz(State(app): State<Gateway>) -> Response {
    let down = app.health().down();
    let answer = if down.is_empty() {
        ok(HealthDto {
            status: "ok",
            session: app.session_status().state.as_str(),
        })
        .into_response()
    } else {
        ApiError::Unhealthy(down).into_response()
    };
    // A prober must see the state now, never a cached one.
    ([(header::CACHE_CONTROL, "no-store")], answer).into_response()
}

pub async fn metrics(State(app): State<Gateway>) -> Response {
    metrics::gauge!("wapi_queue_depth").set(app.store().pending() as f64);
    let (sqlite, sqlite_peak) = crate::store::sqlite_memory();
    metrics::gauge!("wapi_sqlite_memory_bytes").set(sqlite as f64);
    metrics::gauge!("wapi_sqlite_memory_peak_bytes").set(sqlite_peak as f64);
    let state = app.session_status().state;
    for s in crate::whatsapp::ALL_STATES {
        metrics::gauge!("wapi_session_state", "state" => s.as_str()).set(if s == state { 1.0 } else { 0.0 });
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics().render(),
    )
        .into_response()
}
