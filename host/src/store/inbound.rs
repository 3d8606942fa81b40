//! What arrives from WhatsApp (stored before it is acknowledged), and the server's ack of
//! what the gateway sent.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::whatsapp::Incoming;

impl Store {
    /// Stores a batch in one transaction; a redelivered message is stored once. Returns the new
    /// rows' ids with their messages.
    pub async fn store_incoming(&self, batch: Vec<Incoming>, now: i64) -> Result<Vec<(i64, Incoming)>, StoreError> {
        let session = self.session().to_string();
        self.write(move |c| {
            let mut stored = Vec::new();
            let mut insert = c.prepare_cached(
                "INSERT OR IGNORE INTO inbound_messages \
                 (session, wa_id, chat, sender, from_me, push_name, text, media_type, sent_at, received_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for m in batch {
                let added = insert.execute(params![
                    session,
                    m.wa_id,
                    m.chat,
                    m.sender,
                    m.from_me,
                    m.push_name,
                    m.text,
                    m.media_type,
                    m.sent_at,
                    now
                ])?;
                if added == 1 {
                    stored.push((c.last_insert_rowid(), m));
                }
            }
            Ok(stored)
        })
        .await
    }

    /// Our message with this WhatsApp id, if any.
    pub async fn message_id_by_wa_id(&self, wa_id: &str) -> Result<Option<i64>, StoreError> {
        let (wa_id, session) = (wa_id.to_string(), self.session().to_string());
        self.read(move |c| {
            c.prepare_cached("SELECT id FROM messages WHERE wa_id = ?1 AND session = ?2")?
                .query_row(params![wa_id, session], |r| r.get(0))
                .optional()
        })
        .await
    }

    /// Records WhatsApp's server ack of a sent message; the message's id when it is ours.
    pub async fn record_server_ack(
        &self,
        wa_id: &str,
        error: Option<String>,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let (wa_id, session) = (wa_id.to_string(), self.session().to_string());
        self.write(move |c| {
            let id = c
                .prepare_cached("SELECT id FROM messages WHERE wa_id = ?1 AND session = ?2")?
                .query_row(params![wa_id, session], |r| r.get::<_, i64>(0));
            let id = match id {
                Ok(id) => id,
                Err(rusqlite::Error::QueryReturnedNoRows) => return Ok(None),
                Err(e) => return Err(e),
            };
            c.prepare_cached("UPDATE messages SET acked_at = ?2, ack_error = ?3 WHERE id = ?1")?
                .execute(params![id, now, error])?;
            Ok(Some(id))
        })
        .await
    }
}
