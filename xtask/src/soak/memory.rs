//! The soak's memory readings: the server's RSS every two seconds, SQLite's own memory from
//! `/metrics` twice (read only then: a scrape also folds the recorder's histograms, and the run
//! must see them grow if they do), and the drift of the RSS over the measured minutes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::bench::http;
use crate::bench::report::{Report, mb};
use crate::bench::server::rss_of;

use super::load::Span;

/// How often the server's RSS is read.
const RSS_EVERY: Duration = Duration::from_secs(2);
/// The RSS of the last measured minute may differ from the first one's by at most this share.
const MAX_DRIFT: f64 = 0.05;

/// One reading of the server's RSS.
#[derive(Clone, Copy)]
pub struct Sample {
    at: Duration,
    rss: u64,
}

pub fn spawn_sampler(
    pid: u32,
    began: Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if let Ok(rss) = rss_of(pid) {
                samples.lock().expect("rss samples").push(Sample {
                    at: began.elapsed(),
                    rss,
                });
            }
            std::thread::sleep(RSS_EVERY);
        }
    })
}

/// `wapi_sqlite_memory_bytes` from the server's `/metrics`.
pub fn sqlite_memory(addr: SocketAddr) -> Option<u64> {
    let answer = http::send(addr, "GET", "/metrics", &[], "").ok()?;
    answer.body.lines().find_map(|line| {
        let value = line.strip_prefix("wapi_sqlite_memory_bytes ")?;
        value.trim().parse::<f64>().ok().map(|v| v as u64)
    })
}

/// Mean RSS of the samples taken within `[from, to)`.
fn mean_rss(samples: &[Sample], from: Duration, to: Duration) -> Option<f64> {
    let window: Vec<u64> = samples
        .iter()
        .filter(|s| s.at >= from && s.at < to)
        .map(|s| s.rss)
        .collect();
    (!window.is_empty()).then(|| window.iter().sum::<u64>() as f64 / window.len() as f64)
}

/// RSS drift over the measured minutes (after the warm-up), and how much of the RSS SQLite holds.
pub fn memory(samples: &[Sample], sqlite: &[(usize, u64)], span: Span, report: &mut Report) {
    let window = |m: usize| {
        let minute = Duration::from_secs(60);
        mean_rss(samples, minute * (m as u32 - 1), minute * m as u32)
    };
    let peak = samples.iter().map(|s| s.rss).max().unwrap_or(0);
    let start = samples.first().map(|s| s.rss).unwrap_or(0);
    report.info(
        &format!(
            "soak: RSS at start / end of the warm-up (mean of minute {}) / peak",
            span.first - 1
        ),
        format!(
            "{} / {} / {}",
            mb(start),
            window(span.first - 1).map_or("—".into(), |w| mb(w as u64)),
            mb(peak)
        ),
    );
    match (window(span.first), window(span.last)) {
        (Some(first), Some(last)) if span.len() >= 2 => {
            let drift = (last - first) / first;
            report.check(
                &format!(
                    "soak: RSS drift over the measured minutes, mean of minute {} → minute {}",
                    span.first, span.last
                ),
                format!("{:+.1} % ({} → {})", drift * 100.0, mb(first as u64), mb(last as u64)),
                "≤ 5 %",
                drift.abs() <= MAX_DRIFT,
            );
        }
        _ => report.note("soak: too few measured minutes for an RSS drift figure (2 at least)".into()),
    }
    // How the second half moved: a leak keeps growing there, caches that fill flatten out.
    let half = span.first + span.len() / 2;
    if let (Some(middle), Some(last)) = (window(half), window(span.last))
        && span.len() >= 4
    {
        report.info(
            &format!(
                "soak: RSS drift over the second half, minute {half} → minute {}",
                span.last
            ),
            format!("{:+.1} %", (last - middle) / middle * 100.0),
        );
    }
    if let [(from, before), .., (to, after)] = sqlite {
        report.info(
            &format!("soak: SQLite's own memory (its caches grow with the database), end of minute {from} → {to}"),
            format!("{} → {}", mb(*before), mb(*after)),
        );
    }
    report.raw.insert(
        "soak_rss".into(),
        samples
            .iter()
            .map(|s| json!([s.at.as_secs_f64(), s.rss]))
            .collect::<Vec<_>>()
            .into(),
    );
}
