//! HTTP: the accept loop ([`serve`]), the edge every request passes ([`edge`]), what handlers
//! extract from requests ([`extract`]), and the envelope with the one error-to-answer mapping
//! ([`error`]). It knows the gateway's services, never the routes: `app` hands it the API's.

mod edge;
mod error;
mod extract;
mod serve;

pub use edge::edge;
pub use error::{ApiError, Envelope, ErrorCode, ErrorEnvelope, FieldDetail, ok};
pub use extract::{Admin, JsonBody, Reader, RequestCtx, Sender, idempotency_key, query_pairs};
pub use serve::{Transport, serve, tls_acceptor};

use axum::Router;
use axum::http::StatusCode;

use crate::gateway::Gateway;

/// The whole HTTP surface: the API's routes, CORS when configured, and the edge around all of
/// them (so preflight answers and unknown routes get a request id and the envelope too).
pub fn router(routes: Router<Gateway>, gateway: Gateway) -> Router {
    let mut routes = routes.fallback(|| async { StatusCode::NOT_FOUND });
    if let Some(cors) = cors(&gateway.config().server.cors_origins) {
        routes = routes.layer(cors);
    }
    routes.layer(axum::middleware::from_fn(edge::edge)).with_state(gateway)
}

/// Cross-origin access stays closed unless `server.cors_origins` names the origins.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static("x-api-key"),
                HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers([
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("ratelimit"),
                HeaderName::from_static("ratelimit-policy"),
                header::RETRY_AFTER,
                HeaderName::from_static("idempotent-replayed"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
