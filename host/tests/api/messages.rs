//! `GET /api/messages` and `GET /api/messages/{id}`: queued first in send order, then the rest
//! newest first; filters; a cursor that visits every message once; histories in order.

use reqwest::Method;
use serde_json::Value;

use crate::support::{FAILS_TO_SEND, Gateway, ON_WHATSAPP, ids};

/// The messages of [`queue_and_history`] by what became of them.
struct Seeded {
    sent: Vec<i64>,
    failed: Vec<i64>,
    cancelled: i64,
    queued: Vec<i64>,
}

impl Seeded {
    /// What `GET /api/messages` must list: the queue in send order, then the rest newest first.
    fn expected_order(&self) -> Vec<i64> {
        let mut history: Vec<i64> = self
            .sent
            .iter()
            .chain(&self.failed)
            .copied()
            .chain([self.cancelled])
            .collect();
        history.sort_unstable_by(|a, b| b.cmp(a));
        self.queued.iter().copied().chain(history).collect()
    }
}

/// Three messages that went out (sent, failed, sent) on a fast queue; then, on a queue that
/// waits an hour before its first send, six queued messages of which the third is cancelled.
async fn queue_and_history() -> (Gateway, Seeded) {
    let gw = Gateway::start(&[]).await;
    let mut done = Vec::new();
    for to in [ON_WHATSAPP, FAILS_TO_SEND, ON_WHATSAPP] {
        let answer = gw.send_text(&gw.admin, to, "before the slow queue").await;
        assert!(answer.status.is_success(), "{}", answer.text);
        let id = answer.data()["id"].as_i64().expect("id");
        done.push((id, gw.final_message(id).await["status"].as_str().unwrap().to_string()));
    }
    let statuses: Vec<&str> = done.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(statuses, ["sent", "failed", "sent"]);
    let gw = gw
        .restart(&[("antiban.min_gap", "\"1h\""), ("antiban.max_gap", "\"1h\"")])
        .await;
    let mut queued = Vec::new();
    for i in 0..6 {
        let answer = gw
            .send_text(&gw.admin, ON_WHATSAPP, &format!("queued {i}"))
            .await
            .expect(202);
        assert_eq!(answer.data()["status"], "queued");
        queued.push(answer.data()["id"].as_i64().expect("id"));
    }
    let cancelled = queued.remove(2);
    let answer = gw
        .admin(Method::DELETE, &format!("/api/messages/{cancelled}"))
        .send()
        .await
        .expect(200);
    assert_eq!(answer.data()["status"], "cancelled");
    let pick = |status: &str| done.iter().filter(|(_, s)| s == status).map(|(id, _)| *id).collect();
    let seeded = Seeded {
        sent: pick("sent"),
        failed: pick("failed"),
        cancelled,
        queued,
    };
    (gw, seeded)
}

async fn page(gw: &Gateway, query: &str) -> Value {
    gw.admin(Method::GET, &format!("/api/messages{query}"))
        .send()
        .await
        .expect(200)
        .data()
        .clone()
}

/// Follows `nextCursor` to the end, `filter` being empty or `name=value&`; each page's ids.
async fn walk(gw: &Gateway, filter: &str, limit: usize) -> Vec<Vec<i64>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let suffix = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
        let data = page(gw, &format!("?{filter}limit={limit}{suffix}")).await;
        let page_ids = ids(&data["items"]);
        assert!(page_ids.len() <= limit, "page larger than the limit: {page_ids:?}");
        pages.push(page_ids);
        match data["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return pages,
        }
        assert!(pages.len() < 50, "the cursor never ends");
    }
}

#[tokio::test]
async fn the_queue_comes_first_in_send_order_then_history_newest_first() {
    let (gw, seeded) = queue_and_history().await;
    let all = page(&gw, "").await;
    assert_eq!(ids(&all["items"]), seeded.expected_order());
    assert_eq!(all["nextCursor"], Value::Null);
    assert!(
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m.get("history").is_none()),
        "history only on one message"
    );
    assert_eq!(gw.status().await["pendingMessages"], seeded.queued.len());
    for (status, expected) in [
        ("queued", seeded.queued.clone()),
        ("sent", seeded.sent.iter().rev().copied().collect()),
        ("failed", seeded.failed.clone()),
        ("cancelled", vec![seeded.cancelled]),
        ("sending", vec![]),
    ] {
        let filtered = page(&gw, &format!("?status={status}")).await;
        assert_eq!(ids(&filtered["items"]), expected, "status={status}");
        assert!(
            filtered["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["status"] == status)
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn the_cursor_visits_every_message_exactly_once() {
    let (gw, seeded) = queue_and_history().await;
    let expected = seeded.expected_order();
    let pages = walk(&gw, "", 2).await;
    assert_eq!(pages.concat(), expected, "pages: {pages:?}");
    assert_eq!(pages.len(), expected.len().div_ceil(2), "pages: {pages:?}");
    let queued = walk(&gw, "status=queued&", 2).await;
    assert_eq!(queued.concat(), seeded.queued, "pages: {queued:?}");
    let history = walk(&gw, "status=sent&", 1).await;
    assert_eq!(history.concat(), seeded.sent.iter().rev().copied().collect::<Vec<_>>());
    gw.stop().await;
}

#[tokio::test]
async fn one_message_shows_its_history_in_order() {
    let (gw, seeded) = queue_and_history().await;
    let statuses = |m: &Value| -> Vec<String> {
        m["history"]
            .as_array()
            .expect("history")
            .iter()
            .map(|h| h["status"].as_str().unwrap().to_string())
            .collect()
    };
    let sent = gw.message(seeded.sent[0]).await;
    assert_eq!(statuses(&sent), ["queued", "sending", "sent"]);
    assert!(sent["sentAt"].is_string() && sent["waMessageId"].is_string(), "{sent}");
    let failed = gw.message(seeded.failed[0]).await;
    assert_eq!(statuses(&failed), ["queued", "sending", "failed"]);
    assert!(
        failed["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "a failure keeps its reason: {failed}"
    );
    assert_eq!(statuses(&gw.message(seeded.cancelled).await), ["queued", "cancelled"]);
    assert_eq!(statuses(&gw.message(seeded.queued[0]).await), ["queued"]);
    let times: Vec<String> = sent["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["at"].as_str().unwrap().to_string())
        .collect();
    assert!(times.is_sorted(), "history times out of order: {times:?}");
    // Only a queued message can be cancelled.
    for id in [seeded.sent[0], seeded.failed[0], seeded.cancelled] {
        gw.admin(Method::DELETE, &format!("/api/messages/{id}"))
            .send()
            .await
            .expect_error(409, "CONFLICT");
    }
    gw.stop().await;
}

#[tokio::test]
async fn unknown_or_malformed_message_ids_are_404() {
    let gw = Gateway::start(&[]).await;
    for id in ["abc", "99999", "0", "-1", "1.5", "9999999999999999999999"] {
        gw.admin(Method::GET, &format!("/api/messages/{id}"))
            .send()
            .await
            .expect_error(404, "NOT_FOUND");
        gw.admin(Method::DELETE, &format!("/api/messages/{id}"))
            .send()
            .await
            .expect_error(404, "NOT_FOUND");
    }
    gw.stop().await;
}

#[tokio::test]
async fn bad_query_parameters_are_400_naming_them() {
    let gw = Gateway::start(&[]).await;
    for (query, field) in [
        ("status=bogus", "status"),
        ("status=QUEUED", "status"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=q-5", "cursor"),
        ("colour=red", "colour"),
        ("limit=10&order=asc", "order"),
    ] {
        let answer = gw
            .admin(Method::GET, &format!("/api/messages?{query}"))
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(answer.detail_fields()[0], field, "{query}: {}", answer.text);
    }
    gw.stop().await;
}
