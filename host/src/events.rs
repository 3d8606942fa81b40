//! Gateway events: what happened to messages and to the session, broadcast to whoever listens
//! (a send request waiting for `sent`, the metrics, and the plugins' events hook).

use tokio::sync::broadcast;

use crate::whatsapp::SessionState;

#[derive(Debug, Clone, PartialEq)]
pub enum GatewayEvent {
    MessageQueued {
        id: i64,
    },
    MessageSent {
        id: i64,
        wa_id: String,
    },
    MessageFailed {
        id: i64,
        reason: String,
    },
    MessageCancelled {
        id: i64,
    },
    /// WhatsApp's server acknowledged a sent message (or refused it, with the code).
    MessageAcked {
        id: i64,
        error: Option<String>,
    },
    /// A recipient's phone reported the message delivered, read or played.
    MessageReceipt {
        id: i64,
        kind: crate::whatsapp::ReceiptKind,
    },
    /// A message arrived, stored as inbound row `id`.
    MessageReceived {
        id: i64,
        chat: String,
        sender: String,
        text: Option<String>,
    },
    SessionChanged {
        state: SessionState,
        last_error: Option<String>,
    },
}

impl GatewayEvent {
    /// The message this event is about, if any.
    pub fn message_id(&self) -> Option<i64> {
        match self {
            Self::MessageQueued { id }
            | Self::MessageSent { id, .. }
            | Self::MessageFailed { id, .. }
            | Self::MessageCancelled { id }
            | Self::MessageAcked { id, .. }
            | Self::MessageReceipt { id, .. } => Some(*id),
            Self::MessageReceived { .. } | Self::SessionChanged { .. } => None,
        }
    }

    /// True for events after which a message's status no longer changes.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::MessageSent { .. } | Self::MessageFailed { .. } | Self::MessageCancelled { .. }
        )
    }
}

#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<GatewayEvent>,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            // Room for bursts (a 500-item batch is 500 `queued` events at once) while the plugins'
            // events hook works through them.
            tx: broadcast::Sender::new(4096),
        }
    }
}

impl Events {
    pub fn publish(&self, event: GatewayEvent) {
        tracing::debug!(?event, "event");
        // Nobody listening is fine: events are also in the database.
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<GatewayEvent> {
        self.tx.subscribe()
    }
}
