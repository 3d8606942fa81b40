//! Recipients: numbers not on WhatsApp are refused before queueing, `POST /api/numbers/check`
//! answers per number, and a failing send ends `failed` with its reason.

use std::time::Duration;

use serde_json::json;

use crate::{Gateway, Setup, TO};

const NOT_ON_WHATSAPP: &str = "15550001111";
const FAILS: &str = "15550002222";

#[tokio::test]
async fn unknown_numbers_are_refused_checked_and_failed_sends_keep_their_reason() {
    let gw = Gateway::start(
        Setup::new()
            .set("whatsapp.simulator.not_on_whatsapp", [NOT_ON_WHATSAPP])
            .set("whatsapp.simulator.fail_sends_to", [FAILS]),
    )
    .await;

    let refused = gw
        .send_text(&gw.admin, NOT_ON_WHATSAPP, "hello?")
        .await
        .expect_error(404, "RECIPIENT_NOT_FOUND");
    assert!(
        refused.body["error"].as_str().unwrap().contains(NOT_ON_WHATSAPP),
        "{}",
        refused.body
    );

    let check = gw
        .post("/api/numbers/check", json!({ "numbers": [NOT_ON_WHATSAPP, TO, FAILS] }))
        .send()
        .await
        .expect(200);
    let answers: Vec<(&str, bool)> = check.data()["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| (r["number"].as_str().unwrap(), r["onWhatsapp"].as_bool().unwrap()))
        .collect();
    assert_eq!(answers, [(NOT_ON_WHATSAPP, false), (TO, true), (FAILS, true)]);
    let bad = gw
        .post("/api/numbers/check", json!({ "numbers": ["+15550001111"] }))
        .send()
        .await
        .expect_error(422, "VALIDATION_ERROR");
    assert_eq!(bad.detail_fields(), ["numbers[0]"]);

    // With an idle queue the request may wait for the outcome: 200 `failed`, else 202 `queued`.
    let attempt = gw.send_text(&gw.admin, FAILS, "this send fails").await;
    let answered = (
        attempt.status.as_u16(),
        attempt.data()["status"].as_str().unwrap_or_default(),
    );
    assert!(
        matches!(answered, (200, "failed") | (202, "queued")),
        "{}",
        attempt.body
    );
    let failing = attempt.data()["id"].as_i64().expect("id");
    let good = gw.send_text(&gw.admin, TO, "this one goes out").await.accepted();
    let failed = gw.wait_status(failing, "failed", Duration::from_secs(10)).await;
    assert!(
        failed["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "a failure keeps its reason: {failed}"
    );
    gw.wait_status(good, "sent", Duration::from_secs(10)).await;

    let listed: Vec<i64> = gw
        .messages("status=failed")
        .await
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        listed,
        [failing],
        "GET /api/messages?status=failed lists exactly the failed send"
    );
    let record = gw.record();
    assert_eq!(record.len(), 1, "{record:?}");
    assert_eq!(record[0]["to"], TO);
}
