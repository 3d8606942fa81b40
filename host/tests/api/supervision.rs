//! Long-lived parts never die silently: a panicking write fails only its group, a crashed task
//! is named by `/healthz` (503 `UNHEALTHY`) until it is restarted, and a part that cannot be
//! restarted stays named. Faults are injected through the hooks of test builds
//! (`wapi::supervise::fault`).

use reqwest::Method;
use serde_json::json;

use crate::support::{Answer, Gateway, ON_WHATSAPP, eventually};

/// The parts restarted when they end unexpectedly.
const RESTARTABLE: [&str; 6] = [
    "events-hook",
    "housekeeping",
    "plugins-watch",
    "sender",
    "session-watch",
    "webhooks",
];

async fn health(gw: &Gateway) -> Answer {
    let answer = gw.call(Method::GET, "/healthz").send().await;
    assert_eq!(
        answer.headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "{}",
        answer.text
    );
    answer
}

/// Waits until `/healthz` names exactly `down` (503), or answers 200 when `down` is empty.
async fn healthz_until(gw: &Gateway, down: &[&str]) -> Answer {
    eventually(&format!("/healthz to name {down:?}"), || async {
        let answer = health(gw).await;
        let named: Vec<&str> = answer.body["data"]["down"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let expected = if down.is_empty() { 200 } else { 503 };
        (answer.status.as_u16() == expected && named == down).then_some(answer)
    })
    .await
}

/// Regression: a panic inside a write job (`expect("row exists")` in the store) ended the one
/// writer thread; every later write answered 500 while `/healthz` said ok.
#[tokio::test]
async fn after_a_write_panics_the_next_send_is_accepted_and_sent() {
    let gw = Gateway::start(&[]).await;
    // A first send writes what later sends only read (the key's last use, the number's check).
    let warm = gw.send_text(&gw.admin, ON_WHATSAPP, "warm-up").await;
    assert!(warm.status.is_success(), "{}", warm.text);
    let faults = gw.health().faults();
    faults.panic_next_writes(1);
    // The send's own write takes the panic, unless a background write (a cursor) took it first.
    let first = gw.send_text(&gw.admin, ON_WHATSAPP, "into a panicking write").await;
    assert_eq!(faults.write_panics_left(), 0, "no write panicked");
    println!("the send during the panic: {} {}", first.status, first.text);
    if !first.status.is_success() {
        assert_eq!(
            (first.status.as_u16(), first.code()),
            (500, "INTERNAL"),
            "{}",
            first.text
        );
    }
    let next = gw.send_text(&gw.admin, ON_WHATSAPP, "after the panic").await;
    assert!(next.status.is_success(), "{}", next.text);
    let id = next.data()["id"].as_i64().expect("id");
    assert_eq!(gw.final_message(id).await["status"], "sent");
    let healthy = health(&gw).await.expect(200);
    assert_eq!(healthy.data()["status"], "ok");
    gw.stop().await;
}

/// Every restartable part, crashed: `/healthz` names them all until they are restarted, then
/// answers 200; the queue holds a message meanwhile and the restarted sender sends it.
#[tokio::test]
async fn crashed_tasks_are_named_by_healthz_until_they_are_restarted() {
    // A send answers at once (202 queued) instead of waiting for a sender that is down.
    let gw = Gateway::start(&[("antiban.sync_wait", r#""0ms""#)]).await;
    health(&gw).await.expect(200);
    let faults = gw.health().faults();
    for part in RESTARTABLE {
        faults.crash(part);
    }
    let down = healthz_until(&gw, &RESTARTABLE).await;
    assert_eq!(down.code(), "UNHEALTHY");
    assert_eq!(down.body["data"]["status"], "degraded");
    assert!(down.body["error"].as_str().unwrap().contains("sender"), "{}", down.text);
    assert!(
        !down.text.contains("fault injection"),
        "the cause is logged, not answered: {}",
        down.text
    );
    let queued = gw
        .send_text(&gw.admin, ON_WHATSAPP, "waits for the sender")
        .await
        .expect(202);
    let id = queued.data()["id"].as_i64().expect("id");
    for part in RESTARTABLE {
        faults.heal(part);
    }
    healthz_until(&gw, &[]).await;
    assert_eq!(gw.final_message(id).await["status"], "sent");
    gw.stop().await;
}

/// The writer thread is not restarted (every write's panic is caught inside it, so only a bug in
/// its own loop ends it): once dead, `/healthz` names it for good.
#[tokio::test]
async fn a_dead_writer_thread_stays_named_by_healthz() {
    let gw = Gateway::start(&[]).await;
    gw.health().faults().crash("store-writer");
    let lost = gw.send_text(&gw.admin, ON_WHATSAPP, "to a dead writer").await;
    assert_eq!(lost.status.as_u16(), 500, "{}", lost.text);
    healthz_until(&gw, &["store-writer"]).await;
    gw.health().faults().heal("store-writer");
    let refused = gw
        .admin(Method::POST, "/api/keys")
        .json(&json!({ "name": "after the writer died", "role": "user" }))
        .send()
        .await;
    assert_eq!(refused.status.as_u16(), 500, "{}", refused.text);
    let still = health(&gw).await;
    assert_eq!(still.status.as_u16(), 503, "{}", still.text);
    assert_eq!(still.body["data"]["down"], json!(["store-writer"]));
    gw.stop().await;
}

/// A sender that dies in the middle of a send may have handed the message to WhatsApp: the
/// restarted sender treats the row as a start treats it (`failed: interrupted`), never sends it
/// again, and does not leave it `sending` for ever.
#[tokio::test]
async fn a_row_the_dead_sender_left_sending_is_failed_interrupted_by_its_successor() {
    let gw = Gateway::start(&[
        ("antiban.sync_wait", r#""0ms""#),
        ("whatsapp.simulator.send_time", r#""1h""#),
    ])
    .await;
    let queued = gw.send_text(&gw.admin, ON_WHATSAPP, "cut off").await.expect(202);
    let id = queued.data()["id"].as_i64().expect("id");
    eventually("the message to be sending", || async {
        (gw.message(id).await["status"] == "sending").then_some(())
    })
    .await;
    gw.health().faults().crash("sender");
    healthz_until(&gw, &["sender"]).await;
    gw.health().faults().heal("sender");
    let message = gw.final_message(id).await;
    assert_eq!(
        (&message["status"], &message["reason"]),
        (&json!("failed"), &json!("interrupted")),
        "{message}"
    );
    healthz_until(&gw, &[]).await;
    gw.stop().await;
}
