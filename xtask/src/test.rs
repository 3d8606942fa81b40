//! `cargo xtask test`: build the plugins, install what the client tests run (Node, curl, Python,
//! PHP), what the dashboard's browser tests run (Chromium, playwright-core) and the API fuzzer
//! (schemathesis), then run every test of the workspace, the plugin SDK's doctests and the Rust
//! plugins' own unit tests.

use std::path::PathBuf;
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

/// Python with its `venv` module, for the venvs of PyPI tools.
const PYTHON_VENV: Prereq = Prereq::apt("python3", &["python3", "python3-venv"]);

/// The variable that tells `tests/e2e/fuzz.rs` where schemathesis is. Not a `WAPI_` name: the
/// gateway reads every `WAPI_*` variable as configuration.
pub const SCHEMATHESIS_VAR: &str = "SCHEMATHESIS_BIN";

/// Installs schemathesis, pinned by `tests/fuzz/requirements.txt`, into a venv under the target
/// folder; returns the program, for [`SCHEMATHESIS_VAR`].
pub fn schemathesis() -> Result<PathBuf> {
    let venv = paths::target_dir().join("tools/schemathesis");
    let requirements = paths::workspace_root().join("tests/fuzz/requirements.txt");
    prereqs::ensure(&[PYTHON_VENV, Prereq::venv(&venv, &requirements)])?;
    Ok(venv.join("bin/schemathesis"))
}

/// Runs `cargo xtask plugins`, installs [`CLIENT_TOOLS`], [`BROWSER_TOOLS`], the dashboard
/// tests' npm packages and [`schemathesis`], then `cargo test --workspace --all-targets` plus
/// `extra` (a leading `--` is dropped, so `cargo xtask test -- send_` filters and
/// `cargo xtask test -- -- --nocapture` reaches the harness) with [`SCHEMATHESIS_VAR`] set,
/// `cargo test --doc -p wapi-plugin-sdk` (`--all-targets` skips doctests) and `cargo test` in the
/// `plugins/` workspace. Every test step runs even when one before it failed.
pub fn run(mut extra: Vec<String>) -> Result<ExitCode> {
    if extra.first().is_some_and(|arg| arg == "--") {
        extra.remove(0);
    }
    plugins::build_and_publish(&plugins::default_out())?;
    prereqs::ensure(&CLIENT_TOOLS)?;
    let root = paths::workspace_root();
    prereqs::ensure(&BROWSER_TOOLS)?;
    prereqs::ensure_one(&Prereq::npm_ci(&root.join("tests/dashboard")))?;
    let fuzzer = schemathesis()?;
    let mut failed = Vec::new();

    let mut workspace = Command::new(paths::cargo());
    workspace
        .args(["test", "--workspace", "--all-targets"])
        .args(&extra)
        .env(SCHEMATHESIS_VAR, fuzzer)
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
