//! The supervisor's loop around one client: the library's events and polled flags in, session
//! states out, and the decision of what to do when the client ends.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;
use whatsapp_rust::prelude::*;

use super::{CONNECT_GRACE, POLL, Shared};
use crate::whatsapp::{ReceiptKind, SessionState};

/// What the supervisor does after a client ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Stop,
    Rebuild,
    /// Logged out: forget the device, then build a fresh client (new QR codes).
    Wipe,
    /// The QR codes ran out: build a new client only when someone asks for a code.
    WaitForDemand,
}

/// A state change an event asks for, or what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    State(SessionState, Option<String>),
    Qr(String),
    Connected,
    End(Next, SessionState, Option<String>),
    Nothing,
}

/// The pure part: what one library event means for the session.
pub fn effect(event: &Event) -> Effect {
    match event {
        Event::PairingQrCode(qr) => Effect::Qr(qr.code.clone()),
        Event::PairingQrCodesExhausted(e) if e.disconnected => Effect::End(
            Next::WaitForDemand,
            SessionState::WaitingForQr,
            Some("the QR codes expired; ask for a new one (dashboard or GET /api/session/qr)".into()),
        ),
        Event::Connected(_) | Event::PairSuccess(_) => Effect::Connected,
        Event::Disconnected(d) => {
            Effect::State(SessionState::Reconnecting, Some(format!("disconnected: {}", d.reason)))
        }
        Event::LoggedOut(l) => Effect::End(
            Next::Wipe,
            SessionState::LoggedOut,
            Some(format!("logged out by WhatsApp: {:?}", l.reason)),
        ),
        Event::StreamReplaced(_) => Effect::End(
            Next::Stop,
            SessionState::LoggedOut,
            Some("another client took over this session; restart the gateway to reclaim it".into()),
        ),
        Event::TemporaryBan(ban) => Effect::State(
            SessionState::TemporarilyBanned,
            Some(format!(
                "temporarily banned by WhatsApp ({:?}) for {} s; the queue waits",
                ban.code,
                ban.expire.num_seconds()
            )),
        ),
        Event::ConnectFailure(f) => Effect::State(
            SessionState::Reconnecting,
            Some(format!(
                "connection refused: {:?} {}",
                f.reason,
                f.message.clone().unwrap_or_default()
            )),
        ),
        _ => Effect::Nothing,
    }
}

/// The receipts the gateway reports; the protocol's others (retries, self-reads…) are not.
pub fn receipt_kind(kind: &whatsapp_rust::wacore::types::presence::ReceiptType) -> Option<ReceiptKind> {
    use whatsapp_rust::wacore::types::presence::ReceiptType;
    match kind {
        ReceiptType::Delivered => Some(ReceiptKind::Delivered),
        ReceiptType::Read => Some(ReceiptKind::Read),
        ReceiptType::Played => Some(ReceiptKind::Played),
        _ => None,
    }
}

/// Runs one client until it ends; returns what comes next.
pub async fn drive(shared: &Shared, bot: Bot, mut events: mpsc::UnboundedReceiver<Arc<Event>>) -> Next {
    let client = bot.client();
    let mut handle = bot.spawn();
    let started = Instant::now();
    let mut poll = tokio::time::interval(POLL);
    let next = loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break Next::Rebuild };
                if let Event::ServerAck(ack) = &*event
                    && ack.class.as_deref() == Some("message")
                {
                    shared.inbox.server_ack(&ack.id, ack.error.clone()).await;
                }
                if let Event::Receipt(receipt) = &*event
                    && let Some(kind) = receipt_kind(&receipt.r#type)
                {
                    let ids = receipt.message_ids.iter().map(|id| id.to_string()).collect();
                    shared.inbox.receipt(ids, kind).await;
                }
                let effect = effect(&event);
                if effect == Effect::Connected {
                    set_available(&client);
                }
                if let Some(next) = apply(shared, effect, client.pn().map(|j| j.user.to_string())) {
                    break next;
                }
            }
            _ = poll.tick() => reconcile(shared, &client, started),
            _ = &mut handle => {
                // The run loop ended by itself (a logout, a deliberate disconnect).
                tracing::info!("the WhatsApp client stopped");
                return Next::Rebuild;
            }
            // A logout: end this client; the supervisor wipes the store (its flag says so).
            _ = shared.restart.notified() => break Next::Rebuild,
            _ = shared.shutdown.cancelled() => break Next::Stop,
        }
    };
    shared.set_qr(None);
    if tokio::time::timeout(std::time::Duration::from_secs(15), handle.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("the WhatsApp client did not stop within 15 s");
    }
    next
}

/// Applies an event's effect to the session's status; `Some` when this client ends.
/// (`number` is the linked account's, known once connected.)
pub fn apply(shared: &Shared, effect: Effect, number: Option<String>) -> Option<Next> {
    match effect {
        Effect::Qr(code) => {
            shared.set_qr(Some(code));
            shared.set(SessionState::WaitingForQr, None);
        }
        Effect::Connected => {
            shared.set_qr(None);
            shared.set_linked(true, number);
            shared.set(SessionState::Connected, None);
        }
        Effect::State(state, why) => shared.set(state, why),
        Effect::End(next, state, why) => {
            if next == Next::Wipe {
                shared.set_linked(false, None);
            }
            shared.set(state, why);
            return Some(next);
        }
        Effect::Nothing => {}
    }
    None
}

fn connected(shared: &Shared, client: &Arc<Client>) {
    apply(shared, Effect::Connected, client.pn().map(|j| j.user.to_string()));
    set_available(client);
}

/// Shows the account as online once connected (WhatsApp Web does the same).
fn set_available(client: &Arc<Client>) {
    let client = client.clone();
    tokio::spawn(async move {
        if let Err(e) = client.presence().set_available().await {
            tracing::debug!(error = %e, "could not set presence available yet");
        }
    });
}

/// Offline the library emits nothing: compare the shown state with the client's flags.
fn reconcile(shared: &Shared, client: &Arc<Client>, started: Instant) {
    let state = shared.status.borrow().state;
    match (state, client.is_connected() && client.is_logged_in()) {
        (SessionState::Connected, false) => shared.set(
            SessionState::Reconnecting,
            Some("connection to WhatsApp lost; reconnecting".into()),
        ),
        (SessionState::Starting | SessionState::Reconnecting | SessionState::TemporarilyBanned, true) => {
            connected(shared, client)
        }
        (SessionState::Starting, false) if started.elapsed() > CONNECT_GRACE => shared.set(
            SessionState::Reconnecting,
            Some("cannot reach WhatsApp's servers; retrying with back-off".into()),
        ),
        _ => {}
    }
}
