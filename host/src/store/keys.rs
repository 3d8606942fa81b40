//! API key rows: created, looked up by public id, touched (to the minute), revoked.

use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "user" => Some(Self::User),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RevokeOutcome {
    Revoked(KeyRow),
    /// Refused: it is the last active admin key.
    LastAdmin,
    NotFound,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub hash: [u8; 32],
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, name, role, hash, created_at, last_used_at, revoked_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<KeyRow> {
    let role: String = r.get(2)?;
    let hash: Vec<u8> = r.get(3)?;
    Ok(KeyRow {
        id: r.get(0)?,
        name: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::User),
        hash: hash.try_into().unwrap_or([0; 32]),
        created_at: r.get(4)?,
        last_used_at: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

impl Store {
    /// Stores a new key; `false` when its public id is already taken.
    pub async fn insert_key(&self, key: KeyRow) -> Result<bool, StoreError> {
        let session = self.session().to_string();
        self.write(move |c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO api_keys (id, session, name, role, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![key.id, session, key.name, key.role.as_str(), &key.hash[..], key.created_at],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// Looks a key up by its public id (checked on every request, so a point query in place).
    pub async fn find_key(&self, id: &str) -> Result<Option<KeyRow>, StoreError> {
        self.read_now(|c| {
            c.prepare_cached(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"))?
                .query_row([id], from_row)
                .optional()
        })
    }

    /// Every key of the session, newest first.
    pub async fn list_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let session = self.session().to_string();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM api_keys WHERE session = ?1 ORDER BY created_at DESC, id"
            ))?
            .query_map([session], from_row)?
            .collect()
        })
        .await
    }

    /// Revokes a key, in one transaction with the check that it is not the session's last
    /// active admin key (two admins revoking each other cannot leave none).
    pub async fn revoke_key(&self, id: &str, now_ms: i64) -> Result<RevokeOutcome, StoreError> {
        let (id, session) = (id.to_string(), self.session().to_string());
        self.write(move |c| {
            let select = format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1");
            let Some(key) = c.query_row(&select, [&id], from_row).optional()? else {
                return Ok(RevokeOutcome::NotFound);
            };
            if key.role == Role::Admin && key.revoked_at.is_none() {
                let admins: i64 = c.query_row(
                    "SELECT COUNT(*) FROM api_keys WHERE session = ?1 AND role = 'admin' AND revoked_at IS NULL",
                    [&session],
                    |r| r.get(0),
                )?;
                if admins <= 1 {
                    return Ok(RevokeOutcome::LastAdmin);
                }
            }
            c.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, now_ms],
            )?;
            Ok(RevokeOutcome::Revoked(c.query_row(&select, [&id], from_row)?))
        })
        .await
    }

    /// Records use of a key, to the minute.
    pub async fn touch_key(&self, id: &str, minute_ms: i64) -> Result<(), StoreError> {
        let id = id.to_string();
        self.write(move |c| {
            c.execute(
                "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
                params![id, minute_ms],
            )?;
            Ok(())
        })
        .await
    }

    /// How many keys exist (revoked ones too): zero means a first start.
    pub async fn key_count(&self) -> Result<u64, StoreError> {
        self.read(|c| c.query_row("SELECT COUNT(*) FROM api_keys", [], |r| r.get::<_, i64>(0)))
            .await
            .map(|n| n as u64)
    }
}
