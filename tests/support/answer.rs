//! An answer read as the envelope `{success, data, error, code}`, checked on arrival, with the
//! assertions tests make on it.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// An answer in the envelope `{success, data, error, code}`.
#[derive(Debug)]
pub struct Answer {
    /// `METHOD /path` of the request.
    pub what: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    /// The body exactly as received.
    pub text: String,
}

impl Answer {
    /// Reads the body and checks the envelope: JSON, exactly the four fields, `success`
    /// matching the status, and an error with a sentence and a code. Only a transport failure
    /// (the body cut off) is returned; a malformed answer panics.
    pub(crate) async fn read(what: String, response: reqwest::Response) -> Result<Self, reqwest::Error> {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "{what} → {status}: content type {content_type:?}: {text}"
        );
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what} → {status}: not JSON ({e}): {text}"));
        let mut keys: Vec<&str> = body
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["code", "data", "error", "success"],
            "{what} → {status}: not the envelope: {text}"
        );
        let success = body["success"]
            .as_bool()
            .unwrap_or_else(|| panic!("{what}: success is not a boolean: {text}"));
        let (Some(error), Some(code)) = (body["error"].as_str(), body["code"].as_str()) else {
            panic!("{what}: error and code must be strings: {text}")
        };
        if success {
            assert!(status.is_success(), "{what} → {status} with success true: {text}");
            assert_eq!(
                (error, code),
                ("", ""),
                "{what}: a success carries empty error and code: {text}"
            );
        } else {
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{what} → {status} with success false: {text}"
            );
            assert!(
                !error.is_empty() && !code.is_empty(),
                "{what}: an error needs a sentence and a code: {text}"
            );
        }
        Ok(Self {
            what,
            status,
            headers,
            body,
            text,
        })
    }

    /// Asserts a success with this HTTP status.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "{}: {}", self.what, self.text);
        assert_eq!(self.body["success"], true, "{}: {}", self.what, self.text);
        self
    }

    /// Asserts an error with this HTTP status and machine code.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Self {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, code),
            "{}: {}",
            self.what,
            self.text
        );
        self
    }

    /// Asserts a send was accepted — `200 sent` or `202 queued` — and returns the message id.
    #[track_caller]
    pub fn accepted(&self) -> i64 {
        let status = self.data()["status"].as_str().unwrap_or_default();
        assert!(
            matches!(self.status.as_u16(), 200 | 202) && matches!(status, "sent" | "queued"),
            "{}: not accepted: {} {}",
            self.what,
            self.status,
            self.text
        );
        self.data()["id"].as_i64().expect("data.id")
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }

    /// A header's value; panics when it is missing.
    #[track_caller]
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("{}: no {name} header", self.what))
            .to_str()
            .expect("ASCII header")
    }

    /// The fields named in `data.details`, in order; panics when there are no details.
    #[track_caller]
    pub fn detail_fields(&self) -> Vec<String> {
        assert!(
            self.data()["details"].is_array(),
            "{}: no data.details: {}",
            self.what,
            self.text
        );
        fields(&self.data()["details"])
    }
}

/// The fields named in a `details` array (`[{"field", "message"}, …]`), in order.
pub fn fields(details: &Value) -> Vec<String> {
    details
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| d["field"].as_str().expect("a detail names its field").to_string())
        .collect()
}

/// The ids of a listing page's items, in order.
pub fn ids(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect()
}
