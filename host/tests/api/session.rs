//! Session gates, driven through `POST /api/simulator`: logged out refuses sends and checks with
//! 503; disconnected accepts sends as `queued` and sends them once linked again.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::support::{Gateway, ON_WHATSAPP};

async fn connection_state(gw: &Gateway) -> String {
    gw.status().await["connection"]["state"]
        .as_str()
        .expect("state")
        .to_string()
}

#[tokio::test]
async fn logged_out_refuses_sends_and_checks_with_503() {
    let gw = Gateway::start(&[]).await;
    assert_eq!(connection_state(&gw).await, "connected");
    assert_eq!(gw.simulate("logout").await, "waiting_for_qr");
    assert_eq!(connection_state(&gw).await, "waiting_for_qr");
    let refused = gw
        .send_text(&gw.admin, ON_WHATSAPP, "nobody is linked")
        .await
        .expect_error(503, "WHATSAPP_NOT_CONNECTED");
    assert!(
        refused.error().contains("QR"),
        "the sentence says what to do: {}",
        refused.error()
    );
    let check = gw
        .admin(Method::POST, "/api/numbers/check")
        .json(&json!({"numbers": [ON_WHATSAPP]}));
    check.send().await.expect_error(503, "WHATSAPP_NOT_CONNECTED");
    let status = gw.status().await;
    assert_eq!(status["pendingMessages"], 0, "a refused send is not queued");
    assert_eq!(status["connection"]["number"], serde_json::Value::Null);
    assert_eq!(gw.simulate("link").await, "connected");
    gw.send_text(&gw.admin, ON_WHATSAPP, "linked again").await.expect(200);
    gw.stop().await;
}

#[tokio::test]
async fn disconnected_accepts_sends_as_queued() {
    let gw = Gateway::start(&[]).await;
    assert_eq!(gw.simulate("disconnect").await, "reconnecting");
    let status = gw.status().await;
    assert_eq!(status["connection"]["state"], "reconnecting");
    assert!(status["connection"]["lastError"].is_string());
    let answer = gw.send_text(&gw.admin, ON_WHATSAPP, "wait for me").await.expect(202);
    assert_eq!(answer.data()["status"], "queued");
    let id = answer.data()["id"].as_i64().expect("id");
    assert_eq!(gw.status().await["pendingMessages"], 1);
    assert_eq!(
        gw.message(id).await["status"],
        "queued",
        "the queue pauses while disconnected"
    );
    assert_eq!(gw.simulate("link").await, "connected");
    assert_eq!(connection_state(&gw).await, "connected");
    assert_eq!(gw.final_message(id).await["status"], "sent");
    gw.stop().await;
}

/// Regression: a send while disconnected waited the whole `sync_wait` for a send that cannot
/// happen, when the disconnect came during the anti-ban gap (the sender's view of its next start
/// was stale). It must answer `queued` at once.
#[tokio::test]
async fn a_send_while_disconnected_during_a_gap_is_answered_at_once() {
    let gw = Gateway::start(&[
        ("antiban.min_gap", "\"10s\""),
        ("antiban.max_gap", "\"10s\""),
        ("antiban.sync_wait", "\"15s\""),
    ])
    .await;
    assert_eq!(gw.simulate("disconnect").await, "reconnecting");
    let send = gw
        .admin(Method::POST, "/api/messages")
        .json(&json!({"to": ON_WHATSAPP, "text": "paused"}));
    let answer = send.timeout(Duration::from_secs(2)).send().await.expect(202);
    assert_eq!(answer.data()["status"], "queued");
    gw.stop().await;
}
