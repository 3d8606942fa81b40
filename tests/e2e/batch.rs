//! `POST /api/messages/batch`: one result per item in order, invalid items named, valid ones
//! sent, and the whole batch counted as one request of the send budget.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{Gateway, Setup, TO};

#[tokio::test]
async fn batch_answers_per_item_and_counts_as_one_request() {
    let gw = Gateway::start(Setup::new().set("limits.requests_per_window", 2)).await;
    let bad_to: [(usize, Option<&str>); 4] = [
        (3, Some("+15550009999")),
        (11, Some("abc")),
        (19, None),
        (27, Some("0123456789")),
    ];
    let items: Vec<Value> = (0..30)
        .map(|i| match bad_to.iter().find(|(at, _)| *at == i) {
            Some((_, Some(to))) => json!({ "to": to, "text": format!("item {i}") }),
            Some((_, None)) => json!({ "text": format!("item {i}") }),
            None => json!({ "to": TO, "text": format!("item {i}") }),
        })
        .collect();

    let batch = gw.batch(json!(items)).await.expect(200);
    assert!(
        batch.header("ratelimit").contains("r=1"),
        "one of two requests left: {:?}",
        batch.header("ratelimit")
    );
    let results = batch.data()["items"].as_array().expect("items");
    assert_eq!(results.len(), 30);
    assert_eq!(
        (batch.data()["queued"].as_u64(), batch.data()["refused"].as_u64()),
        (Some(26), Some(4))
    );
    let mut queued_ids = Vec::new();
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["index"], i, "results keep the items' order");
        if bad_to.iter().any(|(at, _)| *at == i) {
            assert_eq!(
                (result["success"].as_bool(), result["code"].as_str()),
                (Some(false), Some("VALIDATION_ERROR")),
                "{result}"
            );
            let fields = wapi_test_support::fields(&result["details"]);
            assert!(
                fields.contains(&format!("items[{i}].to")),
                "item {i} names its field: {result}"
            );
        } else {
            assert_eq!(
                (result["success"].as_bool(), result["message"]["status"].as_str()),
                (Some(true), Some("queued")),
                "{result}"
            );
            queued_ids.push(result["message"]["id"].as_i64().expect("id"));
        }
    }

    let single = gw
        .send_text(&gw.admin, TO, "the second request of the window")
        .await
        .accepted();
    queued_ids.push(single);
    let limited = gw
        .send_text(&gw.admin, TO, "the third request of the window")
        .await
        .expect_error(429, "RATE_LIMITED");
    let retry_after: u64 = limited.header("retry-after").parse().expect("seconds");
    // Two requests per 15 minutes: one more every 450 s.
    assert!((440..=450).contains(&retry_after), "Retry-After {retry_after} s");
    assert!(
        limited.header("ratelimit").contains("r=0"),
        "{:?}",
        limited.header("ratelimit")
    );
    assert!(
        limited.header("ratelimit-policy").contains("q=2"),
        "{:?}",
        limited.header("ratelimit-policy")
    );
    assert_eq!(
        gw.status().await["pendingMessages"].as_u64().map(|n| n <= 27),
        Some(true),
        "reads have their own budget"
    );

    gw.drained(Duration::from_secs(30)).await;
    let sent: Vec<i64> = gw.record().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(
        sent, queued_ids,
        "every valid item and the single send went out, in order"
    );
    let statuses = gw.statuses().await;
    assert!(queued_ids.iter().all(|id| statuses[id]["status"] == "sent"));
    assert_eq!(statuses.len(), 27, "invalid items were never stored");
}
