//! The one owner of a message's lifecycle: enqueue, claim, finish (sent, failed, back to the
//! queue), cancel, and the recovery at start. Each transition writes the row (through the
//! store), publishes its event, counts its metric and frees the message's file here; nothing
//! else publishes message events or removes uploads.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::clock::Clock;
use crate::config::AntiBan;
use crate::events::{Events, GatewayEvent};
use crate::send::Upload;
use crate::store::{CancelOutcome, EnqueueItem, EnqueueOutcome, MessageRecord, Status, Store, StoreError};
use crate::whatsapp::{SendError, SendReceipt, new_message_id};

/// The first and the longest wait between attempts to record a send's outcome.
const RECORD_RETRY_FIRST: Duration = Duration::from_millis(50);
const RECORD_RETRY_MAX: Duration = Duration::from_secs(1);

/// A cheap-clone handle: `app` builds one and hands it to the sender and, through the gateway,
/// to the request handlers.
#[derive(Clone)]
pub struct Lifecycle {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    events: Events,
    clock: Clock,
    daily_limit: u32,
    resend_interrupted: bool,
    /// Rung when a message is queued; the sender waits on it while the queue is empty.
    queued: Notify,
}

/// What became of a message the sender handed to WhatsApp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Sent, on this UTC day.
    Sent(NaiveDate),
    Failed,
    /// Provably never left; back at its place until the connection returns.
    Retry,
    /// May have left; back in the queue with the same WhatsApp id (`antiban.resend_interrupted`).
    Resend,
}

impl Lifecycle {
    pub fn new(store: Store, events: Events, clock: Clock, antiban: &AntiBan) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                events,
                clock,
                daily_limit: antiban.daily_limit,
                resend_interrupted: antiban.resend_interrupted,
                queued: Notify::new(),
            }),
        }
    }

    /// Queues sends (idempotency and the daily cap checked in the same transaction), publishes
    /// `queued` for each new message and wakes the sender. An item's upload is kept when its
    /// message is queued and removed otherwise. A caller that goes away (a client that
    /// disconnects) cannot leave a committed message unseen: with uploads the enqueue runs to its
    /// end in a task of its own (a committed message keeps its file); text sends run in place
    /// (a task per send cost a quarter of the enqueue throughput) and a guard wakes the sender
    /// if the caller is dropped before the end, so the message is found and sent.
    pub async fn enqueue(&self, key_id: &str, items: Vec<EnqueueItem>) -> Result<Vec<EnqueueOutcome>, StoreError> {
        if items.iter().all(|item| item.upload.is_none()) {
            let mut wake = WakeOnDrop(Some(&self.inner.queued));
            let outcomes = self.enqueue_here(key_id, items).await;
            wake.0 = None;
            return outcomes;
        }
        let this = self.clone();
        let key_id = key_id.to_string();
        let task = tokio::spawn(async move { this.enqueue_here(&key_id, items).await }.in_current_span());
        match task.await {
            Ok(outcomes) => outcomes,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Closed),
        }
    }

    async fn enqueue_here(&self, key_id: &str, mut items: Vec<EnqueueItem>) -> Result<Vec<EnqueueOutcome>, StoreError> {
        let uploads: Vec<Option<Upload>> = items.iter_mut().map(|item| item.upload.take()).collect();
        let clock = self.inner.clock;
        // On an error nothing was committed: the uploads go with `uploads`.
        let outcomes = self
            .inner
            .store
            .enqueue(
                key_id,
                items,
                clock.today().to_string(),
                self.inner.daily_limit,
                clock.now_ms(),
            )
            .await?;
        let mut queued = 0;
        for (outcome, upload) in outcomes.iter().zip(uploads) {
            if let EnqueueOutcome::Queued(message) = outcome {
                queued += 1;
                if let Some(upload) = upload {
                    upload.queued();
                }
                self.inner
                    .events
                    .publish(GatewayEvent::MessageQueued { id: message.id });
            }
        }
        if queued > 0 {
            metrics::counter!("wapi_messages_accepted_total").increment(queued);
            self.inner.queued.notify_one();
        }
        Ok(outcomes)
    }

    /// Cancels a message that is still queued: it will not be sent, and its file goes.
    pub async fn cancel(&self, id: i64) -> Result<CancelOutcome, StoreError> {
        let outcome = self.inner.store.cancel(id, self.inner.clock.now_ms()).await?;
        if let CancelOutcome::Cancelled(message) = &outcome {
            tracing::info!(id, "cancelled");
            free_file(message);
            metrics::counter!("wapi_messages_cancelled_total").increment(1);
            self.inner.events.publish(GatewayEvent::MessageCancelled { id });
        }
        Ok(outcome)
    }

    /// At start, messages found `sending` may or may not have left: they fail as `interrupted`
    /// (their files removed) or, with `antiban.resend_interrupted`, go back to the queue keeping
    /// their WhatsApp id. Returns their ids.
    pub async fn recover_interrupted(&self) -> Result<Vec<i64>, StoreError> {
        let resend = self.inner.resend_interrupted;
        let messages = self
            .inner
            .store
            .recover_interrupted(resend, self.inner.clock.now_ms())
            .await?;
        if !resend {
            for message in &messages {
                free_file(message);
                self.inner.events.publish(GatewayEvent::MessageFailed {
                    id: message.id,
                    reason: "interrupted".into(),
                });
            }
        }
        Ok(messages.iter().map(|m| m.id).collect())
    }

    /// Resolves when a message was queued since the last call (or while nobody waited).
    pub(super) async fn queued(&self) {
        self.inner.queued.notified().await
    }

    /// Marks `message` `sending` with the WhatsApp id it goes out under — chosen on its first
    /// attempt, the same on every later one — and returns that id; `None` when it is no longer
    /// queued (cancelled meanwhile).
    pub(super) async fn claim(&self, message: &MessageRecord) -> Result<Option<String>, StoreError> {
        let now = self.inner.clock.now_ms();
        self.inner.store.claim(message.id, new_message_id(), now).await
    }

    /// Fails a message before it is handed to WhatsApp (unreadable row, number not on
    /// WhatsApp); nothing happens when it is no longer queued (cancelled meanwhile).
    pub(super) async fn refuse(&self, message: &MessageRecord, reason: &str) -> Result<(), StoreError> {
        let now = self.inner.clock.now_ms();
        if self
            .inner
            .store
            .mark_failed(message.id, Status::Queued, reason.into(), now)
            .await?
        {
            free_file(message);
            self.publish_failed(message, reason);
        }
        Ok(())
    }

    /// Records what WhatsApp answered for a claimed message. Its file goes as soon as WhatsApp
    /// answered — before the outcome is visible, so a message read as sent or failed has no file
    /// left — unless the message goes back to the queue to be sent again. The row must leave
    /// `sending` whatever the database says (the send happened, or surely did not), so the write
    /// is retried until the database takes it; only `stop` ends the retries, leaving the row
    /// `sending` for the next start to recover.
    pub(super) async fn finish(
        &self,
        message: &MessageRecord,
        result: Result<SendReceipt, SendError>,
        stop: &CancellationToken,
    ) -> Result<Finished, StoreError> {
        let store = &self.inner.store;
        let (id, at) = (message.id, self.inner.clock.now_ms());
        let failed = |reason: String| async move {
            free_file(message);
            self.record(id, "failed", stop, || {
                store.mark_failed(id, Status::Sending, reason.clone(), at)
            })
            .await?;
            self.publish_failed(message, &reason);
            Ok(Finished::Failed)
        };
        match result {
            Ok(SendReceipt { wa_id }) => {
                free_file(message);
                let day = self.inner.clock.today();
                self.record(id, "sent", stop, || {
                    store.mark_sent(id, wa_id.clone(), day.to_string(), at)
                })
                .await?;
                tracing::info!(id, to = %message.recipient, %wa_id, "sent");
                metrics::counter!("wapi_sends_total", "outcome" => "sent").increment(1);
                self.inner.events.publish(GatewayEvent::MessageSent { id, wa_id });
                Ok(Finished::Sent(day))
            }
            Err(SendError::NotSent { retry: true, reason }) => {
                tracing::info!(id, %reason, "not sent; back in the queue until the connection returns");
                let detail = format!("not sent ({reason}); waiting for the connection");
                self.requeue(id, detail, at, stop).await?;
                Ok(Finished::Retry)
            }
            Err(SendError::NotSent { retry: false, reason }) => failed(reason).await,
            Err(SendError::MaybeSent { reason }) if self.inner.resend_interrupted => {
                tracing::warn!(id, %reason, "the send may have reached WhatsApp; queued again with the same id");
                let detail = "interrupted; queued again with the same WhatsApp id".to_string();
                self.requeue(id, detail, at, stop).await?;
                Ok(Finished::Resend)
            }
            Err(SendError::MaybeSent { reason }) => {
                tracing::warn!(id, %reason, "the send may have reached WhatsApp; it is not sent again");
                failed("interrupted".into()).await
            }
        }
    }

    async fn requeue(&self, id: i64, detail: String, at: i64, stop: &CancellationToken) -> Result<(), StoreError> {
        let store = &self.inner.store;
        self.record(id, "requeued", stop, || store.requeue(id, detail.clone(), at))
            .await?;
        metrics::counter!("wapi_sends_requeued_total").increment(1);
        Ok(())
    }

    /// [`Lifecycle::recover_interrupted`] for a restarted sender: retried until the database
    /// takes it, like an outcome; gives up only when `stop` is cancelled.
    pub async fn recover_interrupted_until(&self, stop: &CancellationToken) -> Result<Vec<i64>, StoreError> {
        self.record(0, "interrupted", stop, || self.recover_interrupted()).await
    }

    /// The daily cap enqueues are checked against (`antiban.daily_limit`).
    pub fn daily_limit(&self) -> u32 {
        self.inner.daily_limit
    }

    /// Writes the outcome of a send until the database takes it (a full disk, a lock held too
    /// long); gives up only when `stop` is cancelled. Retrying is safe: each transition applies
    /// only from `sending`.
    async fn record<T, F, Fut>(
        &self,
        id: i64,
        outcome: &str,
        stop: &CancellationToken,
        mut write: F,
    ) -> Result<T, StoreError>
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
            if stop.is_cancelled() {
                return Err(error);
            }
            tracing::error!(
                id,
                outcome,
                %error,
                retry_ms = delay.as_millis() as u64,
                "could not record a send's outcome; retrying"
            );
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.cancelled() => {}
            }
            delay = (delay * 2).min(RECORD_RETRY_MAX);
        }
    }

    fn publish_failed(&self, message: &MessageRecord, reason: &str) {
        tracing::warn!(id = message.id, to = %message.recipient, %reason, "send failed");
        metrics::counter!("wapi_sends_total", "outcome" => "failed").increment(1);
        self.inner.events.publish(GatewayEvent::MessageFailed {
            id: message.id,
            reason: reason.to_string(),
        });
    }
}

/// Deletes a message's uploaded file once it can no longer be sent.
fn free_file(message: &MessageRecord) {
    if let Some(path) = &message.media_path
        && let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(id = message.id, path, error = %e, "could not remove media file");
    }
}

/// Wakes the sender when an enqueue is dropped before its end: its write may have committed.
struct WakeOnDrop<'a>(Option<&'a Notify>);

impl Drop for WakeOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(queued) = self.0.take() {
            queued.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::send::{TextInput, Validator};

    #[tokio::test]
    async fn a_text_enqueue_dropped_before_its_end_still_wakes_the_sender() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("wapi.db")).unwrap();
        let antiban = crate::queue::policy::tests::cfg();
        let lifecycle = Lifecycle::new(store.clone(), Events::default(), Clock::system(), &antiban);
        let input = TextInput {
            to: Some("15551234567".into()),
            text: Some("hi".into()),
            ..Default::default()
        };
        let send = Validator::new(100).text(&input, "").unwrap();
        let item = EnqueueItem {
            send,
            idem: None,
            upload: None,
        };
        {
            let mut enqueue = std::pin::pin!(lifecycle.enqueue("k", vec![item]));
            // Polled once, the write is with the writer (its commit syncs the disk); then the
            // caller goes away, as a request whose client disconnected does.
            assert!(futures_util::poll!(enqueue.as_mut()).is_pending());
        }
        tokio::time::timeout(Duration::from_secs(10), lifecycle.inner.queued.notified())
            .await
            .expect("the sender is woken although the enqueue never finished");
        // The sender, woken, reads the head: the write the dropped caller left commits.
        let started = std::time::Instant::now();
        let head = loop {
            if let Some(head) = store.head().await.unwrap() {
                break head;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "the write never committed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(head.body.as_deref(), Some("hi"));
    }
}
