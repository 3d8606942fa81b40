//! Per-plugin counters: calls, failures and call latency (p50/p99), kept across reloads of the
//! same name, shown by `GET /api/plugins` and exported to `/metrics`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

pub struct Stats {
    calls: AtomicU64,
    failures: AtomicU64,
    /// Microseconds, 1 µs to 60 s at 3 significant figures.
    latency: Mutex<Histogram<u64>>,
}

/// A reading of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StatsView {
    pub calls: u64,
    pub failures: u64,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            latency: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")),
        }
    }
}

impl Stats {
    /// Records one call of `plugin`'s `hook`.
    pub fn record(&self, plugin: &str, hook: &'static str, took: Duration, failed: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let micros = (took.as_micros() as u64).clamp(1, 60_000_000);
        self.latency
            .lock()
            .expect("latency histogram")
            .saturating_record(micros);
        let labels = [("plugin", plugin.to_string()), ("hook", hook.to_string())];
        metrics::counter!("wapi_plugin_calls_total", &labels).increment(1);
        metrics::histogram!("wapi_plugin_call_seconds", &labels).record(took.as_secs_f64());
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("wapi_plugin_failures_total", &labels).increment(1);
        }
    }

    /// Counts a call that returned but whose answer was unusable as a failure.
    pub fn unusable(&self, plugin: &str, hook: &'static str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let labels = [("plugin", plugin.to_string()), ("hook", hook.to_string())];
        metrics::counter!("wapi_plugin_failures_total", &labels).increment(1);
    }

    pub fn view(&self) -> StatsView {
        let latency = self.latency.lock().expect("latency histogram");
        let quantile = |q: f64| (!latency.is_empty()).then(|| latency.value_at_quantile(q));
        StatsView {
            calls: self.calls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            p50_us: quantile(0.5),
            p99_us: quantile(0.99),
        }
    }
}
