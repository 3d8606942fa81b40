//! Per-plugin counters: calls, failures and call latency (p50/p99), kept across reloads of the
//! same name, shown by `GET /api/plugins` and exported to `/metrics`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use metrics::{Counter, Histogram as MetricHistogram};

use super::Hook;

/// The exported series of one hook of one plugin, registered once (not per call).
struct Series {
    calls: Counter,
    failures: Counter,
    seconds: MetricHistogram,
}

impl Series {
    fn new(plugin: &str, hook: Hook) -> Self {
        let labels = [("plugin", plugin.to_string()), ("hook", hook.as_str().to_string())];
        Self {
            calls: metrics::counter!("wapi_plugin_calls_total", &labels),
            failures: metrics::counter!("wapi_plugin_failures_total", &labels),
            seconds: metrics::histogram!("wapi_plugin_call_seconds", &labels),
        }
    }
}

pub struct Stats {
    calls: AtomicU64,
    failures: AtomicU64,
    /// Microseconds, 1 µs to 60 s at 3 significant figures.
    latency: Mutex<Histogram<u64>>,
    /// Indexed like [`Hook`]: template, filter, events.
    series: [Series; 3],
}

/// A reading of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StatsView {
    pub calls: u64,
    pub failures: u64,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
}

impl Stats {
    pub fn new(plugin: &str) -> Self {
        Self {
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            latency: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")),
            series: [Hook::Template, Hook::Filter, Hook::Events].map(|hook| Series::new(plugin, hook)),
        }
    }

    /// Records one call of `hook`.
    pub fn record(&self, hook: Hook, took: Duration, failed: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let micros = (took.as_micros() as u64).clamp(1, 60_000_000);
        self.latency
            .lock()
            .expect("latency histogram")
            .saturating_record(micros);
        let series = &self.series[hook as usize];
        series.calls.increment(1);
        series.seconds.record(took.as_secs_f64());
        if failed {
            self.unusable(hook);
        }
    }

    /// Counts a failure: a failed call, or a call whose answer was unusable.
    pub fn unusable(&self, hook: Hook) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.series[hook as usize].failures.increment(1);
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
