//! `Idempotency-Key`: a repeat returns the first answer and sends nothing; the same key with
//! another body is refused; batch items keyed per row are never queued twice.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::{Answer, Gateway, Setup, TO};

async fn keyed_send(gw: &Gateway, key: &str, text: &str) -> Answer {
    gw.post("/api/messages", json!({ "to": TO, "text": text }))
        .header("Idempotency-Key", key)
        .send()
        .await
}

fn ids_of(batch: &Answer) -> Vec<i64> {
    batch.data()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["message"]["id"].as_i64().expect("message id"))
        .collect()
}

#[tokio::test]
async fn idempotent_replays_return_the_first_answer_and_send_nothing_twice() {
    let gw = Gateway::start(Setup::new()).await;

    let first = keyed_send(&gw, "order-1001", "your order shipped").await;
    let id = first.accepted();
    assert!(
        !first.headers.contains_key("idempotent-replayed"),
        "a first answer is no replay"
    );
    gw.drained(Duration::from_secs(10)).await;

    for _ in 0..2 {
        let again = keyed_send(&gw, "order-1001", "your order shipped").await;
        assert_eq!(again.status, first.status, "{}", again.body);
        assert_eq!(again.header("idempotent-replayed"), "true");
        assert_eq!(again.data()["id"], id);
        assert_eq!(again.body, first.body, "the first answer, as it was");
    }
    let reused = keyed_send(&gw, "order-1001", "a different text")
        .await
        .expect_error(422, "VALIDATION_ERROR");
    assert!(
        reused.detail_fields().contains(&"Idempotency-Key".to_string()),
        "{}",
        reused.body
    );

    let items: Vec<Value> = (0..3)
        .map(|i| json!({ "to": TO, "text": format!("row {i}"), "idempotencyKey": format!("sheet-row-{i}") }))
        .collect();
    let run1 = gw.batch(json!(items)).await.expect(200);
    assert_eq!(run1.data()["queued"], 3, "{}", run1.body);
    let rerun = gw.batch(json!(items)).await.expect(200);
    assert_eq!(rerun.data()["queued"], 0, "{}", rerun.body);
    assert_eq!(rerun.header("idempotent-replayed"), "true", "every item was a replay");
    assert!(
        rerun.data()["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["replayed"] == true && r["success"] == true),
        "{}",
        rerun.body
    );
    assert_eq!(ids_of(&rerun), ids_of(&run1));

    gw.drained(Duration::from_secs(10)).await;
    let mut times_sent: HashMap<i64, usize> = HashMap::new();
    for entry in gw.record() {
        *times_sent.entry(entry["id"].as_i64().unwrap()).or_default() += 1;
    }
    let mut expected: Vec<i64> = ids_of(&run1);
    expected.push(id);
    expected.sort();
    let mut sent: Vec<i64> = times_sent.keys().copied().collect();
    sent.sort();
    assert_eq!(sent, expected, "exactly the first requests' messages were sent");
    assert!(
        times_sent.values().all(|n| *n == 1),
        "nothing sent twice: {times_sent:?}"
    );
    assert_eq!(gw.statuses().await.len(), 4, "replays queued nothing new");
}
