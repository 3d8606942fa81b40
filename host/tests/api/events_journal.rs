//! The events hook reads message events from the database journal: an event committed before a
//! stop or crash that no plugin was handed yet is handed on after the restart (its webhook is not
//! lost), and an event handed on again finds the delivery it already produced (same
//! `webhook-id`, nothing sent twice by the gateway).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Gateway, ON_WHATSAPP, eventually, example_plugin, webhook_receiver};

const SECRET: &str = r#""whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw""#;

/// What the receiver got: every POST as `(headers, body)`.
type Received = tokio::sync::mpsc::UnboundedReceiver<(axum::http::HeaderMap, String)>;

/// `message id → webhook-id` of the next `n` deliveries.
async fn next_deliveries(rx: &mut Received, n: usize) -> HashMap<String, String> {
    let mut got = HashMap::new();
    while got.len() < n {
        let (headers, body) = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("a delivery within 20 s")
            .expect("receiver open");
        let id = headers["webhook-id"].to_str().unwrap_or_default().to_string();
        let payload: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(payload["type"], "message.sent", "{payload}");
        got.insert(payload["data"]["id"].as_str().unwrap().to_string(), id);
    }
    got
}

fn db(gw: &Gateway) -> rusqlite::Connection {
    rusqlite::Connection::open(gw.database_path()).expect("open the database")
}

fn cursor(gw: &Gateway) -> i64 {
    db(gw)
        .query_row(
            "SELECT position FROM event_cursors WHERE name = 'plugins:history'",
            [],
            |r| r.get(0),
        )
        .expect("the hook's cursor")
}

fn history_end(gw: &Gateway) -> i64 {
    db(gw)
        .query_row("SELECT MAX(rowid) FROM message_history", [], |r| r.get(0))
        .expect("history")
}

#[tokio::test]
async fn events_not_yet_handed_on_at_a_stop_are_handed_on_after_the_restart_and_repeats_keep_their_id() {
    let (url, mut rx) = webhook_receiver().await;
    let url_literal = format!("{url:?}");
    let overrides = [
        ("plugins.webhook-forward.url", url_literal.as_str()),
        ("plugins.webhook-forward.events", r#"["sent"]"#),
        ("plugins.webhook-forward.secret", SECRET),
        ("plugins.webhook-forward.allow_private", "true"),
    ];
    let gw = Gateway::with_plugins(&[("webhook-forward", example_plugin("webhook-forward"))], &overrides).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let sent = gw.send_text(&gw.admin, ON_WHATSAPP, &format!("journal {n}")).await;
        ids.push(sent.expect(200).data()["id"].as_i64().unwrap().to_string());
    }
    let first = next_deliveries(&mut rx, 3).await;
    eventually("the hook recorded its position", || async {
        (cursor(&gw) == history_end(&gw)).then_some(())
    })
    .await;
    let gw = gw
        .restart_after(&overrides, |database| {
            // The state a crash leaves between a message's commit and its hand-on: the cursor
            // behind every event, and no delivery yet for the second message.
            let c = rusqlite::Connection::open(database).unwrap();
            c.execute(
                "UPDATE event_cursors SET position = 0 WHERE name = 'plugins:history'",
                [],
            )
            .unwrap();
            let deleted = c
                .execute(
                    "DELETE FROM webhook_deliveries WHERE payload LIKE ?1",
                    [format!("%\"id\":\"{}\"%", ids[1])],
                )
                .unwrap();
            assert_eq!(deleted, 1, "the second message's delivery row");
        })
        .await;
    let again = next_deliveries(&mut rx, 1).await;
    assert_eq!(
        again.keys().collect::<Vec<_>>(),
        vec![&ids[1]],
        "only the lost one is delivered"
    );
    assert_ne!(again[&ids[1]], first[&ids[1]], "a new delivery for the lost event");
    eventually("the hook caught up again", || async {
        (cursor(&gw) == history_end(&gw)).then_some(())
    })
    .await;
    let rows: i64 = db(&gw)
        .query_row("SELECT COUNT(*) FROM webhook_deliveries", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 3, "events handed on again found their deliveries");
    // Every delivery done: whatever the gateway sent, the receiver holds (it takes a request
    // before it answers, and a delivery is marked done after the answer).
    eventually("every delivery to be done", || async {
        let pending: i64 = db(&gw)
            .query_row(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE state != 'delivered'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (pending == 0).then_some(())
    })
    .await;
    assert!(rx.try_recv().is_err(), "nothing else was delivered");
    gw.stop().await;
}
