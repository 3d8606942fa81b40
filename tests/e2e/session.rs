//! Session states through the simulator's control: a disconnected (still linked) session pauses
//! the queue while sends are still accepted; a logged-out one refuses sends with 503 and holds
//! the queue; linking again drains it.

use std::time::Duration;

use crate::{Gateway, Setup, TO};

/// Asserts that nothing is sent for a while (several gaps of the test configuration). The wait is
/// the assertion — that something does not happen shows only over time; the sender's wait for
/// the session is proven on the paused clock in `host/src/queue/tests.rs`.
async fn nothing_sent_for(gw: &Gateway, quiet: Duration) {
    let before = gw.record().len();
    tokio::time::sleep(quiet).await;
    assert_eq!(gw.record().len(), before, "the queue sent while it should have waited");
}

async fn queue_texts(gw: &Gateway, label: &str, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let resp = gw.send_text(&gw.admin, TO, &format!("{label} {i}")).await.expect(202);
        assert_eq!(resp.data()["status"], "queued", "{}", resp.body);
        ids.push(resp.data()["id"].as_i64().unwrap());
    }
    ids
}

async fn assert_all(gw: &Gateway, ids: &[i64], status: &str) {
    for id in ids {
        assert_eq!(gw.message(*id).await["status"], status, "message {id}");
    }
}

#[tokio::test]
async fn disconnect_pauses_the_queue_and_logout_refuses_and_holds_it_until_link() {
    let gw = Gateway::start(Setup::new()).await;
    let hello = gw.send_text(&gw.admin, TO, "connected: sent at once").await.expect(200);
    assert_eq!(hello.data()["status"], "sent");

    gw.simulate("disconnect").await;
    assert_eq!(gw.status().await["connection"]["state"], "reconnecting");
    let paused = queue_texts(&gw, "while disconnected", 3).await;
    nothing_sent_for(&gw, Duration::from_millis(400)).await;
    assert_all(&gw, &paused, "queued").await;
    assert_eq!(gw.status().await["pendingMessages"], 3);

    gw.simulate("link").await;
    gw.drained(Duration::from_secs(10)).await;
    assert_all(&gw, &paused, "sent").await;
    assert_eq!(gw.record().len(), 4);

    gw.simulate("disconnect").await;
    let held = queue_texts(&gw, "queued before the logout", 2).await;
    gw.simulate("logout").await;
    let status = gw.status().await;
    assert_eq!(status["connection"]["state"], "waiting_for_qr", "{status}");
    gw.send_text(&gw.admin, TO, "nobody is linked")
        .await
        .expect_error(503, "WHATSAPP_NOT_CONNECTED");
    nothing_sent_for(&gw, Duration::from_millis(400)).await;
    assert_all(&gw, &held, "queued").await;
    assert_eq!(gw.status().await["pendingMessages"], 2, "held, not lost");
    let listed: Vec<i64> = gw
        .messages("")
        .await
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    let mut sent_newest_first: Vec<i64> = gw.record().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    sent_newest_first.reverse();
    assert_eq!(
        listed,
        [held.clone(), sent_newest_first].concat(),
        "the list: queued in send order, then the rest newest first"
    );

    gw.simulate("link").await;
    gw.drained(Duration::from_secs(10)).await;
    assert_all(&gw, &held, "sent").await;
    let sent: Vec<i64> = gw.record().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(&sent[4..], held.as_slice());
    assert_eq!(sent.len(), 6, "the refused send was never queued");
}
