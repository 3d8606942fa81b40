//! The sender with the simulator and a real store, on a paused clock: what left, in which
//! order, and when, read back from the simulator's record; what a send that failed before or
//! after leaving becomes, and under which WhatsApp id it goes out.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::policy::tests::ms;
use super::{Lifecycle, SenderDeps, spawn};
use crate::clock::Clock;
use crate::config::{AntiBan, SimulatorConfig};
use crate::events::{Events, GatewayEvent};
use crate::send::{Recipient, TextInput, Validator};
use crate::store::{EnqueueItem, Store};
use crate::whatsapp::simulator::{SimAction, Simulator};
use crate::whatsapp::{NumberVerifier, SendError, Session, WhatsApp};

mod repeats;

fn antiban() -> AntiBan {
    AntiBan {
        cooldown_every: 4,
        daily_limit: 100,
        sync_wait: ms(0),
        ..super::policy::tests::cfg()
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    record: std::path::PathBuf,
    store: Store,
    simulator: Arc<Simulator>,
    events: Events,
    clock: Clock,
    shutdown: CancellationToken,
}

impl Rig {
    fn new(start: &str, not_on_whatsapp: &[&str]) -> Self {
        Self::with(start, |sim| {
            sim.not_on_whatsapp = not_on_whatsapp
                .iter()
                .map(|n| crate::send::PhoneNumber::parse(n).unwrap())
                .collect()
        })
    }

    /// A rig whose simulator is configured by `configure`.
    fn with(start: &str, configure: impl FnOnce(&mut SimulatorConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("sent.jsonl");
        let clock = Clock::starting_at(start.parse().unwrap());
        let mut cfg = SimulatorConfig {
            auto_link: true,
            not_on_whatsapp: vec![],
            fail_sends_to: vec![],
            fail_after_sending_to: vec![],
            record: Some(record.clone()),
            send_time: ms(3),
        };
        configure(&mut cfg);
        let simulator = Arc::new(Simulator::start(cfg, clock).unwrap());
        let store = Store::open(&dir.path().join("wapi.db")).unwrap();
        Self {
            _dir: dir,
            record,
            store,
            simulator,
            events: Events::default(),
            clock,
            shutdown: CancellationToken::new(),
        }
    }

    async fn enqueue(&self, texts: &[(&str, &str)]) {
        let items = texts
            .iter()
            .map(|(to, text)| EnqueueItem {
                send: Validator::new(4096)
                    .text(
                        &TextInput {
                            to: Some(to.to_string()),
                            text: Some(text.to_string()),
                            ..Default::default()
                        },
                        "",
                    )
                    .unwrap(),
                idem: None,
                upload: None,
            })
            .collect();
        let day = self.clock.today().to_string();
        self.store
            .enqueue("k", items, day, 10_000, self.clock.now_ms())
            .await
            .unwrap();
    }

    fn start(&self, antiban: AntiBan) -> super::SenderHandle {
        self.start_with(self.simulator.clone(), antiban).1
    }

    /// Starts the sender on `session` (the simulator or a stand-in).
    fn start_with(&self, session: Session, antiban: AntiBan) -> (tokio::task::JoinHandle<()>, super::SenderHandle) {
        let deps = SenderDeps {
            store: self.store.clone(),
            lifecycle: Lifecycle::new(self.store.clone(), self.events.clone(), self.clock, &antiban),
            verifier: Arc::new(NumberVerifier::new(session.clone(), antiban.verify_cache)),
            session,
            antiban,
            clock: self.clock,
        };
        spawn(deps, self.shutdown.clone())
    }

    /// Waits for `n` final message events, without timers of its own (so the paused clock
    /// only moves for the sender's own waits).
    async fn finals(&self, rx: &mut tokio::sync::broadcast::Receiver<GatewayEvent>, n: usize) -> Vec<GatewayEvent> {
        let mut seen = Vec::new();
        while seen.len() < n {
            let event = rx.recv().await.unwrap();
            if event.is_final() {
                seen.push(event);
            }
        }
        seen
    }

    fn record(&self) -> Vec<(DateTime<Utc>, String, u64, i64)> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["time"].as_str().unwrap().parse().unwrap(),
                    v["text"].as_str().unwrap().to_string(),
                    v["typing_ms"].as_u64().unwrap(),
                    v["id"].as_i64().unwrap(),
                )
            })
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn sends_go_one_at_a_time_in_order_with_gaps_typing_and_cooldowns() {
    let rig = Rig::new("2026-11-28T10:00:00Z", &[]);
    let texts: Vec<String> = (0..10).map(|i| "x".repeat(10 + i * 9)).collect();
    let items: Vec<(&str, &str)> = texts.iter().map(|t| ("15551234567", t.as_str())).collect();
    rig.enqueue(&items).await;
    let mut rx = rig.events.subscribe();
    let started = rig.clock.now();
    rig.start(antiban());
    rig.finals(&mut rx, 10).await;

    let record = rig.record();
    let cfg = antiban();
    assert_eq!(
        record.iter().map(|r| r.3).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>(),
        "FIFO"
    );
    let typing = cfg.typing.unwrap();
    for (i, (time, text, typing_ms, _)) in record.iter().enumerate() {
        // typing_ms runs from "composing" to the send's end: the typing time plus the send itself.
        let expected = crate::queue::policy::typing_time(&typing, text.chars().count()) + ms(3);
        assert_eq!(*typing_ms, expected.as_millis() as u64, "typing before send {i}");
        let before = if i == 0 { started } else { record[i - 1].0 };
        let pause = (*time - before).to_std().unwrap() - ms(*typing_ms);
        let (low, high) = if i > 0 && i % 4 == 0 {
            (cfg.cooldown_min, cfg.cooldown_max)
        } else {
            (cfg.min_gap, cfg.max_gap)
        };
        assert!(
            pause >= low && pause <= high,
            "pause before send {i} was {pause:?}, expected {low:?}..={high:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_daily_cap_holds_sends_until_utc_midnight() {
    let rig = Rig::new("2026-11-28T23:59:00Z", &[]);
    rig.enqueue(&[("15551234567", "a"), ("15551234567", "b"), ("15551234567", "c")])
        .await;
    let mut rx = rig.events.subscribe();
    let mut cfg = antiban();
    cfg.daily_limit = 2;
    rig.start(cfg);
    rig.finals(&mut rx, 3).await;
    let record = rig.record();
    let midnight: DateTime<Utc> = "2026-11-29T00:00:00Z".parse().unwrap();
    assert!(
        record[0].0 < midnight && record[1].0 < midnight,
        "two sends before midnight"
    );
    assert!(
        record[2].0 >= midnight,
        "the third waited for midnight: {}",
        record[2].0
    );
}

#[tokio::test(start_paused = true)]
async fn numbers_not_on_whatsapp_fail_without_typing_or_a_gap() {
    let rig = Rig::new("2026-11-28T10:00:00Z", &["15550001111"]);
    rig.enqueue(&[("15550001111", "nobody"), ("15551234567", "somebody")])
        .await;
    let mut rx = rig.events.subscribe();
    rig.start(antiban());
    let finals = rig.finals(&mut rx, 2).await;
    assert_eq!(
        finals[0],
        GatewayEvent::MessageFailed {
            id: 1,
            reason: "not_on_whatsapp".into()
        }
    );
    assert!(matches!(finals[1], GatewayEvent::MessageSent { id: 2, .. }));
    assert_eq!(rig.record().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_disconnect_pauses_the_queue_and_a_logout_holds_it() {
    let rig = Rig::new("2026-11-28T10:00:00Z", &[]);
    rig.enqueue(&[("15551234567", "a"), ("15551234567", "b"), ("15551234567", "c")])
        .await;
    let mut rx = rig.events.subscribe();
    rig.start(antiban());
    rig.finals(&mut rx, 1).await;
    rig.simulator.act(SimAction::Disconnect);
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(rig.record().len(), 1, "nothing leaves while disconnected");
    rig.simulator.act(SimAction::Logout);
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(rig.record().len(), 1, "nothing leaves while logged out");
    assert_eq!(rig.store.pending(), 2, "and nothing is lost");
    rig.simulator.act(SimAction::Link);
    rig.finals(&mut rx, 2).await;
    assert_eq!(rig.record().len(), 3);
    rig.shutdown.cancel();
}

/// A backend that says "connected" but refuses every send as not connected: what a real
/// session looks like in the moment between losing its socket and reporting it.
struct Lagging {
    status: tokio::sync::watch::Sender<crate::whatsapp::SessionStatus>,
    /// When each attempt came, and under which WhatsApp id.
    sends: std::sync::Mutex<Vec<(tokio::time::Instant, String)>>,
}

#[async_trait::async_trait]
impl crate::whatsapp::WhatsApp for Lagging {
    fn status(&self) -> tokio::sync::watch::Receiver<crate::whatsapp::SessionStatus> {
        self.status.subscribe()
    }
    async fn qr_code(&self) -> Result<Option<String>, crate::whatsapp::WaError> {
        Ok(None)
    }
    async fn pair_code(&self, _: &crate::send::PhoneNumber) -> Result<String, crate::whatsapp::WaError> {
        Err(crate::whatsapp::WaError::NotConnected)
    }
    async fn check_numbers(
        &self,
        _: &[crate::send::PhoneNumber],
    ) -> Result<Vec<crate::whatsapp::NumberCheck>, crate::whatsapp::WaError> {
        Err(crate::whatsapp::WaError::Other("not asked in this test".into()))
    }
    async fn set_typing(&self, _: &Recipient, _: bool) -> Result<(), crate::whatsapp::WaError> {
        Ok(())
    }
    async fn send(&self, message: crate::whatsapp::Outgoing<'_>) -> Result<crate::whatsapp::SendReceipt, SendError> {
        let attempt = (tokio::time::Instant::now(), message.wa_id.to_string());
        self.sends.lock().unwrap().push(attempt);
        Err(SendError::not_connected())
    }
    async fn logout(&self) -> Result<(), crate::whatsapp::WaError> {
        Ok(())
    }
    async fn shutdown(&self) {}
}

#[tokio::test(start_paused = true)]
async fn a_backend_that_lags_behind_its_state_is_retried_calmly_and_loses_nothing() {
    let rig = Rig::new("2026-11-28T10:00:00Z", &[]);
    rig.enqueue(&[("15551234567", "a")]).await;
    let lagging = Arc::new(Lagging {
        status: tokio::sync::watch::Sender::new(rig.simulator.status().borrow().clone()),
        sends: Default::default(),
    });
    let mut cfg = antiban();
    cfg.verify_numbers = false;
    let (task, _) = rig.start_with(lagging.clone(), cfg);
    let started = tokio::time::Instant::now();
    while lagging.sends.lock().unwrap().len() < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the sender stopped trying"
        );
        tokio::time::sleep(ms(1)).await;
    }
    // Each attempt types (1 s) and then waits (1 s) after the refusal: never a spin.
    let attempts = lagging.sends.lock().unwrap().clone();
    for pair in attempts.windows(2) {
        assert!(
            pair[1].0 - pair[0].0 >= Duration::from_secs(2),
            "attempts {:?} apart",
            pair[1].0 - pair[0].0
        );
        assert_eq!(
            pair[1].1, pair[0].1,
            "every attempt goes out under the same WhatsApp id"
        );
    }
    rig.shutdown.cancel();
    task.await.unwrap();
    let (message, _) = rig.store.message(1).await.unwrap().unwrap();
    assert_eq!(
        message.status,
        crate::store::Status::Queued,
        "it never left, so it waits its turn again"
    );
    assert_eq!(
        message.wa_id.as_ref(),
        Some(&attempts[0].1),
        "and keeps its WhatsApp id"
    );
}

/// Polls `done` every 10 ms of real time for up to 10 s.
async fn within_10s(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(ms(10)).await;
    }
}

/// Counts the errors the lifecycle logs on this thread for the sender — each one an outcome
/// write it will try again.
#[derive(Clone, Default)]
struct SenderErrors(Arc<std::sync::atomic::AtomicUsize>);

impl SenderErrors {
    fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SenderErrors {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() == tracing::Level::ERROR && meta.target() == "wapi::queue::lifecycle" {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[tokio::test]
async fn a_send_whose_outcome_cannot_be_written_is_recorded_later_never_sent_again() {
    use tracing_subscriber::layer::SubscriberExt;
    // The runtime has one thread, so the sender's task logs to this subscriber.
    let errors = SenderErrors::default();
    let _logs = tracing::subscriber::set_default(tracing_subscriber::registry().with(errors.clone()));
    let rig = Rig::new("2026-11-28T10:00:00Z", &[]);
    rig.enqueue(&[("15551234567", "a"), ("15551234567", "b")]).await;
    // Another connection makes every `sent` transition fail, as a full disk would.
    let db = rusqlite::Connection::open(rig._dir.path().join("wapi.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER no_room BEFORE UPDATE OF status ON messages WHEN NEW.status = 'sent' \
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
    )
    .unwrap();
    let cfg = AntiBan {
        min_gap: ms(1),
        max_gap: ms(2),
        typing: None,
        cooldown_every: 1_000,
        ..antiban()
    };
    rig.start(cfg);
    within_10s("the first send", async || !rig.record().is_empty()).await;
    // Three failed writes of the outcome (retried 50, then 100 ms apart): the sender is still
    // on the first message. One that gave up on the row would have sent the next within a few
    // milliseconds of the first failure.
    within_10s("three failed writes of the outcome", async || errors.count() >= 3).await;
    let (first, _) = rig.store.message(1).await.unwrap().unwrap();
    assert_eq!(
        first.status,
        crate::store::Status::Sending,
        "its outcome is not written yet"
    );
    assert_eq!(rig.record().len(), 1, "the sender holds until the outcome is written");

    db.execute_batch("DROP TRIGGER no_room").unwrap();
    within_10s("both messages sent", async || rig.store.pending() == 0).await;
    for id in [1, 2] {
        let (message, _) = rig.store.message(id).await.unwrap().unwrap();
        assert_eq!(message.status, crate::store::Status::Sent, "message {id}");
    }
    assert_eq!(
        rig.record().iter().map(|r| r.3).collect::<Vec<_>>(),
        [1, 2],
        "each sent once"
    );
    rig.shutdown.cancel();
}
