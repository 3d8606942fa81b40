//! "Is this number on WhatsApp?", asked of the session and remembered for `verify_cache`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::{NumberCheck, Session, WaError};
use crate::clock::Clock;
use crate::send::PhoneNumber;
use crate::store::Store;

/// Entries kept at most; past it, expired ones go first, then everything.
const MAX_ENTRIES: usize = 100_000;

pub struct NumberVerifier {
    session: Session,
    ttl: Duration,
    cache: Mutex<HashMap<PhoneNumber, (NumberCheck, Instant)>>,
    /// Where fresh answers are kept beside the number (with their LIDs), when set.
    memory: Option<(Store, Clock)>,
}

impl NumberVerifier {
    pub fn new(session: Session, ttl: Duration) -> Self {
        Self {
            session,
            ttl,
            cache: Mutex::new(HashMap::new()),
            memory: None,
        }
    }

    /// Also keeps every fresh answer in the database (`contacts`), LID included.
    pub fn remembering(mut self, store: Store, clock: Clock) -> Self {
        self.memory = Some((store, clock));
        self
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
            if let Some((store, clock)) = &self.memory
                && let Err(e) = store.save_number_checks(fresh.clone(), clock.now_ms()).await
            {
                tracing::warn!(error = %e, "could not keep number checks");
            }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::SimulatorConfig;
    use crate::whatsapp::simulator::Simulator;

    #[tokio::test]
    async fn answers_are_cached_and_kept_beside_the_number_with_the_lid() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("wapi.db")).unwrap();
        let clock = Clock::system();
        let simulator = Simulator::start(
            SimulatorConfig {
                auto_link: true,
                not_on_whatsapp: vec![PhoneNumber::parse("15550001111").unwrap()],
                fail_sends_to: vec![],
                fail_after_sending_to: vec![],
                record: None,
                send_time: Duration::ZERO,
            },
            clock,
        )
        .unwrap();
        let verifier =
            NumberVerifier::new(Arc::new(simulator), Duration::from_secs(60)).remembering(store.clone(), clock);
        let numbers = [
            PhoneNumber::parse("15551234567").unwrap(),
            PhoneNumber::parse("15550001111").unwrap(),
        ];
        let checks = verifier.check(&numbers).await.unwrap();
        assert_eq!(checks.iter().map(|c| c.on_whatsapp).collect::<Vec<_>>(), [true, false]);
        assert_eq!(
            store.lid_of("15551234567").await.unwrap().as_deref(),
            Some("15551234567@lid")
        );
        assert_eq!(store.lid_of("15550001111").await.unwrap(), None);
        assert!(
            verifier.is_on_whatsapp(&numbers[0]).await.unwrap(),
            "answered from the cache"
        );
    }
}
