//! The events journal: message events and incoming messages read back, in commit order, from the
//! tables that already record them — a `message_history` row *is* a message event, an
//! `inbound_messages` row an incoming one — plus the cursors of whoever hands them on (the
//! plugins' events hook, `event_cursors`, migration 7). Nothing is written twice, and an event
//! committed before a crash is still there after it.
//!
//! Positions are rowids. The single writer commits in order and a reader sees only committed rows,
//! so a position once read is never filled in behind the reader. (`message_history` has no
//! declared key: its rowids would only move under `VACUUM`, which wapi never runs.)

use rusqlite::{OptionalExtension, Row, params};

use super::messages::{COLUMNS, from_row};
use super::{MessageRecord, Status, Store, StoreError};

/// One of the journal's two streams of positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// `message_history` rowids: queued, sending, sent, failed, cancelled.
    History,
    /// `inbound_messages` ids: what arrived from WhatsApp.
    Inbound,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Self::History => "history",
            Self::Inbound => "inbound",
        }
    }

    /// The letter an event's origin starts with (`h42`, `i7`).
    pub fn letter(self) -> char {
        match self {
            Self::History => 'h',
            Self::Inbound => 'i',
        }
    }
}

/// What the journal holds at one position.
#[derive(Debug, Clone)]
pub enum Journaled {
    /// A message reached `status` at `at` (Unix ms); `detail` is a failure's reason.
    Message {
        status: Status,
        detail: Option<String>,
        at: i64,
        message: Box<MessageRecord>,
    },
    /// A message arrived, stored as inbound row `id`.
    Incoming {
        id: i64,
        chat: String,
        sender: String,
        text: Option<String>,
        at: i64,
    },
}

fn incoming(r: &Row<'_>) -> rusqlite::Result<(i64, Journaled)> {
    let id: i64 = r.get(0)?;
    Ok((
        id,
        Journaled::Incoming {
            id,
            chat: r.get(1)?,
            sender: r.get(2)?,
            text: r.get(3)?,
            at: r.get(4)?,
        },
    ))
}

impl Store {
    /// How far `consumer` has handed `stream` on, if it ever recorded a position.
    pub async fn journal_cursor(&self, consumer: &str, stream: Stream) -> Result<Option<i64>, StoreError> {
        let (session, name) = (self.session().to_string(), format!("{consumer}:{}", stream.name()));
        self.read(move |c| {
            c.prepare_cached("SELECT position FROM event_cursors WHERE session = ?1 AND name = ?2")?
                .query_row(params![session, name], |r| r.get(0))
                .optional()
        })
        .await
    }

    /// Records how far `consumer` has handed `stream` on.
    pub async fn set_journal_cursor(&self, consumer: &str, stream: Stream, position: i64) -> Result<(), StoreError> {
        let (session, name) = (self.session().to_string(), format!("{consumer}:{}", stream.name()));
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO event_cursors (session, name, position) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (session, name) DO UPDATE SET position = excluded.position",
            )?
            .execute(params![session, name, position])?;
            Ok(())
        })
        .await
    }

    /// The newest position of `stream` (0 when empty): where a new consumer starts.
    pub async fn journal_end(&self, stream: Stream) -> Result<i64, StoreError> {
        let sql = match stream {
            Stream::History => "SELECT COALESCE(MAX(rowid), 0) FROM message_history",
            Stream::Inbound => "SELECT COALESCE(MAX(id), 0) FROM inbound_messages",
        };
        self.read_now(|c| c.prepare_cached(sql)?.query_row([], |r| r.get(0)))
    }

    /// Up to `limit` entries of `stream` after `position`, in order, with their positions. History
    /// entries include `sending` (the consumer skips what it does not hand on, but moves past it).
    pub async fn journal_after(
        &self,
        stream: Stream,
        position: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Journaled)>, StoreError> {
        let session = self.session().to_string();
        self.read(move |c| match stream {
            Stream::History => {
                let columns: Vec<String> = COLUMNS
                    .split(", ")
                    .map(|column| format!("m.{}", column.trim()))
                    .collect();
                c.prepare_cached(&format!(
                    "SELECT {}, h.rowid, h.status, h.detail, h.at FROM message_history h \
                     JOIN messages m ON m.id = h.message_id \
                     WHERE h.rowid > ?1 AND h.session = ?2 ORDER BY h.rowid LIMIT ?3",
                    columns.join(", ")
                ))?
                .query_map(params![position, session, limit as i64], |r| {
                    let message = from_row(r)?;
                    let status: String = r.get(20)?;
                    Ok((
                        r.get(19)?,
                        Journaled::Message {
                            status: Status::parse(&status).unwrap_or(message.status),
                            detail: r.get(21)?,
                            at: r.get(22)?,
                            message: Box::new(message),
                        },
                    ))
                })?
                .collect()
            }
            Stream::Inbound => c
                .prepare_cached(
                    "SELECT id, chat, sender, text, received_at FROM inbound_messages \
                     WHERE id > ?1 AND session = ?2 ORDER BY id LIMIT ?3",
                )?
                .query_map(params![position, session, limit as i64], incoming)?
                .collect(),
        })
        .await
    }
}
