//! The gateway's one source of wall-clock time.
//!
//! UTC time is derived from tokio's monotonic clock and a starting instant, so a paused tokio
//! clock in tests moves the calendar too, and `WAPI_CLOCK_START` (RFC 3339) lets end-to-end tests
//! start the real binary a few seconds before a UTC midnight.

use chrono::{DateTime, Days, NaiveDate, Utc};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin_utc: DateTime<Utc>,
    origin: Instant,
}

impl Clock {
    /// The system's time, advancing with tokio's clock.
    pub fn system() -> Self {
        Self::starting_at(Utc::now())
    }

    /// A clock that reads `start` now and advances with tokio's clock.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            origin_utc: start,
            origin: Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = Instant::now().saturating_duration_since(self.origin);
        self.origin_utc + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
    }

    /// Unix milliseconds, as stored in the database.
    pub fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    pub fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }

    /// How long until the next UTC midnight (when the daily cap resets).
    pub fn until_midnight(&self) -> Duration {
        until_next_midnight(self.now())
    }
}

pub fn until_next_midnight(now: DateTime<Utc>) -> Duration {
    let tomorrow = now
        .date_naive()
        .checked_add_days(Days::new(1))
        .unwrap_or(now.date_naive());
    let midnight = tomorrow.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(now);
    (midnight - now).to_std().unwrap_or(Duration::ZERO)
}

/// Formats Unix milliseconds as RFC 3339 with milliseconds (`2026-11-28T14:29:48.123Z`).
pub fn rfc3339_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calendar_follows_the_paused_clock() {
        let start: DateTime<Utc> = "2026-11-28T23:59:58Z".parse().unwrap();
        let clock = Clock::starting_at(start);
        assert_eq!(clock.today().to_string(), "2026-11-28");
        assert_eq!(clock.until_midnight(), Duration::from_secs(2));
        tokio::time::advance(Duration::from_millis(2500)).await;
        assert_eq!(clock.today().to_string(), "2026-11-29");
        assert_eq!(clock.until_midnight(), Duration::from_millis(86_400_000 - 500));
    }

    #[test]
    fn timestamps_have_milliseconds() {
        assert_eq!(rfc3339_ms(1_764_340_188_123), "2025-11-28T14:29:48.123Z");
    }
}
