//! Rust plugins: a cargo workspace built for `wasm32-wasip2`, whose `cdylib` crates are the
//! components. Cargo decides what is up to date; its JSON messages say what it built.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::Built;
use crate::paths;
use crate::prereqs::{self, Prereq};

/// The target plugins are built for: WASI preview 2 components straight from rustc.
const TARGET: &str = "wasm32-wasip2";

/// `cargo` in the workspace at `dir`, with its own `target/` there: `CARGO_TARGET_DIR` (meant for
/// the root workspace) is dropped, so the components always land in `dir/target/`.
pub fn cargo_in(dir: &Path) -> Command {
    let mut command = Command::new(paths::cargo());
    command.current_dir(dir).env_remove("CARGO_TARGET_DIR");
    command
}

/// Builds the workspace at `dir` in release mode for `TARGET` and returns its components, each
/// named after its crate with `-` for `_`; nothing when `dir` has no `Cargo.toml`.
pub fn build(dir: &Path) -> Result<Vec<Built>> {
    if !dir.join("Cargo.toml").exists() {
        println!("xtask: no {}: nothing to build there", dir.join("Cargo.toml").display());
        return Ok(Vec::new());
    }
    prereqs::ensure_one(&Prereq::rustup_target(TARGET))?;
    let output = cargo_in(dir)
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("starting `cargo build`")?;
    if !output.status.success() {
        bail!(
            "`cargo build --release --target {TARGET}` in {} failed ({})",
            dir.display(),
            output.status
        );
    }
    let mut built = components(&String::from_utf8_lossy(&output.stdout));
    built.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(built)
}

/// The `.wasm` files of `cdylib` targets among cargo's `compiler-artifact` messages.
fn components(messages: &str) -> Vec<Built> {
    let mut built = Vec::new();
    for message in messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
    {
        let is_cdylib = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|kind| kind == "cdylib"));
        if message["reason"] != "compiler-artifact" || !is_cdylib {
            continue;
        }
        let name = message["target"]["name"].as_str().unwrap_or_default().replace('_', "-");
        let files = message["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        for file in files.filter(|file| file.ends_with(".wasm")) {
            built.push(Built {
                name: name.clone(),
                file: PathBuf::from(file),
                rebuilt: message["fresh"] != true,
            });
        }
    }
    built
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_the_wasm_files_of_cdylib_artifacts() {
        let messages = [
            r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"wapi_plugin_sdk"},"filenames":["/t/libwapi_plugin_sdk.rlib"],"fresh":true}"#,
            r#"{"reason":"compiler-artifact","target":{"kind":["cdylib"],"name":"recipient_filter"},"filenames":["/t/recipient_filter.wasm"],"fresh":false}"#,
            r#"{"reason":"compiler-artifact","target":{"kind":["cdylib"],"name":"template"},"filenames":["/t/template.wasm"],"fresh":true}"#,
            r#"{"reason":"build-finished","success":true}"#,
            "not json",
        ]
        .join("\n");
        let built = components(&messages);
        let seen: Vec<_> = built
            .iter()
            .map(|b| (b.name.as_str(), b.file.to_str(), b.rebuilt))
            .collect();
        assert_eq!(
            seen,
            [
                ("recipient-filter", Some("/t/recipient_filter.wasm"), true),
                ("template", Some("/t/template.wasm"), false)
            ]
        );
    }
}
