//! The stand-in for `backend = "web"` while this build has no WhatsApp Web companion: it
//! reports itself logged out with the reason, so the API, the queue and the dashboard work and
//! say plainly why nothing can be linked.

use async_trait::async_trait;
use tokio::sync::watch;

use super::{NumberCheck, Outgoing, SendReceipt, SessionState, SessionStatus, WaError, WhatsApp};
use crate::clock::Clock;
use crate::send::{PhoneNumber, Recipient};

pub struct Unavailable {
    status: watch::Sender<SessionStatus>,
    reason: String,
}

impl Unavailable {
    pub fn new(clock: &Clock, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let status = SessionStatus {
            state: SessionState::LoggedOut,
            since: clock.now(),
            last_error: Some(reason.clone()),
            number: None,
        };
        Self {
            status: watch::Sender::new(status),
            reason,
        }
    }

    fn refuse<T>(&self) -> Result<T, WaError> {
        Err(WaError::Unsupported(self.reason.clone()))
    }
}

#[async_trait]
impl WhatsApp for Unavailable {
    fn status(&self) -> watch::Receiver<SessionStatus> {
        self.status.subscribe()
    }
    async fn qr_code(&self) -> Result<Option<String>, WaError> {
        self.refuse()
    }
    async fn pair_code(&self, _phone: &PhoneNumber) -> Result<String, WaError> {
        self.refuse()
    }
    async fn check_numbers(&self, _numbers: &[PhoneNumber]) -> Result<Vec<NumberCheck>, WaError> {
        Err(WaError::NotConnected)
    }
    async fn set_typing(&self, _to: &Recipient, _typing: bool) -> Result<(), WaError> {
        Err(WaError::NotConnected)
    }
    async fn send(&self, _message: Outgoing<'_>) -> Result<SendReceipt, WaError> {
        Err(WaError::NotConnected)
    }
    async fn logout(&self) -> Result<(), WaError> {
        self.refuse()
    }
    async fn shutdown(&self) {}
}
