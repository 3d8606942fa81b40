//! One gateway as its tests reach it: an HTTP client, the base URL and the admin key, with the
//! usual calls as one-liners.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::{Answer, Call, eventually, eventually_within};

/// How a test reaches one gateway. Each level's `Gateway` dereferences to one (the end-to-end
/// one makes a new one at every start: the port changes).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// The admin key the gateway was started with.
    pub admin: String,
}

/// A key created through the API.
pub struct Key {
    pub id: String,
    pub secret: String,
}

impl Client {
    /// `base` is the gateway's origin, e.g. `http://127.0.0.1:PORT`.
    pub fn new(http: reqwest::Client, base: String, admin: String) -> Self {
        Self { http, base, admin }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The underlying client, for requests [`Call`] does not make (traffic from many tasks).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A request without a key.
    pub fn call(&self, method: Method, path: &str) -> Call {
        Call::new(format!("{method} {path}"), self.http.request(method, self.url(path)))
    }

    /// A request with the admin key.
    pub fn admin(&self, method: Method, path: &str) -> Call {
        self.call(method, path).key(&self.admin)
    }

    /// `GET path` with the admin key.
    pub fn get(&self, path: &str) -> Call {
        self.admin(Method::GET, path)
    }

    /// `POST path` with the admin key and a JSON body.
    pub fn post(&self, path: &str, body: Value) -> Call {
        self.admin(Method::POST, path).json(&body)
    }

    /// `DELETE path` with the admin key.
    pub fn delete(&self, path: &str) -> Call {
        self.admin(Method::DELETE, path)
    }

    /// Creates a key with the admin key; returns the whole key and its public id.
    pub async fn create_key(&self, role: &str) -> Key {
        self.create_key_with(&self.admin, role).await
    }

    /// Creates a key with the admin key `by`.
    pub async fn create_key_with(&self, by: &str, role: &str) -> Key {
        let body = json!({"name": format!("{role} key"), "role": role});
        let answer = self.call(Method::POST, "/api/keys").key(by).json(&body).send().await;
        let data = answer.expect(201).data().clone();
        Key {
            id: data["id"].as_str().expect("id").to_string(),
            secret: data["secret"].as_str().expect("secret").to_string(),
        }
    }

    /// `POST /api/messages` with `key`; the answer is not checked beyond the envelope.
    pub async fn send_text(&self, key: &str, to: &str, text: &str) -> Answer {
        self.call(Method::POST, "/api/messages")
            .key(key)
            .json(&json!({"to": to, "text": text}))
            .send()
            .await
    }

    /// `POST /api/messages/batch {"items": …}` with the admin key.
    pub async fn batch(&self, items: Value) -> Answer {
        self.post("/api/messages/batch", json!({ "items": items })).send().await
    }

    /// Drives the simulated session (`link`, `disconnect`, `logout`); returns the new state.
    pub async fn simulate(&self, action: &str) -> String {
        let answer = self
            .post("/api/simulator", json!({"action": action}))
            .send()
            .await
            .expect(200);
        answer.data()["state"].as_str().expect("state").to_string()
    }

    /// `GET /healthz` (no key needed); the answer is not checked beyond the envelope.
    pub async fn health(&self) -> Answer {
        self.call(Method::GET, "/healthz").send().await
    }

    /// Asserts the gateway is healthy: `GET /healthz` answers 200 with status `ok`.
    pub async fn healthy(&self) {
        let answer = self.health().await.expect(200);
        assert_eq!(answer.data()["status"], "ok", "{}", answer.text);
    }

    /// `GET /api/status` with `key`; the answer is not checked beyond the envelope.
    pub async fn status_as(&self, key: &str) -> Answer {
        self.call(Method::GET, "/api/status").key(key).send().await
    }

    /// `GET /api/status` with the admin key.
    pub async fn status(&self) -> Value {
        self.get("/api/status").send().await.expect(200).data().clone()
    }

    /// `GET /api/messages/{id}` (with its history) with the admin key.
    pub async fn message(&self, id: i64) -> Value {
        self.get(&format!("/api/messages/{id}"))
            .send()
            .await
            .expect(200)
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
            let page = self.get(&path).send().await.expect(200);
            all.extend(page.data()["items"].as_array().expect("items").iter().cloned());
            match page.data()["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return all,
            }
        }
    }

    /// Every message, by id.
    pub async fn statuses(&self) -> HashMap<i64, Value> {
        self.messages("")
            .await
            .into_iter()
            .map(|m| (m["id"].as_i64().expect("id"), m))
            .collect()
    }

    /// Waits until message `id` is sent, failed or cancelled; returns it.
    pub async fn final_message(&self, id: i64) -> Value {
        eventually(&format!("message {id} to reach a final status"), || async {
            let message = self.message(id).await;
            matches!(message["status"].as_str(), Some("sent" | "failed" | "cancelled")).then_some(message)
        })
        .await
    }

    /// Waits up to `deadline` until message `id` has `status`; returns it.
    pub async fn wait_status(&self, id: i64, status: &str, deadline: Duration) -> Value {
        eventually_within(&format!("message {id} to be {status}"), deadline, || async {
            let message = self.message(id).await;
            (message["status"] == status).then_some(message)
        })
        .await
    }

    /// Waits up to `deadline` until nothing is queued or being sent.
    pub async fn drained(&self, deadline: Duration) {
        eventually_within("the queue to drain", deadline, || async {
            (self.status().await["pendingMessages"] == 0).then_some(())
        })
        .await;
    }

    /// The served OpenAPI document (no key needed).
    pub async fn openapi(&self) -> Value {
        self.call(Method::GET, "/api/openapi.json")
            .raw()
            .await
            .json()
            .await
            .expect("the OpenAPI document is JSON")
    }
}
