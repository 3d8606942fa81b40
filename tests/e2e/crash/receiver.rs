//! The crash suite's webhook receiver: records every request, answers 500 to a seeded share of
//! attempts (at most [`MAX_FAILS`] per delivery) after a short random wait, and verifies each
//! request's Standard Webhooks signature.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use sha2::Sha256;

/// The webhook signing key; the config holds it as `whsec_<base64>`.
pub(super) const KEY: &[u8] = b"wapi crash test: webhook signing key";
/// Share of attempts the receiver answers 500 — at most [`MAX_FAILS`] times per delivery, so
/// every delivery succeeds within the retry schedule and only the gateway can lose one.
pub(super) const FAIL_RATE: f64 = 0.25;
pub(super) const MAX_FAILS: u32 = 2;
/// The receiver takes up to this long to answer, so some kills land while an attempt is in flight.
pub(super) const MAX_ANSWER_MS: u64 = 12;

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub(super) struct Hit {
    pub(super) webhook_id: String,
    pub(super) timestamp: String,
    pub(super) signature: String,
    pub(super) body: String,
    /// Answered 2xx (else 500). Recorded on arrival: a receiver acts on what it got even when
    /// the gateway dies before reading the answer.
    pub(super) accepted: bool,
}

impl Hit {
    /// The Standard Webhooks signature, computed here: `v1,` base64(HMAC-SHA256(key,
    /// "{id}.{timestamp}.{body}")), among the space-separated signatures of the header.
    pub(super) fn signed(&self) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(KEY).expect("HMAC takes any key");
        mac.update(format!("{}.{}.{}", self.webhook_id, self.timestamp, self.body).as_bytes());
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        let fresh = self
            .timestamp
            .parse::<i64>()
            .is_ok_and(|t| (t - chrono::Utc::now().timestamp()).abs() < 300);
        fresh && self.signature.split(' ').any(|s| s == expected)
    }

    /// The message id of a `message.sent` payload.
    pub(super) fn sent_message(&self) -> Option<i64> {
        let payload: Value = serde_json::from_str(&self.body).ok()?;
        (payload["type"] == "message.sent").then_some(())?;
        payload["data"]["id"].as_str()?.parse().ok()
    }
}

pub(super) struct Inbox {
    rng: StdRng,
    failures: HashMap<String, u32>,
    hits: Vec<Hit>,
}

/// A webhook receiver on 127.0.0.1 that fails a random share of attempts and answers slowly.
#[derive(Clone)]
pub(super) struct Receiver {
    addr: SocketAddr,
    inbox: Arc<Mutex<Inbox>>,
}

impl Receiver {
    pub(super) async fn start(seed: u64) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let receiver = Self {
            addr: listener.local_addr().expect("address"),
            inbox: Arc::new(Mutex::new(Inbox {
                rng: StdRng::seed_from_u64(seed),
                failures: HashMap::new(),
                hits: Vec::new(),
            })),
        };
        let app = axum::Router::new().fallback(receive).with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("receiver") });
        receiver
    }

    pub(super) fn url(&self) -> String {
        format!("http://{}/hooks/wapi", self.addr)
    }

    pub(super) fn hits(&self) -> Vec<Hit> {
        self.inbox.lock().unwrap().hits.clone()
    }

    /// Messages whose `message.sent` delivery was accepted at least once.
    pub(super) fn covered(&self) -> HashSet<i64> {
        let inbox = self.inbox.lock().unwrap();
        inbox
            .hits
            .iter()
            .filter(|h| h.accepted)
            .filter_map(Hit::sent_message)
            .collect()
    }
}

pub(super) async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let webhook_id = header("webhook-id");
    let (fail, delay) = {
        let mut inbox = r.inbox.lock().unwrap();
        let failed = inbox.failures.get(&webhook_id).copied().unwrap_or(0);
        let fail = failed < MAX_FAILS && inbox.rng.random_bool(FAIL_RATE);
        if fail {
            *inbox.failures.entry(webhook_id.clone()).or_default() += 1;
        }
        let delay = inbox.rng.random_range(0..=MAX_ANSWER_MS);
        inbox.hits.push(Hit {
            webhook_id,
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            body,
            accepted: !fail,
        });
        (fail, delay)
    };
    tokio::time::sleep(Duration::from_millis(delay)).await;
    match fail {
        true => StatusCode::INTERNAL_SERVER_ERROR,
        false => StatusCode::OK,
    }
}
