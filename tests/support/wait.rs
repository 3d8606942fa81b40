//! Waiting for what the gateway does in the background — a send taking milliseconds, a
//! delivery, a restart — by polling an observable state with a deadline, never by sleeping a
//! guessed time.

use std::future::Future;
use std::time::Duration;

/// How long [`eventually`] waits.
pub const WAIT: Duration = Duration::from_secs(10);

/// How often a probe runs.
const POLL: Duration = Duration::from_millis(10);

/// Polls `probe` until it yields a value; panics naming `what` after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, WAIT, probe).await
}

/// Polls `probe` until it yields a value; panics naming `what` after `deadline`.
pub async fn eventually_within<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = tokio::time::Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}
