//! HTTP: the accept loop ([`serve`]), the edge every request passes ([`edge`]), what handlers
//! extract from requests ([`extract`]), and the one error-to-envelope mapping ([`error`]).

mod edge;
mod error;
mod extract;
mod serve;

pub use edge::edge;
pub use error::{ApiError, Envelope, ErrorCode, ErrorEnvelope, ok};
pub use extract::{Admin, JsonBody, Reader, RequestCtx, Sender, idempotency_key};
pub use serve::{serve, tls_acceptor};

use axum::Router;
use axum::http::StatusCode;

use crate::app::App;

/// The whole HTTP surface: routes, then the edge around all of them.
pub fn router(app: App) -> Router {
    crate::api::routes(&app)
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(axum::middleware::from_fn(edge::edge))
        .with_state(app)
}
