//! Calling the gateway: requests with a key, answers checked against the envelope
//! (`{"success","data","error","code"}`), the usual calls as one-liners, and polling with a
//! deadline instead of sleeping.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::harness::Gateway;

/// How a request presents its key.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// The gateway's admin key in `X-API-Key`.
    Admin,
    ApiKey(&'a str),
    Bearer(&'a str),
    None,
}

/// An answer: status, headers and the JSON envelope.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a successful answer with this status.
    #[track_caller]
    pub fn ok(self, status: u16) -> Self {
        assert_eq!(self.status, status, "unexpected answer: {}", self.body);
        assert_eq!(self.body["success"], true, "{}", self.body);
        assert_eq!(self.body["code"], "", "{}", self.body);
        self
    }

    /// Asserts an error answer with this status and machine code, and a sentence for people.
    #[track_caller]
    pub fn err(self, status: u16, code: &str) -> Self {
        assert_eq!(
            (self.status, self.body["code"].as_str()),
            (status, Some(code)),
            "unexpected answer: {}",
            self.body
        );
        assert_eq!(self.body["success"], false, "{}", self.body);
        assert!(
            self.body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "an error needs a sentence: {}",
            self.body
        );
        self
    }

    /// The fields named in `data.details`.
    pub fn detail_fields(&self) -> Vec<String> {
        fields_of(&self.data()["details"])
    }
}

pub fn fields_of(details: &Value) -> Vec<String> {
    details
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["field"].as_str().map(str::to_string))
        .collect()
}

/// Sends a request and reads the envelope, which every `/api` answer must be.
pub async fn call(request: RequestBuilder) -> Resp {
    try_call(request).await.expect("the gateway answers")
}

/// [`call`], but a transport failure (no answer, connection dropped) is returned, not a panic.
pub async fn try_call(request: RequestBuilder) -> Result<Resp, reqwest::Error> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await?;
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("HTTP {status}: body is not JSON ({e}): {text:?}"));
    assert!(
        headers.contains_key("x-request-id"),
        "HTTP {status}: every answer carries X-Request-Id"
    );
    for field in ["success", "data", "error", "code"] {
        assert!(
            body.get(field).is_some(),
            "HTTP {status}: the envelope lacks `{field}`: {body}"
        );
    }
    Ok(Resp { status, headers, body })
}

/// Polls `probe` every 20 ms until it yields a value; panics naming `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Gateway {
    pub fn request(&self, method: Method, path: &str, auth: Auth<'_>) -> RequestBuilder {
        let request = self.client().request(method, self.url(path));
        match auth {
            Auth::Admin => request.header("X-API-Key", self.key()),
            Auth::ApiKey(key) => request.header("X-API-Key", key),
            Auth::Bearer(key) => request.header("Authorization", format!("Bearer {key}")),
            Auth::None => request,
        }
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path, Auth::Admin)
    }

    pub fn post(&self, path: &str, body: Value) -> RequestBuilder {
        self.request(Method::POST, path, Auth::Admin).json(&body)
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path, Auth::Admin)
    }

    /// `POST /api/messages {"to","text"}` with the admin key.
    pub async fn send_text(&self, to: &str, text: &str) -> Resp {
        call(self.post("/api/messages", json!({ "to": to, "text": text }))).await
    }

    /// Checks that a send was accepted (`queued` or `sent`); returns its id.
    #[track_caller]
    pub fn accepted(resp: &Resp) -> i64 {
        assert!(
            resp.status == 200 || resp.status == 202,
            "send refused: {} {}",
            resp.status,
            resp.body
        );
        let status = resp.data()["status"].as_str().unwrap_or_default().to_string();
        assert!(
            status == "queued" || status == "sent",
            "send answered {status}: {}",
            resp.body
        );
        resp.data()["id"].as_i64().expect("data.id")
    }

    /// `POST /api/messages/batch {"items": …}`.
    pub async fn batch(&self, items: Value) -> Resp {
        call(self.post("/api/messages/batch", json!({ "items": items }))).await
    }

    pub async fn status(&self) -> Value {
        call(self.get("/api/status")).await.ok(200).data().clone()
    }

    /// `GET /api/messages/{id}` (with its history).
    pub async fn message(&self, id: i64) -> Value {
        call(self.get(&format!("/api/messages/{id}")))
            .await
            .ok(200)
            .data()
            .clone()
    }

    /// Every message of `GET /api/messages?QUERY`, following the cursor.
    pub async fn messages(&self, query: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/messages?limit=500&{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = call(self.get(&path)).await.ok(200);
            all.extend(page.data()["items"].as_array().expect("items").iter().cloned());
            match page.data()["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return all,
            }
        }
    }

    /// The status of every message, by id.
    pub async fn statuses(&self) -> HashMap<i64, Value> {
        self.messages("")
            .await
            .into_iter()
            .map(|m| (m["id"].as_i64().expect("id"), m))
            .collect()
    }

    /// `POST /api/simulator {"action": …}` (admin).
    pub async fn sim(&self, action: &str) {
        call(self.post("/api/simulator", json!({ "action": action })))
            .await
            .ok(200);
    }

    /// Waits until nothing is queued or being sent.
    pub async fn drained(&self, timeout: Duration) {
        eventually("the queue to drain", timeout, || async {
            (self.status().await["pendingMessages"] == 0).then_some(())
        })
        .await;
    }

    /// Waits until message `id` has `status`; returns it.
    pub async fn wait_status(&self, id: i64, status: &str, timeout: Duration) -> Value {
        eventually(&format!("message {id} to be {status}"), timeout, || async {
            let m = self.message(id).await;
            (m["status"] == status).then_some(m)
        })
        .await
    }

    /// Waits until the simulator recorded at least `n` sends; returns the record.
    pub async fn recorded(&self, n: usize, timeout: Duration) -> Vec<Value> {
        eventually(&format!("{n} sends in the record"), timeout, || async {
            let record = self.record();
            (record.len() >= n).then_some(record)
        })
        .await
    }
}
