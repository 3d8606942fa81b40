//! The events hook: a background task turns gateway events into the WIT `event` and hands each
//! to every `events` plugin in order. It never slows sending: the sender only publishes on the
//! bus. If plugins fall so far behind that the bus overflows, the skipped events are counted
//! and logged (webhook deliveries that plugins asked for are durable; the bus is not).

use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::runtime::{AsyncCall, State, wit};
use super::{Hook, Plugins};
use crate::clock::Clock;
use crate::events::{Events, GatewayEvent};
use crate::store::Store;
use crate::whatsapp::ReceiptKind;

/// Starts the task that feeds the events hook.
pub fn spawn_event_hook(
    plugins: Plugins,
    events: &Events,
    store: Store,
    clock: Clock,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let mut rx = events.subscribe();
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                received = rx.recv() => received,
                _ = shutdown.cancelled() => return,
            };
            match event {
                Ok(event) => {
                    if !plugins.has(Hook::Events) {
                        continue;
                    }
                    if let Some(event) = convert(&event, &store, &clock).await {
                        plugins.dispatch(&event).await;
                    }
                }
                Err(RecvError::Lagged(skipped)) => {
                    tracing::warn!(skipped, "event plugins fell behind; events were skipped");
                    metrics::counter!("wapi_plugin_events_skipped_total").increment(skipped);
                }
                Err(RecvError::Closed) => return,
            }
        }
    })
}

impl Plugins {
    /// Hands one event to every `events` plugin in order; failures are skipped.
    pub async fn dispatch(&self, event: &wit::Event) {
        let registry = self.registry();
        for plugin in registry.with_hook(Hook::Events) {
            match self.invoke(plugin, Hook::Events, EventCall(event.clone())).await {
                Ok(Ok(())) => {}
                Ok(Err(reason)) => tracing::warn!(plugin = &*plugin.name, reason, "event plugin reported an error"),
                Err(failure) => self.failed(plugin, Hook::Events, &failure, "skipped"),
            }
        }
    }
}

/// The WIT form of a gateway event; `None` for events plugins do not see (server acks) or
/// whose message is gone.
async fn convert(event: &GatewayEvent, store: &Store, clock: &Clock) -> Option<wit::Event> {
    let at_ms = clock.now_ms().max(0) as u64;
    let message = |id: i64, error: Option<String>| async move {
        let (record, _) = store.message(id).await.ok().flatten()?;
        Some(wit::MessageEvent {
            id: id.to_string(),
            to: record.recipient,
            kind: record.kind.as_str().to_string(),
            text: record.body.unwrap_or_default(),
            error,
            at_ms,
        })
    };
    Some(match event {
        GatewayEvent::MessageQueued { id } => wit::Event::Queued(message(*id, None).await?),
        GatewayEvent::MessageSent { id, .. } => wit::Event::Sent(message(*id, None).await?),
        GatewayEvent::MessageFailed { id, reason } => wit::Event::Failed(message(*id, Some(reason.clone())).await?),
        GatewayEvent::MessageCancelled { id } => wit::Event::Cancelled(message(*id, None).await?),
        GatewayEvent::MessageAcked { .. } => return None,
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
        GatewayEvent::MessageReceived { id, chat, sender, text } => wit::Event::Received(wit::IncomingEvent {
            id: id.to_string(),
            chat: chat.clone(),
            sender: sender.clone(),
            text: text.clone(),
            at_ms,
        }),
        GatewayEvent::SessionChanged { state, last_error } => wit::Event::Session(wit::SessionEvent {
            state: state.as_str().to_string(),
            error: last_error.clone(),
            at_ms,
        }),
    })
}

struct EventCall(wit::Event);

impl AsyncCall<Result<(), String>> for EventCall {
    async fn run(
        self,
        instance: &super::bindings::Plugin,
        store: &mut wasmtime::Store<State>,
    ) -> wasmtime::Result<Result<(), String>> {
        instance.call_on_event(store, &self.0).await
    }
}
