//! What arrives from WhatsApp (stored before it is acknowledged), and the server's ack of
//! what the gateway sent.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError};
use crate::whatsapp::Incoming;

/// Our message with this WhatsApp id, if it is ours.
fn ours(c: &Connection, wa_id: &str, session: &str) -> rusqlite::Result<Option<i64>> {
    c.prepare_cached("SELECT id FROM messages WHERE wa_id = ?1 AND session = ?2")?
        .query_row(params![wa_id, session], |r| r.get(0))
        .optional()
}

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

    /// Records a recipient's receipt on our message with this WhatsApp id (the first delivery
    /// and the first read or play are kept); the message's id when it is ours.
    pub async fn record_receipt(&self, wa_id: &str, read: bool, now: i64) -> Result<Option<i64>, StoreError> {
        let (wa_id, session) = (wa_id.to_string(), self.session().to_string());
        self.write(move |c| {
            let Some(id) = ours(c, &wa_id, &session)? else { return Ok(None) };
            let sql = if read {
                "UPDATE messages SET read_at = COALESCE(read_at, ?2), delivered_at = COALESCE(delivered_at, ?2) WHERE id = ?1"
            } else {
                "UPDATE messages SET delivered_at = COALESCE(delivered_at, ?2) WHERE id = ?1"
            };
            c.prepare_cached(sql)?.execute(params![id, now])?;
            Ok(Some(id))
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
            let Some(id) = ours(c, &wa_id, &session)? else {
                return Ok(None);
            };
            c.prepare_cached("UPDATE messages SET acked_at = ?2, ack_error = ?3 WHERE id = ?1")?
                .execute(params![id, now, error])?;
            Ok(Some(id))
        })
        .await
    }
}
