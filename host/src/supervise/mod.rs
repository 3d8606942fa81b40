//! Supervision: every long-lived part of the gateway runs under a name, and none dies silently.
//!
//! A task is spawned through the [`Supervisor`]; one that ends while the gateway is not stopping,
//! or panics, is logged with its cause (the panic's message) and marked down in the [`Health`]
//! registry, which `/healthz` reads. A part whose state is in the database, or which holds none,
//! is started again after a back-off ([`Supervisor::spawn_restarting`]) and marked up once it
//! runs again; one that cannot be started again ([`Supervisor::spawn_once`]) stays down. Threads
//! report through [`run_thread`]. Which part is restarted, and why, is decided where it is
//! spawned (`app.rs`).

pub mod fault;

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The wait before the first restart of a part, doubled after each failure up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A part that ran this long before it ended starts its back-off over from [`FIRST_BACKOFF`].
pub const STABLE: Duration = Duration::from_secs(60);

/// Which parts are down now, and why: a cheap-clone handle shared by the supervisor, the
/// store's threads and `/healthz`.
#[derive(Clone, Default)]
pub struct Health {
    inner: Arc<Registry>,
}

#[derive(Default)]
struct Registry {
    down: Mutex<BTreeMap<&'static str, String>>,
    faults: fault::Faults,
}

impl Health {
    /// The names of the parts that are down, in name order; empty when all is well.
    pub fn down(&self) -> Vec<&'static str> {
        self.lock().keys().copied().collect()
    }

    /// Why `part` is down, if it is.
    pub fn cause(&self, part: &str) -> Option<String> {
        self.lock().get(part).cloned()
    }

    /// Marks `part` down with its cause (the caller logs it).
    pub fn report_down(&self, part: &'static str, cause: String) {
        metrics::counter!("wapi_part_failures_total", "part" => part).increment(1);
        self.lock().insert(part, cause);
    }

    /// Marks `part` up again.
    pub fn report_up(&self, part: &'static str) {
        if self.lock().remove(part).is_some() {
            tracing::info!(part, "part of the gateway running again");
        }
    }

    /// The fault hooks of this gateway (armed only in test builds).
    pub fn faults(&self) -> &fault::Faults {
        &self.inner.faults
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, String>> {
        // A panic while the map is held leaves it whole (inserts and removes do not unwind
        // half-way): the registry stays usable.
        self.inner.down.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What makes a part's task, once per start: `FnMut() -> impl Future` under a name that a
/// function can return (`impl Trait` may not stand in a closure's return type).
pub trait Start: Send + 'static {
    type Task: Future<Output = ()> + Send + 'static;
    fn start(&mut self) -> Self::Task;
}

impl<F, Fut> Start for F
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    type Task = Fut;
    fn start(&mut self) -> Fut {
        self()
    }
}

/// Spawns the gateway's tasks by name and watches them until [`Supervisor::join`].
pub struct Supervisor {
    health: Health,
    shutdown: CancellationToken,
    watchers: Vec<JoinHandle<()>>,
}

impl Supervisor {
    /// Parts end on `shutdown`; one that ends before it is reported to `health`.
    pub fn new(health: Health, shutdown: CancellationToken) -> Self {
        Self {
            health,
            shutdown,
            watchers: Vec::new(),
        }
    }

    /// Runs the part `start` makes, and makes it again after a back-off each time it panics or
    /// ends while the gateway is not stopping. For parts whose state survives them (in the
    /// database, or nowhere).
    pub fn spawn_restarting(&mut self, part: &'static str, start: impl Start) {
        let watcher = self.watch(part, Restart::Yes, start);
        self.watchers.push(tokio::spawn(watcher));
    }

    /// Runs `task` once: if it panics or ends while the gateway is not stopping, it is reported
    /// down and stays down. For parts that own what a new start could not get back.
    pub fn spawn_once<Fut>(&mut self, part: &'static str, task: Fut)
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut task = Some(task);
        let watcher = self.watch(part, Restart::No, move || {
            let task = task.take();
            async move {
                if let Some(task) = task {
                    task.await;
                }
            }
        });
        self.watchers.push(tokio::spawn(watcher));
    }

    /// Waits until every part has ended (after `shutdown` was cancelled).
    pub async fn join(mut self) {
        let watchers = std::mem::take(&mut self.watchers);
        for watcher in futures_util::future::join_all(watchers).await {
            if let Err(e) = watcher {
                tracing::error!(error = %e, "a supervisor's watcher failed");
            }
        }
    }

    fn watch<S: Start>(&self, part: &'static str, restart: Restart, mut start: S) -> impl Future<Output = ()> + use<S> {
        let (health, shutdown) = (self.health.clone(), self.shutdown.clone());
        async move {
            let mut backoff = FIRST_BACKOFF;
            loop {
                let started = Instant::now();
                let task = health.faults().guard(part, start.start());
                let Some(cause) = unexpected_end(tokio::spawn(task).await, &shutdown) else {
                    return;
                };
                health.report_down(part, cause.clone());
                if restart == Restart::No || shutdown.is_cancelled() {
                    tracing::error!(part, %cause, "part of the gateway stopped; it is not restarted");
                    return;
                }
                if started.elapsed() >= STABLE {
                    backoff = FIRST_BACKOFF;
                }
                tracing::error!(
                    part,
                    %cause,
                    restart_in_s = backoff.as_secs_f32(),
                    "part of the gateway stopped; restarting it"
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                health.report_up(part);
            }
        }
    }
}

/// A supervisor dropped without [`Supervisor::join`] (a start that failed half-way) stops its
/// parts rather than leave them running unowned.
impl Drop for Supervisor {
    fn drop(&mut self) {
        if !self.watchers.is_empty() {
            self.shutdown.cancel();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restart {
    Yes,
    No,
}

/// Why a part's task ended, unless it ended because the gateway is stopping. A panic is a cause
/// even then: it is a bug whenever it happens.
fn unexpected_end(ended: Result<(), JoinError>, shutdown: &CancellationToken) -> Option<String> {
    match ended {
        Ok(()) if shutdown.is_cancelled() => None,
        Ok(()) => Some("ended while the gateway was not stopping".into()),
        Err(e) if e.is_panic() => Some(format!("panicked: {}", panic_message(&*e.into_panic()))),
        // Only a runtime that shuts down cancels a part's task: the gateway is going away.
        Err(_) => None,
    }
}

/// Runs a long-lived thread's body. A panic that escapes it is logged with its message and
/// reports `part` down for good: threads are not restarted (each says why where it starts).
pub fn run_thread(health: &Health, part: &'static str, body: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        let cause = format!("panicked: {}", panic_message(&*panic));
        tracing::error!(part, %cause, "thread of the gateway stopped; it is not restarted");
        health.report_down(part, cause);
    }
}

/// The message a panic carries (`panic!("…")` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests;
