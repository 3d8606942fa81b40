//! The anti-ban queue seen from outside: FIFO, one at a time, gaps, typing and cool-downs as the
//! simulator recorded them; `sent` while the request waits versus `queued`.

use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset};
use serde_json::{Value, json};

use crate::{Gateway, Setup, TO};

const MIN_GAP_MS: i64 = 30;
const MAX_GAP_MS: i64 = 60;
const TYPING_MIN_MS: i64 = 60;
const TYPING_MAX_MS: i64 = 400;
const TYPING_PER_CHAR_MS: i64 = 4;
const COOLDOWN_EVERY: usize = 4;
const COOLDOWN_MIN_MS: i64 = 800;
/// Scheduling and fsync slack allowed on top of an upper bound (CI machines are busy).
const SLACK_MS: i64 = 300;

fn time_ms(entry: &Value) -> i64 {
    let text = entry["time"].as_str().expect("time");
    DateTime::<FixedOffset>::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("time {text:?}: {e}"))
        .timestamp_millis()
}

fn expected_typing_ms(text: &str) -> i64 {
    (text.chars().count() as i64 * TYPING_PER_CHAR_MS).clamp(TYPING_MIN_MS, TYPING_MAX_MS)
}

#[tokio::test]
async fn queue_sends_in_order_one_at_a_time_with_gaps_typing_and_cooldowns() {
    let gw = Gateway::start(
        Setup::new()
            .set("antiban.typing_min", "60ms")
            .set("antiban.typing_max", "400ms")
            .set("antiban.typing_per_char", "4ms")
            .set("antiban.cooldown_every", COOLDOWN_EVERY as i64)
            .set("antiban.cooldown_min", "800ms")
            .set("antiban.cooldown_max", "850ms")
            .set("antiban.sync_wait", "0s"),
    )
    .await;
    let lengths = [3, 400, 20, 60, 5, 150, 90, 2, 40, 120, 8, 75];
    let texts: Vec<String> = lengths
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{i:02}{}", "x".repeat(n - 2)))
        .collect();
    let mut ids = Vec::new();
    for text in &texts {
        let resp = gw.send_text(&gw.admin, TO, text).await.expect(202);
        assert_eq!(resp.data()["status"], "queued", "sync_wait = 0 answers at once");
        ids.push(resp.data()["id"].as_i64().expect("id"));
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow in send order: {ids:?}");

    gw.drained(Duration::from_secs(30)).await;
    let record = gw.record();
    let recorded_ids: Vec<i64> = record.iter().map(|e| e["id"].as_i64().expect("record id")).collect();
    assert_eq!(
        recorded_ids, ids,
        "FIFO: the record follows the send order, each message once"
    );
    for (entry, (id, text)) in record.iter().zip(ids.iter().zip(&texts)) {
        let message = gw.message(*id).await;
        assert_eq!(message["status"], "sent");
        assert_eq!(
            (entry["to"].as_str(), entry["type"].as_str(), entry["text"].as_str()),
            (Some(TO), Some("text"), Some(text.as_str()))
        );
        assert_eq!(
            entry["wa_id"], message["waMessageId"],
            "the record and the API agree on WhatsApp's id"
        );
    }

    // Lower bounds hold on any machine; upper bounds use medians so one stall of a busy CI
    // machine (a slow fsync, a late timer) cannot fail the test.
    for (i, (entry, text)) in record.iter().zip(&texts).enumerate() {
        let typing = entry["typing_ms"].as_i64().expect("typing_ms");
        let expected = expected_typing_ms(text);
        assert!(
            typing >= expected,
            "message {i} ({} chars) typed {typing} ms, less than {expected} ms",
            text.len()
        );
        let unbounded = text.chars().count() as i64 * TYPING_PER_CHAR_MS;
        if unbounded > 2 * TYPING_MAX_MS {
            assert!(
                typing < unbounded,
                "message {i} typed {typing} ms: typing_max does not bound it"
            );
        }
    }
    let typing_of = |pick: fn(i64) -> bool| -> Vec<i64> {
        record
            .iter()
            .zip(&texts)
            .filter(|(_, t)| pick(expected_typing_ms(t)))
            .map(|(e, _)| e["typing_ms"].as_i64().unwrap())
            .collect()
    };
    let (short, long) = (
        median(typing_of(|e| e == TYPING_MIN_MS)),
        median(typing_of(|e| e == TYPING_MAX_MS)),
    );
    assert!(
        short <= TYPING_MIN_MS + SLACK_MS && long <= TYPING_MAX_MS + SLACK_MS,
        "typing stays within its bounds: {short} ms, {long} ms"
    );
    assert!(
        short + (TYPING_MAX_MS - TYPING_MIN_MS) / 2 < long,
        "typing grows with length: {short} ms for short texts, {long} ms for long ones"
    );

    let mut gaps = Vec::new();
    for i in 1..record.len() {
        let (before, now) = (time_ms(&record[i - 1]), time_ms(&record[i]));
        assert!(
            now > before,
            "sends are one at a time: {} then {}",
            record[i - 1]["time"],
            record[i]["time"]
        );
        let pause = now - before - record[i]["typing_ms"].as_i64().unwrap();
        if i % COOLDOWN_EVERY == 0 {
            assert!(
                pause >= COOLDOWN_MIN_MS,
                "after send {i} a cool-down of >= {COOLDOWN_MIN_MS} ms, not {pause} ms"
            );
        } else {
            assert!(
                pause >= MIN_GAP_MS,
                "gap before send {} is {pause} ms, under min_gap",
                i + 1
            );
            gaps.push(pause);
        }
    }
    let gap = median(gaps);
    assert!(
        gap <= MAX_GAP_MS + SLACK_MS,
        "the usual gap is {gap} ms, for max_gap {MAX_GAP_MS} ms: cool-downs where none is due?"
    );
}

fn median(mut values: Vec<i64>) -> i64 {
    assert!(!values.is_empty());
    values.sort();
    values[values.len() / 2]
}

#[tokio::test]
async fn idle_send_answers_sent_and_a_send_behind_others_answers_queued() {
    let gw = Gateway::start(
        Setup::new()
            .set("antiban.min_gap", "1s")
            .set("antiban.max_gap", "1s")
            .set("antiban.sync_wait", "3s"),
    )
    .await;

    let first = gw
        .send_text(&gw.admin, TO, "idle queue: I wait for the send")
        .await
        .expect(200);
    assert_eq!(first.data()["status"], "sent", "{}", first.body);
    let wa_id = first.data()["waMessageId"]
        .as_str()
        .expect("waMessageId on a sent answer")
        .to_string();
    assert!(!wa_id.is_empty());
    assert_eq!(gw.record()[0]["wa_id"], wa_id.as_str());

    let items: Vec<Value> = (0..3)
        .map(|i| json!({ "to": TO, "text": format!("ahead {i}") }))
        .collect();
    let batch = gw
        .post("/api/messages/batch", json!({ "items": items }))
        .send()
        .await
        .expect(200);
    assert_eq!(batch.data()["queued"], 3, "{}", batch.body);

    let started = Instant::now();
    let behind = gw.send_text(&gw.admin, TO, "three are ahead of me").await.expect(202);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a queued answer comes at once, took {:?}",
        started.elapsed()
    );
    assert_eq!(behind.data()["status"], "queued");
    assert!(behind.data()["waMessageId"].is_null());
    assert_eq!(gw.status().await["pendingMessages"], 4);

    gw.drained(Duration::from_secs(20)).await;
    assert_eq!(gw.record().len(), 5);
    let id = behind.data()["id"].as_i64().unwrap();
    assert_eq!(gw.message(id).await["status"], "sent");
}
