//! The one sender: takes the head of the queue when the [`policy`](super::policy) allows,
//! verifies the number, shows "typing…", claims the row, sends, records the outcome, and pauses.
//! A row is `sending` only around the send itself, so a crash leaves at most one ambiguous
//! message, which start-up marks `failed: interrupted`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::policy::{self, Decision, Input, Pacer, Pause};
use crate::clock::Clock;
use crate::config::AntiBan;
use crate::events::{Events, GatewayEvent};
use crate::send::{Content, MediaFile, Recipient};
use crate::store::{MessageRecord, Status, Store, StoreError};
use crate::supervise::Start;
use crate::whatsapp::{NumberVerifier, Outgoing, Session, SessionStatus, WaError};

/// The first and the longest wait between attempts to record a send's outcome.
const RECORD_RETRY_FIRST: Duration = Duration::from_millis(50);
const RECORD_RETRY_MAX: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct SenderDeps {
    pub store: Store,
    pub session: Session,
    pub verifier: Arc<NumberVerifier>,
    pub antiban: AntiBan,
    pub clock: Clock,
    pub events: Events,
}

/// What request handlers may know of the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderView {
    /// When the next send may start; `None` while paused, held or capped.
    pub next_start: Option<Instant>,
}

#[derive(Clone)]
pub struct SenderHandle {
    wake: Arc<Notify>,
    view: watch::Receiver<SenderView>,
}

impl SenderHandle {
    /// Tells the sender that a message was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn view(&self) -> SenderView {
        *self.view.borrow()
    }
}

/// Starts the sender on a task of its own.
pub fn spawn(deps: SenderDeps, shutdown: CancellationToken) -> (JoinHandle<()>, SenderHandle) {
    let (handle, mut start) = sender_task(deps, shutdown);
    (tokio::spawn(start.start()), handle)
}

/// The sender's handle, and what starts it: each call makes a sender that goes on from the
/// database (the queue and the day's count are there; pacing starts over, and the first send
/// waits a gap, as after a start). Every start after the first recovers a row its predecessor
/// left `sending`, as a start of the gateway does: it may have reached WhatsApp.
pub fn sender_task(deps: SenderDeps, shutdown: CancellationToken) -> (SenderHandle, impl Start) {
    let wake = Arc::new(Notify::new());
    let (view_tx, view) = watch::channel(SenderView { next_start: None });
    let handle = SenderHandle {
        wake: wake.clone(),
        view,
    };
    let mut starts = 0u64;
    let start = move || {
        starts += 1;
        let mut rng = StdRng::from_os_rng();
        let sender = Sender {
            pacer: Pacer::new(&deps.antiban, Instant::now(), &mut rng),
            deps: deps.clone(),
            wake: wake.clone(),
            view: view_tx.clone(),
            rng,
            today: None,
            shutdown: shutdown.clone(),
        };
        let restarted = starts > 1;
        async move {
            if restarted && !sender.recover().await {
                return;
            }
            sender.run().await
        }
    };
    (handle, start)
}

struct Sender {
    deps: SenderDeps,
    wake: Arc<Notify>,
    view: watch::Sender<SenderView>,
    pacer: Pacer,
    rng: StdRng,
    /// The UTC day and how many were sent on it.
    today: Option<(NaiveDate, u32)>,
    shutdown: CancellationToken,
}

impl Sender {
    async fn run(mut self) {
        let mut session = self.deps.session.status();
        tracing::info!("sender started");
        while !self.shutdown.is_cancelled() {
            if let Err(e) = self.step(&mut session).await {
                tracing::error!(error = %e, "sender: database error; retrying in 1s");
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    _ = self.shutdown.cancelled() => {}
                }
            }
        }
        tracing::info!("sender stopped");
    }

    async fn step(&mut self, session: &mut watch::Receiver<SessionStatus>) -> Result<(), StoreError> {
        let gate = session.borrow_and_update().gate();
        let sent_today = self.sent_today().await?;
        let now = Instant::now();
        let input = Input {
            now,
            gate,
            sent_today,
            until_midnight: self.deps.clock.until_midnight(),
        };
        let decision = self.pacer.decide(&self.deps.antiban, input);
        let next_start = match decision {
            Decision::Send => Some(now),
            Decision::WaitUntil(t) => Some(t),
            Decision::Paused | Decision::Held | Decision::DailyCap(_) => None,
        };
        self.view.send_replace(SenderView { next_start });
        match decision {
            Decision::Held | Decision::Paused => {
                tokio::select! {
                    _ = session.changed() => {}
                    _ = self.shutdown.cancelled() => {}
                }
            }
            Decision::DailyCap(wait) => {
                tracing::info!(
                    sent_today,
                    wait_s = wait.as_secs(),
                    "daily cap reached; the queue waits for UTC midnight"
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = session.changed() => {}
                    _ = self.shutdown.cancelled() => {}
                }
            }
            Decision::WaitUntil(t) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(t) => {}
                    // A change of session during a gap is seen at once (the gap still holds).
                    _ = session.changed() => {}
                    _ = self.shutdown.cancelled() => {}
                }
            }
            Decision::Send => match self.deps.store.head().await? {
                Some(head) => self.process(head).await?,
                None => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = session.changed() => {}
                        _ = self.shutdown.cancelled() => {}
                    }
                }
            },
        }
        Ok(())
    }

    /// Messages sent on the current UTC day (read from the database once per day).
    async fn sent_today(&mut self) -> Result<u32, StoreError> {
        let day = self.deps.clock.today();
        match self.today {
            Some((d, n)) if d == day => Ok(n),
            _ => {
                let n = self.deps.store.daily_counts(day.to_string()).await?.sent;
                self.today = Some((day, n));
                Ok(n)
            }
        }
    }

    async fn process(&mut self, head: MessageRecord) -> Result<(), StoreError> {
        let store = self.deps.store.clone();
        let now_ms = || self.deps.clock.now_ms();
        let Some((to, content)) = outgoing_parts(&head) else {
            let reason = "stored message is unreadable";
            if store
                .mark_failed(head.id, Status::Queued, reason.into(), now_ms())
                .await?
            {
                remove_media(&head);
                self.finish(&head, Err(reason.into()));
            }
            return Ok(());
        };
        if self.deps.antiban.verify_numbers
            && let Some(phone) = to.phone()
        {
            match self.deps.verifier.is_on_whatsapp(phone).await {
                Ok(true) => {}
                Ok(false) => {
                    // Not failed if it was cancelled meanwhile.
                    if store
                        .mark_failed(head.id, Status::Queued, "not_on_whatsapp".into(), now_ms())
                        .await?
                    {
                        remove_media(&head);
                        self.finish(&head, Err("not_on_whatsapp".into()));
                    }
                    return Ok(());
                }
                Err(WaError::NotConnected) => {
                    self.backend_not_ready().await;
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(id = head.id, error = %e, "number check failed; sending unverified")
                }
            }
        }
        if let (Content::Text(text), Some(typing)) = (&content, self.deps.antiban.typing) {
            let duration = policy::typing_time(&typing, text.chars().count());
            if let Err(WaError::NotConnected) = self.deps.session.set_typing(&to, true).await {
                self.backend_not_ready().await;
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(duration) => {}
                _ = self.shutdown.cancelled() => {
                    let _ = self.deps.session.set_typing(&to, false).await;
                    return Ok(());
                }
            }
        }
        if !store.claim(head.id, now_ms()).await? {
            // Cancelled while typing.
            let _ = self.deps.session.set_typing(&to, false).await;
            return Ok(());
        }
        let result = self
            .deps
            .session
            .send(Outgoing {
                id: head.id,
                to: &to,
                content: &content,
            })
            .await;
        if matches!(content, Content::Text(_)) && self.deps.antiban.typing.is_some() {
            let _ = self.deps.session.set_typing(&to, false).await;
        }
        // The upload is not needed once WhatsApp answered: removed before the outcome is
        // visible, so a message read as sent or failed has no file left behind.
        if !matches!(result, Err(WaError::NotConnected)) {
            remove_media(&head);
        }
        // From here the row must come out of `sending` whatever the database says: the send
        // happened (or surely did not), so a write that fails is retried, not dropped.
        let at = now_ms();
        match result {
            Ok(receipt) => {
                let day = self.deps.clock.today();
                self.record(head.id, "sent", || {
                    store.mark_sent(head.id, receipt.wa_id.clone(), day.to_string(), at)
                })
                .await?;
                if let Some((d, n)) = &mut self.today
                    && *d == day
                {
                    *n += 1;
                }
                self.finish(&head, Ok(receipt.wa_id));
            }
            Err(WaError::NotConnected) => {
                // Never reached WhatsApp: back to its place first, then wait for the session.
                self.record(head.id, "requeued", || {
                    store.requeue(head.id, "WhatsApp disconnected before the send; waiting".into(), at)
                })
                .await?;
                self.backend_not_ready().await;
                return Ok(());
            }
            Err(e) => {
                self.record(head.id, "failed", || {
                    store.mark_failed(head.id, Status::Sending, e.to_string(), at)
                })
                .await?;
                self.finish(&head, Err(e.to_string()));
            }
        }
        let pause = self.pacer.after_send(&self.deps.antiban, Instant::now(), &mut self.rng);
        match pause {
            Pause::Cooldown(d) => tracing::info!(seconds = d.as_secs_f32(), "cool-down"),
            Pause::Gap(d) => tracing::debug!(seconds = d.as_secs_f32(), "gap"),
        }
        Ok(())
    }

    /// Writes the outcome of a send until the database takes it (a full disk, a lock held too
    /// long); gives up only at shutdown, leaving the row `sending` for the next start to mark
    /// `interrupted`. Retrying is safe: each transition applies only from `sending`.
    async fn record<T, F, Fut>(&self, id: i64, outcome: &str, mut write: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut delay = RECORD_RETRY_FIRST;
        loop {
            let error = match write().await {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            if self.shutdown.is_cancelled() {
                return Err(error);
            }
            tracing::error!(
                id,
                outcome,
                %error,
                retry_ms = delay.as_millis() as u64,
                "sender: could not record a send's outcome; retrying"
            );
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.shutdown.cancelled() => {}
            }
            delay = (delay * 2).min(RECORD_RETRY_MAX);
        }
    }

    /// The session said "connected" but the backend is not (yet): wait a moment rather than spin;
    /// the session's own state change follows.
    async fn backend_not_ready(&self) {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = self.shutdown.cancelled() => {}
        }
    }

    /// After a restart: a row the dead sender left `sending` may have reached WhatsApp, so it is
    /// treated as a start treats it (`failed: interrupted`, or queued again with
    /// `antiban.resend_interrupted`). Retried until the database takes it; false at shutdown.
    async fn recover(&self) -> bool {
        let resend = self.deps.antiban.resend_interrupted;
        let recovered = self
            .record(0, "interrupted", || {
                self.deps.store.recover_interrupted(resend, self.deps.clock.now_ms())
            })
            .await;
        match recovered {
            Ok(ids) if ids.is_empty() => true,
            Ok(ids) => {
                tracing::warn!(
                    ?ids,
                    resend,
                    "the sender stopped while sending; recovered as at a start"
                );
                if !resend {
                    for id in ids {
                        self.deps.events.publish(GatewayEvent::MessageFailed {
                            id,
                            reason: "interrupted".into(),
                        });
                    }
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Publishes the outcome and counts it.
    fn finish(&self, message: &MessageRecord, outcome: Result<String, String>) {
        let event = match outcome {
            Ok(wa_id) => {
                tracing::info!(id = message.id, to = %message.recipient, %wa_id, "sent");
                metrics::counter!("wapi_sends_total", "outcome" => "sent").increment(1);
                GatewayEvent::MessageSent { id: message.id, wa_id }
            }
            Err(reason) => {
                tracing::warn!(id = message.id, to = %message.recipient, %reason, "send failed");
                metrics::counter!("wapi_sends_total", "outcome" => "failed").increment(1);
                GatewayEvent::MessageFailed { id: message.id, reason }
            }
        };
        self.deps.events.publish(event);
    }
}

/// Deletes a message's uploaded file once it can no longer be sent.
pub fn remove_media(message: &MessageRecord) {
    if let Some(path) = &message.media_path
        && let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(id = message.id, path, error = %e, "could not remove media file");
    }
}

/// Rebuilds what to send from a stored row.
fn outgoing_parts(m: &MessageRecord) -> Option<(Recipient, Content)> {
    let to = Recipient::parse(&m.recipient).ok()?;
    let content = match m.kind {
        kind => match kind.media() {
            None => Content::Text(m.body.clone()?),
            Some(kind) => Content::Media {
                kind,
                file: MediaFile {
                    path: m.media_path.clone()?.into(),
                    mime: m.media_mime.clone().unwrap_or_default(),
                    file_name: m.media_name.clone().unwrap_or_default(),
                    size: m.media_size.unwrap_or(0).max(0) as u64,
                },
                caption: m.body.clone(),
            },
        },
    };
    Some((to, content))
}
