//! API keys: the `wapi_<id>_<secret>` format, generation, hashing, and checking a presented key.
//! Checking yields a [`Principal`]; handlers cannot run without one.

use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{KeyRow, Role, Store, StoreError};

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ID_LEN: usize = 8;
const SECRET_LEN: usize = 32;

/// Who is calling: an active key and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: String,
    pub name: String,
    pub role: Role,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A key in its full, secret form: exists only at creation and when presented.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey(wapi_{}_…)", self.id())
    }
}

impl ApiKey {
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let mut part = |n: usize| -> String {
            (0..n)
                .map(|_| BASE62[rng.random_range(0..BASE62.len())] as char)
                .collect()
        };
        let id = part(ID_LEN);
        let secret = part(SECRET_LEN);
        Self(format!("wapi_{id}_{secret}"))
    }

    /// Accepts exactly `wapi_` + 8 base62 + `_` + 32 base62.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("wapi_")?;
        let (id, secret) = rest.split_once('_')?;
        let base62 = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_alphanumeric());
        (base62(id, ID_LEN) && base62(secret, SECRET_LEN)).then(|| Self(text.to_string()))
    }

    /// The public id: shown in lists and logs, used to find the key.
    pub fn id(&self) -> &str {
        &self.0[5..5 + ID_LEN]
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

/// The same answer for a malformed, unknown, wrong or revoked key: no oracle.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid or revoked API key")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a presented key against the database (every time: a revocation counts on the very
/// next request, even one made by `wapi keys revoke` from another process).
pub async fn authenticate(store: &Store, presented: &str) -> Result<(Principal, KeyRow), AuthError> {
    let key = ApiKey::parse(presented.trim()).ok_or(AuthError::Invalid)?;
    let row = store.find_key(key.id()).await?.ok_or(AuthError::Invalid)?;
    let matches: bool = key.hash().ct_eq(&row.hash).into();
    if !matches || row.revoked_at.is_some() {
        return Err(AuthError::Invalid);
    }
    Ok((
        Principal {
            key_id: row.id.clone(),
            name: row.name.clone(),
            role: row.role,
        },
        row,
    ))
}

/// Creates and stores a new key, retrying on the (unlikely) clash of public ids.
pub async fn create_key(store: &Store, name: &str, role: Role, now_ms: i64) -> Result<(ApiKey, KeyRow), StoreError> {
    loop {
        let key = ApiKey::generate();
        let row = KeyRow {
            id: key.id().to_string(),
            name: name.to_string(),
            role,
            hash: key.hash(),
            created_at: now_ms,
            last_used_at: None,
            revoked_at: None,
        };
        if store.insert_key(row.clone()).await? {
            return Ok((key, row));
        }
    }
}

/// Makes sure a given key exists as an active admin key (`WAPI_ADMIN_KEY`).
pub async fn ensure_admin_key(store: &Store, key: &ApiKey, now_ms: i64) -> Result<(), StoreError> {
    match store.find_key(key.id()).await? {
        Some(row) if row.hash == key.hash() && row.revoked_at.is_none() && row.role == Role::Admin => Ok(()),
        Some(_) => {
            tracing::warn!(
                key = key.id(),
                "WAPI_ADMIN_KEY's id belongs to another or revoked key; not changing it"
            );
            Ok(())
        }
        None => {
            let row = KeyRow {
                id: key.id().to_string(),
                name: "admin (WAPI_ADMIN_KEY)".into(),
                role: Role::Admin,
                hash: key.hash(),
                created_at: now_ms,
                last_used_at: None,
                revoked_at: None,
            };
            store.insert_key(row).await.map(drop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = ApiKey::generate();
        let text = key.expose();
        assert_eq!(text.len(), 5 + 8 + 1 + 32);
        assert!(ApiKey::parse(text).is_some());
        assert_eq!(&text[5..13], key.id());
        assert_ne!(ApiKey::generate(), key);
    }

    #[test]
    fn malformed_keys_are_refused_before_the_database() {
        for bad in [
            "",
            "wapi_",
            "wapi_AAAAAAAA",
            "wapi_AAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
            "wapi_AAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
            "wapi_AAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
            "wapi_AAAA-AAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
            "WAPI_AAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
            "wapi_AAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBé",
        ] {
            assert!(ApiKey::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let key = ApiKey::generate();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.expose()[14..]));
    }
}
