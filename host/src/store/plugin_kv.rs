//! Plugins' key-value stores: small, persistent, one namespace per plugin, capped in size.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// Longest key a plugin may use, in bytes.
pub const MAX_KEY: usize = 256;

/// Why a `kv-set` was refused (told to the plugin).
#[derive(Debug, Clone, thiserror::Error)]
pub enum KvRefusal {
    #[error("the key must be 1 to {MAX_KEY} bytes")]
    BadKey,
    #[error("the plugin's store would hold {would} bytes, over its cap of {cap}")]
    Full { would: u64, cap: u64 },
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl Store {
    /// A plugin's value for `key`.
    pub fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<String>, StoreError> {
        let session = self.session();
        self.read_now(|c| {
            c.prepare_cached("SELECT value FROM plugin_kv WHERE session = ?1 AND plugin = ?2 AND key = ?3")?
                .query_row(params![session, plugin, key], |r| r.get(0))
                .optional()
        })
    }

    /// Sets a plugin's `key`, refusing when the plugin's keys and values together would pass
    /// `cap` bytes (checked in the same transaction as the write).
    pub async fn kv_set(&self, plugin: &str, key: &str, value: &str, cap: u64, now: i64) -> Result<(), KvRefusal> {
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(KvRefusal::BadKey);
        }
        let (session, plugin, key, value) = (
            self.session().to_string(),
            plugin.to_string(),
            key.to_string(),
            value.to_string(),
        );
        self.write(move |c| {
            let used: i64 = c.query_row(
                "SELECT COALESCE(SUM(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))), 0)
                 FROM plugin_kv WHERE session = ?1 AND plugin = ?2 AND key <> ?3",
                params![session, plugin, key],
                |r| r.get(0),
            )?;
            let would = used as u64 + (key.len() + value.len()) as u64;
            if would > cap {
                return Ok(Err(KvRefusal::Full { would, cap }));
            }
            c.prepare_cached(
                "INSERT INTO plugin_kv (session, plugin, key, value, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (session, plugin, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )?
            .execute(params![session, plugin, key, value, now])?;
            Ok(Ok(()))
        })
        .await?
    }

    /// Removes a plugin's `key`, if present.
    pub async fn kv_delete(&self, plugin: &str, key: &str) -> Result<(), StoreError> {
        let (session, plugin, key) = (self.session().to_string(), plugin.to_string(), key.to_string());
        self.write(move |c| {
            c.prepare_cached("DELETE FROM plugin_kv WHERE session = ?1 AND plugin = ?2 AND key = ?3")?
                .execute(params![session, plugin, key])?;
            Ok(())
        })
        .await
    }
}
