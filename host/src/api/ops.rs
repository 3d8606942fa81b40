//! Operations endpoints without a key: `/healthz` (liveness) and `/metrics` (Prometheus).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::gateway::Gateway;
use crate::http::ok;

/// Alive and answering; the session state is informative (a logged-out gateway is still up).
pub async fn healthz(State(app): State<Gateway>) -> Response {
    ok(json!({ "status": "ok", "session": app.session_status().state.as_str() })).into_response()
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
