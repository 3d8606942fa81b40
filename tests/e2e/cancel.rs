//! `DELETE /api/messages/{id}`: a queued message is cancelled and never sent; a sent one cannot
//! be; an unknown one is 404.

use std::time::Duration;

use crate::{Gateway, Setup, TO};

#[tokio::test]
async fn cancelled_message_is_never_sent_and_only_queued_ones_cancel() {
    let gw = Gateway::start(
        Setup::new()
            .set("antiban.min_gap", "1s")
            .set("antiban.max_gap", "1s")
            .set("antiban.sync_wait", "0s"),
    )
    .await;
    let mut ids = Vec::new();
    for text in ["first", "second", "third, to be cancelled"] {
        ids.push(gw.send_text(&gw.admin, TO, text).await.accepted());
    }
    let (first, second, third) = (ids[0], ids[1], ids[2]);

    let cancelled = gw.delete(&format!("/api/messages/{third}")).send().await.expect(200);
    assert_eq!(
        (cancelled.data()["id"].as_i64(), cancelled.data()["status"].as_str()),
        (Some(third), Some("cancelled"))
    );
    assert_eq!(
        gw.status().await["pendingMessages"],
        2,
        "the cancelled one left the queue"
    );
    gw.delete(&format!("/api/messages/{third}"))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    gw.delete("/api/messages/999999")
        .send()
        .await
        .expect_error(404, "NOT_FOUND");
    gw.delete("/api/messages/not-a-number")
        .send()
        .await
        .expect_error(404, "NOT_FOUND");
    let fourth = gw
        .send_text(&gw.admin, TO, "fourth, queued after the cancel")
        .await
        .accepted();

    gw.wait_status(first, "sent", Duration::from_secs(10)).await;
    gw.delete(&format!("/api/messages/{first}"))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    assert_eq!(
        gw.message(first).await["status"],
        "sent",
        "a refused cancel changes nothing"
    );

    // FIFO: had the third been sent, it would be before the fourth.
    gw.wait_status(fourth, "sent", Duration::from_secs(15)).await;
    let sent: Vec<i64> = gw.record().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(sent, [first, second, fourth]);
    let third_now = gw.message(third).await;
    assert_eq!(third_now["status"], "cancelled");
    let history: Vec<&str> = third_now["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["status"].as_str())
        .collect();
    assert_eq!(history, ["queued", "cancelled"]);
}

#[tokio::test]
async fn message_cancelled_while_typing_is_never_sent() {
    // Typing takes 100 ms a character, at most 1.5 s; the gap after a send, 1–2 ms.
    let gw = Gateway::start(
        Setup::new()
            .set("antiban.min_gap", "1ms")
            .set("antiban.max_gap", "2ms")
            .set("antiban.typing_min", "1ms")
            .set("antiban.typing_per_char", "100ms")
            .set("antiban.typing_max", "1500ms")
            .set("antiban.sync_wait", "0s"),
    )
    .await;
    let before = gw.send_text(&gw.admin, TO, "a").await.accepted();
    let typed = gw.send_text(&gw.admin, TO, "typing… then cancelled").await.accepted();
    // Once the one before is sent, the sender is a gap away from typing this one for 1.5 s.
    gw.wait_status(before, "sent", Duration::from_secs(10)).await;
    let cancelled = gw.delete(&format!("/api/messages/{typed}")).send().await.expect(200);
    assert_eq!(cancelled.data()["status"], "cancelled");
    let next = gw
        .send_text(&gw.admin, TO, "sent after the cancelled one")
        .await
        .accepted();
    gw.wait_status(next, "sent", Duration::from_secs(10)).await;
    let sent: Vec<i64> = gw.record().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(sent, [before, next], "the message cancelled while typing never left");
    assert_eq!(gw.message(typed).await["status"], "cancelled");
}
