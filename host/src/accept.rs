//! Accepting sends, between validation and the queue: the plugins' template and filter hooks
//! (422 when a template cannot be rendered or a filter refuses), the session gate (503 when
//! nothing is linked), number verification while connected (404 `RECIPIENT_NOT_FOUND`), then
//! the durable enqueue with idempotency and the daily cap, and a nudge to the sender.

use sha2::{Digest, Sha256};

use crate::gateway::Gateway;
use crate::http::ApiError;
use crate::plugins::{Hook, Outgoing, TemplateOutcome};
use crate::send::{Content, PhoneNumber, SendRequest, ValidatedSend};
use crate::store::{EnqueueItem, EnqueueOutcome, MessageRecord};
use crate::whatsapp::Gate;

/// What became of one send.
#[derive(Debug)]
pub enum ItemResult {
    Queued(MessageRecord),
    /// An idempotent replay: the message of the first request, and the first answer if kept.
    Replayed {
        message: MessageRecord,
        response: Option<String>,
    },
    Refused(ApiError),
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

/// Checks a text send and runs it through the template and filter hooks; `prefix` names the
/// place of the body in the request (`""` or `items[3].`).
pub async fn compose_text(
    app: &Gateway,
    req: &SendRequest,
    key_name: &str,
    prefix: &str,
) -> Result<ValidatedSend, ApiError> {
    let plugins = app.plugins();
    let validator = app.validator();
    let templating = plugins.has(Hook::Template);
    let draft = validator.draft(req, prefix, templating).map_err(ApiError::fields)?;
    let mut outgoing = Outgoing {
        to: draft.to.as_str().to_string(),
        kind: "text",
        text: draft.text,
        template: draft.template,
        vars: draft.vars,
        key_name: key_name.to_string(),
    };
    if templating {
        match plugins.template(&outgoing, validator.max_text).await {
            TemplateOutcome::Text(text) => outgoing.text = text,
            TemplateOutcome::Refused { plugin, reason } => {
                let field = match (&req.template, &req.vars) {
                    (Some(_), _) => "template",
                    (None, Some(_)) => "vars",
                    (None, None) => "text",
                };
                return Err(ApiError::invalid(
                    &format!("{prefix}{field}"),
                    format!("could not be rendered by plugin {plugin}: {reason}"),
                ));
            }
        }
    }
    let send = validator
        .finish(draft.to, &outgoing.text, prefix)
        .map_err(ApiError::fields)?;
    plugins.filter(&outgoing).await.map_err(ApiError::RecipientRejected)?;
    Ok(send)
}

/// Runs a media send (its caption) through the template and filter hooks.
pub async fn compose_media(app: &Gateway, send: ValidatedSend, key_name: &str) -> Result<ValidatedSend, ApiError> {
    let Content::Media { kind, file, caption } = send.content else {
        return Ok(send);
    };
    let plugins = app.plugins();
    let mut outgoing = Outgoing {
        to: send.to.as_str().to_string(),
        kind: kind.as_str(),
        text: caption.unwrap_or_default(),
        template: None,
        vars: Vec::new(),
        key_name: key_name.to_string(),
    };
    let max_text = app.validator().max_text;
    match plugins.template(&outgoing, max_text).await {
        TemplateOutcome::Text(text) => outgoing.text = text,
        TemplateOutcome::Refused { plugin, reason } => {
            return Err(ApiError::invalid(
                "caption",
                format!("could not be rendered by plugin {plugin}: {reason}"),
            ));
        }
    }
    if outgoing.text.contains('\0') {
        return Err(ApiError::invalid("caption", "must not contain NUL characters"));
    }
    plugins.filter(&outgoing).await.map_err(ApiError::RecipientRejected)?;
    Ok(ValidatedSend {
        to: send.to,
        content: Content::Media {
            kind,
            file,
            caption: (!outgoing.text.trim().is_empty()).then_some(outgoing.text),
        },
    })
}

/// Runs sends through the gate, the number check and the queue; results keep the items' order.
pub async fn accept(app: &Gateway, key_id: &str, items: Vec<EnqueueItem>) -> Result<Vec<ItemResult>, ApiError> {
    let status = app.session_status();
    if status.gate() == Gate::Unlinked {
        let why = status.last_error.unwrap_or_else(|| "no linked session".into());
        return Err(ApiError::NotConnected(format!(
            "{why}; open the dashboard and scan the QR"
        )));
    }
    let mut results: Vec<Option<ItemResult>> = (0..items.len()).map(|_| None).collect();
    if app.config().antiban.verify_numbers && status.gate() == Gate::Open {
        refuse_unknown_numbers(app, &items, &mut results).await;
    }
    let (indexes, pending): (Vec<usize>, Vec<EnqueueItem>) = items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| results[*i].is_none())
        .unzip();
    if !pending.is_empty() {
        let clock = app.clock();
        let limit = app.config().antiban.daily_limit;
        let outcomes = app.lifecycle().enqueue(key_id, pending).await?;
        for (i, outcome) in indexes.into_iter().zip(outcomes) {
            results[i] = Some(match outcome {
                EnqueueOutcome::Queued(message) => ItemResult::Queued(message),
                EnqueueOutcome::Replayed { message, response } => ItemResult::Replayed { message, response },
                EnqueueOutcome::IdemMismatch => ItemResult::Refused(ApiError::invalid(
                    "Idempotency-Key",
                    "was already used in the last 24 hours with a different request",
                )),
                EnqueueOutcome::DailyLimit => ItemResult::Refused(ApiError::DailyLimit {
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

/// Asks WhatsApp (through the cache) about every phone number; a failed check refuses nothing:
/// the sender checks again before sending.
async fn refuse_unknown_numbers(app: &Gateway, items: &[EnqueueItem], results: &mut [Option<ItemResult>]) {
    let phones: Vec<PhoneNumber> = items.iter().filter_map(|i| i.send.to.phone().cloned()).collect();
    if phones.is_empty() {
        return;
    }
    match app.verifier().check(&phones).await {
        Ok(checks) => {
            for (i, item) in items.iter().enumerate() {
                let Some(phone) = item.send.to.phone() else {
                    continue;
                };
                if checks.iter().any(|c| &c.number == phone && !c.on_whatsapp) {
                    results[i] = Some(ItemResult::Refused(ApiError::RecipientNotFound(
                        phone.as_str().to_string(),
                    )));
                }
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, "number check at request time failed; the sender will check")
        }
    }
}
