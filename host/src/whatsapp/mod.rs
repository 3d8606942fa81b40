//! The WhatsApp session seam: everything the gateway needs from WhatsApp, as one trait, so the
//! queue and the API never know which backend runs — the real companion device ([`web`]) or the
//! [`simulator`] that stands in for WhatsApp in tests and demos.

pub mod simulator;
mod verify;
pub mod web;

pub use verify::NumberVerifier;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::send::{Content, PhoneNumber, Recipient};

/// The session's lifecycle, as `GET /api/status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Starting,
    WaitingForQr,
    Pairing,
    Connected,
    Reconnecting,
    LoggedOut,
    TemporarilyBanned,
}

/// What the queue may do in a session state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Connected: send.
    Open,
    /// Linked but not connected (starting, reconnecting, banned for a while): wait.
    Paused,
    /// Nothing linked: refuse new sends with 503 and hold the queue.
    Unlinked,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::WaitingForQr => "waiting_for_qr",
            Self::Pairing => "pairing",
            Self::Connected => "connected",
            Self::Reconnecting => "reconnecting",
            Self::LoggedOut => "logged_out",
            Self::TemporarilyBanned => "temporarily_banned",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionStatus {
    pub state: SessionState,
    pub since: DateTime<Utc>,
    pub last_error: Option<String>,
    /// The linked phone number, once known.
    pub number: Option<String>,
    /// Whether a WhatsApp account is linked (credentials stored), connected or not.
    pub linked: bool,
    /// The current linking code, for backends that receive codes as they rotate.
    pub qr: Option<String>,
}

impl SessionStatus {
    /// What the queue may do: send when connected; wait while linked (starting, reconnecting,
    /// banned for a while); hold and refuse new sends when nothing is linked.
    pub fn gate(&self) -> Gate {
        match self.state {
            SessionState::Connected => Gate::Open,
            SessionState::Starting | SessionState::Reconnecting | SessionState::TemporarilyBanned if self.linked => {
                Gate::Paused
            }
            _ => Gate::Unlinked,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberCheck {
    pub number: PhoneNumber,
    pub on_whatsapp: bool,
    /// WhatsApp's LID for the number, where the backend learns it.
    pub lid: Option<String>,
}

/// A message handed to WhatsApp: `id` is the gateway's own id, `wa_id` the WhatsApp message id
/// chosen when the row was claimed — the same on every attempt of that row, so WhatsApp and the
/// recipient's phone drop a repeat instead of showing it twice.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub id: i64,
    pub wa_id: &'a str,
    pub to: &'a Recipient,
    pub content: &'a Content,
}

/// A fresh WhatsApp message id, in WhatsApp Web's shape (`3EB0` and 16 hex digits).
pub fn new_message_id() -> String {
    format!("3EB0{:016X}", rand::random::<u64>())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    /// WhatsApp's message id.
    pub wa_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaError {
    /// Nothing was handed to WhatsApp: safe to try again later.
    #[error("WhatsApp is not connected")]
    NotConnected,
    /// WhatsApp refused or the send failed; the message may not be retried blindly.
    #[error("{0}")]
    SendFailed(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Other(String),
}

/// Why a send did not succeed, by what it means for the message: whether it can have reached
/// WhatsApp (ARCHITECTURE.md, "Sending to WhatsApp: what can repeat").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Provably nothing of the message reached WhatsApp: no client, not connected before the
    /// call, the file could not be read or uploaded, the message could not be built or encrypted.
    /// With `retry` the cause passes (the connection dropped): the message goes back to its
    /// place; without, it fails with `reason`.
    #[error("{reason}")]
    NotSent { retry: bool, reason: String },
    /// The call failed after it may have written the message to WhatsApp's socket: sending it
    /// again could deliver it twice, so it follows the interrupted rule.
    #[error("{reason}")]
    MaybeSent { reason: String },
}

impl SendError {
    /// Not connected when the send began: nothing left, the message waits for the connection.
    pub fn not_connected() -> Self {
        Self::NotSent {
            retry: true,
            reason: "WhatsApp is not connected".into(),
        }
    }

    /// Nothing left, and trying again would not help.
    pub fn refused(reason: impl Into<String>) -> Self {
        Self::NotSent {
            retry: false,
            reason: reason.into(),
        }
    }
}

/// A message someone sent to the linked account (or that its phone sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub wa_id: String,
    pub chat: String,
    pub sender: String,
    pub from_me: bool,
    pub push_name: Option<String>,
    pub text: Option<String>,
    pub media_type: Option<String>,
    /// WhatsApp's timestamp, Unix milliseconds.
    pub sent_at: i64,
}

/// What a recipient's receipt says about a sent message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptKind {
    Delivered,
    Read,
    Played,
}

/// Where a backend hands over what arrives. `incoming` returns only once the batch is stored
/// durably: only then does the backend acknowledge it to WhatsApp.
#[async_trait]
pub trait Inbox: Send + Sync + 'static {
    async fn incoming(&self, batch: Vec<Incoming>) -> anyhow::Result<()>;
    /// WhatsApp's server acknowledged (or, with `error`, refused) a sent message.
    async fn server_ack(&self, wa_id: &str, error: Option<String>);
    /// A recipient's phone reported messages delivered, read or played.
    async fn receipt(&self, wa_ids: Vec<String>, kind: ReceiptKind);
}

/// Everything the gateway needs from a WhatsApp session.
#[async_trait]
pub trait WhatsApp: Send + Sync + 'static {
    /// The state now, and each change to it.
    fn status(&self) -> watch::Receiver<SessionStatus>;
    /// The current linking code (what the QR encodes), while waiting for a scan.
    async fn qr_code(&self) -> Result<Option<String>, WaError>;
    /// A pairing code for linking by phone number instead of a scan.
    async fn pair_code(&self, phone: &PhoneNumber) -> Result<String, WaError>;
    async fn check_numbers(&self, numbers: &[PhoneNumber]) -> Result<Vec<NumberCheck>, WaError>;
    /// Shows "typing…" to the recipient (`true`) or stops it (`false`).
    async fn set_typing(&self, to: &Recipient, typing: bool) -> Result<(), WaError>;
    async fn send(&self, message: Outgoing<'_>) -> Result<SendReceipt, SendError>;
    /// Unlinks the device and forgets the session; a new linking code follows.
    async fn logout(&self) -> Result<(), WaError>;
    /// Stops the session's background work.
    async fn shutdown(&self);
}

pub type Session = Arc<dyn WhatsApp>;

/// Every state, for metrics that show one gauge per state.
pub const ALL_STATES: [SessionState; 7] = [
    SessionState::Starting,
    SessionState::WaitingForQr,
    SessionState::Pairing,
    SessionState::Connected,
    SessionState::Reconnecting,
    SessionState::LoggedOut,
    SessionState::TemporarilyBanned,
];
