//! `cargo xtask test`: build the plugins, install what the client tests run (Node, curl, Python,
//! PHP) and what the dashboard's browser tests run (Chromium, playwright-core), then run every
//! test of the workspace, the plugin SDK's doctests and the Rust plugins' own unit tests.

use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use crate::paths;
use crate::plugins;
use crate::prereqs::{self, Prereq};

/// What `tests/e2e/clients.rs` runs: the Apps Script client's tests (Node) and the code examples
/// of `clients/examples/` (sh + curl, Node, Python, PHP with its curl extension).
const CLIENT_TOOLS: [Prereq; 4] = [
    Prereq::apt("node", &["nodejs"]),
    Prereq::apt("curl", &["curl"]),
    Prereq::apt("python3", &["python3"]),
    Prereq::apt_packages(&["php-cli", "php-curl"]),
];

/// What `tests/e2e/dashboard.rs` drives the dashboard with: Debian's Chromium (and a font family
/// for legible screenshots), and npm to install `tests/dashboard/`'s pinned playwright-core.
const BROWSER_TOOLS: [Prereq; 2] = [
    Prereq::apt("chromium", &["chromium", "fonts-liberation"]),
    Prereq::apt("npm", &["nodejs", "npm"]),
];

/// Runs `cargo xtask plugins`, installs [`CLIENT_TOOLS`], [`BROWSER_TOOLS`] and the dashboard
/// tests' npm packages, then `cargo test --workspace --all-targets` plus `extra` (a leading `--`
/// is dropped, so `cargo xtask test -- send_` filters and `cargo xtask test -- -- --nocapture`
/// reaches the harness), `cargo test --doc -p wapi-plugin-sdk` (`--all-targets` skips doctests)
/// and `cargo test` in the `plugins/` workspace. Every test step runs even when one before it
/// failed.
pub fn run(mut extra: Vec<String>) -> Result<ExitCode> {
    if extra.first().is_some_and(|arg| arg == "--") {
        extra.remove(0);
    }
    plugins::build_and_publish(&plugins::default_out())?;
    prereqs::ensure(&CLIENT_TOOLS)?;
    let root = paths::workspace_root();
    prereqs::ensure(&BROWSER_TOOLS)?;
    prereqs::ensure_one(&Prereq::npm_ci(&root.join("tests/dashboard")))?;
    let mut failed = Vec::new();

    let mut workspace = Command::new(paths::cargo());
    workspace
        .args(["test", "--workspace", "--all-targets"])
        .args(&extra)
        .current_dir(&root);
    run_step("cargo test --workspace --all-targets", &mut workspace, &mut failed)?;

    if root.join("plugin-sdk/rust/Cargo.toml").exists() {
        let mut doc = Command::new(paths::cargo());
        doc.args(["test", "--doc", "-p", "wapi-plugin-sdk"]).current_dir(&root);
        run_step("cargo test --doc -p wapi-plugin-sdk", &mut doc, &mut failed)?;
    }

    let plugins_dir = root.join("plugins");
    if plugins_dir.join("Cargo.toml").exists() {
        let mut unit = plugins::cargo_in(&plugins_dir);
        unit.arg("test");
        run_step("cargo test (in plugins/)", &mut unit, &mut failed)?;
    }

    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("xtask: failed: {}", failed.join("; "));
        Ok(ExitCode::FAILURE)
    }
}

/// Runs one test command; its name joins `failed` when it does not pass.
fn run_step(name: &'static str, command: &mut Command, failed: &mut Vec<&'static str>) -> Result<()> {
    println!("xtask: {name}");
    let status = command.status().with_context(|| format!("starting `{name}`"))?;
    if !status.success() {
        eprintln!("xtask: `{name}` failed ({status})");
        failed.push(name);
    }
    Ok(())
}
