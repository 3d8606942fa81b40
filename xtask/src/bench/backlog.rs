//! Figures 3 and 4: idle RSS, then reads and RSS with 1,000,000 queued rows against the same server empty.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::load::{self, Measured, Request, Shape};
use super::report::{Report, mb, mb_delta};
use super::server::{Instance, Running};
use super::{Tools, clip, db, http};

const QUEUED: u64 = 1_000_000;
/// How long a fresh server sits idle before its RSS is read.
const IDLE_FOR: Duration = Duration::from_secs(5);
/// Reads are timed one at a time: one connection, so p50 is the cost of a request, not of queueing.
const READ_LOAD: Shape = Shape {
    threads: 1,
    connections: 1,
    duration: Duration::from_secs(5),
};
const READ_PATHS: [&str; 2] = ["/api/status", "/api/messages?limit=50"];

/// RSS and read latency of one server state.
struct State {
    idle_rss: u64,
    reads: Vec<Measured>,
    rss_after_reads: u64,
}

pub fn run(tools: &Tools, binary: &Path, report: &mut Report) -> Result<()> {
    println!("xtask bench: idle server, then 1,000,000 queued");
    let dir = tools.scratch.path().join("backlog");
    std::fs::create_dir_all(&dir)?;
    let instance = Instance::new(binary, &dir)?;

    let server = instance.start()?;
    let empty = observe(tools, &server, &instance, report, "empty")?;
    server.stop()?;
    report.check(
        "idle RSS (simulator, empty db, 5 s after start)",
        mb(empty.idle_rss),
        "≤ 20 MB",
        empty.idle_rss <= 20_000_000,
    );

    let began = Instant::now();
    db::seed_queued(&instance.db, QUEUED)?;
    let seeded_in = began.elapsed();
    let server = instance.start()?;
    let started_in = server.started_in;
    let full = observe(tools, &server, &instance, report, "full")?;
    server.stop()?;

    report.info(
        "seed 1,000,000 queued rows (one transaction, server stopped)",
        format!("{:.1} s", seeded_in.as_secs_f64()),
    );
    report.info(
        "start to /healthz 200 with 1,000,000 queued",
        format!("{:.2} s", started_in.as_secs_f64()),
    );
    for ((path, at_full), at_empty) in READ_PATHS.iter().zip(&full.reads).zip(&empty.reads) {
        report.check(
            &format!("GET {path} p50, 1,000,000 queued (wrk 1 conn)"),
            format!(
                "{:.2} ms (p99 {:.2} ms; empty db p50 {:.2} ms)",
                at_full.p50_ms, at_full.p99_ms, at_empty.p50_ms
            ),
            "≤ 2 ms",
            at_full.p50_ms <= 2.0,
        );
    }
    let more = full.rss_after_reads.saturating_sub(empty.rss_after_reads);
    report.check(
        "RSS with 1,000,000 queued minus empty (both after the reads)",
        format!(
            "{} ({} vs {})",
            mb_delta(full.rss_after_reads, empty.rss_after_reads),
            mb(full.rss_after_reads),
            mb(empty.rss_after_reads)
        ),
        "≤ 20 MB more",
        more <= 20_000_000,
    );
    report.info(
        "idle RSS with 1,000,000 queued minus empty",
        format!(
            "{} ({} vs {})",
            mb_delta(full.idle_rss, empty.idle_rss),
            mb(full.idle_rss),
            mb(empty.idle_rss)
        ),
    );
    Ok(())
}

/// Idle RSS, one checked answer and a timed run per read path, then RSS again.
fn observe(tools: &Tools, server: &Running, instance: &Instance, report: &mut Report, label: &str) -> Result<State> {
    std::thread::sleep(IDLE_FOR);
    let idle_rss = server.rss_bytes()?;
    let mut reads = Vec::new();
    for path in READ_PATHS {
        let answer = http::send(server.addr, "GET", path, &[("X-API-Key", &instance.key)], "")?;
        report.raw.insert(
            format!("{label} GET {path}"),
            clip(&format!("{} {}", answer.status, answer.body), 600),
        );
        if answer.status != 200 {
            bail!("GET {path} answered {} ({label} db): {}", answer.status, answer.body);
        }
        let request = Request {
            url: format!("http://{}{path}", server.addr),
            method: "GET",
            headers: vec![("X-API-Key", instance.key.clone())],
            body: None,
        };
        let measured = load::wrk(&tools.wrk, tools.scratch.path(), &request, &READ_LOAD)?;
        if measured.non_2xx > 0 || measured.errors > 0 {
            report.note(format!(
                "GET {path} ({label} db): {} non-2xx, {} unanswered",
                measured.non_2xx, measured.errors
            ));
        }
        report.raw.insert(format!("{label}_read {path}"), measured.to_json());
        reads.push(measured);
    }
    let rss_after_reads = server.rss_bytes()?;
    report.raw.insert(
        format!("{label}_rss"),
        serde_json::json!({"idle": idle_rss, "after_reads": rss_after_reads}),
    );
    Ok(State {
        idle_rss,
        reads,
        rss_after_reads,
    })
}
