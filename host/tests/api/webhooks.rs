//! Webhook delivery (PRODUCT.md §5) through a whole gateway: a receiver on 127.0.0.1 in this
//! process (so `allow_private = true`), millisecond retry schedules, and `Webhooks::deliver`
//! called as the plugin runtime will call it. Signatures are checked with an HMAC computed here,
//! not with the gateway's code.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Semaphore;

use crate::support::{Gateway, ON_WHATSAPP, eventually};

/// The Standard Webhooks specification's example secret.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Another secret, for a configuration that changed between two runs.
const OTHER_SECRET: &str = "whsec_c2Vjb25kLXNlY3JldC1mb3Itd2FwaS10ZXN0cw==";

/// How the receiver answers a request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Never answers.
    Hang,
    /// Answers 200 once the test releases a permit.
    Hold,
    /// 200 when the signature verifies with this secret, else 401.
    RequireSignature(&'static str),
}

/// One request as the receiver got it.
#[derive(Debug, Clone)]
struct Seen {
    headers: HeaderMap,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .expect("ASCII header")
    }

    /// Verifies `webhook-signature` with `secret`, computing the HMAC here from the spec's
    /// formula: base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), prefixed `v1,`.
    fn signed_with(&self, secret: &str) -> bool {
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").expect("whsec_"))
            .expect("base64");
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
        let content = format!(
            "{}.{}.{}",
            self.header("webhook-id"),
            self.header("webhook-timestamp"),
            self.body
        );
        mac.update(content.as_bytes());
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        self.header("webhook-signature").split(' ').any(|s| s == expected)
    }
}

#[derive(Debug)]
struct Script {
    first: VecDeque<Reply>,
    then: Reply,
    seen: Vec<Seen>,
    in_flight: usize,
    max_in_flight: usize,
}

/// A webhook receiver on 127.0.0.1: answers the scripted replies in order, then `then`.
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    permits: Arc<Semaphore>,
}

impl Receiver {
    async fn start(first: &[Reply], then: Reply) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let receiver = Self {
            addr: listener.local_addr().expect("address"),
            script: Arc::new(Mutex::new(Script {
                first: first.iter().copied().collect(),
                then,
                seen: Vec::new(),
                in_flight: 0,
                max_in_flight: 0,
            })),
            permits: Arc::new(Semaphore::new(0)),
        };
        let app = axum::Router::new().fallback(receive).with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("receiver") });
        receiver
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/in?token=t", self.addr)
    }

    fn then(&self, reply: Reply) {
        self.script.lock().unwrap().then = reply;
    }

    fn seen(&self) -> Vec<Seen> {
        self.script.lock().unwrap().seen.clone()
    }

    /// Waits until the receiver has seen `n` requests; returns them.
    async fn seen_at_least(&self, n: usize) -> Vec<Seen> {
        eventually(&format!("{n} requests at the receiver"), || async {
            let seen = self.seen();
            (seen.len() >= n).then_some(seen)
        })
        .await
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let seen = Seen { headers, body };
    let reply = {
        let mut s = r.script.lock().unwrap();
        s.seen.push(seen.clone());
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        s.first.pop_front().unwrap_or(s.then)
    };
    let status = match reply {
        Reply::Status(code) => StatusCode::from_u16(code).expect("status"),
        Reply::Hang => std::future::pending().await,
        Reply::Hold => {
            r.permits.acquire().await.expect("permit").forget();
            StatusCode::OK
        }
        Reply::RequireSignature(secret) if seen.signed_with(secret) => StatusCode::OK,
        Reply::RequireSignature(_) => StatusCode::UNAUTHORIZED,
    };
    r.script.lock().unwrap().in_flight -= 1;
    status
}

/// Plugin `hook` may deliver to 127.0.0.1; three attempts milliseconds apart; then `extra`.
fn config(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut config = vec![
        ("plugins.hook.secret", "\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\""),
        ("plugins.hook.allow_private", "true"),
        ("webhooks.retry_schedule", r#"["10ms", "10ms"]"#),
        ("webhooks.timeout", "\"2s\""),
    ];
    config.extend_from_slice(extra);
    config
}

async fn delivery(gw: &Gateway, id: &str) -> Value {
    gw.admin(Method::GET, &format!("/api/webhooks/deliveries/{id}"))
        .send()
        .await
        .expect(200)
        .data()
        .clone()
}

/// Waits until delivery `id` satisfies `done`; returns it.
async fn delivery_when(gw: &Gateway, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    eventually(&format!("delivery {id}: {what}"), || async {
        let d = delivery(gw, id).await;
        done(&d).then_some(d)
    })
    .await
}

async fn delivery_in(gw: &Gateway, id: &str, state: &str) -> Value {
    delivery_when(gw, id, state, |d| d["state"] == state).await
}

async fn dead_letters(gw: &Gateway, query: &str) -> Value {
    gw.admin(Method::GET, &format!("/api/webhooks/failed{query}"))
        .send()
        .await
        .expect(200)
        .data()
        .clone()
}

fn item_ids(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| d["id"].as_str().expect("id"))
        .collect()
}

#[tokio::test]
async fn a_delivery_arrives_signed_with_the_standard_webhooks_headers() {
    let receiver = Receiver::start(&[], Reply::Status(204)).await;
    let gw = Gateway::start(&config(&[])).await;
    let payload = r#"{"type": "message.sent", "data": {"id": 1, "to": "923001234567"}}"#;
    let id = gw
        .webhooks()
        .deliver("hook", &receiver.url(), payload, None)
        .await
        .expect("accepted");
    assert!(id.starts_with("msg_") && !id.contains('.'), "{id}");

    let d = delivery_in(&gw, &id, "delivered").await;
    assert_eq!(
        (&d["attempts"], &d["lastStatus"], &d["plugin"]),
        (&json!(1), &json!(204), &json!("hook"))
    );
    assert_eq!(d["url"], receiver.url());
    assert_eq!(d["payload"], serde_json::from_str::<Value>(payload).unwrap());
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    let got = &seen[0];
    assert_eq!(got.body, payload, "the payload is sent byte for byte");
    assert_eq!(got.header("webhook-id"), id);
    assert_eq!(got.header("content-type"), "application/json");
    assert!(
        got.header("user-agent").starts_with("wapi/"),
        "{}",
        got.header("user-agent")
    );
    let timestamp: i64 = got.header("webhook-timestamp").parse().expect("unix seconds");
    assert!(
        (timestamp - chrono::Utc::now().timestamp()).abs() < 300,
        "timestamp {timestamp}"
    );
    assert!(got.signed_with(SECRET), "signature {}", got.header("webhook-signature"));
    assert!(!got.signed_with(OTHER_SECRET));

    let metrics = gw
        .call(Method::GET, "/metrics")
        .raw()
        .await
        .text()
        .await
        .expect("metrics");
    for line in [
        r#"wapi_webhook_deliveries_total{outcome="accepted"}"#,
        r#"wapi_webhook_deliveries_total{outcome="delivered"}"#,
        r#"wapi_webhook_attempts_total{result="delivered"}"#,
    ] {
        assert!(metrics.contains(line), "/metrics has no {line}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_the_delivery_on_the_third_attempt() {
    let receiver = Receiver::start(&[Reply::Status(500), Reply::Status(500)], Reply::Status(200)).await;
    let gw = Gateway::start(&config(&[])).await;
    let id = gw
        .webhooks()
        .deliver("hook", &receiver.url(), r#"{"n":1}"#, None)
        .await
        .expect("accepted");
    let d = delivery_in(&gw, &id, "delivered").await;
    assert_eq!((&d["attempts"], &d["lastStatus"]), (&json!(3), &json!(200)));
    assert!(d["lastError"].as_str().unwrap().contains("500"), "{d}");
    let seen = receiver.seen();
    assert_eq!(seen.len(), 3);
    for attempt in &seen {
        assert_eq!(attempt.header("webhook-id"), id, "the same id on every attempt");
        assert!(attempt.signed_with(SECRET));
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_delivery_that_never_succeeds_is_dead_lettered_and_an_admin_retry_delivers_it() {
    let receiver = Receiver::start(&[], Reply::Status(500)).await;
    let gw = Gateway::start(&config(&[])).await;
    let deliver = |body: &'static str| {
        let (gw, url) = (&gw, receiver.url());
        async move { gw.webhooks().deliver("hook", &url, body, None).await.expect("accepted") }
    };
    let older = deliver(r#"{"n":1}"#).await;
    let d = delivery_in(&gw, &older, "failed").await;
    assert_eq!((&d["attempts"], &d["lastStatus"]), (&json!(3), &json!(500)), "{d}");
    assert!(d["lastError"].as_str().unwrap().contains("HTTP 500"), "{d}");
    assert!(d["failedAt"].is_string() && d["nextAttemptAt"].is_null(), "{d}");
    let newer = deliver(r#"{"n":2}"#).await;
    delivery_in(&gw, &newer, "failed").await;

    // Newest first, in pages.
    let all = dead_letters(&gw, "").await;
    assert_eq!(item_ids(&all), [newer.as_str(), older.as_str()]);
    let first = &all["items"][1];
    assert_eq!(
        (&first["plugin"], &first["url"], &first["attempts"]),
        (&json!("hook"), &json!(receiver.url()), &json!(3))
    );
    assert!(first.get("payload").is_none(), "listings leave payloads out");
    let page = dead_letters(&gw, "?limit=1").await;
    assert_eq!(item_ids(&page), [newer.as_str()]);
    let cursor = page["nextCursor"].as_str().expect("a next page");
    let page = dead_letters(&gw, &format!("?limit=1&cursor={cursor}")).await;
    assert_eq!(
        (item_ids(&page), &page["nextCursor"]),
        (vec![older.as_str()], &Value::Null)
    );

    receiver.then(Reply::Status(200));
    let retried = gw
        .admin(Method::POST, &format!("/api/webhooks/failed/{older}/retry"))
        .send()
        .await
        .expect(202);
    assert_eq!(
        (&retried.data()["state"], &retried.data()["attempts"]),
        (&json!("pending"), &json!(0))
    );
    let d = delivery_in(&gw, &older, "delivered").await;
    assert_eq!((&d["attempts"], &d["lastStatus"]), (&json!(1), &json!(200)));
    let last = receiver.seen().pop().unwrap();
    assert_eq!(last.header("webhook-id"), older, "a retry keeps the id");
    assert_eq!(item_ids(&dead_letters(&gw, "").await), [newer.as_str()]);

    gw.admin(Method::POST, &format!("/api/webhooks/failed/{older}/retry"))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    gw.admin(Method::POST, "/api/webhooks/failed/msg_nosuchdelivery/retry")
        .send()
        .await
        .expect_error(404, "NOT_FOUND");
    gw.stop().await;
}

#[tokio::test]
async fn a_pending_delivery_survives_a_restart() {
    // The receiver accepts only OTHER_SECRET's signature: the first run (SECRET) cannot deliver,
    // the second (OTHER_SECRET) can, so whoever delivers it is the restarted gateway.
    let receiver = Receiver::start(&[], Reply::RequireSignature(OTHER_SECRET)).await;
    let schedule = ("webhooks.retry_schedule", r#"["200ms", "200ms", "200ms", "200ms"]"#);
    let gw = Gateway::start(&config(&[schedule])).await;
    let id = gw
        .webhooks()
        .deliver("hook", &receiver.url(), r#"{"n":1}"#, None)
        .await
        .expect("accepted");
    let d = delivery_when(&gw, &id, "one failed attempt", |d| d["attempts"] == 1).await;
    assert_eq!((&d["state"], &d["lastStatus"]), (&json!("pending"), &json!(401)));

    let other = (
        "plugins.hook.secret",
        "\"whsec_c2Vjb25kLXNlY3JldC1mb3Itd2FwaS10ZXN0cw==\"",
    );
    let gw = gw.restart(&config(&[schedule, other])).await;
    let d = delivery_in(&gw, &id, "delivered").await;
    assert_eq!(d["lastStatus"], 200);
    let seen = receiver.seen();
    assert!(seen.iter().all(|s| s.header("webhook-id") == id));
    assert!(seen[0].signed_with(SECRET));
    assert!(seen.last().unwrap().signed_with(OTHER_SECRET));
    gw.stop().await;
}

#[tokio::test]
async fn a_changed_config_applies_at_the_next_attempt() {
    let receiver = Receiver::start(&[], Reply::Status(503)).await;
    let schedule = ("webhooks.retry_schedule", r#"["200ms"]"#);
    let gw = Gateway::start(&config(&[
        schedule,
        ("plugins.other.secret", "\"raw secret bytes\""),
        ("plugins.other.allow_private", "true"),
    ]))
    .await;
    let hook = gw
        .webhooks()
        .deliver("hook", &receiver.url(), "{}", None)
        .await
        .expect("accepted");
    let other = gw
        .webhooks()
        .deliver("other", &receiver.url(), "{}", None)
        .await
        .expect("accepted");
    for id in [&hook, &other] {
        delivery_when(&gw, id, "one failed attempt", |d| d["attempts"] == 1).await;
    }
    // Restarted with `hook` no longer allowed private targets and `other` without a secret.
    let gw = gw
        .restart(&[
            ("plugins.hook.secret", "\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\""),
            schedule,
        ])
        .await;
    let d = delivery_in(&gw, &hook, "failed").await;
    assert_eq!((&d["attempts"], &d["lastStatus"]), (&json!(2), &Value::Null), "{d}");
    assert!(d["lastError"].as_str().unwrap().contains("loopback"), "{d}");
    let d = delivery_in(&gw, &other, "failed").await;
    assert!(d["lastError"].as_str().unwrap().contains("plugins.other.secret"), "{d}");
    assert_eq!(receiver.seen().len(), 2, "refused attempts never reach the receiver");
    gw.stop().await;
}

#[tokio::test]
async fn private_targets_and_bad_deliveries_are_refused_at_once() {
    let receiver = Receiver::start(&[], Reply::Status(200)).await;
    let gw = Gateway::start(&config(&[
        ("plugins.strict.secret", "\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\""),
        ("webhooks.max_payload", "\"1KB\""),
    ]))
    .await;
    let port = receiver.addr.port();
    let refusals = [
        (
            "strict",
            format!("http://127.0.0.1:{port}/"),
            "{}".to_string(),
            "loopback",
        ),
        (
            "strict",
            format!("http://localhost:{port}/"),
            "{}".into(),
            "local machine",
        ),
        ("strict", format!("http://[::1]:{port}/"), "{}".into(), "loopback"),
        (
            "strict",
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            "{}".into(),
            "IPv4-mapped loopback",
        ),
        ("strict", "http://10.1.2.3/".into(), "{}".into(), "private"),
        (
            "strict",
            "http://169.254.169.254/latest/meta-data".into(),
            "{}".into(),
            "link-local",
        ),
        ("strict", "http://100.64.0.1/".into(), "{}".into(), "CGNAT"),
        ("hook", format!("ftp://127.0.0.1:{port}/"), "{}".into(), "scheme"),
        (
            "hook",
            format!("http://u:p@127.0.0.1:{port}/"),
            "{}".into(),
            "credentials",
        ),
        ("hook", receiver.url(), "not json".into(), "not JSON"),
        (
            "hook",
            receiver.url(),
            format!("\"{}\"", "x".repeat(1000)),
            "webhooks.max_payload",
        ),
        ("nosecret", receiver.url(), "{}".into(), "plugins.nosecret.secret"),
    ];
    for (plugin, url, payload, why) in &refusals {
        let refused = gw.webhooks().deliver(plugin, url, payload, None).await.expect_err(url);
        assert!(refused.contains(why), "{plugin} {url}: {refused}");
    }
    assert_eq!(item_ids(&dead_letters(&gw, "").await), Vec::<&str>::new());
    // The same loopback target is fine for the plugin whose config allows it.
    let id = gw
        .webhooks()
        .deliver("hook", &receiver.url(), "{}", None)
        .await
        .expect("accepted");
    delivery_in(&gw, &id, "delivered").await;
    assert_eq!(
        receiver.seen().len(),
        1,
        "only the accepted delivery reached the receiver"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_slow_receiver_times_out_and_is_retried_while_sends_answer_promptly() {
    let receiver = Receiver::start(&[Reply::Hang], Reply::Status(200)).await;
    let gw = Gateway::start(&config(&[("webhooks.timeout", "\"1s\"")])).await;
    let id = gw
        .webhooks()
        .deliver("hook", &receiver.url(), "{}", None)
        .await
        .expect("accepted");
    receiver.seen_at_least(1).await;
    // The first attempt hangs at the receiver; a send goes out meanwhile.
    let answer = gw.send_text(&gw.admin, ON_WHATSAPP, "not held up by webhooks").await;
    assert!(answer.status.is_success(), "{}", answer.text);
    assert_eq!(answer.data()["status"], "sent");
    let d = delivery(&gw, &id).await;
    assert_eq!(
        (&d["state"], &d["attempts"]),
        (&json!("pending"), &json!(0)),
        "still in its first attempt: {d}"
    );

    let d = delivery_in(&gw, &id, "delivered").await;
    assert_eq!(d["attempts"], 2);
    assert!(d["lastError"].as_str().unwrap().contains("timed out"), "{d}");
    gw.stop().await;
}

#[tokio::test]
async fn no_more_than_the_configured_attempts_are_in_flight() {
    let receiver = Receiver::start(&[], Reply::Hold).await;
    let gw = Gateway::start(&config(&[("webhooks.concurrency", "2")])).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        let payload = format!(r#"{{"n":{n}}}"#);
        ids.push(
            gw.webhooks()
                .deliver("hook", &receiver.url(), &payload, None)
                .await
                .expect("accepted"),
        );
    }
    receiver.seen_at_least(2).await;
    for n in 3..=4 {
        receiver.permits.add_permits(1);
        receiver.seen_at_least(n).await;
    }
    receiver.permits.add_permits(2);
    for id in &ids {
        delivery_in(&gw, id, "delivered").await;
    }
    assert_eq!(receiver.script.lock().unwrap().max_in_flight, 2);
    gw.stop().await;
}

#[tokio::test]
async fn the_webhook_endpoints_are_for_admins_and_documented() {
    let gw = Gateway::start(&config(&[])).await;
    let user = gw.create_key("user").await;
    for (method, path) in [
        (Method::GET, "/api/webhooks/failed"),
        (Method::POST, "/api/webhooks/failed/msg_x/retry"),
        (Method::GET, "/api/webhooks/deliveries/msg_x"),
    ] {
        gw.call(method.clone(), path)
            .key(&user.secret)
            .send()
            .await
            .expect_error(403, "ADMIN_REQUIRED");
        gw.call(method, path).send().await.expect_error(401, "UNAUTHORIZED");
    }
    for query in ["?limit=0", "?limit=x", "?cursor=bogus", "?status=failed"] {
        gw.admin(Method::GET, &format!("/api/webhooks/failed{query}"))
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
    }
    gw.admin(Method::GET, "/api/webhooks/deliveries/msg_nosuch")
        .send()
        .await
        .expect_error(404, "NOT_FOUND");

    let doc: Value = gw.openapi().await;
    for (path, method) in [
        ("/api/webhooks/failed", "get"),
        ("/api/webhooks/failed/{id}/retry", "post"),
        ("/api/webhooks/deliveries/{id}", "get"),
    ] {
        let operation = &doc["paths"][path][method];
        for status in ["401", "403"] {
            assert!(
                operation["responses"][status].is_object(),
                "{method} {path}: {status} not documented"
            );
        }
    }
    gw.stop().await;
}
