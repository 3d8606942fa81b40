//! Number checks kept beside the phone number: registered or not, and the LID WhatsApp knows it by.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::whatsapp::NumberCheck;

impl Store {
    /// Records the latest answers; a number's LID, once learned, is kept if a later answer lacks it.
    pub async fn save_number_checks(&self, checks: Vec<NumberCheck>, now: i64) -> Result<(), StoreError> {
        let session = self.session().to_string();
        self.write(move |c| {
            let mut upsert = c.prepare_cached(
                "INSERT INTO contacts (session, number, on_whatsapp, lid, checked_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (session, number) DO UPDATE SET on_whatsapp = excluded.on_whatsapp, \
                 lid = COALESCE(excluded.lid, lid), checked_at = excluded.checked_at",
            )?;
            for check in checks {
                upsert.execute(params![
                    session,
                    check.number.as_str(),
                    check.on_whatsapp,
                    check.lid,
                    now
                ])?;
            }
            Ok(())
        })
        .await
    }

    /// The LID stored for a number, if WhatsApp told us one.
    pub async fn lid_of(&self, number: &str) -> Result<Option<String>, StoreError> {
        let (number, session) = (number.to_string(), self.session().to_string());
        self.read(move |c| {
            c.prepare_cached("SELECT lid FROM contacts WHERE session = ?1 AND number = ?2")?
                .query_row(params![session, number], |r| r.get::<_, Option<String>>(0))
                .optional()
                .map(Option::flatten)
        })
        .await
    }
}
