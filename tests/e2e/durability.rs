//! What the API acknowledged survives the process: `kill -9` in the middle of a drain (three
//! times, at different moments) and a SIGTERM, each followed by a restart on the same folder.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::{Gateway, Setup, TO};

fn fast_drain() -> Setup {
    Setup::new()
        .set("antiban.min_gap", "20ms")
        .set("antiban.max_gap", "40ms")
}

/// Queues `n` texts in one batch; returns their ids in order.
async fn queue(gw: &Gateway, n: usize) -> Vec<i64> {
    let items: Vec<Value> = (0..n)
        .map(|i| json!({ "to": TO, "text": format!("durable {i} {}", "x".repeat(i % 25)) }))
        .collect();
    let batch = gw.batch(json!(items)).await.expect(200);
    assert_eq!(batch.data()["queued"], n, "{}", batch.body);
    batch.data()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"]["id"].as_i64().unwrap())
        .collect()
}

/// Every acknowledged message ended sent or `failed: interrupted` (at most `max_interrupted`),
/// the record holds no id twice and nothing unacknowledged, every sent message is in it once,
/// and the sends kept the queue's order across restarts. Returns the interrupted ids.
pub(crate) async fn assert_nothing_lost(gw: &Gateway, acknowledged: &[i64], max_interrupted: usize) -> Vec<i64> {
    let statuses = gw.statuses().await;
    let record = gw.record();
    let recorded: Vec<i64> = record.iter().map(|e| e["id"].as_i64().expect("record id")).collect();
    let mut times: HashMap<i64, usize> = HashMap::new();
    for id in &recorded {
        *times.entry(*id).or_default() += 1;
    }
    assert!(times.values().all(|n| *n == 1), "an id was sent twice: {recorded:?}");
    assert!(
        recorded.windows(2).all(|w| w[0] < w[1]),
        "sends kept the queue order: {recorded:?}"
    );
    let acknowledged_set: HashSet<i64> = acknowledged.iter().copied().collect();
    assert!(
        recorded.iter().all(|id| acknowledged_set.contains(id)),
        "the record holds an unknown id"
    );
    let mut interrupted = Vec::new();
    for id in acknowledged {
        let message = statuses
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged message {id} is lost"));
        match (message["status"].as_str(), message["reason"].as_str()) {
            (Some("sent"), _) => assert_eq!(times.get(id), Some(&1), "sent message {id} is not in the record once"),
            (Some("failed"), Some("interrupted")) => interrupted.push(*id),
            other => panic!("message {id} ended {other:?}, not sent or failed: interrupted"),
        }
    }
    assert!(
        interrupted.len() <= max_interrupted,
        "at most one interrupted message per stop: {interrupted:?}"
    );
    interrupted
}

/// Where in the drain a kill lands, once a few more messages went out.
#[derive(Debug, Clone, Copy, PartialEq)]
enum KillAt {
    /// While a message is handed to WhatsApp (`sending`).
    Sending,
    /// Right after a send reached the record (the gateway may not have stored it as sent yet).
    JustSent,
    /// This many milliseconds after a send (in the gap or the typing).
    After(u64),
}

const MORE_SENDS_BEFORE_A_KILL: usize = 3;

async fn wait_for_moment(gw: &Gateway, at: KillAt) {
    let target = gw.record().len() + MORE_SENDS_BEFORE_A_KILL;
    let started = std::time::Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the drain stalled before {at:?}"
        );
        if gw.record().len() >= target && (at != KillAt::Sending || !in_sending(gw).is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    if let KillAt::After(ms) = at {
        // The scenario: a kill this long after a send, wherever the sender is by then.
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// Ids in `sending`, read from the database: quicker than over HTTP (a kill must land within a
/// send), and it works while the gateway is down.
fn in_sending(gw: &Gateway) -> Vec<i64> {
    let db = rusqlite::Connection::open(gw.dir().join("data/wapi.db")).expect("opening the database");
    let mut query = db
        .prepare("SELECT id FROM messages WHERE status = 'sending'")
        .expect("query");
    query
        .query_map([], |r| r.get(0))
        .expect("rows")
        .map(|r| r.expect("id"))
        .collect()
}

#[tokio::test]
async fn kill9_mid_drain_then_restart_loses_nothing_and_sends_nothing_twice() {
    // A send takes 60 ms, so a kill can land while a message is `sending`.
    let mut gw = Gateway::start(fast_drain().set("whatsapp.simulator.send_time", "60ms")).await;
    let ids = queue(&gw, 45).await;
    let (mut kills, mut in_flight) = (0, Vec::new());
    // A busy machine may let the send finish before the signal lands: then try the next one.
    let plan = [KillAt::Sending; 5]
        .into_iter()
        .chain([KillAt::JustSent, KillAt::After(25)]);
    for at in plan {
        if at == KillAt::Sending && !in_flight.is_empty() {
            continue;
        }
        wait_for_moment(&gw, at).await;
        gw.kill9();
        kills += 1;
        assert!(gw.record().len() < 45, "the drain must still be running when killed");
        let sending = in_sending(&gw);
        assert!(sending.len() <= 1, "at most one message is ever `sending`: {sending:?}");
        in_flight.extend(sending);
        gw.restart().await;
    }
    assert!(!in_flight.is_empty(), "no kill landed during a send");
    gw.drained(Duration::from_secs(30)).await;
    let interrupted = assert_nothing_lost(&gw, &ids, kills).await;
    assert_eq!(
        interrupted, in_flight,
        "exactly the messages in flight at a kill end failed: interrupted, never resent"
    );
}

#[tokio::test]
async fn sigterm_mid_drain_exits_cleanly_and_the_restart_finishes_the_queue() {
    let mut gw = Gateway::start(fast_drain()).await;
    let ids = queue(&gw, 30).await;
    gw.recorded(8, Duration::from_secs(30)).await;
    let status = gw.terminate().await;
    assert!(status.success(), "SIGTERM exits with status 0, not {status}");
    assert!(gw.record().len() < 30, "the drain must still be running when stopped");

    let db = rusqlite::Connection::open_with_flags(
        gw.dir().join("data/wapi.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("opening the database");
    let in_flight: i64 = db
        .query_row("SELECT COUNT(*) FROM messages WHERE status = 'sending'", [], |r| {
            r.get(0)
        })
        .expect("query");
    assert_eq!(in_flight, 0, "a graceful stop lets the current send finish");
    drop(db);

    gw.restart().await;
    gw.drained(Duration::from_secs(30)).await;
    let interrupted = assert_nothing_lost(&gw, &ids, 0).await;
    assert!(interrupted.is_empty());
    assert_eq!(gw.record().len(), 30);
}

#[tokio::test]
async fn sigterm_answers_a_request_still_waiting_for_its_send() {
    let mut gw = Gateway::start(
        Setup::new()
            .set("antiban.min_gap", "3s")
            .set("antiban.max_gap", "3s")
            .set("antiban.sync_wait", "15s"),
    )
    .await;
    // The queue is idle and the next send may start within sync_wait: the request waits for it.
    let waiting = tokio::spawn(
        gw.post(
            "/api/messages",
            json!({ "to": TO, "text": "waiting when the stop comes" }),
        )
        .try_send(),
    );
    crate::eventually_within("the message to be queued", Duration::from_secs(5), || async {
        (gw.status().await["pendingMessages"] == 1).then_some(())
    })
    .await;
    let stopping = std::time::Instant::now();
    let status = gw.terminate().await;
    let took = stopping.elapsed();
    assert!(status.success(), "{status}");
    let answer = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("an answer soon after the stop")
        .expect("request task")
        .expect("the waiting request got an answer, not a dropped connection");
    assert_eq!(
        (answer.status.as_u16(), answer.data()["status"].as_str()),
        (202, Some("queued")),
        "{}",
        answer.body
    );
    assert!(
        took < Duration::from_secs(5),
        "a stop should not wait out the 10 s drain for it: took {took:?}"
    );

    let id = answer.data()["id"].as_i64().unwrap();
    gw.restart().await;
    gw.wait_status(id, "sent", Duration::from_secs(15)).await;
}
