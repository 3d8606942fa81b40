//! The events hook: a background task hands every event to every `events` plugin in order. It
//! never slows sending: the sender and the request handlers only commit and publish on the bus.
//!
//! Message events (queued, sent, failed, cancelled) and incoming messages are read from the
//! database's journal (`store::journal`), after a cursor the task keeps in `event_cursors`: an
//! event committed before a crash is handed on after the restart, so none is lost — the hook is
//! *at least once*. The cursor is written at most every [`CURSOR_EVERY`] and at a stop, so after a
//! crash the last moments' events are handed on again; each carries its journal position as its
//! origin, and a webhook delivery asked for again with the same origin is the same delivery (same
//! `webhook-id`). The bus only wakes the task, and carries what the journal does not keep —
//! receipts and session changes, handed on as they come; if plugins fall so far behind that the
//! bus overflows, those are skipped, counted and logged.

use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::runtime::{AsyncCall, State, wit};
use super::{Hook, Plugins};
use crate::clock::Clock;
use crate::events::{Events, GatewayEvent};
use crate::store::{JournalStream, Journaled, Status, Store, StoreError};
use crate::supervise::Start;
use crate::whatsapp::ReceiptKind;

/// The name the hook's cursors are kept under.
const CONSUMER: &str = "plugins";
/// Journal entries read at a time.
const BATCH: usize = 256;
/// How often, at most, the cursors are written while events flow.
const CURSOR_EVERY: Duration = Duration::from_secs(1);
/// How long the task waits for a wake-up before looking at the journal anyway, and after a
/// database error before trying again.
const IDLE_LOOK: Duration = Duration::from_secs(5);

/// What starts the task that feeds the events hook. Each start goes on from the cursors in the
/// database (after a restart, the events since the last cursor written are handed on again: at
/// least once, as after a crash); bus events (receipts, session changes) published while no task
/// ran are not. The first start listens from this call on.
pub fn event_hook(
    plugins: Plugins,
    events: &Events,
    store: Store,
    clock: Clock,
    shutdown: CancellationToken,
) -> impl Start {
    let mut first = Some(events.subscribe());
    let events = events.clone();
    move || {
        let rx = first.take().unwrap_or_else(|| events.subscribe());
        feed(plugins.clone(), rx, store.clone(), clock, shutdown.clone())
    }
}

/// The events hook's task: the journal after its cursors, and the bus.
async fn feed(
    plugins: Plugins,
    mut rx: broadcast::Receiver<GatewayEvent>,
    store: Store,
    clock: Clock,
    shutdown: CancellationToken,
) {
    let mut journal = loop {
        match Journal::open(plugins.clone(), store.clone()).await {
            Ok(journal) => break journal,
            Err(e) => {
                tracing::error!(error = %e, "the events hook cannot read its cursors; trying again");
                tokio::select! {
                    _ = tokio::time::sleep(IDLE_LOOK) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        }
    };
    loop {
        if let Err(e) = journal.catch_up(&shutdown).await {
            tracing::error!(error = %e, "the events hook cannot read the journal; trying again");
            tokio::select! {
                _ = tokio::time::sleep(IDLE_LOOK) => {}
                _ = shutdown.cancelled() => break,
            }
            continue;
        }
        if shutdown.is_cancelled() {
            break;
        }
        // A cursor that moved is written once `CURSOR_EVERY` has passed, even if all is quiet.
        let wait = match journal.dirty() {
            true => CURSOR_EVERY.saturating_sub(journal.saved_at.elapsed()),
            false => IDLE_LOOK,
        };
        let received = tokio::select! {
            received = rx.recv() => received,
            _ = tokio::time::sleep(wait) => {
                journal.save_every().await;
                continue;
            }
            _ = shutdown.cancelled() => break,
        };
        match received {
            Ok(event) => {
                if plugins.has(Hook::Events)
                    && let Some(event) = from_bus(&event, &clock)
                {
                    plugins.dispatch(&event, None).await;
                }
            }
            Err(RecvError::Lagged(skipped)) => {
                tracing::warn!(
                    skipped,
                    "event plugins fell behind; bus events were skipped (receipts and session changes among them are lost to plugins)"
                );
                metrics::counter!("wapi_plugin_events_skipped_total").increment(skipped);
            }
            Err(RecvError::Closed) => break,
        }
    }
    journal.save().await;
}

/// The hook's place in the journal.
struct Journal {
    plugins: Plugins,
    store: Store,
    history: Cursor,
    inbound: Cursor,
    saved_at: Instant,
    /// No `events` plugin was loaded at the last look: the cursors move to the journal's end at
    /// the next write instead of being handed anything.
    skipping: bool,
}

/// A position in one stream, and whether it moved since it was last written.
struct Cursor {
    stream: JournalStream,
    position: i64,
    dirty: bool,
}

/// Gives the hook its cursors on a first start (or the first after the upgrade that brought the
/// journal): the journal's end, so plugins are not handed the past. Called before the sender
/// starts, so nothing sent from then on is behind them.
pub async fn place_cursors(store: &Store) -> Result<(), StoreError> {
    for stream in [JournalStream::History, JournalStream::Inbound] {
        if store.journal_cursor(CONSUMER, stream).await?.is_none() {
            let end = store.journal_end(stream).await?;
            store.set_journal_cursor(CONSUMER, stream, end).await?;
        }
    }
    Ok(())
}

impl Journal {
    /// Reads the cursors (placing them first if [`place_cursors`] has not).
    async fn open(plugins: Plugins, store: Store) -> Result<Self, StoreError> {
        place_cursors(&store).await?;
        let mut cursors = Vec::new();
        for stream in [JournalStream::History, JournalStream::Inbound] {
            let position = store.journal_cursor(CONSUMER, stream).await?.unwrap_or_default();
            cursors.push(Cursor {
                stream,
                position,
                dirty: false,
            });
        }
        let inbound = cursors.pop().expect("two cursors");
        let history = cursors.pop().expect("two cursors");
        Ok(Self {
            plugins,
            store,
            history,
            inbound,
            saved_at: Instant::now(),
            skipping: false,
        })
    }

    /// Hands on everything after the cursors; with no `events` plugin loaded, just moves past it.
    async fn catch_up(&mut self, shutdown: &CancellationToken) -> Result<(), StoreError> {
        for which in [JournalStream::History, JournalStream::Inbound] {
            loop {
                if shutdown.is_cancelled() {
                    return Ok(());
                }
                let cursor = match which {
                    JournalStream::History => &mut self.history,
                    JournalStream::Inbound => &mut self.inbound,
                };
                if !self.plugins.has(Hook::Events) {
                    // Nothing to hand on: the cursors skip to the journal's end when they are
                    // next written, not at every event.
                    self.skipping = true;
                    break;
                }
                let entries = self.store.journal_after(which, cursor.position, BATCH).await?;
                let Some(&(last, _)) = entries.last() else { break };
                for (position, entry) in &entries {
                    if let Some(event) = from_journal(entry) {
                        let origin = format!("{}{position}", which.letter());
                        self.plugins.dispatch(&event, Some(origin)).await;
                    }
                }
                cursor.position = last;
                cursor.dirty = true;
                if entries.len() < BATCH {
                    break;
                }
                self.save_every().await;
            }
        }
        self.save_every().await;
        Ok(())
    }

    fn dirty(&self) -> bool {
        self.skipping || self.history.dirty || self.inbound.dirty
    }

    async fn save_every(&mut self) {
        if self.saved_at.elapsed() >= CURSOR_EVERY {
            self.save().await;
        }
    }

    /// Writes the cursors that moved. A failure is logged: the events since the last write are
    /// handed on again after a restart.
    async fn save(&mut self) {
        self.saved_at = Instant::now();
        if std::mem::take(&mut self.skipping) {
            for cursor in [&mut self.history, &mut self.inbound] {
                match self.store.journal_end(cursor.stream).await {
                    Ok(end) if end != cursor.position => {
                        cursor.position = end;
                        cursor.dirty = true;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "the events hook could not read the journal's end"),
                }
            }
        }
        for cursor in [&mut self.history, &mut self.inbound] {
            if !cursor.dirty {
                continue;
            }
            match self
                .store
                .set_journal_cursor(CONSUMER, cursor.stream, cursor.position)
                .await
            {
                Ok(()) => cursor.dirty = false,
                Err(e) => tracing::warn!(error = %e, "the events hook could not record its position"),
            }
        }
    }
}

impl Plugins {
    /// Hands one event to every `events` plugin in order; failures are skipped. `origin` is the
    /// event's journal position, when it has one (webhook deliveries asked for are keyed by it).
    pub async fn dispatch(&self, event: &wit::Event, origin: Option<String>) {
        let registry = self.registry();
        for plugin in registry.with_hook(Hook::Events) {
            let call = EventCall(event.clone(), origin.clone());
            match self.invoke(plugin, Hook::Events, call).await {
                Ok(Ok(())) => {}
                Ok(Err(reason)) => tracing::warn!(plugin = &*plugin.name, reason, "event plugin reported an error"),
                Err(failure) => self.failed(plugin, Hook::Events, &failure, "skipped"),
            }
        }
    }
}

/// The WIT form of a journal entry; `None` for `sending`, which plugins do not see.
fn from_journal(entry: &Journaled) -> Option<wit::Event> {
    Some(match entry {
        Journaled::Message {
            status,
            detail,
            at,
            message,
        } => {
            let event = wit::MessageEvent {
                id: message.id.to_string(),
                to: message.recipient.clone(),
                kind: message.kind.as_str().to_string(),
                text: message.body.clone().unwrap_or_default(),
                error: detail.clone().filter(|_| *status == Status::Failed),
                at_ms: (*at).max(0) as u64,
            };
            match status {
                Status::Queued => wit::Event::Queued(event),
                Status::Sending => return None,
                Status::Sent => wit::Event::Sent(event),
                Status::Failed => wit::Event::Failed(event),
                Status::Cancelled => wit::Event::Cancelled(event),
            }
        }
        Journaled::Incoming {
            id,
            chat,
            sender,
            text,
            at,
        } => wit::Event::Received(wit::IncomingEvent {
            id: id.to_string(),
            chat: chat.clone(),
            sender: sender.clone(),
            text: text.clone(),
            at_ms: (*at).max(0) as u64,
        }),
    })
}

/// The WIT form of a bus event the journal does not keep (receipts, session changes); `None`
/// for the others (the journal hands those on) and for server acks, which plugins do not see.
fn from_bus(event: &GatewayEvent, clock: &Clock) -> Option<wit::Event> {
    let at_ms = clock.now_ms().max(0) as u64;
    Some(match event {
        GatewayEvent::MessageReceipt { id, kind } => wit::Event::Receipt(wit::ReceiptEvent {
            id: id.to_string(),
            kind: match kind {
                ReceiptKind::Delivered => "delivered",
                ReceiptKind::Read => "read",
                ReceiptKind::Played => "played",
            }
            .to_string(),
            at_ms,
        }),
        GatewayEvent::SessionChanged { state, last_error } => wit::Event::Session(wit::SessionEvent {
            state: state.as_str().to_string(),
            error: last_error.clone(),
            at_ms,
        }),
        GatewayEvent::MessageQueued { .. }
        | GatewayEvent::MessageSent { .. }
        | GatewayEvent::MessageFailed { .. }
        | GatewayEvent::MessageCancelled { .. }
        | GatewayEvent::MessageReceived { .. }
        | GatewayEvent::MessageAcked { .. } => return None,
    })
}

/// One `on-event` call; the origin goes into the call's state for `deliver-webhook`.
struct EventCall(wit::Event, Option<String>);

impl AsyncCall<Result<(), String>> for EventCall {
    async fn run(
        self,
        instance: &super::bindings::Plugin,
        store: &mut wasmtime::Store<State>,
    ) -> wasmtime::Result<Result<(), String>> {
        store.data_mut().event_origin = self.1;
        instance.call_on_event(store, &self.0).await
    }
}
