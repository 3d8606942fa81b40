//! The delivery worker: one task that starts due attempts in `next_attempt_at` order, at most
//! `webhooks.concurrency` at once, each bounded by `webhooks.timeout`. An attempt resolves the
//! host once, checks every address, connects only to those, POSTs the signed payload and records
//! the outcome: delivered (2xx), the next retry, or the dead letter when the schedule is spent.
//! On shutdown it starts nothing new and lets the attempts in flight finish.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::target::{self, Target, TargetHost};
use super::{PluginSettings, Shared, sign};
use crate::store::{AttemptRecord, DeliveryRecord, StoreError};

/// How much of a receiver's answer is read; the rest is dropped with the connection.
const MAX_RESPONSE: usize = 64 * 1024;
/// How much of a refusing receiver's answer is kept in `last_error`.
const ERROR_EXCERPT: usize = 200;
/// Delivered rows are kept this long for `GET /api/webhooks/deliveries/{id}`, then purged.
const KEEP_DELIVERED: Duration = Duration::from_secs(7 * 24 * 3600);
const PURGE_EVERY: Duration = Duration::from_secs(3600);
const AGENT: &str = concat!("wapi/", env!("CARGO_PKG_VERSION"));

/// The wait before the next attempt after failed attempt number `attempt` (1-based), or `None`
/// when the schedule is spent and the delivery is dead-lettered: a schedule of n waits allows
/// n + 1 attempts.
pub fn retry_after(schedule: &[Duration], attempt: u32) -> Option<Duration> {
    let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
    schedule.get(index).copied()
}

/// Attempts in flight, by task and by delivery.
#[derive(Default)]
struct InFlight {
    tasks: JoinSet<()>,
    ids: HashMap<Id, String>,
    busy: HashSet<String>,
}

impl InFlight {
    fn finished(&mut self, task: Id) {
        if let Some(delivery) = self.ids.remove(&task) {
            self.busy.remove(&delivery);
        }
        metrics::gauge!("wapi_webhook_attempts_in_flight").set(self.tasks.len() as f64);
    }
}

pub(super) async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut flight = InFlight::default();
    let mut purge = tokio::time::interval(PURGE_EVERY);
    tracing::info!(concurrency = shared.config.concurrency, "webhook worker started");
    loop {
        let next = match start_due(&shared, &mut flight).await {
            Ok(next) => next,
            Err(e) => {
                tracing::error!(error = %e, "webhooks: database error; retrying in 1s");
                Some(Duration::from_secs(1))
            }
        };
        let wait = async {
            match next {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = shared.wake.notified() => {}
            Some(done) = flight.tasks.join_next_with_id() => flight.finished(task_id(&done)),
            _ = wait => {}
            _ = purge.tick() => purge_delivered(&shared).await,
        }
    }
    drain(&shared, flight).await;
    tracing::info!("webhook worker stopped");
}

fn task_id(done: &Result<(Id, ()), tokio::task::JoinError>) -> Id {
    match done {
        Ok((id, ())) => *id,
        Err(e) => {
            tracing::error!(error = %e, "a webhook attempt panicked; the delivery will be attempted again");
            e.id()
        }
    }
}

/// Starts the due deliveries that fit; returns how long until the next one is due, if it is
/// not (a finishing attempt or a new delivery wakes the worker otherwise).
async fn start_due(shared: &Arc<Shared>, flight: &mut InFlight) -> Result<Option<Duration>, StoreError> {
    let mut free = shared.config.concurrency.saturating_sub(flight.tasks.len());
    if free == 0 {
        return Ok(None);
    }
    // Enough rows to see `free` candidates past the ones already in flight, and one more.
    let rows = shared.store.pending_deliveries(flight.busy.len() + free + 1).await?;
    let now = shared.clock.now_ms();
    for row in rows {
        if flight.busy.contains(&row.id) {
            continue;
        }
        let due = row.next_attempt_at.unwrap_or(now);
        if due > now {
            return Ok(Some(Duration::from_millis((due - now) as u64)));
        }
        if free == 0 {
            return Ok(None);
        }
        free -= 1;
        flight.busy.insert(row.id.clone());
        let delivery = row.id.clone();
        let handle = flight.tasks.spawn(attempt(shared.clone(), row));
        flight.ids.insert(handle.id(), delivery);
    }
    metrics::gauge!("wapi_webhook_attempts_in_flight").set(flight.tasks.len() as f64);
    Ok(None)
}

/// After shutdown: the attempts in flight finish (each is bounded by the timeout); any still
/// running after that and a margin are dropped and will be attempted again at the next start.
async fn drain(shared: &Shared, mut flight: InFlight) {
    if flight.tasks.is_empty() {
        return;
    }
    tracing::info!(
        in_flight = flight.tasks.len(),
        "webhooks: letting attempts in flight finish"
    );
    let bound = shared.config.timeout + Duration::from_secs(2);
    let all = async { while flight.tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(bound, all).await.is_err() {
        tracing::warn!("webhooks: attempts still running at shutdown were dropped; they will be attempted again");
        flight.tasks.abort_all();
    }
}

async fn purge_delivered(shared: &Shared) {
    let before = shared.clock.now_ms() - KEEP_DELIVERED.as_millis() as i64;
    match shared.store.purge_delivered(before).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(n, "old delivered webhooks purged"),
        Err(e) => tracing::warn!(error = %e, "could not purge delivered webhooks"),
    }
}

/// Why an attempt failed.
#[derive(Debug)]
struct Failure {
    /// The receiver's status, when it answered.
    status: Option<u16>,
    error: String,
    /// The metrics label: `http_status`, `timeout`, `connection`, `refused` or `unsignable`.
    kind: &'static str,
}

impl Failure {
    fn new(kind: &'static str, error: impl Into<String>) -> Self {
        Self {
            status: None,
            error: error.into(),
            kind,
        }
    }
}

/// One attempt of one delivery, from the request to the recorded outcome.
async fn attempt(shared: Arc<Shared>, row: DeliveryRecord) {
    let n = row.attempts + 1;
    let started = Instant::now();
    let result = match shared.settings(&row.plugin) {
        Ok(settings) => post(&shared, settings, &row).await,
        Err(why) => Err(Failure::new("unsignable", why)),
    };
    let elapsed = started.elapsed();
    metrics::histogram!("wapi_webhook_attempt_duration_seconds").record(elapsed.as_secs_f64());
    let now = shared.clock.now_ms();
    let host = host_of(&row.url);
    let (record, outcome) = match result {
        Ok(status) => {
            tracing::info!(delivery = %row.id, plugin = %row.plugin, %host, attempt = n, status, "webhook delivered");
            metrics::counter!("wapi_webhook_attempts_total", "result" => "delivered").increment(1);
            (AttemptRecord::Delivered { status }, "delivered")
        }
        Err(failure) => {
            metrics::counter!("wapi_webhook_attempts_total", "result" => failure.kind).increment(1);
            // Without a secret nothing can be signed: retrying would not help.
            let wait = (failure.kind != "unsignable")
                .then(|| retry_after(&shared.config.retry_schedule, n))
                .flatten();
            let Failure { status, error, .. } = failure;
            match wait {
                Some(wait) => {
                    tracing::warn!(delivery = %row.id, plugin = %row.plugin, %host, attempt = n, status, %error,
                        retry_in = ?wait, "webhook attempt failed");
                    let at = now + wait.as_millis() as i64;
                    (AttemptRecord::Retry { status, error, at }, "retry")
                }
                None => {
                    tracing::warn!(delivery = %row.id, plugin = %row.plugin, %host, attempt = n, status, %error,
                        "webhook dead-lettered");
                    (AttemptRecord::DeadLetter { status, error }, "dead_lettered")
                }
            }
        }
    };
    if outcome != "retry" {
        metrics::counter!("wapi_webhook_deliveries_total", "outcome" => outcome).increment(1);
    }
    if let Err(e) = shared.store.finish_attempt(&row.id, n, record, now).await {
        tracing::error!(delivery = %row.id, error = %e, "could not record a webhook attempt; it will be made again");
    }
}

/// The URL's host, for logs (never the whole URL: its path or query may carry a token).
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

/// Checks the target again (the policy or DNS may have changed), then sends within the timeout.
async fn post(shared: &Shared, settings: &PluginSettings, row: &DeliveryRecord) -> Result<u16, Failure> {
    let target = target::check_url(&row.url, settings.allow_private).map_err(|e| Failure::new("refused", e))?;
    let timeout = shared.config.timeout;
    tokio::time::timeout(timeout, send(shared, settings, &target, row))
        .await
        .unwrap_or_else(|_| {
            Err(Failure::new(
                "timeout",
                format!("timed out: no answer within {timeout:?}"),
            ))
        })
}

async fn send(
    shared: &Shared,
    settings: &PluginSettings,
    target: &Target,
    row: &DeliveryRecord,
) -> Result<u16, Failure> {
    let timeout = shared.config.timeout;
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout);
    if let TargetHost::Name(name) = &target.host {
        // Resolved once; the connection goes only to the addresses checked here.
        let addrs: Vec<SocketAddr> = shared
            .resolver
            .lookup(name, target.port)
            .await
            .map_err(|e| Failure::new("connection", format!("cannot resolve {name}: {e}")))?;
        target::check_resolved(name, &addrs, settings.allow_private).map_err(|e| Failure::new("refused", e))?;
        builder = builder.resolve_to_addrs(name, &addrs);
    }
    let client = builder
        .build()
        .map_err(|e| Failure::new("connection", format!("cannot build the HTTP client: {e}")))?;
    let timestamp = shared.clock.now().timestamp();
    let response = client
        .post(target.url.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, AGENT)
        .header("webhook-id", &row.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            sign::signature(&settings.secret, &row.id, timestamp, &row.payload),
        )
        .body(row.payload.clone())
        .send()
        .await
        .map_err(request_failure)?;
    let status = response.status();
    let excerpt = read_capped(response).await;
    if status.is_success() {
        return Ok(status.as_u16());
    }
    let error = match excerpt.is_empty() {
        true => format!("HTTP {status}"),
        false => format!("HTTP {status}: {excerpt}"),
    };
    Err(Failure {
        status: Some(status.as_u16()),
        error,
        kind: "http_status",
    })
}

/// A request error with its causes, without the URL.
fn request_failure(e: reqwest::Error) -> Failure {
    let kind = if e.is_timeout() { "timeout" } else { "connection" };
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    Failure::new(kind, text)
}

/// Reads at most [`MAX_RESPONSE`] bytes of the answer; returns the start of it as one line.
async fn read_capped(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_RESPONSE {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_RESPONSE - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    let line: String = String::from_utf8_lossy(&body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ERROR_EXCERPT)
        .collect();
    line.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_gives_the_wait_after_each_failed_attempt_then_runs_out() {
        let s = |secs: &[u64]| secs.iter().map(|&n| Duration::from_secs(n)).collect::<Vec<_>>();
        let schedule = s(&[5, 300, 1800]);
        assert_eq!(retry_after(&schedule, 1), Some(Duration::from_secs(5)));
        assert_eq!(retry_after(&schedule, 2), Some(Duration::from_secs(300)));
        assert_eq!(retry_after(&schedule, 3), Some(Duration::from_secs(1800)));
        // Attempt 4 was the last one the schedule allows: 3 waits, 4 attempts.
        assert_eq!(retry_after(&schedule, 4), None);
        assert_eq!(retry_after(&schedule, 0), None);
        assert_eq!(retry_after(&[], 1), None);
        assert_eq!(retry_after(&schedule, u32::MAX), None);
    }
}
