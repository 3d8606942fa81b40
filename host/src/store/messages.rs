//! The message queue and its history: enqueue (with idempotency and the daily cap in the same
//! transaction), listing, cancel, and the sender's claim / sent / failed transitions. These are
//! the rows' side only: `queue::Lifecycle` is the one caller, and adds events, metrics and files.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Store, StoreError};
use crate::send::{Content, MessageKind, Upload, ValidatedSend};

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Queued,
    Sending,
    Sent,
    Failed,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Sent | Self::Failed | Self::Cancelled)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    pub id: i64,
    pub key_id: Option<String>,
    pub kind: MessageKind,
    pub recipient: String,
    pub body: Option<String>,
    pub media_path: Option<String>,
    pub media_mime: Option<String>,
    pub media_name: Option<String>,
    pub media_size: Option<i64>,
    pub status: Status,
    pub reason: Option<String>,
    pub wa_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub sent_at: Option<i64>,
    /// WhatsApp's server acknowledged the send (or refused it: `ack_error`).
    pub acked_at: Option<i64>,
    pub ack_error: Option<String>,
    /// The recipient's first delivery and first read (or play) receipts.
    pub delivered_at: Option<i64>,
    pub read_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub status: Status,
    pub at: i64,
    pub detail: Option<String>,
}

/// An `Idempotency-Key` with the fingerprint of the content it was first used for.
#[derive(Debug, Clone)]
pub struct IdemClaim {
    pub key: String,
    pub fingerprint: [u8; 32],
}

#[derive(Debug)]
pub struct EnqueueItem {
    pub send: ValidatedSend,
    pub idem: Option<IdemClaim>,
    /// The uploaded file a media send names: kept once the send is queued, removed otherwise.
    /// `queue::Lifecycle::enqueue` takes it before the write; the store never holds it.
    pub upload: Option<Upload>,
}

#[derive(Debug, Clone)]
pub enum EnqueueOutcome {
    Queued(MessageRecord),
    /// The key was used before with the same content: nothing new was queued.
    Replayed {
        message: MessageRecord,
        response: Option<String>,
    },
    /// The key was used before with other content.
    IdemMismatch,
    /// The daily cap is reached for this UTC day.
    DailyLimit,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DailyCounts {
    pub accepted: u32,
    pub sent: u32,
}

#[derive(Debug, Clone)]
pub enum CancelOutcome {
    Cancelled(Box<MessageRecord>),
    NotQueued(Status),
    NotFound,
}

pub(super) const COLUMNS: &str = "id, key_id, kind, recipient, body, media_path, media_mime, media_name, media_size, \
                       status, reason, wa_id, created_at, updated_at, sent_at, acked_at, ack_error, delivered_at, read_at";

pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<MessageRecord> {
    let kind: String = r.get(2)?;
    let status: String = r.get(9)?;
    Ok(MessageRecord {
        id: r.get(0)?,
        key_id: r.get(1)?,
        kind: MessageKind::parse(&kind).unwrap_or(MessageKind::Text),
        recipient: r.get(3)?,
        body: r.get(4)?,
        media_path: r.get(5)?,
        media_mime: r.get(6)?,
        media_name: r.get(7)?,
        media_size: r.get(8)?,
        status: Status::parse(&status).unwrap_or(Status::Failed),
        reason: r.get(10)?,
        wa_id: r.get(11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
        sent_at: r.get(14)?,
        acked_at: r.get(15)?,
        ack_error: r.get(16)?,
        delivered_at: r.get(17)?,
        read_at: r.get(18)?,
    })
}

fn load(c: &Connection, id: i64) -> rusqlite::Result<Option<MessageRecord>> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()
}

/// Appends to a message's history; the entry takes the message's session.
fn record(c: &Connection, id: i64, status: Status, at: i64, detail: Option<&str>) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO message_history (message_id, session, status, at, detail) \
         SELECT id, session, ?2, ?3, ?4 FROM messages WHERE id = ?1",
    )?
    .execute(params![id, status.as_str(), at, detail])?;
    Ok(())
}

fn counts(c: &Connection, session: &str, day: &str) -> rusqlite::Result<DailyCounts> {
    Ok(
        c.prepare_cached("SELECT accepted, sent FROM daily_counts WHERE session = ?1 AND day = ?2")?
            .query_row([session, day], |r| {
                Ok(DailyCounts {
                    accepted: r.get(0)?,
                    sent: r.get(1)?,
                })
            })
            .optional()?
            .unwrap_or_default(),
    )
}

/// Moves a message from one status to another; `false` if it was not in `from`.
fn transition(
    c: &Connection,
    id: i64,
    from: Status,
    to: Status,
    now: i64,
    detail: Option<&str>,
) -> rusqlite::Result<bool> {
    let changed = c
        .prepare_cached(
            "UPDATE messages SET status = ?3, reason = COALESCE(?5, reason), updated_at = ?4 WHERE id = ?1 AND status = ?2",
        )?
        .execute(params![id, from.as_str(), to.as_str(), now, if to == Status::Failed { detail } else { None }])?;
    if changed == 1 {
        record(c, id, to, now, detail)?;
    }
    Ok(changed == 1)
}

fn enqueue_one(
    c: &Connection,
    session: &str,
    key_id: &str,
    send: &ValidatedSend,
    now: i64,
) -> rusqlite::Result<MessageRecord> {
    let (path, mime, name, size) = match send.content() {
        Content::Text(_) => (None, None, None, None),
        Content::Media { file, .. } => (
            Some(file.path.to_string_lossy().into_owned()),
            Some(file.mime.clone()),
            Some(file.file_name.clone()),
            Some(file.size as i64),
        ),
    };
    c.prepare_cached(
        "INSERT INTO messages (session, key_id, kind, recipient, body, media_path, media_mime, media_name, media_size, \
         status, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'queued', ?10, ?10)",
    )?
    .execute(params![
        session,
        key_id,
        send.content().kind().as_str(),
        send.to().as_str(),
        send.content().body(),
        &path,
        &mime,
        &name,
        size,
        now
    ])?;
    let id = c.last_insert_rowid();
    c.prepare_cached("INSERT INTO message_history (message_id, session, status, at) VALUES (?1, ?2, 'queued', ?3)")?
        .execute(params![id, session, now])?;
    Ok(MessageRecord {
        id,
        key_id: Some(key_id.to_string()),
        kind: send.content().kind(),
        recipient: send.to().as_str().to_string(),
        body: send.content().body().map(str::to_string),
        media_path: path,
        media_mime: mime,
        media_name: name,
        media_size: size,
        status: Status::Queued,
        reason: None,
        wa_id: None,
        created_at: now,
        updated_at: now,
        sent_at: None,
        acked_at: None,
        ack_error: None,
        delivered_at: None,
        read_at: None,
    })
}

/// Checks an idempotency key; `Some` when the request must not queue anything new.
fn replay(c: &Connection, key_id: &str, claim: &IdemClaim, now: i64) -> rusqlite::Result<Option<EnqueueOutcome>> {
    let found = c
        .prepare_cached(
            "SELECT fingerprint, message_id, response, created_at FROM idempotency WHERE key_id = ?1 AND idem_key = ?2",
        )?
        .query_row(params![key_id, claim.key], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    let Some((fingerprint, message_id, response, created_at)) = found else {
        return Ok(None);
    };
    if now - created_at > IDEMPOTENCY_TTL_MS {
        c.execute(
            "DELETE FROM idempotency WHERE key_id = ?1 AND idem_key = ?2",
            params![key_id, claim.key],
        )?;
        return Ok(None);
    }
    if fingerprint != claim.fingerprint {
        return Ok(Some(EnqueueOutcome::IdemMismatch));
    }
    Ok(load(c, message_id)?.map(|message| EnqueueOutcome::Replayed { message, response }))
}

impl Store {
    /// Queues sends in one transaction, each checked against its idempotency key and the
    /// daily cap (`accepted` per UTC `day`), in order.
    pub async fn enqueue(
        &self,
        key_id: &str,
        items: Vec<EnqueueItem>,
        day: String,
        daily_limit: u32,
        now: i64,
    ) -> Result<Vec<EnqueueOutcome>, StoreError> {
        let session = self.session().to_string();
        let key_id = key_id.to_string();
        let outcomes = self
            .write(move |c| {
                let mut accepted = counts(c, &session, &day)?.accepted;
                let before = accepted;
                let mut outcomes = Vec::with_capacity(items.len());
                for item in &items {
                    if let Some(claim) = &item.idem
                        && let Some(outcome) = replay(c, &key_id, claim, now)?
                    {
                        outcomes.push(outcome);
                        continue;
                    }
                    if accepted >= daily_limit {
                        outcomes.push(EnqueueOutcome::DailyLimit);
                        continue;
                    }
                    let message = enqueue_one(c, &session, &key_id, &item.send, now)?;
                    if let Some(claim) = &item.idem {
                        c.prepare_cached(
                            "INSERT OR REPLACE INTO idempotency \
                             (session, key_id, idem_key, fingerprint, message_id, created_at) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )?
                        .execute(params![
                            session,
                            key_id,
                            claim.key,
                            &claim.fingerprint[..],
                            message.id,
                            now
                        ])?;
                    }
                    accepted += 1;
                    outcomes.push(EnqueueOutcome::Queued(message));
                }
                if accepted > before {
                    c.prepare_cached(
                        "INSERT INTO daily_counts (session, day, accepted) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (session, day) DO UPDATE SET accepted = excluded.accepted",
                    )?
                    .execute(params![session, day, accepted])?;
                }
                Ok(outcomes)
            })
            .await?;
        let queued = outcomes
            .iter()
            .filter(|o| matches!(o, EnqueueOutcome::Queued(_)))
            .count();
        self.adjust_pending(queued as i64);
        Ok(outcomes)
    }

    /// Keeps the first answer given for an idempotency key, for replays.
    pub async fn save_response(&self, key_id: &str, idem_key: &str, response: String) -> Result<(), StoreError> {
        let (key_id, idem_key) = (key_id.to_string(), idem_key.to_string());
        self.write(move |c| {
            c.execute(
                "UPDATE idempotency SET response = ?3 WHERE key_id = ?1 AND idem_key = ?2 AND response IS NULL",
                params![key_id, idem_key, response],
            )?;
            Ok(())
        })
        .await
    }

    /// Forgets idempotency keys older than 24 hours.
    pub async fn purge_idempotency(&self, now: i64) -> Result<usize, StoreError> {
        self.write(move |c| {
            c.execute(
                "DELETE FROM idempotency WHERE created_at < ?1",
                [now - IDEMPOTENCY_TTL_MS],
            )
        })
        .await
    }

    pub async fn message(&self, id: i64) -> Result<Option<(MessageRecord, Vec<StatusChange>)>, StoreError> {
        self.read(move |c| {
            let Some(message) = load(c, id)? else { return Ok(None) };
            let history = c
                .prepare_cached("SELECT status, at, detail FROM message_history WHERE message_id = ?1 ORDER BY rowid")?
                .query_map([id], |r| {
                    let status: String = r.get(0)?;
                    Ok(StatusChange {
                        status: Status::parse(&status).unwrap_or(Status::Failed),
                        at: r.get(1)?,
                        detail: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Some((message, history)))
        })
        .await
    }

    /// The message that sends next, if any.
    pub async fn head(&self) -> Result<Option<MessageRecord>, StoreError> {
        self.read_now(|c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM messages WHERE session = ?1 AND status = 'queued' ORDER BY id LIMIT 1"
            ))?
            .query_row([self.session()], from_row)
            .optional()
        })
    }

    pub async fn cancel(&self, id: i64, now: i64) -> Result<CancelOutcome, StoreError> {
        let outcome = self
            .write(move |c| {
                if transition(
                    c,
                    id,
                    Status::Queued,
                    Status::Cancelled,
                    now,
                    Some("cancelled by request"),
                )? {
                    return Ok(CancelOutcome::Cancelled(Box::new(
                        load(c, id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?,
                    )));
                }
                Ok(match load(c, id)? {
                    Some(m) => CancelOutcome::NotQueued(m.status),
                    None => CancelOutcome::NotFound,
                })
            })
            .await?;
        if matches!(outcome, CancelOutcome::Cancelled(_)) {
            self.adjust_pending(-1);
        }
        Ok(outcome)
    }

    /// Marks a queued message `sending` just before it is handed to WhatsApp, with the WhatsApp
    /// message id it goes out under: the one an earlier attempt stored, else `wa_id`. `None` if
    /// it is no longer queued (cancelled meanwhile).
    pub async fn claim(&self, id: i64, wa_id: String, now: i64) -> Result<Option<String>, StoreError> {
        self.write(move |c| {
            if !transition(c, id, Status::Queued, Status::Sending, now, None)? {
                return Ok(None);
            }
            c.prepare_cached("UPDATE messages SET wa_id = COALESCE(wa_id, ?2) WHERE id = ?1 RETURNING wa_id")?
                .query_row(params![id, wa_id], |r| r.get(0))
                .map(Some)
        })
        .await
    }

    pub async fn mark_sent(&self, id: i64, wa_id: String, day: String, now: i64) -> Result<(), StoreError> {
        let session = self.session().to_string();
        let changed = self
            .write(move |c| {
                if !transition(c, id, Status::Sending, Status::Sent, now, Some(&wa_id))? {
                    return Ok(false);
                }
                c.execute(
                    "UPDATE messages SET wa_id = ?2, sent_at = ?3 WHERE id = ?1",
                    params![id, wa_id, now],
                )?;
                c.prepare_cached(
                    "INSERT INTO daily_counts (session, day, sent) VALUES (?1, ?2, 1) \
                     ON CONFLICT (session, day) DO UPDATE SET sent = sent + 1",
                )?
                .execute(params![session, day])?;
                Ok(true)
            })
            .await?;
        if changed {
            self.adjust_pending(-1);
        }
        Ok(())
    }

    /// Marks a message `failed` with its reason, from `from` (queued or sending); `false` when it
    /// was no longer in `from` (cancelled meanwhile).
    pub async fn mark_failed(&self, id: i64, from: Status, reason: String, now: i64) -> Result<bool, StoreError> {
        let changed = self
            .write(move |c| transition(c, id, from, Status::Failed, now, Some(&reason)))
            .await?;
        if changed {
            self.adjust_pending(-1);
        }
        Ok(changed)
    }

    /// Puts a message that never reached WhatsApp back at its place in the queue.
    pub async fn requeue(&self, id: i64, detail: String, now: i64) -> Result<(), StoreError> {
        self.write(move |c| transition(c, id, Status::Sending, Status::Queued, now, Some(&detail)).map(drop))
            .await
    }

    /// After a crash, messages found `sending` may or may not have left: they become `failed`
    /// with reason `interrupted` (at-most-once), or go back to the queue when `resend` is set
    /// (keeping their WhatsApp id). Returns them as they were found.
    pub async fn recover_interrupted(&self, resend: bool, now: i64) -> Result<Vec<MessageRecord>, StoreError> {
        let session = self.session().to_string();
        let found = self
            .write(move |c| {
                let found: Vec<MessageRecord> = c
                    .prepare(&format!(
                        "SELECT {COLUMNS} FROM messages WHERE session = ?1 AND status = 'sending' ORDER BY id"
                    ))?
                    .query_map([session], from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                for m in &found {
                    if resend {
                        transition(
                            c,
                            m.id,
                            Status::Sending,
                            Status::Queued,
                            now,
                            Some("interrupted; queued again"),
                        )?;
                    } else {
                        transition(c, m.id, Status::Sending, Status::Failed, now, Some("interrupted"))?;
                    }
                }
                Ok(found)
            })
            .await?;
        if !resend {
            self.adjust_pending(-(found.len() as i64));
        }
        Ok(found)
    }

    pub async fn daily_counts(&self, day: String) -> Result<DailyCounts, StoreError> {
        self.read_now(|c| counts(c, self.session(), &day))
    }
}
