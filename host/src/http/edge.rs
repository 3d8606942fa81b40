//! The edge every request passes: a request id, a log span, panics turned into 500 `INTERNAL`,
//! the envelope on answers made outside handlers (404, 405, 413) and on a body that stalled
//! (408), rate-limit and security headers, and request metrics.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Response, StatusCode, header};
use axum::middleware::Next;
use futures_util::FutureExt;
use rand::Rng;
use tracing::Instrument;

use super::error::{Envelope, ErrorCode, InternalMarker, envelope_for_status};
use super::extract::RequestCtx;
use super::serve::BodyStalled;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub async fn edge(mut req: Request, next: Next) -> Response<Body> {
    let started = Instant::now();
    let id = request_id(&req);
    let ctx = Arc::new(RequestCtx {
        id: id.clone(),
        rate: Mutex::new(None),
    });
    req.extensions_mut().insert(ctx.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let stalled = req.extensions().get::<BodyStalled>().cloned();
    let span = tracing::info_span!("request", id = %id, method = %method, path = %path, key = tracing::field::Empty);
    let outcome = AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .instrument(span.clone())
        .await;
    let mut response = match outcome {
        Ok(response) => response,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            span.in_scope(|| tracing::error!(panic = %what, "handler panicked"));
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r.extensions_mut().insert(InternalMarker);
            r
        }
    };
    if stalled.is_some_and(|s| s.is_set()) {
        // Whatever the handler made of the broken body, the cause was the client's silence.
        *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
        response.extensions_mut().remove::<InternalMarker>();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        let body = Envelope::failure(
            ErrorCode::ValidationError,
            "the request body stalled: nothing arrived for longer than server.body_timeout",
            None,
        );
        response = replace_body(response, body);
    }
    let status = response.status();
    if response.extensions().get::<InternalMarker>().is_some() {
        let body = Envelope::failure(
            ErrorCode::Internal,
            format!("internal error; quote request id {id} when reporting it"),
            None,
        );
        response = replace_body(response, body);
    } else if status.is_client_error() && !is_json(&response) {
        response = replace_body(response, envelope_for_status(status));
    }
    let headers = response.headers_mut();
    headers.insert(REQUEST_ID, HeaderValue::from_str(&id).expect("request ids are ASCII"));
    if let Some(info) = *ctx.rate.lock().expect("rate slot") {
        headers.insert(
            "ratelimit-policy",
            HeaderValue::from_str(&info.policy_header()).expect("ascii"),
        );
        headers.insert("ratelimit", HeaderValue::from_str(&info.state_header()).expect("ascii"));
    }
    security_headers(headers, path.starts_with("/api/"));
    let elapsed = started.elapsed();
    let code = status.as_u16().to_string();
    metrics::counter!("wapi_http_requests_total", "route" => route.clone(), "method" => method.to_string(), "status" => code)
        .increment(1);
    metrics::histogram!("wapi_http_request_duration_seconds", "route" => route).record(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::debug!(
            status = status.as_u16(),
            micros = elapsed.as_micros() as u64,
            "answered"
        )
    });
    response
}

/// The client's `X-Request-Id` when it is short and plain, else a fresh one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| format!("{:016x}", rand::rng().random::<u64>()))
}

fn is_json(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

fn replace_body(response: Response<Body>, body: Envelope<Option<serde_json::Value>>) -> Response<Body> {
    let (mut parts, _) = response.into_parts();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.to_json().to_string()))
}

fn security_headers(headers: &mut axum::http::HeaderMap, api: bool) {
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        // API answers are data, never a document: nothing in them may load or run. (The
        // dashboard sets the page's own policy.)
        headers
            .entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    }
}
