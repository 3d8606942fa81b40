//! `cargo xtask bench`: wapi's throughput, latency and memory, measured beside a bare hyper baseline,
//! and the plugin platform's figures (`cargo xtask bench plugins` runs only those).

mod backlog;
mod db;
mod enqueue;
mod hello;
pub(crate) mod http;
pub(crate) mod load;
pub(crate) mod machine;
mod plugins;
pub(crate) mod report;
pub(crate) mod server;

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::paths;
use crate::prereqs::{self, Prereq};
use load::{Request, Shape};
use report::Report;

/// The closed-loop load for maximum throughput: both wrk threads, 64 connections.
const MAX_LOAD: Shape = Shape {
    threads: 2,
    connections: 64,
    duration: Duration::from_secs(10),
};
/// A short run before each measured one, so connections, caches and allocators are warm.
const WARM_UP: Shape = Shape {
    threads: 2,
    connections: 64,
    duration: Duration::from_secs(2),
};

/// The throughput runs wait up to `QUIET_WITHIN` for other work to drop below this share of the CPUs.
const QUIET_SHARE: f64 = 0.10;
const QUIET_WITHIN: Duration = Duration::from_secs(300);

const WRK: Prereq = Prereq::apt("wrk", &["wrk"]);
pub(crate) const OHA: Prereq = Prereq::cargo("oha", "oha");

const USAGE: &str = "usage: cargo xtask bench [plugins]";

/// The load generators and the scratch folder (removed at the end unless the bench failed).
pub struct Tools<'a> {
    wrk: PathBuf,
    /// `None` when oha could not be installed: the fixed-rate run falls back to paced wrk.
    oha: Option<PathBuf>,
    scratch: &'a tempfile::TempDir,
}

/// `cargo xtask bench [plugins]`: every figure, or only the plugin platform's.
pub fn run(args: Vec<String>) -> Result<ExitCode> {
    let only_plugins = match args.as_slice() {
        [] => false,
        [section] if section == "plugins" => true,
        _ => bail!(USAGE),
    };
    let mut report = Report::default();
    let load_tools = if only_plugins {
        None
    } else {
        Some(load_tools(&mut report)?)
    };
    let scratch = tempfile::Builder::new()
        .prefix("wapi-bench-")
        .tempdir()
        .context("creating a scratch folder")?;
    let outcome = match load_tools {
        Some((wrk, oha)) => measure(
            &Tools {
                wrk,
                oha,
                scratch: &scratch,
            },
            &mut report,
        ),
        None => build_wapi().and_then(|binary| plugins::run(&binary, scratch.path(), &mut report)),
    };
    if let Err(err) = &outcome {
        report.note(format!("the bench stopped early: {err:#}"));
        let kept = scratch.keep();
        report.note(format!(
            "kept the servers' folders (config, database, wapi.log) in {}",
            kept.display()
        ));
    }
    println!("\n{}\n", report.table());
    for note in &report.notes {
        println!("note: {note}");
    }
    let json = paths::target_dir().join("bench").join("latest.json");
    report.write_json(&json)?;
    println!("written to {}", json.display());
    Ok(if outcome.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// wrk (installed when missing) and oha (when it can be installed).
fn load_tools(report: &mut Report) -> Result<(PathBuf, Option<PathBuf>)> {
    prereqs::ensure_one(&WRK)?;
    let wrk = paths::find_program("wrk").context("wrk is not on PATH")?;
    let oha = match prereqs::ensure_one(&OHA) {
        Ok(()) => paths::find_program("oha"),
        Err(err) => {
            report.note(format!(
                "oha unavailable ({err:#}); the fixed-rate figure uses wrk paced by a Lua delay()"
            ));
            None
        }
    };
    Ok((wrk, oha))
}

fn measure(tools: &Tools, report: &mut Report) -> Result<()> {
    // Built first so the baseline and wapi's throughput are measured back to back.
    let binary = build_wapi()?;
    note_other_load(report, "before")?;
    let baseline_rps = hello_baseline(tools, report)?;
    let enqueued = enqueue::run(tools, &binary, baseline_rps, report).context("durable enqueue figures");
    note_other_load(report, "after")?;
    if let Err(err) = &enqueued {
        report.note(format!("enqueue figures incomplete: {err:#}"));
    }
    backlog::run(tools, &binary, report).context("1,000,000 queued / idle figures")?;
    let plugin_figures = plugins::run(&binary, tools.scratch.path(), report).context("plugin figures");
    enqueued.and(plugin_figures)
}

/// Throughput figures are only comparable on an otherwise idle machine: say when it is not.
fn note_other_load(report: &mut Report, when: &str) -> Result<()> {
    let busy = if when == "before" {
        machine::wait_quiet(QUIET_SHARE, QUIET_WITHIN)?
    } else {
        machine::busy_share(Duration::from_secs(1))?
    };
    record_busy(report, busy, when, "throughput runs", "low and noisy");
    Ok(())
}

/// Records how busy the machine was with other work `when` (`before`/`after`) the `runs`, and
/// notes that the figures may be `effect` when it was not quiet.
fn record_busy(report: &mut Report, busy: f64, when: &str, runs: &str, effect: &str) {
    report
        .raw
        .insert(format!("cpu_busy_{when}_{}", runs.replace(' ', "_")), busy.into());
    report.info(
        &format!("CPU busy with other work just {when} the {runs}"),
        format!("{:.0} %", busy * 100.0),
    );
    if busy > QUIET_SHARE {
        report.note(format!(
            "the machine was {:.0} % busy with other work {when} the {runs}: figures may be {effect}",
            busy * 100.0
        ));
    }
}

/// Bare hyper's maximum throughput on this machine; every wapi figure is read against it.
fn hello_baseline(tools: &Tools, report: &mut Report) -> Result<f64> {
    println!("xtask bench: bare hyper baseline");
    let hello = hello::start()?;
    let request = Request {
        url: format!("http://{}/", hello.addr),
        method: "POST",
        headers: vec![("Content-Type", "application/json".into())],
        body: Some(enqueue::BODY.into()),
    };
    load::wrk(&tools.wrk, tools.scratch.path(), &request, &WARM_UP)?;
    let max = load::wrk(&tools.wrk, tools.scratch.path(), &request, &MAX_LOAD)?;
    drop(hello);
    if max.non_2xx > 0 || max.errors > 0 {
        bail!("the hello server itself failed requests: {max:?}");
    }
    report.raw.insert("hello_max".into(), max.to_json());
    report.info(
        "bare hyper POST /: max throughput (wrk 2 threads, 64 conns, 10 s)",
        format!("{:.0} req/s", max.rps),
    );
    report.info(
        "bare hyper: p50 / p99 at max load",
        format!("{:.2} ms / {:.2} ms", max.p50_ms, max.p99_ms),
    );
    Ok(max.rps)
}

/// `cargo build --release -p wapi`; returns the binary's path.
pub(crate) fn build_wapi() -> Result<PathBuf> {
    println!("xtask bench: cargo build --release -p wapi");
    let status = Command::new(paths::cargo())
        .args(["build", "--release", "-p", "wapi"])
        .current_dir(paths::workspace_root())
        .status()
        .context("starting cargo build")?;
    if !status.success() {
        bail!("cargo build --release -p wapi failed ({status})");
    }
    let binary = paths::target_dir().join("release").join("wapi");
    anyhow::ensure!(binary.is_file(), "{} is missing after the build", binary.display());
    Ok(binary)
}

/// The first `max` characters of an answer body, for notes.
fn clip(text: &str, max: usize) -> Value {
    Value::String(text.chars().take(max).collect())
}
