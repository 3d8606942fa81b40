//! Load generators: wrk for maximum throughput (and a paced fallback), oha for a fixed request rate.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// One HTTP request, sent over and over.
pub struct Request {
    pub url: String,
    pub method: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

/// What one load run measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub tool: &'static str,
    /// Complete answers, whatever their status.
    pub answers: u64,
    /// Answers outside 2xx (wrk counts 3xx as success; wapi sends none).
    pub non_2xx: u64,
    /// Connect/read/write errors and timeouts: requests without an answer.
    pub errors: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Measured {
    pub fn ok_2xx(&self) -> u64 {
        self.answers.saturating_sub(self.non_2xx)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "tool": self.tool, "answers": self.answers, "non_2xx": self.non_2xx, "errors": self.errors,
            "rps": self.rps, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
        })
    }
}

/// How hard wrk pushes.
pub struct Shape {
    pub threads: u32,
    pub connections: u32,
    pub duration: Duration,
}

/// The Lua script that makes wrk send `request` and print its figures as one JSON line.
fn wrk_script(request: &Request, pace_ms: Option<f64>) -> String {
    let mut lua = format!("wrk.method = {}\n", lua_str(request.method));
    if let Some(body) = &request.body {
        lua.push_str(&format!("wrk.body = {}\n", lua_str(body)));
    }
    for (name, value) in &request.headers {
        lua.push_str(&format!("wrk.headers[{}] = {}\n", lua_str(name), lua_str(value)));
    }
    if let Some(ms) = pace_ms {
        lua.push_str(&format!("function delay() return {ms:.3} end\n"));
    }
    lua.push_str(
        r#"function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('XTASK-WRK {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"#,
    );
    lua
}

fn lua_str(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Runs wrk closed-loop: every connection sends its next request as soon as the last is answered.
pub fn wrk(wrk: &Path, scratch: &Path, request: &Request, shape: &Shape) -> Result<Measured> {
    run_wrk(wrk, scratch, request, shape, None)
}

/// Runs wrk paced to about `rate` requests per second across its connections (Lua `delay()`); the
/// fallback when oha is missing. Closed-loop, so a slow answer delays the next send (no correction).
pub fn wrk_paced(wrk: &Path, scratch: &Path, request: &Request, shape: &Shape, rate: u32) -> Result<Measured> {
    let pace_ms = 1000.0 * f64::from(shape.connections) / f64::from(rate);
    run_wrk(wrk, scratch, request, shape, Some(pace_ms))
}

fn run_wrk(wrk: &Path, scratch: &Path, request: &Request, shape: &Shape, pace_ms: Option<f64>) -> Result<Measured> {
    let script = scratch.join("request.lua");
    std::fs::write(&script, wrk_script(request, pace_ms)).context("writing the wrk script")?;
    let output = Command::new(wrk)
        .arg(format!("-t{}", shape.threads))
        .arg(format!("-c{}", shape.connections))
        .arg(format!("-d{}s", shape.duration.as_secs()))
        .args(["--timeout", "10s", "--latency", "-s"])
        .arg(&script)
        .arg(&request.url)
        .output()
        .context("starting wrk")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed ({}):\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("XTASK-WRK "))
        .with_context(|| format!("wrk printed no figures:\n{stdout}"))?;
    let figures: Value = serde_json::from_str(line).context("reading wrk's figures")?;
    let num = |key: &str| figures[key].as_u64().unwrap_or(0);
    let seconds = num("duration_us") as f64 / 1e6;
    Ok(Measured {
        tool: if pace_ms.is_some() {
            "wrk (paced by Lua delay)"
        } else {
            "wrk"
        },
        answers: num("requests"),
        non_2xx: num("status"),
        errors: num("connect") + num("read") + num("write") + num("timeout"),
        rps: if seconds > 0.0 {
            num("requests") as f64 / seconds
        } else {
            0.0
        },
        p50_ms: num("p50_us") as f64 / 1000.0,
        p99_ms: num("p99_us") as f64 / 1000.0,
    })
}

/// Runs oha open-loop at a fixed `rate` for `duration`, with latency measured from each request's
/// scheduled send time (`--latency-correction`), so a stall shows up in p99.
pub fn oha(oha: &PathBuf, request: &Request, rate: u32, connections: u32, duration: Duration) -> Result<Measured> {
    let mut command = Command::new(oha);
    command
        .args(["--no-tui", "--output-format", "json", "--latency-correction"])
        .args(["-q", &rate.to_string(), "-c", &connections.to_string()])
        .args(["-z", &format!("{}s", duration.as_secs()), "-m", request.method]);
    for (name, value) in &request.headers {
        command.args(["-H", &format!("{name}: {value}")]);
    }
    if let Some(body) = &request.body {
        command.args(["-d", body]);
    }
    let output = command.arg(&request.url).output().context("starting oha")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "oha failed ({}):\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let report: Value = serde_json::from_str(&stdout).with_context(|| format!("reading oha's JSON:\n{stdout}"))?;
    let statuses = report["statusCodeDistribution"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let count = |ok: bool| -> u64 {
        statuses
            .iter()
            .filter(|(code, _)| code.starts_with('2') == ok)
            .map(|(_, n)| n.as_u64().unwrap_or(0))
            .sum()
    };
    // Requests still in flight when the duration ends are "aborted due to deadline": not failures.
    let errors = report["errorDistribution"]
        .as_object()
        .map(|errors| {
            errors
                .iter()
                .filter(|(what, _)| !what.contains("deadline"))
                .map(|(_, n)| n.as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    let seconds = |value: &Value| value.as_f64().unwrap_or(f64::NAN) * 1000.0;
    Ok(Measured {
        tool: "oha",
        answers: count(true) + count(false),
        non_2xx: count(false),
        errors,
        rps: report["summary"]["requestsPerSec"].as_f64().unwrap_or(f64::NAN),
        p50_ms: seconds(&report["latencyPercentiles"]["p50"]),
        p99_ms: seconds(&report["latencyPercentiles"]["p99"]),
    })
}
