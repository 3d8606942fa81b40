//! Python plugins: componentize-py puts CPython, the plugin's modules and the standard library
//! into one component. The tool comes from PyPI, pinned by the plugin's `requirements.txt` and
//! installed into a venv under the target folder.

use std::fs;
use std::process::Command;

use anyhow::{Context, Result};

use super::stamp::{self, Stamp};
use super::{Built, Example, Layout, WORLD, run_quiet};
use crate::prereqs::{self, Prereq};

const PYTHON: Prereq = Prereq::apt("python3", &["python3", "python3-venv"]);

/// The module that defines the `WitWorld` class: `app.py`.
const APP_MODULE: &str = "app";

/// Builds `plugins/NAME/`. The sources are copied into the build folder first, so the
/// `__pycache__` componentize-py leaves behind stays out of the source tree.
pub fn build(layout: &Layout, example: &Example) -> Result<Built> {
    let venv = layout.tools.join("venv");
    prereqs::ensure(&[PYTHON, Prereq::venv(&venv, &example.dir.join("requirements.txt"))])?;
    let build_dir = layout.build_dir(&example.name)?;
    let output = build_dir.join(format!("{}.wasm", example.name));
    let sources = stamp::files_with_extension(&example.dir, "py")?;
    let mut inputs = stamp::source_files(&example.dir)?;
    inputs.extend(stamp::source_files(&layout.wit)?);
    let stamp = Stamp::new(&build_dir, &inputs, &[APP_MODULE])?;
    let rebuilt = stamp.build_unless_current(&output, || {
        let src = build_dir.join("src");
        let _ = fs::remove_dir_all(&src);
        for source in &sources {
            let relative = source.strip_prefix(&example.dir).unwrap_or(source);
            let copy = src.join(relative);
            fs::create_dir_all(copy.parent().unwrap_or(&src))
                .and_then(|()| fs::copy(source, &copy))
                .with_context(|| format!("copying {} to {}", source.display(), copy.display()))?;
        }
        run_quiet(
            Command::new(venv.join("bin/componentize-py"))
                .arg("--wit-path")
                .arg(&layout.wit)
                .args(["--world", WORLD, "componentize", APP_MODULE, "--python-path"])
                .arg(&src)
                .arg("--output")
                .arg(&output)
                .current_dir(&build_dir),
        )
    })?;
    Ok(Built {
        name: example.name.clone(),
        file: output,
        rebuilt,
    })
}
