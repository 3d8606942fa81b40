//! A request being built against one gateway: its key, headers and body; `send` reads the
//! answer as the envelope, `raw` leaves it to the caller.

use std::time::Duration;

use reqwest::header::HeaderValue;
use serde_json::Value;

use crate::Answer;

/// A request being built; `send` checks the envelope of whatever comes back.
pub struct Call {
    /// `METHOD /path`, named in every failure.
    what: String,
    builder: reqwest::RequestBuilder,
}

impl Call {
    pub(crate) fn new(what: String, builder: reqwest::RequestBuilder) -> Self {
        Self { what, builder }
    }

    /// The key in `X-API-Key`.
    pub fn key(self, key: &str) -> Self {
        self.header("x-api-key", key)
    }

    /// The key as `Authorization: Bearer`.
    pub fn bearer(self, key: &str) -> Self {
        self.header("authorization", format!("Bearer {key}"))
    }

    /// A header; the value may be any bytes a header allows (`HeaderValue::from_bytes`).
    pub fn header<V>(self, name: &str, value: V) -> Self
    where
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<axum::http::Error>,
    {
        self.map(|b| b.header(name, value))
    }

    pub fn json(self, body: &Value) -> Self {
        self.map(|b| b.json(body))
    }

    /// A multipart form (media uploads).
    pub fn multipart(self, form: reqwest::multipart::Form) -> Self {
        self.map(|b| b.multipart(form))
    }

    /// A body sent as is, with this content type.
    pub fn body(self, content_type: &str, body: impl Into<reqwest::Body>) -> Self {
        self.map(|b| b.header("content-type", content_type).body(body))
    }

    /// Fails the request (and so the test) when no answer comes within `limit`.
    pub fn timeout(self, limit: Duration) -> Self {
        self.map(|b| b.timeout(limit))
    }

    fn map(self, f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder) -> Self {
        Self {
            builder: f(self.builder),
            ..self
        }
    }

    /// Sends, and checks the answer has the envelope and a request id.
    pub async fn send(self) -> Answer {
        let what = self.what.clone();
        self.try_send().await.unwrap_or_else(|e| panic!("{what}: {}", why(&e)))
    }

    /// [`Call::send`], but a transport failure (no answer, a connection cut while the gateway
    /// is killed) is returned, not a panic. A malformed answer still panics.
    pub async fn try_send(self) -> Result<Answer, reqwest::Error> {
        let response = self.builder.send().await?;
        let response = with_request_id(&self.what, response);
        Answer::read(self.what, response).await
    }

    /// Sends; the answer is the caller's to check (documents, metrics, pages) beyond its
    /// request id.
    pub async fn raw(self) -> reqwest::Response {
        let response = self
            .builder
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {}", self.what, why(&e)));
        with_request_id(&self.what, response)
    }
}

/// Every answer of the gateway carries an `X-Request-Id`.
fn with_request_id(what: &str, response: reqwest::Response) -> reqwest::Response {
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(!id.is_empty(), "{what} → {}: no X-Request-Id", response.status());
    response
}

fn why(e: &reqwest::Error) -> String {
    match e.is_timeout() {
        true => "no answer within the time limit".to_string(),
        false => format!("{e:?}"),
    }
}
