//! Per-key request budgets: one for sends (single, media, batch, number checks) and one for
//! everything else, so the dashboard's polling never eats the send budget. GCRA (governor):
//! `n` per `window` as a burst of `n` refilled evenly over the window.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::config::LimitsConfig;

type Limiter = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Send,
    Read,
}

impl Budget {
    pub fn policy_name(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::Read => "read",
        }
    }
}

/// What the `RateLimit` / `RateLimit-Policy` headers say about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateInfo {
    pub budget: Budget,
    pub limit: u32,
    pub window_secs: u64,
    pub remaining: u32,
    /// Seconds until the whole budget is back.
    pub reset_secs: u64,
    /// Set when the request was refused: seconds until one more request is allowed.
    pub retry_after: Option<u64>,
}

impl RateInfo {
    pub fn policy_header(&self) -> String {
        format!(
            "\"{}\";q={};w={}",
            self.budget.policy_name(),
            self.limit,
            self.window_secs
        )
    }

    pub fn state_header(&self) -> String {
        format!(
            "\"{}\";r={};t={}",
            self.budget.policy_name(),
            self.remaining,
            self.reset_secs
        )
    }
}

struct Bucket {
    limiter: Limiter,
    limit: NonZeroU32,
    period: Duration,
    window: Duration,
}

impl Bucket {
    fn new(limit: NonZeroU32, window: Duration, clock: &DefaultClock) -> Self {
        let period = (window / limit.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period).expect("non-zero period").allow_burst(limit);
        let limiter =
            RateLimiter::dashmap_with_clock(quota, clock.clone()).with_middleware::<StateInformationMiddleware>();
        Self {
            limiter,
            limit,
            period,
            window,
        }
    }
}

pub struct RateLimits {
    clock: DefaultClock,
    send: Bucket,
    read: Bucket,
}

impl RateLimits {
    pub fn new(cfg: &LimitsConfig) -> Self {
        let clock = DefaultClock::default();
        Self {
            send: Bucket::new(cfg.sends_per_window, cfg.window, &clock),
            read: Bucket::new(cfg.reads_per_window, cfg.window, &clock),
            clock,
        }
    }

    /// Charges one request of `key_id` to `budget`.
    pub fn check(&self, budget: Budget, key_id: &str) -> RateInfo {
        let bucket = match budget {
            Budget::Send => &self.send,
            Budget::Read => &self.read,
        };
        let limit = bucket.limit.get();
        let info = |remaining: u32, retry_after: Option<u64>| RateInfo {
            budget,
            limit,
            window_secs: bucket.window.as_secs().max(1),
            remaining,
            reset_secs: (bucket.period * (limit - remaining)).as_secs_f64().ceil() as u64,
            retry_after,
        };
        match bucket.limiter.check_key(&key_id.to_string()) {
            Ok(snapshot) => info(snapshot.remaining_burst_capacity(), None),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                info(0, Some(wait.as_secs_f64().ceil().max(1.0) as u64))
            }
        }
    }

    /// Drops the state of keys whose budget is whole again (called now and then).
    pub fn forget_idle(&self) {
        for bucket in [&self.send, &self.read] {
            bucket.limiter.retain_recent();
            bucket.limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(sends: u32, reads: u32) -> RateLimits {
        RateLimits::new(&LimitsConfig {
            sends_per_window: NonZeroU32::new(sends).unwrap(),
            reads_per_window: NonZeroU32::new(reads).unwrap(),
            window: Duration::from_secs(900),
            max_upload: 1,
            max_body: 1,
            max_text: 1,
            max_batch: 1,
        })
    }

    #[test]
    fn budgets_are_separate_and_per_key() {
        let l = limits(2, 3);
        assert_eq!(l.check(Budget::Send, "a").remaining, 1);
        assert_eq!(l.check(Budget::Send, "a").remaining, 0);
        let refused = l.check(Budget::Send, "a");
        assert_eq!(refused.remaining, 0);
        // 2 per 900 s: one more every 450 s.
        assert!((449..=450).contains(&refused.retry_after.unwrap()), "{refused:?}");
        assert_eq!(l.check(Budget::Read, "a").retry_after, None);
        assert_eq!(l.check(Budget::Send, "b").retry_after, None);
    }

    #[test]
    fn headers_follow_the_ietf_draft() {
        let info = limits(120, 1200).check(Budget::Send, "k");
        assert_eq!(info.policy_header(), "\"send\";q=120;w=900");
        assert_eq!(info.state_header(), "\"send\";r=119;t=8");
    }
}
