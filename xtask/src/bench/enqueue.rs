//! Figure 2: wapi's durable enqueue (`POST /api/messages`) at max load and at 2,000 req/s, then durability.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::load::{self, Measured, Request, Shape};
use super::report::{Report, mb};
use super::server::{Instance, Running, Stopped};
use super::{MAX_LOAD, Tools, WARM_UP, clip, db, http};

/// The body every enqueue request sends.
pub const BODY: &str = r#"{"to":"15551234567","text":"bench message"}"#;

/// The fixed request rate and how long it is held.
const FIXED_RATE: u32 = 2_000;
const FIXED_FOR: Duration = Duration::from_secs(10);
const FIXED_CONNECTIONS: u32 = 32;

/// What the enqueue runs produced, before it is put in the table.
struct Outcome {
    /// Warm-up, max load, fixed rate, in that order.
    runs: Vec<Measured>,
    acked: u64,
    rows: u64,
    rss_loaded: u64,
    stopped: Stopped,
}

pub fn run(tools: &Tools, binary: &Path, baseline_rps: f64, report: &mut Report) -> Result<()> {
    println!("xtask bench: wapi durable enqueue");
    let outcome = measure(tools, binary, report)?;
    tabulate(&outcome, baseline_rps, report);
    Ok(())
}

fn measure(tools: &Tools, binary: &Path, report: &mut Report) -> Result<Outcome> {
    let dir = tools.scratch.path().join("enqueue");
    std::fs::create_dir_all(&dir)?;
    let instance = Instance::new(binary, &dir)?;
    let server = instance.start()?;
    let request = Request {
        url: format!("http://{}/api/messages", server.addr),
        method: "POST",
        headers: vec![
            ("Content-Type", "application/json".into()),
            ("X-API-Key", instance.key.clone()),
        ],
        body: Some(BODY.into()),
    };
    let mut acked = check_answer(&server, &instance.key, report)?;
    let mut runs = Vec::new();
    for shape in [&WARM_UP, &MAX_LOAD] {
        runs.push(load::wrk(&tools.wrk, tools.scratch.path(), &request, shape).context("wrk against wapi")?);
    }
    runs.push(match &tools.oha {
        Some(oha) => load::oha(oha, &request, FIXED_RATE, FIXED_CONNECTIONS, FIXED_FOR)?,
        None => {
            let shape = Shape {
                threads: 2,
                connections: 20,
                duration: FIXED_FOR,
            };
            load::wrk_paced(&tools.wrk, tools.scratch.path(), &request, &shape, FIXED_RATE)?
        }
    });
    acked += check_answer(&server, &instance.key, report)?;
    let rss_loaded = server.rss_bytes()?;
    let stopped = server.stop()?;
    acked += runs.iter().map(Measured::ok_2xx).sum::<u64>();
    let rows = db::count_messages(&instance.db)?;
    Ok(Outcome {
        runs,
        acked,
        rows,
        rss_loaded,
        stopped,
    })
}

fn tabulate(outcome: &Outcome, baseline_rps: f64, report: &mut Report) {
    let Outcome {
        runs,
        acked,
        rows,
        rss_loaded,
        stopped,
    } = outcome;
    let (max, fixed) = (&runs[1], &runs[2]);
    for (name, run) in ["warm_up", "max", "fixed_rate"].iter().zip(runs) {
        report.raw.insert(format!("enqueue_{name}"), run.to_json());
    }
    report.info(
        "wapi POST /api/messages: max throughput (wrk 2 threads, 64 conns, 10 s)",
        format!("{:.0} req/s", max.rps),
    );
    report.info(
        "wapi: p50 / p99 at max load",
        format!("{:.2} ms / {:.2} ms", max.p50_ms, max.p99_ms),
    );
    let ratio = max.rps / baseline_rps;
    report.check(
        "wapi / bare hyper throughput",
        format!("{ratio:.2}"),
        "≥ 0.40",
        ratio >= 0.4,
    );
    let non_2xx: u64 = runs.iter().map(|run| run.non_2xx).sum();
    let errors: u64 = runs.iter().map(|run| run.errors).sum();
    report.check(
        "non-2xx answers / unanswered requests (all enqueue runs)",
        format!(
            "{non_2xx} / {errors} of {}",
            runs.iter().map(|run| run.answers).sum::<u64>()
        ),
        "0 / 0",
        non_2xx == 0 && errors == 0,
    );
    let fixed_label = format!("at {FIXED_RATE} req/s for {} s ({})", FIXED_FOR.as_secs(), fixed.tool);
    report.info(
        &format!("wapi: p50 {fixed_label}"),
        format!("{:.2} ms (held {:.0} req/s)", fixed.p50_ms, fixed.rps),
    );
    report.check(
        &format!("wapi: p99 {fixed_label}"),
        format!("{:.2} ms", fixed.p99_ms),
        "≤ 10 ms",
        fixed.p99_ms <= 10.0,
    );
    // Rows beyond the acknowledged ones are requests in flight when a load run ended: at most one
    // per connection per run (wrk and oha drop them unanswered).
    let in_flight_bound: u64 = [WARM_UP.connections, MAX_LOAD.connections, FIXED_CONNECTIONS]
        .iter()
        .map(|&c| u64::from(c))
        .sum();
    let unacked = rows.saturating_sub(*acked);
    if unacked > in_flight_bound {
        report.note(format!("{unacked} rows were never acknowledged, more than the {in_flight_bound} requests that can have been in flight"));
    }
    report.check(
        "durability: rows in messages vs 2xx answers",
        format!("{rows} rows, {acked} acknowledged (+{unacked} in flight at run ends)"),
        "rows ≥ acknowledged",
        rows >= acked,
    );
    report.info("wapi RSS after the enqueue runs", mb(*rss_loaded));
    let killed = if stopped.killed { " (SIGKILLed)" } else { "" };
    report.info(
        "SIGTERM to exit after the enqueue runs",
        format!("{:.2} s, {}{killed}", stopped.took.as_secs_f64(), stopped.status),
    );
}

/// Sends one enqueue request and checks the answer's envelope; returns 1 if it was acknowledged (2xx).
fn check_answer(server: &Running, key: &str, report: &mut Report) -> Result<u64> {
    let headers = [("Content-Type", "application/json"), ("X-API-Key", key)];
    let answer = http::send(server.addr, "POST", "/api/messages", &headers, BODY)?;
    report.raw.insert(
        "enqueue_sample_answer".into(),
        clip(&format!("{} {}", answer.status, answer.body), 400),
    );
    if !matches!(answer.status, 200 | 202) {
        bail!("POST /api/messages answered {}: {}", answer.status, answer.body);
    }
    let json: Value =
        serde_json::from_str(&answer.body).with_context(|| format!("answer is not JSON: {}", answer.body))?;
    let shaped = json["success"] == true
        && json["data"]["id"].is_u64()
        && json["data"]["status"] == "queued"
        && json["error"] == ""
        && json["code"] == "";
    if !shaped {
        report.note(format!(
            "POST /api/messages answered {} with an unexpected envelope: {}",
            answer.status, answer.body
        ));
    }
    Ok(1)
}
