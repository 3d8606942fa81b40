//! Accepting sends, between validation and the queue: the plugins' template and filter hooks
//! (a template that cannot be rendered or a filter that refuses is a [`Refusal`]), the session
//! gate (nothing linked), number verification while connected, then the durable enqueue with
//! idempotency and the daily cap, and a nudge to the sender. [`Acceptor`] is built once by `app`
//! and answers in domain terms; the HTTP layer maps a [`Refusal`] to its status and code.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::plugins::{Hook, Outgoing, Plugins, TemplateOutcome};
use crate::queue::Lifecycle;
use crate::send::{Content, FieldError, PhoneNumber, TextInput, ValidatedSend, Validator};
use crate::store::{EnqueueItem, EnqueueOutcome, MessageRecord, StoreError};
use crate::whatsapp::{Gate, NumberVerifier, Session};

/// Why a send was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Fields are invalid: by validation, or a template that could not render them.
    #[error("{} field(s) are invalid", .0.len())]
    Invalid(Vec<FieldError>),
    /// A filter plugin refused it; the plugin's name and reason.
    #[error("{0}")]
    Rejected(String),
    /// The number is not on WhatsApp.
    #[error("{0} is not on WhatsApp")]
    NotOnWhatsApp(String),
    /// Nothing is linked: new sends are refused and the queue holds.
    #[error("WhatsApp is not connected: {0}")]
    NotConnected(String),
    /// The daily cap is reached; it resets at UTC midnight, `retry_after` seconds away.
    #[error("the daily send limit of {limit} messages is reached")]
    DailyLimit { limit: u32, retry_after: u64 },
    /// The `Idempotency-Key` was used in the last 24 hours with another request.
    #[error("the idempotency key was used with a different request")]
    IdempotencyReused,
    /// The database could not take the send (full disk, another process's lock, a fault).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Refusal {
    fn field(field: String, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

/// What became of one send.
#[derive(Debug)]
pub enum ItemResult {
    Queued(MessageRecord),
    /// An idempotent replay: the message of the first request, and the first answer if kept.
    Replayed {
        message: MessageRecord,
        response: Option<String>,
    },
    Refused(Refusal),
}

/// What the accepting service needs from the rest of the gateway.
#[derive(Clone)]
pub struct Acceptor {
    pub plugins: Plugins,
    pub validator: Validator,
    pub session: Session,
    pub verifier: Arc<NumberVerifier>,
    /// Enqueues (and announces, and wakes the sender): the owner of a message's lifecycle.
    pub lifecycle: Lifecycle,
    pub clock: Clock,
    /// `antiban.verify_numbers`: check numbers at request time while connected.
    pub verify_numbers: bool,
}

impl Acceptor {
    /// Whether a templating plugin is loaded (then `template` and `vars` are accepted).
    pub fn templating(&self) -> bool {
        self.plugins.has(Hook::Template)
    }

    /// Checks a text send and runs it through the template and filter hooks; `prefix` names the
    /// place of the body in the request (`""` or `items[3].`).
    pub async fn compose_text(&self, req: &TextInput, key_name: &str, prefix: &str) -> Result<ValidatedSend, Refusal> {
        let templating = self.templating();
        let draft = self
            .validator
            .draft(req, prefix, templating)
            .map_err(Refusal::Invalid)?;
        let mut outgoing = Outgoing {
            to: draft.to.as_str().to_string(),
            kind: "text",
            text: draft.text,
            template: draft.template,
            vars: draft.vars,
            key_name: key_name.to_string(),
        };
        if templating {
            match self.plugins.template(&outgoing, self.validator.max_text()).await {
                TemplateOutcome::Text(text) => outgoing.text = text,
                TemplateOutcome::Refused { plugin, reason } => {
                    let field = match (&req.template, &req.vars) {
                        (Some(_), _) => "template",
                        (None, Some(_)) => "vars",
                        (None, None) => "text",
                    };
                    return Err(Refusal::field(
                        format!("{prefix}{field}"),
                        format!("could not be rendered by plugin {plugin}: {reason}"),
                    ));
                }
            }
        }
        let send = self
            .validator
            .finish(draft.to, &outgoing.text, prefix)
            .map_err(Refusal::Invalid)?;
        self.plugins.filter(&outgoing).await.map_err(Refusal::Rejected)?;
        Ok(send)
    }

    /// Runs a media send (its caption) through the template and filter hooks.
    pub async fn compose_media(&self, send: ValidatedSend, key_name: &str) -> Result<ValidatedSend, Refusal> {
        let Content::Media { kind, caption, .. } = send.content() else {
            return Ok(send);
        };
        let mut outgoing = Outgoing {
            to: send.to().as_str().to_string(),
            kind: kind.as_str(),
            text: caption.clone().unwrap_or_default(),
            template: None,
            vars: Vec::new(),
            key_name: key_name.to_string(),
        };
        match self.plugins.template(&outgoing, self.validator.max_text()).await {
            TemplateOutcome::Text(text) => outgoing.text = text,
            TemplateOutcome::Refused { plugin, reason } => {
                return Err(Refusal::field(
                    "caption".into(),
                    format!("could not be rendered by plugin {plugin}: {reason}"),
                ));
            }
        }
        let send = self
            .validator
            .recaption(send, outgoing.text.clone())
            .map_err(Refusal::Invalid)?;
        self.plugins.filter(&outgoing).await.map_err(Refusal::Rejected)?;
        Ok(send)
    }

    /// Runs sends through the gate, the number check and the queue; results keep the items'
    /// order. A refusal of the whole request (nothing linked, the database) is the `Err`.
    pub async fn accept(&self, key_id: &str, items: Vec<EnqueueItem>) -> Result<Vec<ItemResult>, Refusal> {
        let status = self.session.status().borrow().clone();
        if status.gate() == Gate::Unlinked {
            let why = status.last_error.unwrap_or_else(|| "no linked session".into());
            return Err(Refusal::NotConnected(format!(
                "{why}; open the dashboard and scan the QR"
            )));
        }
        let mut results: Vec<Option<ItemResult>> = (0..items.len()).map(|_| None).collect();
        if self.verify_numbers && status.gate() == Gate::Open {
            self.refuse_unknown_numbers(&items, &mut results).await;
        }
        let (indexes, pending): (Vec<usize>, Vec<EnqueueItem>) = items
            .into_iter()
            .enumerate()
            .filter(|(i, _)| results[*i].is_none())
            .unzip();
        if !pending.is_empty() {
            let clock = self.clock;
            let limit = self.lifecycle.daily_limit();
            let outcomes = self.lifecycle.enqueue(key_id, pending).await?;
            for (i, outcome) in indexes.into_iter().zip(outcomes) {
                results[i] = Some(match outcome {
                    EnqueueOutcome::Queued(message) => ItemResult::Queued(message),
                    EnqueueOutcome::Replayed { message, response } => ItemResult::Replayed { message, response },
                    EnqueueOutcome::IdemMismatch => ItemResult::Refused(Refusal::IdempotencyReused),
                    EnqueueOutcome::DailyLimit => ItemResult::Refused(Refusal::DailyLimit {
                        limit,
                        retry_after: clock.until_midnight().as_secs_f64().ceil().max(1.0) as u64,
                    }),
                });
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every item has a result"))
            .collect())
    }

    /// Asks WhatsApp (through the cache) about every phone number; a failed check refuses
    /// nothing: the sender checks again before sending.
    async fn refuse_unknown_numbers(&self, items: &[EnqueueItem], results: &mut [Option<ItemResult>]) {
        let phones: Vec<PhoneNumber> = items.iter().filter_map(|i| i.send.to().phone().cloned()).collect();
        if phones.is_empty() {
            return;
        }
        match self.verifier.check(&phones).await {
            Ok(checks) => {
                for (i, item) in items.iter().enumerate() {
                    let Some(phone) = item.send.to().phone() else {
                        continue;
                    };
                    if checks.iter().any(|c| &c.number == phone && !c.on_whatsapp) {
                        results[i] = Some(ItemResult::Refused(Refusal::NotOnWhatsApp(phone.as_str().to_string())));
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "number check at request time failed; the sender will check")
            }
        }
    }
}

/// A fingerprint of a request's content, to tell an idempotent replay from a reuse of the key.
pub fn fingerprint(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    hash.finalize().into()
}

/// The fingerprint of a text send as the client wrote it (before the hooks rewrite it).
pub fn text_fingerprint(req: &TextInput) -> [u8; 32] {
    // The vars as JSON, as since the first release: a stored key keeps matching its request.
    let vars = serde_json::to_vec(&req.vars).expect("a map of strings serializes");
    fingerprint(&[
        b"text",
        req.to.as_deref().unwrap_or("").as_bytes(),
        req.text.as_deref().unwrap_or("").as_bytes(),
        req.template.as_deref().unwrap_or("").as_bytes(),
        &vars,
    ])
}

/// The fingerprint of a media send: recipient, caption as sent and the file's SHA-256.
pub fn media_fingerprint(send: &ValidatedSend, file_hash: &[u8; 32]) -> [u8; 32] {
    fingerprint(&[
        b"media",
        send.to().as_str().as_bytes(),
        send.content().body().unwrap_or("").as_bytes(),
        file_hash,
    ])
}
