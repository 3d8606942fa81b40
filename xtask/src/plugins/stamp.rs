//! Up-to-date checks for the builds cargo does not track: a digest of every input and setting,
//! kept beside the output, so a build runs again only when one of them changed.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::paths;

/// Folders never taken as inputs: installed packages, caches, build output.
const SKIPPED_DIRS: &[&str] = &["node_modules", "__pycache__", "target"];

/// The digest of one build's inputs and where it is recorded.
pub struct Stamp {
    file: PathBuf,
    digest: String,
}

impl Stamp {
    /// The digest of `inputs` (paths and contents) and `settings` (flags, tool versions), recorded
    /// as `stamp` in `build_dir`. Paths count relative to the repository root, so a clone in
    /// another folder sharing the target folder (CI's cache) finds its builds current.
    pub fn new(build_dir: &Path, inputs: &[PathBuf], settings: &[&str]) -> Result<Self> {
        let root = paths::workspace_root();
        let mut hasher = Sha256::new();
        for input in inputs {
            let contents = fs::read(input).with_context(|| format!("reading {}", input.display()))?;
            let name = input.strip_prefix(&root).unwrap_or(input);
            hasher.update(name.as_os_str().as_encoded_bytes());
            hasher.update([0]);
            hasher.update((contents.len() as u64).to_le_bytes());
            hasher.update(&contents);
        }
        for setting in settings {
            hasher.update((setting.len() as u64).to_le_bytes());
            hasher.update(setting.as_bytes());
        }
        let digest = hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect();
        Ok(Self {
            file: build_dir.join("stamp"),
            digest,
        })
    }

    /// Runs `build` unless `output` exists and was built from exactly these inputs, then records
    /// them; returns whether `build` ran. A failed build records nothing, so the next run retries.
    pub fn build_unless_current(&self, output: &Path, build: impl FnOnce() -> Result<()>) -> Result<bool> {
        let current = output.exists() && fs::read_to_string(&self.file).is_ok_and(|recorded| recorded == self.digest);
        if current {
            return Ok(false);
        }
        // Forget the old record first: a build interrupted halfway must not look current later.
        let _ = fs::remove_file(&self.file);
        build()?;
        fs::write(&self.file, &self.digest).with_context(|| format!("writing {}", self.file.display()))?;
        Ok(true)
    }
}

/// Every file under `dir`, sorted, but for dot-files, `*.md` and the folders of `SKIPPED_DIRS`.
pub fn source_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    Ok(files)
}

/// The files under `dir` (as `source_files` finds them) whose extension is `ext`.
pub fn files_with_extension(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut files = source_files(dir)?;
    files.retain(|file| file.extension().is_some_and(|e| e == ext));
    Ok(files)
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry.with_context(|| format!("listing {}", dir.display()))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_ref()) {
                collect(&path, files)?;
            }
        } else if path.extension().is_none_or(|ext| ext != "md") {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_once_then_again_only_when_an_input_changes() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let input = dir.path().join("plugin.js");
        let output = dir.path().join("plugin.wasm");
        fs::write(&input, "v1")?;
        let build = || fs::write(&output, "component").context("writing");

        let stamp = Stamp::new(dir.path(), std::slice::from_ref(&input), &["--sync"])?;
        assert!(stamp.build_unless_current(&output, build)?);
        assert!(!stamp.build_unless_current(&output, || panic!("up to date: no build"))?);

        let other_flags = Stamp::new(dir.path(), std::slice::from_ref(&input), &["--async"])?;
        assert!(other_flags.build_unless_current(&output, build)?);

        fs::write(&input, "v2")?;
        let changed = Stamp::new(dir.path(), std::slice::from_ref(&input), &["--async"])?;
        assert!(changed.build_unless_current(&output, build)?);
        Ok(())
    }

    #[test]
    fn a_failed_build_is_retried_next_time() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let output = dir.path().join("plugin.wasm");
        let stamp = Stamp::new(dir.path(), &[], &[])?;
        fs::write(&output, "stale")?;
        assert!(
            stamp
                .build_unless_current(&output, || anyhow::bail!("compiler error"))
                .is_err()
        );
        assert!(stamp.build_unless_current(&output, || Ok(()))?);
        Ok(())
    }

    #[test]
    fn source_files_skip_installed_packages_caches_and_docs() -> Result<()> {
        let dir = tempfile::tempdir()?;
        for file in [
            "app.py",
            "lib/util.py",
            "README.md",
            ".hidden",
            "node_modules/x.js",
            "__pycache__/app.pyc",
        ] {
            let path = dir.path().join(file);
            fs::create_dir_all(path.parent().unwrap_or(dir.path()))?;
            fs::write(path, "")?;
        }
        let found = source_files(dir.path())?;
        let names: Vec<_> = found.iter().map(|f| f.strip_prefix(dir.path()).unwrap_or(f)).collect();
        assert_eq!(names, [Path::new("app.py"), Path::new("lib/util.py")]);
        Ok(())
    }
}
