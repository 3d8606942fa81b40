//! `cargo xtask test`: install what the test run needs, then run every test target of the workspace.

use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use crate::paths;
use crate::prereqs::{self, Prereq};

/// What a test run needs beyond the Rust toolchain. Empty today; the WASM plugin fixtures will add
/// `Prereq::rustup_target("wasm32-wasip2")` here.
const PREREQS: &[Prereq] = &[];

/// Runs `cargo test --workspace --all-targets` plus `extra` (a leading `--` is dropped, so
/// `cargo xtask test -- send_` filters and `cargo xtask test -- -- --nocapture` reaches the harness).
pub fn run(mut extra: Vec<String>) -> Result<ExitCode> {
    if extra.first().is_some_and(|arg| arg == "--") {
        extra.remove(0);
    }
    prereqs::ensure(PREREQS)?;
    let status = Command::new(paths::cargo())
        .args(["test", "--workspace", "--all-targets"])
        .args(&extra)
        .current_dir(paths::workspace_root())
        .status()
        .context("starting `cargo test`")?;
    if status.success() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("xtask: `cargo test` failed ({status})");
        Ok(ExitCode::FAILURE)
    }
}
