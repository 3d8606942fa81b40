//! `backend = "web"`: a WhatsApp Web companion device through whatsapp-rust, with a supervisor
//! that turns the library's events — and, because offline it emits none, polling of
//! `is_connected()` — into the session states the gateway shows and gates on.
//!
//! WhatsApp's own state (keys, sessions) lives in the library's SQLite store, a file beside the
//! gateway's database; logout deletes it, and a fresh client then offers new QR codes.

mod events;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use whatsapp_rust::prelude::*;

use super::{
    Inbox, Incoming, NumberCheck, Outgoing, SendError, SendReceipt, SessionState, SessionStatus, WaError, WhatsApp,
};
use crate::clock::Clock;
use crate::send::{Content, MediaKind, PhoneNumber, Recipient};
use events::Next;

/// How long a fresh client may try before the session reports `reconnecting` with the reason.
const CONNECT_GRACE: Duration = Duration::from_secs(10);
/// How often the supervisor compares its state with the client's flags.
const POLL: Duration = Duration::from_secs(2);
/// A client that ran this long before ending is rebuilt at once.
const STABLE: Duration = Duration::from_secs(30);
/// Back-off between rebuilding clients that failed to start, up to the last value.
const REBUILD_BACKOFF: [u64; 6] = [1, 2, 5, 10, 30, 60];

pub struct Web {
    shared: Arc<Shared>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    store_path: PathBuf,
    inbox: Arc<dyn Inbox>,
    clock: Clock,
    status: watch::Sender<SessionStatus>,
    client: Mutex<Option<Arc<Client>>>,
    /// Someone asked for a QR code after the codes ran out: build a new client.
    demand: Notify,
    /// Logout was asked for: the current client ends, the store is wiped, a fresh one starts.
    restart: Notify,
    /// Set by a logout, cleared once the store is wiped. The flag, not the wake-up, decides
    /// the wipe: a stale wake-up must never delete a session linked afterwards.
    wipe_requested: std::sync::atomic::AtomicBool,
    shutdown: CancellationToken,
}

impl Web {
    /// Starts the supervisor; `store_path` is the library's own SQLite file.
    pub fn start(store_path: PathBuf, clock: Clock, inbox: Arc<dyn Inbox>) -> Self {
        let shared = Arc::new(Shared::new(store_path, clock, inbox));
        let supervisor = tokio::spawn(supervise(shared.clone()));
        Self {
            shared,
            supervisor: Mutex::new(Some(supervisor)),
        }
    }

    fn client(&self) -> Result<Arc<Client>, WaError> {
        let client = self.shared.client.lock().expect("client slot").clone();
        client.filter(|c| c.is_connected()).ok_or(WaError::NotConnected)
    }
}

impl Shared {
    /// Starting, not linked until the store says otherwise.
    fn new(store_path: PathBuf, clock: Clock, inbox: Arc<dyn Inbox>) -> Self {
        let status = SessionStatus {
            state: SessionState::Starting,
            since: clock.now(),
            last_error: None,
            number: None,
            linked: false,
            qr: None,
        };
        Self {
            store_path,
            inbox,
            clock,
            status: watch::Sender::new(status),
            client: Mutex::new(None),
            demand: Notify::new(),
            restart: Notify::new(),
            wipe_requested: Default::default(),
            shutdown: CancellationToken::new(),
        }
    }

    fn set(&self, state: SessionState, last_error: Option<String>) {
        self.status.send_if_modified(|s| {
            if s.state == state && s.last_error == last_error {
                return false;
            }
            s.since = self.clock.now();
            s.state = state;
            s.last_error = last_error;
            true
        });
    }

    /// A new linking code (or none): the status changes, so the terminal can draw each one.
    fn set_qr(&self, code: Option<String>) {
        self.status.send_if_modified(|s| {
            let changed = s.qr != code;
            s.qr = code;
            changed
        });
    }

    fn set_linked(&self, linked: bool, number: Option<String>) {
        self.status.send_if_modified(|s| {
            let changed = s.linked != linked || s.number != number;
            s.linked = linked;
            s.number = number;
            changed
        });
    }
}

/// Builds a client, drives it until it ends, and decides what comes next; repeats until shutdown.
async fn supervise(shared: Arc<Shared>) {
    let mut failures = 0usize;
    loop {
        let started = tokio::time::Instant::now();
        let outcome = match build(&shared).await {
            Ok((bot, events)) => Ok(events::drive(&shared, bot, events).await),
            Err(why) => {
                shared.set(SessionState::Reconnecting, Some(why));
                Err(())
            }
        };
        // A client that could not start, or ended on its own within moments, is retried with
        // back-off: never a hot loop of clients.
        let next = match outcome {
            Ok(next) if next != Next::Rebuild || started.elapsed() > STABLE => {
                failures = 0;
                next
            }
            _ => {
                let wait = REBUILD_BACKOFF[failures.min(REBUILD_BACKOFF.len() - 1)];
                failures += 1;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(wait)) => Next::Rebuild,
                    _ = shared.shutdown.cancelled() => Next::Stop,
                }
            }
        };
        *shared.client.lock().expect("client slot") = None;
        let requested = shared.wipe_requested.swap(false, std::sync::atomic::Ordering::SeqCst);
        if requested || next == Next::Wipe {
            wipe(&shared.store_path).await;
        }
        match next {
            Next::Stop => return,
            Next::Rebuild | Next::Wipe => {}
            Next::WaitForDemand => {
                tokio::select! {
                    _ = shared.demand.notified() => {}
                    _ = shared.restart.notified() => {
                        if shared.wipe_requested.swap(false, std::sync::atomic::Ordering::SeqCst) {
                            wipe(&shared.store_path).await;
                        }
                    }
                    _ = shared.shutdown.cancelled() => return,
                }
            }
        }
    }
}

async fn build(shared: &Shared) -> Result<(Bot, mpsc::UnboundedReceiver<Arc<Event>>), String> {
    if let Some(dir) = shared.store_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let path = shared.store_path.to_string_lossy().into_owned();
    let store = SqliteStore::new(&path)
        .await
        .map_err(|e| format!("opening the WhatsApp store {path}: {e}"))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let bot = Bot::builder()
        .with_backend(store)
        .skip_history_sync()
        .with_inbound_durability_hook(StoreFirst {
            inbox: shared.inbox.clone(),
        })
        .on_event(move |event, _client| {
            let _ = tx.send(event);
            async {}
        })
        .build()
        .await
        .map_err(|e| format!("starting the WhatsApp client: {e}"))?;
    let linked = bot.client().persistence_manager().get_device_snapshot().pn.is_some();
    shared.set_linked(linked, bot.client().pn().map(|j| j.user.to_string()));
    *shared.client.lock().expect("client slot") = Some(bot.client());
    shared.set(SessionState::Starting, None);
    Ok((bot, rx))
}

/// Stores incoming messages in the gateway's database before WhatsApp is told they arrived:
/// an error here withholds the ack, and WhatsApp delivers them again.
struct StoreFirst {
    inbox: Arc<dyn Inbox>,
}

#[async_trait]
impl whatsapp_rust::InboundDurabilityHook for StoreFirst {
    async fn on_messages(&self, _client: Arc<Client>, batch: &[InboundMessage]) -> anyhow::Result<()> {
        self.inbox.incoming(batch.iter().map(incoming).collect()).await
    }
}

/// What the gateway keeps of an incoming message.
pub fn incoming(m: &InboundMessage) -> Incoming {
    let info = &m.info;
    let media_type = (!info.media_type.is_empty()).then(|| info.media_type.clone());
    Incoming {
        wa_id: info.id.to_string(),
        chat: info.source.chat.to_string(),
        sender: info.source.sender.to_string(),
        from_me: info.source.is_from_me,
        push_name: (!info.push_name.is_empty()).then(|| info.push_name.clone()),
        text: m
            .message
            .text_content()
            .map(str::to_string)
            .or_else(|| m.message.get_caption().map(str::to_string)),
        media_type,
        sent_at: info.timestamp.timestamp_millis(),
    }
}

/// Forgets the linked device: the library's logout does not delete its keys.
async fn wipe(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        match tokio::fs::remove_file(&file).await {
            Ok(()) => tracing::info!(file = %file.display(), "WhatsApp session store removed"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(file = %file.display(), error = %e, "could not remove the WhatsApp session store")
            }
        }
    }
}

/// The JID WhatsApp routes a recipient by.
pub fn jid(to: &Recipient) -> Result<Jid, WaError> {
    match to {
        Recipient::Phone(p) => Ok(Jid::pn(p.as_str())),
        Recipient::Group(g) => g
            .as_str()
            .parse()
            .map_err(|_| WaError::SendFailed(format!("{g:?} is not a group JID"))),
    }
}

/// The media category WhatsApp encrypts and uploads under.
pub fn media_type(kind: MediaKind) -> whatsapp_rust::wacore::download::MediaType {
    use whatsapp_rust::wacore::download::MediaType;
    match kind {
        MediaKind::Image => MediaType::Image,
        MediaKind::Video => MediaType::Video,
        MediaKind::Audio => MediaType::Audio,
        MediaKind::Document => MediaType::Document,
    }
}

/// Builds the message for `content`, uploading media first. Nothing of the message has reached
/// WhatsApp when this fails: an upload is a file on WhatsApp's media servers, not a message.
async fn message_for(client: &Client, content: &Content) -> Result<wa::Message, SendError> {
    use whatsapp_rust::media::{self, AudioOptions, DocumentOptions, ImageOptions, VideoOptions};
    use whatsapp_rust::upload::UploadOptions;
    let (kind, file, caption) = match content {
        Content::Text(text) => return Ok(wa::Message::text(text.clone())),
        Content::Media { kind, file, caption } => (*kind, file, caption.clone()),
    };
    let bytes = tokio::fs::read(&file.path)
        .await
        .map_err(|e| SendError::refused(format!("reading the upload: {e}")))?;
    let upload = client
        .upload(bytes, media_type(kind), UploadOptions::default())
        .await
        .map_err(|e| upload_failed(e.as_ref(), client.is_connected()))?;
    let mimetype = Some(file.mime.clone());
    Ok(match kind {
        MediaKind::Image => media::image_message(
            upload,
            ImageOptions {
                caption,
                mimetype,
                ..Default::default()
            },
        ),
        MediaKind::Video => media::video_message(
            upload,
            VideoOptions {
                caption,
                mimetype,
                ..Default::default()
            },
        ),
        MediaKind::Audio => media::audio_message(
            upload,
            AudioOptions {
                mimetype,
                ..Default::default()
            },
        ),
        MediaKind::Document => media::document_message(
            upload,
            DocumentOptions {
                mimetype,
                file_name: Some(file.file_name.clone()),
                caption,
                ..Default::default()
            },
        ),
    })
}

#[async_trait]
impl WhatsApp for Web {
    fn status(&self) -> watch::Receiver<SessionStatus> {
        self.shared.status.subscribe()
    }

    async fn qr_code(&self) -> Result<Option<String>, WaError> {
        let state = self.shared.status.borrow().state;
        let code = self.shared.status.borrow().qr.clone();
        if state == SessionState::WaitingForQr && code.is_none() {
            // The codes ran out; someone is looking: offer new ones.
            self.shared.demand.notify_one();
        }
        Ok(code.filter(|_| state == SessionState::WaitingForQr))
    }

    async fn pair_code(&self, phone: &PhoneNumber) -> Result<String, WaError> {
        if self.shared.status.borrow().linked {
            return Err(WaError::Other("already linked; log out first".into()));
        }
        let client = self.client()?;
        let options = whatsapp_rust::pair_code::PairCodeOptions {
            phone_number: phone.as_str().to_string(),
            ..Default::default()
        };
        let code = client
            .pair_with_code(options)
            .await
            .map_err(|e| WaError::Other(format!("WhatsApp refused a pairing code: {e}")))?;
        self.shared.set(SessionState::Pairing, None);
        Ok(code)
    }

    async fn check_numbers(&self, numbers: &[PhoneNumber]) -> Result<Vec<NumberCheck>, WaError> {
        let client = self.client()?;
        let jids: Vec<Jid> = numbers.iter().map(|n| Jid::pn(n.as_str())).collect();
        let results = client
            .contacts()
            .is_on_whatsapp(&jids)
            .await
            .map_err(|e| WaError::Other(format!("number check: {e}")))?;
        Ok(numbers
            .iter()
            .map(|n| {
                let found = results
                    .iter()
                    .find(|r| r.jid.user == n.as_str() || r.pn_jid.as_ref().is_some_and(|p| p.user == n.as_str()));
                NumberCheck {
                    number: n.clone(),
                    on_whatsapp: found.is_some_and(|r| r.is_registered),
                    lid: found.and_then(|r| r.lid.as_ref()).map(|l| l.to_string()),
                }
            })
            .collect())
    }

    async fn set_typing(&self, to: &Recipient, typing: bool) -> Result<(), WaError> {
        let client = self.client()?;
        let jid = jid(to)?;
        let result = if typing {
            client.chatstate().send_composing(&jid).await
        } else {
            client.chatstate().send_paused(&jid).await
        };
        result.map_err(|e| WaError::Other(format!("typing: {e}")))
    }

    async fn send(&self, message: Outgoing<'_>) -> Result<SendReceipt, SendError> {
        let client = self.client().map_err(|_| SendError::not_connected())?;
        let jid = jid(message.to).map_err(|e| SendError::refused(e.to_string()))?;
        let body = message_for(&client, message.content).await?;
        let options = SendOptions::default().with_message_id(message.wa_id.to_string());
        match client.send_message_with_options(jid, body, options).await {
            Ok(sent) => Ok(SendReceipt {
                wa_id: sent.message_id.to_string(),
            }),
            Err(e) => Err(send_failed(&e, client.is_connected())),
        }
    }

    async fn logout(&self) -> Result<(), WaError> {
        let client = self.shared.client.lock().expect("client slot").clone();
        if let Some(client) = client {
            client.logout().await;
        }
        self.shared
            .wipe_requested
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.set_linked(false, None);
        self.shared
            .set(SessionState::LoggedOut, Some("logged out by request".into()));
        self.shared.restart.notify_one();
        Ok(())
    }

    async fn shutdown(&self) {
        self.shared.shutdown.cancel();
        let task = self.supervisor.lock().expect("supervisor slot").take();
        if let Some(task) = task
            && tokio::time::timeout(Duration::from_secs(20), task).await.is_err()
        {
            tracing::warn!("the WhatsApp client did not stop within 20 s");
        }
    }
}

/// What a failed `send_message_with_options` means for the message. whatsapp-rust 0.7 writes the
/// message to the socket in one place, `send_node` at the end of `send_message_impl`, and
/// returns `Ok` whenever that write did: every other error comes before it, so nothing left.
/// The write's own errors are `EncryptSendError`s: crypto, framing and a sender poisoned by an
/// earlier failure are refused before a byte is written; a transport failure (the write broke
/// off, the peer may hold any part of it) or a closed channel (the sender task went away with
/// the frame) may have delivered it. Unknown kinds count as "may have".
pub fn send_failed(error: &(dyn std::error::Error + 'static), connected: bool) -> SendError {
    use whatsapp_rust::ErrorChainExt;
    use whatsapp_rust::socket::error::{EncryptSendError, EncryptSendErrorKind};
    let written = ErrorChainExt::sources(error).find_map(|e| e.downcast_ref::<EncryptSendError>());
    match written.map(|e| &e.kind) {
        Some(EncryptSendErrorKind::Crypto | EncryptSendErrorKind::Framing | EncryptSendErrorKind::Poisoned) | None => {
            SendError::NotSent {
                retry: !connected || error.is_transport_unavailable(),
                reason: format!("WhatsApp send failed: {error}"),
            }
        }
        Some(_) => SendError::MaybeSent {
            reason: format!("the connection failed while the message was being written: {error}"),
        },
    }
}

/// What a failed media upload means for the message: it never left. Tried again when the
/// connection dropped (or the transport was gone); failed otherwise — a refusal would repeat.
pub fn upload_failed(error: &(dyn std::error::Error + 'static), connected: bool) -> SendError {
    use whatsapp_rust::ErrorChainExt;
    SendError::NotSent {
        retry: !connected || error.is_transport_unavailable(),
        reason: format!("uploading the media: {error}"),
    }
}

#[cfg(test)]
mod tests;
