//! The REST API's handlers, one module per resource, and the router that joins them.

mod batch;
mod docs;
pub mod dto;
mod keys;
mod media;
mod messages;
mod numbers;
mod ops;
mod plugins;
mod qr;
mod session;
mod simulator;
mod status;
mod webhooks;

pub use docs::ApiDoc;
pub use qr::terminal as qr_terminal;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::gateway::Gateway;

/// Every route. Unknown routes and wrong methods get the envelope from the edge.
pub fn routes(app: &Gateway) -> Router<Gateway> {
    let limits = &app.config().limits;
    let media_limit = usize::try_from(limits.max_upload)
        .unwrap_or(usize::MAX)
        .saturating_add(1024 * 1024);
    let mut api = Router::new()
        .route("/api/status", get(status::status))
        .route("/api/messages", post(messages::send).get(messages::list))
        .route(
            "/api/messages/media",
            post(media::send_media).layer(DefaultBodyLimit::max(media_limit)),
        )
        .route("/api/messages/batch", post(batch::batch))
        .route("/api/messages/{id}", get(messages::get).delete(messages::cancel))
        .route("/api/numbers/check", post(numbers::check))
        .route("/api/session/qr", get(session::qr_code))
        .route("/api/session/pair", post(session::pair))
        .route("/api/session/logout", post(session::logout))
        .route("/api/keys", get(keys::list).post(keys::create))
        .route("/api/keys/{id}", axum::routing::delete(keys::revoke))
        .route("/api/plugins", get(plugins::list))
        .route("/api/webhooks/failed", get(webhooks::failed))
        .route("/api/webhooks/failed/{id}/retry", post(webhooks::retry))
        .route("/api/webhooks/deliveries/{id}", get(webhooks::delivery))
        .route("/api/openapi.json", get(docs::openapi_json))
        .route("/docs", get(docs::docs_root))
        .route("/docs/", get(docs::docs_index))
        .route("/docs/{*tail}", get(docs::docs_file))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics));
    if app.simulator().is_some() {
        api = api.route("/api/simulator", post(simulator::act));
    }
    api.layer(DefaultBodyLimit::max(limits.max_body))
}
