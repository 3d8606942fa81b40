//! `cargo xtask soak`: the long reliability suites, too slow for `cargo xtask test` — mixed load at
//! fixed rates, three minutes of warm-up then ten measured (`load.rs`, with the disk's own sync
//! latency probed beside it, `disk.rs`, and memory read, `memory.rs`), then the crash and fuzzing
//! suites of `tests/e2e/` scaled up through `WAPI_SOAK=1` (more kills, more generated cases). Prints one table, writes
//! `target/soak/latest.json`, and fails when a figure misses its target.

mod disk;
mod load;
mod memory;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use crate::bench::{self, report::Report};
use crate::paths;
use crate::plugins;
use crate::prereqs;
use crate::test;

const USAGE: &str = "usage: cargo xtask soak [--minutes N] [--warmup N] [--dir PATH] [load|suites]";
/// Minutes of load before the measured ones: the database grows from empty, caches fill.
const WARMUP: usize = 3;

/// The `tests/e2e` suites that read `WAPI_SOAK` and run longer under it.
const LONG_SUITES: [&str; 2] = ["crash::", "fuzz::"];

/// `cargo xtask soak [--minutes N] [--warmup N] [--dir PATH] [load|suites]`: both parts by
/// default. `--dir` puts the load run's server folder (database, log) under PATH instead of the
/// system's temporary folder: on a tmpfs it shows wapi's own steadiness without the disk's sync.
pub fn run(args: Vec<String>) -> Result<ExitCode> {
    let (mut minutes, mut warmup) = (10, WARMUP);
    let mut dir = std::env::temp_dir();
    let mut parts = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--minutes" => minutes = count(args.next())?,
            "--warmup" => warmup = count(args.next())?,
            "--dir" => dir = args.next().map(PathBuf::from).context(USAGE)?,
            "load" | "suites" => parts.push(arg),
            _ => bail!(USAGE),
        }
    }
    let all = parts.is_empty();
    let wants = |part: &str| all || parts.iter().any(|p| p == part);

    let mut report = Report::default();
    let mut failed = Vec::new();
    if wants("load")
        && let Err(err) = load_part((warmup, minutes), &dir, &mut report)
    {
        report.note(format!("the load run stopped early: {err:#}"));
        failed.push("load");
    }
    if wants("suites") {
        // What the suites run: the example plugins and fixtures (crash), schemathesis (fuzz).
        plugins::build_and_publish(&plugins::default_out())?;
        let fuzzer = test::schemathesis()?;
        println!(
            "xtask soak: cargo test -p wapi --test e2e -- {} (WAPI_SOAK=1)",
            LONG_SUITES.join(" ")
        );
        let status = Command::new(paths::cargo())
            .args(["test", "-p", "wapi", "--test", "e2e", "--"])
            .args(LONG_SUITES)
            .args(["--nocapture", "--test-threads=1"])
            .env("WAPI_SOAK", "1")
            .env(test::SCHEMATHESIS_VAR, fuzzer)
            .current_dir(paths::workspace_root())
            .status()
            .context("starting cargo test")?;
        report.check(
            &format!(
                "soak: long suites {} (their figures are printed above)",
                LONG_SUITES.join(" ")
            ),
            status.to_string(),
            "pass",
            status.success(),
        );
    }

    println!("\n{}\n", report.table());
    for note in &report.notes {
        println!("note: {note}");
    }
    let json = paths::target_dir().join("soak").join("latest.json");
    report.write_json(&json)?;
    println!("written to {}", json.display());
    let missed = report.rows.iter().any(|row| row.met == Some(false));
    Ok(if failed.is_empty() && !missed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Builds the release binary, makes sure oha is installed, runs the load in a scratch folder
/// (kept when the run fails).
fn load_part(minutes: (usize, usize), dir: &std::path::Path, report: &mut Report) -> Result<()> {
    prereqs::ensure_one(&bench::OHA)?;
    let oha: PathBuf = paths::find_program("oha").context("oha is not on PATH after installing it")?;
    let binary = bench::build_wapi()?;
    let scratch = tempfile::Builder::new()
        .prefix("wapi-soak-")
        .tempdir_in(dir)
        .with_context(|| format!("creating a scratch folder in {}", dir.display()))?;
    report.info(
        "soak: the server's folder, and its filesystem",
        format!("{} ({})", scratch.path().display(), filesystem_of(scratch.path())),
    );
    let outcome = load::run(&binary, &oha, scratch.path(), minutes, report);
    if outcome.is_err() {
        let kept = scratch.keep();
        report.note(format!(
            "kept the server's folder (config, database, wapi.log) in {}",
            kept.display()
        ));
    }
    outcome
}

/// A count of minutes given after an option: a whole number, 1 or more.
fn count(value: Option<String>) -> Result<usize> {
    value.and_then(|n| n.parse().ok()).filter(|n| *n >= 1).context(USAGE)
}

/// The type of the filesystem holding `path` (the longest mount point above it in /proc/mounts).
fn filesystem_of(path: &std::path::Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (point, kind) = (fields.nth(1)?, fields.next()?);
            path.starts_with(point).then(|| (point.len(), kind.to_string()))
        })
        .max()
        .map_or_else(|| "unknown".into(), |(_, kind)| kind)
}
