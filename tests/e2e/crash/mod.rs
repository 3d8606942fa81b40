//! Crash safety under load: a real gateway with the `webhook-forward` example plugin drains 500+
//! messages (millisecond gaps) while it forwards `message.sent` as signed webhooks to a receiver
//! in this process that fails some attempts and answers slowly. It is killed with `kill -9` 20
//! times at seeded random moments — while a message is `sending`, the instant a send reaches the
//! record, a few milliseconds after one, while a delivery waits for its retry, and while a batch
//! request is being handled — and restarted on the same folder each time.
//!
//! Proves: no acknowledged message is lost, none is sent twice (the simulator's record), every
//! message ends in exactly one final state with at most one `failed: interrupted` per kill, a
//! batch cut by a kill and retried with its `Idempotency-Key` queues nothing twice, and every
//! sent message's `message.sent` webhook reaches the receiver at least once, correctly signed
//! (duplicates — the same `webhook-id` accepted twice — are allowed and counted).
//!
//! The seed is printed; `CRASH_SEED=<n>` replays the same plan of moments.

mod receiver;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::durability::assert_nothing_lost;
use crate::plugins::{example, with_shared_cache};
use crate::{Answer, Gateway, Setup, TO};
use wapi_test_support::Call;

use receiver::{KEY, Receiver};

/// Messages queued before the first kill (in batches of [`BATCH`]) and kills: 500 and 20, or
/// 2,500 and 100 under `cargo xtask soak` (`WAPI_SOAK=1`).
fn scale() -> (usize, usize) {
    match std::env::var_os("WAPI_SOAK") {
        Some(_) => (2500, 100),
        None => (500, 20),
    }
}
const BATCH: usize = 50;
/// How long a kill waits for its moment (a message `sending`, a delivery retrying) before it
/// lands anyway: short, so the drain is still running.
const MOMENT_WAIT: Duration = Duration::from_secs(2);

fn setup(receiver: &Receiver) -> Setup {
    with_shared_cache()
        .set("antiban.min_gap", "2ms")
        .set("antiban.max_gap", "6ms")
        .set("antiban.typing", false)
        .set("antiban.cooldown_every", 50)
        .set("antiban.cooldown_min", "2ms")
        .set("antiban.cooldown_max", "5ms")
        .set("antiban.daily_limit", 5000)
        .set("antiban.sync_wait", "1ms")
        // Long enough that a kill can land while a message is `sending`.
        .set("whatsapp.simulator.send_time", "4ms")
        .raw(
            "webhooks.retry_schedule",
            r#"["20ms", "50ms", "100ms", "200ms", "400ms"]"#,
        )
        .set("webhooks.timeout", "2s")
        .set("plugins.webhook-forward.url", receiver.url())
        .raw("plugins.webhook-forward.events", r#"["sent"]"#)
        .set(
            "plugins.webhook-forward.secret",
            format!("whsec_{}", STANDARD.encode(KEY)),
        )
        .set("plugins.webhook-forward.allow_private", true)
        .file("plugins.d/webhook-forward.wasm", example("webhook-forward"))
}

/// Where a kill lands, once the record reached the kill's target.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// While a message is `sending` (handed to WhatsApp).
    Sending,
    /// The instant the next send reaches the record (before the gateway stores it as sent).
    JustSent,
    /// This many milliseconds later: in the gap, the `sent` commit, the events hook, a delivery.
    After(u64),
    /// While a delivery waits for its retry after a failed attempt.
    Retrying,
    /// While a batch of `items` sends, posted `after_ms` before, is being handled.
    MidRequest { items: usize, after_ms: u64 },
}

/// `kills` moments, as many of each kind, in a seeded random order with random parameters.
fn plan(rng: &mut StdRng, kills: usize) -> Vec<Moment> {
    let mut moments: Vec<Moment> = (0..kills)
        .map(|i| match i % 5 {
            0 => Moment::Sending,
            1 => Moment::JustSent,
            2 => Moment::After(rng.random_range(1..=20)),
            3 => Moment::Retrying,
            _ => Moment::MidRequest {
                items: rng.random_range(10..=40),
                after_ms: rng.random_range(0..=8),
            },
        })
        .collect();
    moments.shuffle(rng);
    moments
}

/// What the database held right after a kill.
#[derive(Debug)]
struct AtKill {
    moment: Moment,
    /// Wall clock (ms since the epoch) of the kill.
    at_ms: i64,
    recorded: usize,
    queued: i64,
    sending: Vec<i64>,
    pending_deliveries: i64,
    /// Pending deliveries that already failed an attempt.
    retrying: i64,
    /// Sent messages that had no `message.sent` delivery stored yet.
    sent_without_delivery: usize,
    /// The batch posted for this kill was cut (no answer) and retried after the restart.
    cut: bool,
}

fn database(gw: &Gateway) -> rusqlite::Connection {
    rusqlite::Connection::open(gw.dir().join("data/wapi.db")).expect("opening the database")
}

fn count(db: &rusqlite::Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0)).expect(sql)
}

fn ids(db: &rusqlite::Connection, sql: &str) -> Vec<i64> {
    let mut query = db.prepare(sql).expect(sql);
    query
        .query_map([], |r| r.get(0))
        .expect(sql)
        .map(|r| r.expect("an id"))
        .collect()
}

/// Ids of messages with a `message.sent` delivery row, whatever its state.
fn with_delivery(db: &rusqlite::Connection) -> HashSet<i64> {
    let mut query = db
        .prepare(
            "SELECT json_extract(payload, '$.data.id') FROM webhook_deliveries
             WHERE json_extract(payload, '$.type') = 'message.sent'",
        )
        .expect("deliveries query");
    query
        .query_map([], |r| r.get::<_, String>(0))
        .expect("deliveries")
        .map(|r| r.expect("a message id").parse().expect("a numeric message id"))
        .collect()
}

fn sent_without_delivery(db: &rusqlite::Connection) -> Vec<i64> {
    let delivered = with_delivery(db);
    ids(db, "SELECT id FROM messages WHERE status = 'sent' ORDER BY id")
        .into_iter()
        .filter(|id| !delivered.contains(id))
        .collect()
}

const PENDING: &str = "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'";
const RETRYING: &str = "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending' AND attempts > 0";

/// Sends recorded so far: lines of the simulator's record (cheaper than parsing it).
fn recorded(gw: &Gateway) -> usize {
    std::fs::read(gw.dir().join("sent.jsonl"))
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Polls `probe` every millisecond until it holds; false if `limit` passed first.
async fn until(limit: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while !probe() {
        if started.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    true
}

fn batch_request(gw: &Gateway, key: &str, items: &[Value]) -> Call {
    gw.post("/api/messages/batch", json!({ "items": items }))
        .header("Idempotency-Key", key)
}

/// The ids a batch answer acknowledged (every item must be), and how many were replays.
#[track_caller]
fn acknowledged_by(answer: &Answer, n: usize) -> (Vec<i64>, usize) {
    assert_eq!(answer.status, 200, "{}", answer.body);
    let items = answer.data()["items"].as_array().expect("items");
    assert_eq!(items.len(), n, "{}", answer.body);
    assert!(items.iter().all(|i| i["success"] == true), "{}", answer.body);
    let ids = items
        .iter()
        .map(|i| i["message"]["id"].as_i64().expect("message id"))
        .collect();
    let replayed = items.iter().filter(|i| i["replayed"] == true).count();
    (ids, replayed)
}

fn texts(tag: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({ "to": TO, "text": format!("crash {tag}.{i} {}", "x".repeat(i % 30)) }))
        .collect()
}

/// The events hook is through the journal: its cursor (written at most a second after it moved)
/// is at the last history row, so every delivery it will ask for is stored.
const HOOK_CAUGHT_UP: &str = "SELECT (SELECT position FROM event_cursors WHERE name = 'plugins:history') \
     = (SELECT MAX(rowid) FROM message_history)";

/// Waits until no delivery is pending and either every sent message is covered at the receiver
/// or the events hook has handed on every event (a delivery never asked for will not come).
async fn settle_webhooks(gw: &Gateway, receiver: &Receiver) {
    let db = database(gw);
    let started = Instant::now();
    loop {
        // Read before the pending count: a delivery asked for is stored before the cursor moves.
        let caught_up = count(&db, HOOK_CAUGHT_UP) == 1;
        let pending = count(&db, PENDING);
        let sent: HashSet<i64> = ids(&db, "SELECT id FROM messages WHERE status = 'sent'")
            .into_iter()
            .collect();
        if pending == 0 && (caught_up || sent.is_subset(&receiver.covered())) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "webhook deliveries did not settle: {pending} still pending"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kill_9s_while_500_messages_drain_and_webhooks_deliver_lose_nothing() {
    let started = Instant::now();
    let seed: u64 = match std::env::var("CRASH_SEED") {
        Ok(text) => text.parse().expect("CRASH_SEED is a number"),
        Err(_) => rand::random(),
    };
    println!("crash: seed {seed} (CRASH_SEED={seed} replays this plan)");
    let mut rng = StdRng::seed_from_u64(seed);
    let (queued_first, kills_planned) = scale();
    let receiver = Receiver::start(rng.random()).await;
    let mut gw = Gateway::start(setup(&receiver)).await;

    let mut acknowledged: Vec<i64> = Vec::new();
    for b in 0..queued_first / BATCH {
        let items = texts(&format!("q{b}"), BATCH);
        let answer = batch_request(&gw, &format!("crash-{seed}-q{b}"), &items)
            .try_send()
            .await
            .expect("an answer");
        acknowledged.extend(acknowledged_by(&answer, BATCH).0);
    }

    // Kill i once the record holds target i: targets spread over the drain, ending while
    // plenty is still queued.
    let moments = plan(&mut rng, kills_planned);
    let first = recorded(&gw) + 2;
    let last = queued_first - 40;
    let step = (last - first) / kills_planned;
    let mut kills: Vec<AtKill> = Vec::new();
    // When each run started, for telling where a lost delivery's message was sent.
    let mut starts: Vec<i64> = vec![now_ms()];
    let (mut cut_requests, mut committed_before_cut) = (0, 0);
    for (k, moment) in moments.into_iter().enumerate() {
        let target = first + k * step + rng.random_range(0..step);
        assert!(
            until(Duration::from_secs(20), || recorded(&gw) >= target).await,
            "the drain stalled before kill {k} (target {target}, recorded {})",
            recorded(&gw)
        );
        let mut request = None;
        match moment {
            Moment::Sending => {
                let db = database(&gw);
                let probe = || count(&db, "SELECT COUNT(*) FROM messages WHERE status = 'sending'") > 0;
                until(MOMENT_WAIT, probe).await;
            }
            Moment::JustSent => {
                let n = recorded(&gw);
                until(MOMENT_WAIT, || recorded(&gw) > n).await;
            }
            // The scenario: a kill this long after a send, wherever the sender is by then.
            Moment::After(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Moment::Retrying => {
                let db = database(&gw);
                until(MOMENT_WAIT, || count(&db, RETRYING) > 0).await;
            }
            Moment::MidRequest { items, after_ms } => {
                let key = format!("crash-{seed}-k{k}");
                let items = texts(&format!("k{k}"), items);
                let answer = tokio::spawn(batch_request(&gw, &key, &items).try_send());
                request = Some((key, items, answer));
                // The scenario: a kill at a seeded moment of the request, answered or not.
                tokio::time::sleep(Duration::from_millis(after_ms)).await;
            }
        }
        let at_ms = now_ms();
        gw.kill9();
        let db = database(&gw);
        let mut kill = AtKill {
            moment,
            at_ms,
            recorded: recorded(&gw),
            queued: count(&db, "SELECT COUNT(*) FROM messages WHERE status = 'queued'"),
            sending: ids(&db, "SELECT id FROM messages WHERE status = 'sending'"),
            pending_deliveries: count(&db, PENDING),
            retrying: count(&db, RETRYING),
            sent_without_delivery: sent_without_delivery(&db).len(),
            cut: false,
        };
        drop(db);
        assert!(
            kill.sending.len() <= 1,
            "at most one message is ever `sending`: {:?}",
            kill.sending
        );
        starts.push(now_ms());
        gw.restart().await;
        if let Some((key, items, answer)) = request {
            let answer = answer.await.expect("the request task");
            let answer = match answer {
                Ok(answer) => answer,
                Err(_) => {
                    // Cut by the kill: the client retries with the same key.
                    kill.cut = true;
                    cut_requests += 1;
                    batch_request(&gw, &key, &items)
                        .try_send()
                        .await
                        .expect("an answer to the retry")
                }
            };
            let (ids, replayed) = acknowledged_by(&answer, items.len());
            if kill.cut {
                committed_before_cut += replayed;
            } else {
                assert_eq!(replayed, 0, "an answered batch is no replay: {}", answer.body);
            }
            acknowledged.extend(ids);
        }
        println!(
            "crash: kill {:2} {:<38} recorded {:3}, queued {:3}, sending {:?}, deliveries pending {:3} \
             (retrying {:2}), sent without a delivery yet {}{}",
            k + 1,
            format!("{:?}", kill.moment),
            kill.recorded,
            kill.queued,
            kill.sending,
            kill.pending_deliveries,
            kill.retrying,
            kill.sent_without_delivery,
            if kill.cut { ", request cut" } else { "" }
        );
        kills.push(kill);
    }

    gw.drained(Duration::from_secs(30)).await;
    settle_webhooks(&gw, &receiver).await;
    let interrupted = assert_nothing_lost(&gw, &acknowledged, kills_planned).await;
    let statuses = gw.statuses().await;
    let known: HashSet<i64> = acknowledged.iter().copied().collect();
    assert_eq!(known.len(), acknowledged.len(), "an id was acknowledged twice");
    let stored: HashSet<i64> = statuses.keys().copied().collect();
    assert_eq!(stored, known, "the database holds exactly the acknowledged messages");
    let sent: HashSet<i64> = statuses
        .iter()
        .filter(|(_, m)| m["status"] == "sent")
        .map(|(id, _)| *id)
        .collect();

    // Webhooks: what the receiver got, against what was sent and what the gateway stored.
    let hits = receiver.hits();
    let unsigned = hits.iter().filter(|h| !h.signed()).count();
    let mut accepted_by_id: HashMap<&str, usize> = HashMap::new();
    let mut ids_by_message: HashMap<i64, HashSet<&str>> = HashMap::new();
    for hit in hits.iter().filter(|h| h.accepted) {
        *accepted_by_id.entry(&hit.webhook_id).or_default() += 1;
        if let Some(id) = hit.sent_message() {
            ids_by_message.entry(id).or_default().insert(&hit.webhook_id);
        }
    }
    let duplicates: usize = accepted_by_id.values().map(|n| n - 1).sum();
    let duplicated_ids = accepted_by_id.values().filter(|n| **n > 1).count();
    let twice_asked = ids_by_message.values().filter(|ids| ids.len() > 1).count();
    let claimed_unsent: Vec<i64> = ids_by_message.keys().filter(|id| !sent.contains(id)).copied().collect();
    let mut missing: Vec<i64> = sent
        .iter()
        .filter(|id| !ids_by_message.contains_key(id))
        .copied()
        .collect();
    missing.sort_unstable();
    let db = database(&gw);
    let asked = with_delivery(&db);
    let never_asked: Vec<i64> = missing.iter().filter(|id| !asked.contains(id)).copied().collect();

    println!(
        "crash: seed {seed}, kills {kills_planned}, acknowledged {} (batches cut by a kill {cut_requests}, \
         their items committed before the kill {committed_before_cut}), sent {}, interrupted {}, \
         webhook requests {} (answered 500: {}), message.sent deliveries received {}, duplicates {} \
         (webhook-ids accepted more than once: {duplicated_ids}; messages with two deliveries: {twice_asked}), \
         sent messages without a received delivery {} (never asked for: {}), wall time {:.1}s",
        acknowledged.len(),
        sent.len(),
        interrupted.len(),
        hits.len(),
        hits.iter().filter(|h| !h.accepted).count(),
        ids_by_message.len(),
        duplicates,
        missing.len(),
        never_asked.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "crash: kills with messages queued {}, with deliveries pending {}, with deliveries retrying {}, \
         in `sending` {}; sent messages without a delivery at the kills: {}",
        kills.iter().filter(|k| k.queued > 0).count(),
        kills.iter().filter(|k| k.pending_deliveries > 0).count(),
        kills.iter().filter(|k| k.retrying > 0).count(),
        kills.iter().filter(|k| !k.sending.is_empty()).count(),
        kills.iter().map(|k| k.sent_without_delivery).sum::<usize>()
    );
    for id in missing.iter().take(40) {
        let sent_at: i64 = db
            .query_row("SELECT sent_at FROM messages WHERE id = ?1", [id], |r| r.get(0))
            .expect("sent_at");
        let kill = kills.iter().position(|k| k.at_ms >= sent_at);
        let run = starts.iter().rposition(|s| *s <= sent_at).unwrap_or(0);
        let state: Option<String> = db
            .query_row(
                "SELECT state FROM webhook_deliveries WHERE json_extract(payload, '$.data.id') = ?1",
                [id.to_string()],
                |r| r.get(0),
            )
            .ok();
        println!(
            "crash: message {id} sent with no delivery received ({}): sent {} ms after run {} started, {}",
            state.map_or("none asked for".into(), |s| format!("delivery {s}")),
            sent_at - starts[run],
            run + 1,
            match kill {
                Some(k) => format!(
                    "{} ms before kill {} ({:?})",
                    kills[k].at_ms - sent_at,
                    k + 1,
                    kills[k].moment
                ),
                None => "after the last kill".into(),
            }
        );
    }

    assert!(
        kills.iter().all(|k| k.queued > 0 || !k.sending.is_empty()),
        "every kill lands during the drain"
    );
    assert!(
        kills.iter().filter(|k| k.retrying > 0).count() >= 3,
        "at least 3 kills land while a delivery waits for its retry"
    );
    assert_eq!(unsigned, 0, "every delivery verifies with the plugin's secret");
    assert!(
        claimed_unsent.is_empty(),
        "message.sent only for sent messages: {claimed_unsent:?}"
    );
    assert!(
        missing.is_empty(),
        "{} sent messages never had their message.sent webhook received ({} never asked for): {missing:?}",
        missing.len(),
        never_asked.len()
    );
}
