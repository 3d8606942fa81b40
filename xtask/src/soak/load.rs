//! The soak's load run: mixed traffic at fixed rates for many minutes against one release wapi
//! (simulator, millisecond gaps so the queue drains as it fills), measured minute by minute —
//! answers, unexpected errors, p99 per kind of request — while the process's RSS is sampled.
//! The first minutes warm up (the database grows from empty, SQLite's caches and the thread
//! pools fill); the measured minutes after them pass when nothing unexpected failed, every
//! minute's p99 stays near the usual one, RSS drifts by at most 5 %, and every accepted message
//! was sent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::bench::http;
use crate::bench::load::{self, Measured, Request};
use crate::bench::report::Report;
use crate::bench::server::{Instance, Running};
use crate::paths;

use super::disk::{self, Probe, Syncs};
use super::memory::{Sample, memory, spawn_sampler, sqlite_memory};
/// A minute's p99 may be at most this many times the median minute's (per kind of request).
const MAX_P99_SWING: f64 = 3.0;
/// How long the queue may take to drain once the load stops.
const DRAIN_WITHIN: Duration = Duration::from_secs(120);

/// One kind of request in the mix, at its own fixed rate.
struct Stream {
    name: &'static str,
    rate: u32,
    connections: u32,
    request: Request,
}

/// One stream's figures for one minute.
struct Slice {
    minute: usize,
    stream: &'static str,
    measured: Measured,
}

/// The mix: what a busy deployment sees — apps sending, dashboards and scripts polling status and
/// history, an operator creating keys. Rates are fixed (open loop), so a stall shows up in p99.
fn streams(base: &str, key: &str) -> Vec<Stream> {
    let headers = |json: bool| {
        let mut headers = vec![("X-API-Key", key.to_string())];
        if json {
            headers.push(("Content-Type", "application/json".to_string()));
        }
        headers
    };
    vec![
        Stream {
            name: "POST /api/messages",
            rate: 20,
            connections: 8,
            request: Request {
                url: format!("{base}/api/messages"),
                method: "POST",
                headers: headers(true),
                body: Some(json!({"to": "15550009999", "text": "soak: the quick brown fox"}).to_string()),
            },
        },
        Stream {
            name: "GET /api/status",
            rate: 40,
            connections: 4,
            request: Request {
                url: format!("{base}/api/status"),
                method: "GET",
                headers: headers(false),
                body: None,
            },
        },
        Stream {
            name: "GET /api/messages?limit=50",
            rate: 20,
            connections: 4,
            request: Request {
                url: format!("{base}/api/messages?limit=50"),
                method: "GET",
                headers: headers(false),
                body: None,
            },
        },
        Stream {
            name: "POST /api/keys",
            rate: 1,
            connections: 1,
            request: Request {
                url: format!("{base}/api/keys"),
                method: "POST",
                headers: headers(true),
                body: Some(json!({"name": "soak key", "role": "user"}).to_string()),
            },
        },
    ]
}

/// The measured minutes of a run, numbered from its start (the warm-up ones come first).
#[derive(Clone, Copy)]
pub struct Span {
    pub first: usize,
    pub last: usize,
}

impl Span {
    pub fn len(self) -> usize {
        self.last + 1 - self.first
    }

    fn minutes(self) -> std::ops::RangeInclusive<usize> {
        self.first..=self.last
    }
}

/// Runs the mix for `warmup` then `minutes` one-minute slices (every stream's oha in parallel),
/// then checks the measured ones.
pub fn run(
    binary: &std::path::Path,
    oha: &std::path::Path,
    scratch: &std::path::Path,
    (warmup, minutes): (usize, usize),
    report: &mut Report,
) -> Result<()> {
    let span = Span {
        first: warmup + 1,
        last: warmup + minutes,
    };
    let dir = scratch.join("load");
    std::fs::create_dir_all(&dir)?;
    let mut instance = Instance::new(binary, &dir)?;
    instance.antiban = "min_gap = \"1ms\"\nmax_gap = \"3ms\"\ntyping = false\ncooldown_every = 0".into();
    let server = instance.start().context("starting wapi for the load run")?;
    let base = format!("http://{}", server.addr);
    let streams = streams(&base, &instance.key);
    println!(
        "xtask soak: load, {warmup} min of warm-up then {minutes} measured of {} at fixed rates against {base}",
        streams
            .iter()
            .map(|s| format!("{} {}/s", s.name, s.rate))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let rss: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let sampler = spawn_sampler(server.pid(), began, rss.clone(), stop.clone());
    let probe = Probe::start(&dir, began)?;

    let mut slices = Vec::new();
    let mut failure = None;
    // SQLite's own memory at the start and the end of the measured minutes.
    let mut sqlite = Vec::new();
    for minute in 1..=span.last {
        match one_minute(oha, &streams, minute) {
            Ok(mut done) => {
                if minute + 1 == span.first || minute == span.last {
                    sqlite.extend(sqlite_memory(server.addr).map(|bytes| (minute, bytes)));
                }
                let phase = if minute < span.first { " (warm-up)" } else { "" };
                for slice in &done {
                    println!(
                        "xtask soak: minute {minute:>2}{phase} {:<28} {:>6} answers, {} non-2xx, {} errors, p50 {:.2} ms, p99 {:.2} ms",
                        slice.stream,
                        slice.measured.answers,
                        slice.measured.non_2xx,
                        slice.measured.errors,
                        slice.measured.p50_ms,
                        slice.measured.p99_ms
                    );
                }
                slices.append(&mut done);
            }
            Err(err) => {
                failure = Some(err);
                break;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let syncs = probe.finish();
    if let Some(err) = failure {
        return Err(err.context(format!("server log ends:\n{}", server.log_tail())));
    }
    let samples = rss.lock().expect("rss samples").clone();
    let drained = drain(&server, &instance.key)?;
    judge(&streams, &slices, &syncs, span, report);
    memory(&samples, &sqlite, span, report);
    settle(&slices, drained, report);
    let stopped = server.stop()?;
    // The gateway logs a write group that took 100 ms or more: what a stall in the write p99 was.
    let log = std::fs::read_to_string(dir.join("wapi.log")).unwrap_or_default();
    let kept = paths::target_dir().join("soak").join("load-wapi.log");
    if std::fs::create_dir_all(kept.parent().expect("a folder")).is_ok() && std::fs::write(&kept, &log).is_ok() {
        report.note(format!("the server's log of the load run: {}", kept.display()));
    }
    for (what, marker) in [
        ("soak: slow database commits logged (≥ 100 ms)", "slow database commit"),
        (
            "soak: slow WAL checkpoints logged (≥ 100 ms, off the write path)",
            "slow WAL checkpoint",
        ),
    ] {
        let slow: Vec<&str> = log.lines().filter(|line| line.contains(marker)).collect();
        report.info(
            what,
            match slow.as_slice() {
                [] => "0".into(),
                lines => format!("{}; the longest: {}", lines.len(), longest(lines)),
            },
        );
    }
    report.info(
        "soak: stop after the load (SIGTERM → exit)",
        format!("{} ms, {}", stopped.took.as_millis(), stopped.status),
    );
    Ok(())
}

/// One minute of every stream at once; one oha per stream.
fn one_minute(oha: &std::path::Path, streams: &[Stream], minute: usize) -> Result<Vec<Slice>> {
    let oha = oha.to_path_buf();
    std::thread::scope(|scope| {
        let handles: Vec<_> = streams
            .iter()
            .map(|stream| {
                let oha = oha.clone();
                scope.spawn(move || {
                    load::oha(
                        &oha,
                        &stream.request,
                        stream.rate,
                        stream.connections,
                        Duration::from_secs(60),
                    )
                    .with_context(|| format!("minute {minute}: {}", stream.name))
                    .map(|measured| Slice {
                        minute,
                        stream: stream.name,
                        measured,
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("an oha thread panicked"))
            .collect()
    })
}

/// What the gateway says once the load stopped and its queue drained.
struct Drained {
    took: Duration,
    accepted: u64,
    sent: u64,
}

/// Waits for the queue to be empty; reads how many messages were accepted and sent today.
fn drain(server: &Running, key: &str) -> Result<Drained> {
    let began = Instant::now();
    loop {
        let answer = http::send(server.addr, "GET", "/api/status", &[("X-API-Key", key)], "")?;
        let status: Value = serde_json::from_str(&answer.body).context("reading /api/status")?;
        let data = &status["data"];
        if data["pendingMessages"].as_u64() == Some(0) {
            return Ok(Drained {
                took: began.elapsed(),
                accepted: data["acceptedToday"].as_u64().unwrap_or(0),
                sent: data["sentToday"].as_u64().unwrap_or(0),
            });
        }
        if began.elapsed() > DRAIN_WITHIN {
            bail!(
                "the queue still holds {} messages after the load",
                data["pendingMessages"]
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Errors, and p99 steadiness per kind of request. A minute in which the disk probe saw a sync
/// stall is listed with it and not judged: a durable write waits for its sync, and no gateway is
/// steadier than the disk under it. If the disk stalled in most minutes, nothing is judged fair
/// and the check fails.
fn judge(streams: &[Stream], slices: &[Slice], syncs: &Syncs, span: Span, report: &mut Report) {
    // Errors count in every minute, the warm-up's too.
    let total: u64 = slices.iter().map(|s| s.measured.answers).sum();
    let unexpected: u64 = slices.iter().map(|s| s.measured.non_2xx + s.measured.errors).sum();
    report.check(
        &format!(
            "soak: {} min mixed load, unexpected errors (non-2xx + failed requests) of {total}",
            span.last
        ),
        unexpected.to_string(),
        "0",
        unexpected == 0,
    );
    report.raw.insert(
        "soak_slices".into(),
        slices
            .iter()
            .map(|s| json!({"minute": s.minute, "stream": s.stream, "measured": s.measured.to_json()}))
            .collect::<Vec<_>>()
            .into(),
    );
    report.raw.insert("soak_disk_syncs_ms".into(), syncs.to_json());
    if let Some((p50, p99, max)) = syncs.summary() {
        report.info(
            "soak: the disk's own sync (4 KiB + fsync every 100 ms), p50 / p99 / max",
            format!("{p50:.2} / {p99:.2} / {max:.0} ms"),
        );
    }

    let stalled: Vec<(usize, Duration)> = span
        .minutes()
        .filter_map(|m| syncs.worst_in(m).filter(|w| *w >= disk::STALL).map(|w| (m, w)))
        .collect();
    let judged = |m: usize| !stalled.iter().any(|(s, _)| *s == m);
    let judgeable = span.minutes().filter(|m| judged(*m)).count();
    report.info(
        &format!(
            "soak: minutes in which the disk's sync stalled (≥ {} ms)",
            disk::STALL.as_millis()
        ),
        if stalled.is_empty() {
            "none".into()
        } else {
            stalled
                .iter()
                .map(|(m, w)| format!("{m} ({} ms)", w.as_millis()))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    for stream in streams {
        let of_stream = |m: usize| {
            slices
                .iter()
                .find(|s| s.stream == stream.name && s.minute == m)
                .map(|s| s.measured.p99_ms)
        };
        let mut p99: Vec<f64> = span.minutes().filter(|m| judged(*m)).filter_map(of_stream).collect();
        let all: Vec<f64> = span.minutes().filter_map(of_stream).collect();
        if all.is_empty() {
            continue;
        }
        let raw_worst = all.iter().copied().fold(0.0, f64::max);
        if p99.len() * 2 < span.len() || p99.is_empty() {
            report.check(
                &format!("soak: {} p99 per minute at {}/s", stream.name, stream.rate),
                format!("worst {raw_worst:.2} ms; only {judgeable} minutes without a disk stall"),
                "steady, in most minutes",
                false,
            );
            continue;
        }
        let worst = p99.iter().copied().fold(0.0, f64::max);
        let best = p99.iter().copied().fold(f64::INFINITY, f64::min);
        let usual = median(&mut p99);
        let unjudged = if stalled.is_empty() {
            String::new()
        } else {
            format!("; {raw_worst:.2} ms with the disk's stalls")
        };
        report.check(
            &format!(
                "soak: {} p99 per minute at {}/s, best / median / worst",
                stream.name, stream.rate
            ),
            format!("{best:.2} / {usual:.2} / {worst:.2} ms{unjudged}"),
            &format!("worst ≤ {MAX_P99_SWING}× median"),
            worst <= MAX_P99_SWING * usual,
        );
    }
}

/// Every acknowledged message was sent once the load stopped.
fn settle(slices: &[Slice], drained: Drained, report: &mut Report) {
    let sends_ok: u64 = slices
        .iter()
        .filter(|s| s.stream == "POST /api/messages")
        .map(|s| s.measured.ok_2xx())
        .sum();
    report.check(
        "soak: messages acknowledged by the API / accepted today / sent today",
        format!("{sends_ok} / {} / {}", drained.accepted, drained.sent),
        "all equal",
        drained.sent == drained.accepted && drained.accepted >= sends_ok,
    );
    report.info(
        "soak: queue drained after the load",
        format!("{} ms", drained.took.as_millis()),
    );
}

/// The `took_ms` of the slowest of the gateway's "slow database commit" lines.
fn longest(lines: &[&str]) -> String {
    let took = |line: &&str| -> u64 {
        line.split("took_ms=")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(0)
    };
    lines
        .iter()
        .map(took)
        .max()
        .map_or_else(String::new, |ms| format!("{ms} ms"))
}
