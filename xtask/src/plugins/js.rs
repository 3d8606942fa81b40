//! JavaScript plugins: componentize-qjs puts QuickJS and the module into one component. The tool
//! comes from npm, pinned by the plugin's own `package-lock.json` and installed by `npm ci`.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::stamp::{self, Stamp};
use super::{Built, Example, Layout, WORLD, run_quiet};
use crate::prereqs::{self, Prereq};

const NPM: Prereq = Prereq::apt("npm", &["nodejs", "npm"]);

/// Plain (not component-model async) exports, which the host calls; every WASI import stubbed
/// with a trap, so the component imports nothing but the host interface.
const FLAGS: &[&str] = &["--sync", "--stub-wasi"];

/// Builds `plugins/NAME/` from the module its `package.json` names as `main`.
pub fn build(layout: &Layout, example: &Example) -> Result<Built> {
    prereqs::ensure(&[NPM, Prereq::npm_ci(&example.dir)])?;
    let entry = example.dir.join(main_module(&example.dir)?);
    let build_dir = layout.build_dir(&example.name)?;
    let output = build_dir.join(format!("{}.wasm", example.name));
    let mut inputs = stamp::source_files(&example.dir)?;
    inputs.extend(stamp::source_files(&layout.wit)?);
    let stamp = Stamp::new(&build_dir, &inputs, FLAGS)?;
    let rebuilt = stamp.build_unless_current(&output, || {
        run_quiet(
            Command::new(example.dir.join("node_modules/.bin/componentize-qjs"))
                .arg("--wit")
                .arg(&layout.wit)
                .args(["--world", WORLD, "--js"])
                .arg(&entry)
                .arg("--output")
                .arg(&output)
                .args(FLAGS)
                .current_dir(&example.dir),
        )
    })?;
    Ok(Built {
        name: example.name.clone(),
        file: output,
        rebuilt,
    })
}

/// The `main` field of `dir/package.json`.
fn main_module(dir: &Path) -> Result<String> {
    let path = dir.join("package.json");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    manifest["main"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{} has no `main` naming the plugin's module", path.display()))
}
