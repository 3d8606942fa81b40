//! The simulated WhatsApp backend (`backend = "simulator"`): links at start or on demand, knows
//! which numbers are "not on WhatsApp", fails sends to chosen numbers, drops the connection at a
//! chosen moment of a send, takes a few milliseconds per send, and appends one JSON line per
//! send to the `record` file so tests see exactly what left and when. Like WhatsApp, it delivers
//! a message id once: a repeat of a recent id is answered but not delivered again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

use async_trait::async_trait;
use rand::Rng;
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{NumberCheck, Outgoing, SendError, SendReceipt, SessionState, SessionStatus, WaError, WhatsApp};
use crate::clock::{Clock, rfc3339_ms};
use crate::config::SimulatorConfig;
use crate::send::{Content, PhoneNumber, Recipient};

/// Faults and state changes a test or a demo can inject (admin API, simulator only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimAction {
    /// Completes linking (as if the QR was scanned) or reconnects.
    Link,
    /// Drops the connection but stays linked: the queue pauses.
    Disconnect,
    /// Unlinks, as if the phone removed the device: sends are refused.
    Logout,
    /// The connection drops as the next send starts: nothing leaves; the queue pauses.
    DropBeforeSend,
    /// The connection drops during the next media send's upload: nothing leaves; the queue
    /// pauses. (A text send passes: it has no upload.)
    DropDuringUpload,
    /// The next send reaches WhatsApp (it is recorded), then the connection drops before the
    /// answer: the call fails although the message left.
    DropAfterSend,
}

/// How many recent message ids the simulator remembers to drop a repeat (WhatsApp's own
/// de-duplication); a resend comes right after the failed attempt, so the recent ones suffice.
const REMEMBERED_IDS: usize = 4096;

/// The message ids delivered lately, oldest first.
#[derive(Default)]
struct Delivered {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl Delivered {
    fn insert(&mut self, wa_id: String) {
        if self.ids.insert(wa_id.clone()) {
            self.order.push_back(wa_id);
        }
        while self.order.len() > REMEMBERED_IDS {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }
}

pub struct Simulator {
    cfg: SimulatorConfig,
    clock: Clock,
    status: watch::Sender<SessionStatus>,
    typing_since: Mutex<HashMap<String, Instant>>,
    record: Option<Mutex<File>>,
    not_on_whatsapp: HashSet<PhoneNumber>,
    fail_sends_to: HashSet<PhoneNumber>,
    fail_after_sending_to: HashSet<PhoneNumber>,
    /// A connection drop armed for the next send (one of the `Drop…` actions).
    armed: Mutex<Option<SimAction>>,
    delivered: Mutex<Delivered>,
}

const LINKED_NUMBER: &str = "15550000000";
const QR_ROTATION_SECS: i64 = 20;

impl Simulator {
    pub fn start(cfg: SimulatorConfig, clock: Clock) -> anyhow::Result<Self> {
        let mut delivered = Delivered::default();
        let record = match &cfg.record {
            Some(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                // What reached "WhatsApp" before a restart is still known to it.
                for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
                    if let Some(wa_id) = serde_json::from_str::<Value>(line)
                        .ok()
                        .and_then(|v| v["wa_id"].as_str().map(str::to_string))
                    {
                        delivered.insert(wa_id);
                    }
                }
                Some(Mutex::new(OpenOptions::new().create(true).append(true).open(path)?))
            }
            None => None,
        };
        let status = if cfg.auto_link {
            linked(&clock)
        } else {
            unlinked(&clock, SessionState::WaitingForQr, None)
        };
        Ok(Self {
            not_on_whatsapp: cfg.not_on_whatsapp.iter().cloned().collect(),
            fail_sends_to: cfg.fail_sends_to.iter().cloned().collect(),
            fail_after_sending_to: cfg.fail_after_sending_to.iter().cloned().collect(),
            armed: Mutex::new(None),
            delivered: Mutex::new(delivered),
            cfg,
            clock,
            status: watch::Sender::new(status),
            typing_since: Mutex::new(HashMap::new()),
            record,
        })
    }

    pub fn act(&self, action: SimAction) {
        let next = match action {
            SimAction::Link => linked(&self.clock),
            SimAction::Disconnect => self.dropped("simulated disconnect"),
            SimAction::DropBeforeSend | SimAction::DropDuringUpload | SimAction::DropAfterSend => {
                tracing::info!("simulator: {action:?} armed");
                *self.armed.lock().expect("armed fault") = Some(action);
                return;
            }
            SimAction::Logout => unlinked(
                &self.clock,
                SessionState::WaitingForQr,
                Some("logged out (simulated)".into()),
            ),
        };
        tracing::info!(state = next.state.as_str(), "simulator: {action:?}");
        self.status.send_replace(next);
    }

    /// Linked, connection lost.
    fn dropped(&self, why: &str) -> SessionStatus {
        SessionStatus {
            state: SessionState::Reconnecting,
            since: self.clock.now(),
            last_error: Some(why.into()),
            number: Some(LINKED_NUMBER.into()),
            linked: true,
            qr: None,
        }
    }

    /// Fires the armed drop if it is `at`: the connection is gone from now on.
    fn drop_if_armed(&self, at: SimAction) -> bool {
        let mut armed = self.armed.lock().expect("armed fault");
        if *armed != Some(at) {
            return false;
        }
        *armed = None;
        tracing::info!("simulator: the connection drops ({at:?})");
        self.status.send_replace(self.dropped("simulated connection drop"));
        true
    }

    fn connected(&self) -> Result<(), WaError> {
        match self.status.borrow().state {
            SessionState::Connected => Ok(()),
            _ => Err(WaError::NotConnected),
        }
    }

    fn write_record(&self, message: &Outgoing<'_>, typing_ms: u64) -> Result<(), SendError> {
        let Some(file) = &self.record else {
            return Ok(());
        };
        let (kind, text) = match message.content {
            Content::Text(t) => ("text", Some(t.as_str())),
            Content::Media { kind, caption, .. } => (kind.as_str(), caption.as_deref()),
        };
        let mut line = serde_json::json!({
            "time": rfc3339_ms(self.clock.now_ms()),
            "to": message.to.as_str(),
            "type": kind,
            "text": text,
            "typing_ms": typing_ms,
            "id": message.id,
            "wa_id": message.wa_id,
        })
        .to_string();
        line.push('\n');
        // One write(2) of a whole line in append mode: it survives a kill -9 of the process.
        file.lock()
            .expect("record file")
            .write_all(line.as_bytes())
            .map_err(|e| SendError::refused(format!("simulator record: {e}")))
    }
}

fn linked(clock: &Clock) -> SessionStatus {
    SessionStatus {
        state: SessionState::Connected,
        since: clock.now(),
        last_error: None,
        number: Some(LINKED_NUMBER.into()),
        linked: true,
        qr: None,
    }
}

fn unlinked(clock: &Clock, state: SessionState, last_error: Option<String>) -> SessionStatus {
    SessionStatus {
        state,
        since: clock.now(),
        last_error,
        number: None,
        linked: false,
        qr: None,
    }
}

#[async_trait]
impl WhatsApp for Simulator {
    fn status(&self) -> watch::Receiver<SessionStatus> {
        self.status.subscribe()
    }

    /// Rotates like WhatsApp's: a new code every 20 s while waiting for a scan.
    async fn qr_code(&self) -> Result<Option<String>, WaError> {
        let status = self.status.borrow();
        Ok(match status.state {
            SessionState::WaitingForQr => {
                let waited = (self.clock.now() - status.since).num_seconds().max(0);
                Some(format!(
                    "wapi-simulator:{}:{}",
                    status.since.timestamp_millis(),
                    waited / QR_ROTATION_SECS
                ))
            }
            _ => None,
        })
    }

    async fn pair_code(&self, _phone: &PhoneNumber) -> Result<String, WaError> {
        if self.status.borrow().gate() != super::Gate::Unlinked {
            return Err(WaError::Other("already linked".into()));
        }
        self.status
            .send_replace(unlinked(&self.clock, SessionState::Pairing, None));
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTVWXYZ23456789";
        let mut rng = rand::rng();
        let code: String = (0..8)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        Ok(format!("{}-{}", &code[..4], &code[4..]))
    }

    async fn check_numbers(&self, numbers: &[PhoneNumber]) -> Result<Vec<NumberCheck>, WaError> {
        self.connected()?;
        Ok(numbers
            .iter()
            .map(|n| {
                let on_whatsapp = !self.not_on_whatsapp.contains(n);
                NumberCheck {
                    number: n.clone(),
                    on_whatsapp,
                    lid: on_whatsapp.then(|| format!("{}@lid", n.as_str())),
                }
            })
            .collect())
    }

    async fn set_typing(&self, to: &Recipient, typing: bool) -> Result<(), WaError> {
        self.connected()?;
        let mut since = self.typing_since.lock().expect("typing map");
        if typing {
            since.insert(to.as_str().to_string(), Instant::now());
        } else {
            since.remove(to.as_str());
        }
        Ok(())
    }

    async fn send(&self, message: Outgoing<'_>) -> Result<SendReceipt, SendError> {
        let not_connected = |_| SendError::not_connected();
        self.connected().map_err(not_connected)?;
        if self.drop_if_armed(SimAction::DropBeforeSend) {
            return Err(SendError::not_connected());
        }
        if let Content::Media { file, .. } = message.content {
            tokio::fs::metadata(&file.path)
                .await
                .map_err(|e| SendError::refused(format!("reading the upload: {e}")))?;
            if self.drop_if_armed(SimAction::DropDuringUpload) {
                return Err(SendError::NotSent {
                    retry: true,
                    reason: "uploading the media: the connection dropped (simulated)".into(),
                });
            }
        }
        tokio::time::sleep(self.cfg.send_time).await;
        self.connected().map_err(not_connected)?;
        let phone = message.to.phone();
        if phone.is_some_and(|p| self.fail_sends_to.contains(p)) {
            return Err(SendError::refused("simulated send failure"));
        }
        let receipt = SendReceipt {
            wa_id: message.wa_id.to_string(),
        };
        if self
            .delivered
            .lock()
            .expect("delivered ids")
            .ids
            .contains(message.wa_id)
        {
            // WhatsApp drops a repeat of a message id it already has.
            tracing::info!(
                id = message.id,
                wa_id = message.wa_id,
                "simulator: repeat of a delivered message dropped"
            );
            return Ok(receipt);
        }
        let typing_ms = self
            .typing_since
            .lock()
            .expect("typing map")
            .remove(message.to.as_str())
            .map_or(0, |t| t.elapsed().as_millis() as u64);
        self.write_record(&message, typing_ms)?;
        self.delivered
            .lock()
            .expect("delivered ids")
            .insert(message.wa_id.to_string());
        if self.drop_if_armed(SimAction::DropAfterSend) || phone.is_some_and(|p| self.fail_after_sending_to.contains(p))
        {
            return Err(SendError::MaybeSent {
                reason: "the connection failed after the message was written (simulated)".into(),
            });
        }
        Ok(receipt)
    }

    async fn logout(&self) -> Result<(), WaError> {
        self.act(SimAction::Logout);
        Ok(())
    }

    async fn shutdown(&self) {}
}
