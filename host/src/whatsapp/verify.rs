//! "Is this number on WhatsApp?", asked of the session and remembered for `verify_cache`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::{NumberCheck, Session, WaError};
use crate::send::PhoneNumber;

/// Entries kept at most; past it, expired ones go first, then everything.
const MAX_ENTRIES: usize = 100_000;

pub struct NumberVerifier {
    session: Session,
    ttl: Duration,
    cache: Mutex<HashMap<PhoneNumber, (NumberCheck, Instant)>>,
}

impl NumberVerifier {
    pub fn new(session: Session, ttl: Duration) -> Self {
        Self {
            session,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Answers for every number, asking WhatsApp only about those not known recently.
    pub async fn check(&self, numbers: &[PhoneNumber]) -> Result<Vec<NumberCheck>, WaError> {
        let now = Instant::now();
        let (mut known, missing): (Vec<_>, Vec<_>) = {
            let cache = self.cache.lock().expect("number cache");
            let lookups: Vec<_> = numbers
                .iter()
                .map(|n| match cache.get(n) {
                    Some((check, at)) if now.duration_since(*at) < self.ttl => Ok(check.clone()),
                    _ => Err(n.clone()),
                })
                .collect();
            (
                lookups.iter().filter_map(|l| l.clone().ok()).collect(),
                lookups.into_iter().filter_map(Result::err).collect(),
            )
        };
        if !missing.is_empty() {
            let mut unique = missing;
            unique.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            unique.dedup();
            let fresh = self.session.check_numbers(&unique).await?;
            let mut cache = self.cache.lock().expect("number cache");
            if cache.len() + fresh.len() > MAX_ENTRIES {
                cache.retain(|_, (_, at)| now.duration_since(*at) < self.ttl);
                if cache.len() + fresh.len() > MAX_ENTRIES {
                    cache.clear();
                }
            }
            for check in &fresh {
                cache.insert(check.number.clone(), (check.clone(), now));
            }
            known.extend(fresh);
        }
        Ok(numbers
            .iter()
            .filter_map(|n| known.iter().find(|c| &c.number == n).cloned())
            .collect())
    }

    /// One number: `Ok(true)` when it is on WhatsApp.
    pub async fn is_on_whatsapp(&self, number: &PhoneNumber) -> Result<bool, WaError> {
        Ok(self
            .check(std::slice::from_ref(number))
            .await?
            .first()
            .is_some_and(|c| c.on_whatsapp))
    }
}
