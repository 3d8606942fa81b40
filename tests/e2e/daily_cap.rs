//! The daily send cap: refusals with `Retry-After` until UTC midnight, the reset at midnight (on
//! the server's clock, started a few seconds before it), and `DAILY_SEND_LIMIT` over the config.

use std::time::Duration;

use serde_json::json;

use crate::{Gateway, Setup, TO};

#[tokio::test]
async fn daily_cap_refuses_until_utc_midnight_then_accepts_again() {
    let gw = Gateway::start(
        Setup::new()
            .set("antiban.daily_limit", 3)
            .set("antiban.sync_wait", "0s")
            .env("WAPI_CLOCK_START", "2026-11-28T23:59:55Z"),
    )
    .await;
    for i in 0..3 {
        gw.send_text(&gw.admin, TO, &format!("before midnight {i}"))
            .await
            .accepted();
    }
    let status = gw.status().await;
    assert_eq!(
        (status["acceptedToday"].as_u64(), status["dailyLimit"].as_u64()),
        (Some(3), Some(3)),
        "{status}"
    );
    let to_midnight = status["dailyResetIn"].as_u64().expect("dailyResetIn");
    assert!(
        to_midnight <= 5,
        "the server's clock started 5 s before midnight: {status}"
    );

    let refused = gw
        .send_text(&gw.admin, TO, "one too many")
        .await
        .expect_error(429, "DAILY_LIMIT_REACHED");
    let retry_after: u64 = refused.header("retry-after").parse().expect("seconds");
    assert!(
        (1..=5).contains(&retry_after),
        "Retry-After {retry_after} s, midnight is {to_midnight} s away"
    );
    assert!(
        retry_after.abs_diff(to_midnight) <= 1,
        "Retry-After {retry_after} s, midnight is {to_midnight} s away"
    );
    assert_eq!(refused.data()["retryAfter"], retry_after);

    // The server's day changes at its midnight: a few real seconds from now.
    crate::eventually_within("the server's UTC day to change", Duration::from_secs(10), || async {
        (gw.status().await["acceptedToday"] == 0).then_some(())
    })
    .await;
    let id = gw.send_text(&gw.admin, TO, "after midnight").await.accepted();
    gw.wait_status(id, "sent", Duration::from_secs(10)).await;
    assert_eq!(gw.status().await["acceptedToday"], 1);
    assert_eq!(
        gw.record().len(),
        4,
        "the three of yesterday and the one of today were sent"
    );
}

#[tokio::test]
async fn daily_send_limit_variable_overrides_the_config_and_counts_batch_items() {
    let from_env = Setup::new().set("antiban.daily_limit", 3).env("DAILY_SEND_LIMIT", "2");
    let from_dotenv = Setup::new()
        .set("antiban.daily_limit", 3)
        .file(".env", "DAILY_SEND_LIMIT=2\n");
    let (a, b) = tokio::join!(Gateway::start(from_env), Gateway::start(from_dotenv));
    tokio::join!(two_a_day(&a), two_a_day(&b));
}

/// Two sends a day: the third item of a batch and a later send are refused.
async fn two_a_day(gw: &Gateway) {
    assert_eq!(gw.status().await["dailyLimit"], 2);

    let items: Vec<_> = (0..3)
        .map(|i| json!({ "to": TO, "text": format!("item {i}") }))
        .collect();
    let batch = gw.batch(json!(items)).await.expect(200);
    let results = batch.data()["items"].as_array().expect("items");
    assert_eq!(
        results.iter().map(|r| r["success"].as_bool()).collect::<Vec<_>>(),
        [Some(true), Some(true), Some(false)]
    );
    assert_eq!(results[2]["code"], "DAILY_LIMIT_REACHED", "{}", batch.body);

    let refused = gw
        .send_text(&gw.admin, TO, "over the cap")
        .await
        .expect_error(429, "DAILY_LIMIT_REACHED");
    let retry_after: u64 = refused.header("retry-after").parse().expect("seconds");
    assert!((1..=86_400).contains(&retry_after));
    gw.drained(Duration::from_secs(10)).await;
    assert_eq!(gw.record().len(), 2);
}
