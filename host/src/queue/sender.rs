//! The one sender: takes the head of the queue when the [`policy`](super::policy) allows,
//! verifies the number, shows "typing…", claims the row, sends, has the outcome recorded, and
//! pauses. Every transition goes through the [`Lifecycle`]. A row is `sending` only around the
//! send itself, so a crash leaves at most one ambiguous message, which start-up recovers.

use std::sync::Arc;

use chrono::NaiveDate;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::lifecycle::{Finished, Lifecycle};
use super::policy::{self, Decision, Input, Pacer, Pause};
use crate::clock::Clock;
use crate::config::AntiBan;
use crate::send::{Content, MediaFile, Recipient};
use crate::store::{MessageRecord, Store, StoreError};
use crate::supervise::Start;
use crate::whatsapp::{NumberVerifier, Outgoing, Session, SessionStatus, WaError};

#[derive(Clone)]
pub struct SenderDeps {
    /// Read only (the queue's head, the day's count): every change goes through `lifecycle`.
    pub store: Store,
    pub lifecycle: Lifecycle,
    pub session: Session,
    pub verifier: Arc<NumberVerifier>,
    pub antiban: AntiBan,
    pub clock: Clock,
}

/// What request handlers may know of the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderView {
    /// When the next send may start; `None` while paused, held or capped.
    pub next_start: Option<Instant>,
}

#[derive(Clone)]
pub struct SenderHandle {
    view: watch::Receiver<SenderView>,
}

impl SenderHandle {
    pub fn view(&self) -> SenderView {
        *self.view.borrow()
    }
}

pub fn spawn(deps: SenderDeps, shutdown: CancellationToken) -> (JoinHandle<()>, SenderHandle) {
    let (handle, mut start) = sender_task(deps, shutdown);
    (tokio::spawn(start.start()), handle)
}

/// The sender's handle, and what starts it: each call makes a sender that goes on from the
/// database (the queue and the day's count are there; pacing starts over, and the first send
/// waits a gap, as after a start). Every start after the first recovers a row its predecessor
/// left `sending`, as a start of the gateway does: it may have reached WhatsApp.
pub fn sender_task(deps: SenderDeps, shutdown: CancellationToken) -> (SenderHandle, impl Start) {
    let (view_tx, view) = watch::channel(SenderView { next_start: None });
    let mut starts = 0u64;
    let start = move || {
        starts += 1;
        let mut rng = StdRng::from_os_rng();
        let sender = Sender {
            pacer: Pacer::new(&deps.antiban, Instant::now(), &mut rng),
            deps: deps.clone(),
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
    (SenderHandle { view }, start)
}

struct Sender {
    deps: SenderDeps,
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

    /// After a restart: a row the dead sender left `sending` may have reached WhatsApp, so it is
    /// treated as a start treats it (`failed: interrupted`, or queued again with
    /// `antiban.resend_interrupted`). Retried until the database takes it; false at shutdown.
    async fn recover(&self) -> bool {
        match self.deps.lifecycle.recover_interrupted_until(&self.shutdown).await {
            Ok(ids) => {
                if !ids.is_empty() {
                    tracing::warn!(?ids, "the sender stopped while sending; recovered as at a start");
                }
                true
            }
            Err(_) => false,
        }
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
                        _ = self.deps.lifecycle.queued() => {}
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
        let lifecycle = self.deps.lifecycle.clone();
        let Some((to, content)) = outgoing_parts(&head) else {
            return lifecycle.refuse(&head, "stored message is unreadable").await;
        };
        if !self.prepare(&head, &to, &content).await? {
            return Ok(());
        }
        let Some(wa_id) = lifecycle.claim(&head).await? else {
            // Cancelled while typing.
            let _ = self.deps.session.set_typing(&to, false).await;
            return Ok(());
        };
        let outgoing = Outgoing {
            id: head.id,
            wa_id: &wa_id,
            to: &to,
            content: &content,
        };
        let result = self.deps.session.send(outgoing).await;
        if matches!(content, Content::Text(_)) && self.deps.antiban.typing.is_some() {
            let _ = self.deps.session.set_typing(&to, false).await;
        }
        match lifecycle.finish(&head, result, &self.shutdown).await? {
            Finished::Sent(day) => {
                if let Some((d, n)) = &mut self.today
                    && *d == day
                {
                    *n += 1;
                }
            }
            Finished::Failed | Finished::Resend => {}
            Finished::Retry => {
                // Never reached WhatsApp: it is back at its place; wait for the session.
                self.backend_not_ready().await;
                return Ok(());
            }
        }
        let pause = self.pacer.after_send(&self.deps.antiban, Instant::now(), &mut self.rng);
        match pause {
            Pause::Cooldown(d) => tracing::info!(seconds = d.as_secs_f32(), "cool-down"),
            Pause::Gap(d) => tracing::debug!(seconds = d.as_secs_f32(), "gap"),
        }
        Ok(())
    }

    /// The number check and "typing…", while the row is still queued (so a cancel meanwhile
    /// wins); `false` when the message is not to be sent now: refused, the backend not ready, or
    /// a stop.
    async fn prepare(&self, head: &MessageRecord, to: &Recipient, content: &Content) -> Result<bool, StoreError> {
        if self.deps.antiban.verify_numbers
            && let Some(phone) = to.phone()
        {
            match self.deps.verifier.is_on_whatsapp(phone).await {
                Ok(true) => {}
                Ok(false) => {
                    // Not failed if it was cancelled meanwhile.
                    self.deps.lifecycle.refuse(head, "not_on_whatsapp").await?;
                    return Ok(false);
                }
                Err(WaError::NotConnected) => {
                    self.backend_not_ready().await;
                    return Ok(false);
                }
                Err(e) => {
                    tracing::warn!(id = head.id, error = %e, "number check failed; sending unverified")
                }
            }
        }
        if let (Content::Text(text), Some(typing)) = (content, self.deps.antiban.typing) {
            let duration = policy::typing_time(&typing, text.chars().count());
            if let Err(WaError::NotConnected) = self.deps.session.set_typing(to, true).await {
                self.backend_not_ready().await;
                return Ok(false);
            }
            tokio::select! {
                _ = tokio::time::sleep(duration) => {}
                _ = self.shutdown.cancelled() => {
                    let _ = self.deps.session.set_typing(to, false).await;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// The session said "connected" but the backend is not (yet): wait a moment rather than spin;
    /// the session's own state change follows.
    async fn backend_not_ready(&self) {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = self.shutdown.cancelled() => {}
        }
    }
}

/// Rebuilds what to send from a stored row.
fn outgoing_parts(m: &MessageRecord) -> Option<(Recipient, Content)> {
    let to = Recipient::parse(&m.recipient).ok()?;
    let content = match m.kind.media() {
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
    };
    Some((to, content))
}
