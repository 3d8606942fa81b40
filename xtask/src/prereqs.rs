//! Install what a fresh machine lacks: each `Prereq` pairs a probe with the step that installs it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

use crate::paths;

/// One thing a task needs, how to tell it is there, and how to install it when it is not.
pub struct Prereq {
    probe: Probe,
    install: Install,
}

enum Probe {
    /// An executable on PATH or in cargo's install folder.
    Program(&'static str),
    /// A rustup target in `rustup target list --installed`.
    RustTarget(&'static str),
    /// Debian packages that `dpkg-query` reports installed.
    DebPackages(&'static [&'static str]),
    /// Packages installed from a manifest (a lock or requirements file): present while the copy of
    /// the manifest that the install step leaves as `stamp` still matches it byte for byte.
    Manifest { manifest: PathBuf, stamp: PathBuf },
}

enum Install {
    /// `apt-get install -y` these Debian packages.
    Apt(&'static [&'static str]),
    /// `cargo install --locked` this crate into cargo's install folder.
    Cargo(&'static str),
    /// `rustup target add` this target.
    RustupTarget(&'static str),
    /// `npm ci` in this folder (exactly what its `package-lock.json` says, into `node_modules`).
    NpmCi(PathBuf),
    /// A Python venv at `venv`, then `pip install -r requirements` into it.
    Venv { venv: PathBuf, requirements: PathBuf },
}

impl Prereq {
    /// A program from Debian packages.
    pub const fn apt(program: &'static str, packages: &'static [&'static str]) -> Self {
        Self {
            probe: Probe::Program(program),
            install: Install::Apt(packages),
        }
    }

    /// Debian packages that provide no program of their own to probe for (libraries, sysroots).
    pub const fn apt_packages(packages: &'static [&'static str]) -> Self {
        Self {
            probe: Probe::DebPackages(packages),
            install: Install::Apt(packages),
        }
    }

    /// A program built from a crates.io crate.
    pub const fn cargo(program: &'static str, krate: &'static str) -> Self {
        Self {
            probe: Probe::Program(program),
            install: Install::Cargo(krate),
        }
    }

    /// A compilation target of the Rust toolchain.
    pub const fn rustup_target(target: &'static str) -> Self {
        Self {
            probe: Probe::RustTarget(target),
            install: Install::RustupTarget(target),
        }
    }

    /// The npm packages `dir/package-lock.json` pins, in `dir/node_modules`.
    pub fn npm_ci(dir: &Path) -> Self {
        Self {
            probe: Probe::Manifest {
                manifest: dir.join("package-lock.json"),
                stamp: dir.join("node_modules/.xtask-package-lock.json"),
            },
            install: Install::NpmCi(dir.to_path_buf()),
        }
    }

    /// A venv at `venv` holding the PyPI packages `requirements` lists.
    pub fn venv(venv: &Path, requirements: &Path) -> Self {
        Self {
            probe: Probe::Manifest {
                manifest: requirements.to_path_buf(),
                stamp: venv.join("xtask-requirements.txt"),
            },
            install: Install::Venv {
                venv: venv.to_path_buf(),
                requirements: requirements.to_path_buf(),
            },
        }
    }

    fn name(&self) -> String {
        match &self.probe {
            Probe::Program(name) | Probe::RustTarget(name) => (*name).to_string(),
            Probe::DebPackages(packages) => packages.join(" "),
            Probe::Manifest { manifest, .. } => format!("the packages of {}", manifest.display()),
        }
    }

    fn present(&self) -> bool {
        match &self.probe {
            Probe::Program(name) => paths::find_program(name).is_some(),
            Probe::RustTarget(target) => Command::new("rustup")
                .args(["target", "list", "--installed"])
                .output()
                .is_ok_and(|out| {
                    String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .any(|line| line.trim() == *target)
                }),
            Probe::DebPackages(packages) => deb_installed(packages),
            Probe::Manifest { manifest, stamp } => match (fs::read(manifest), fs::read(stamp)) {
                (Ok(wanted), Ok(installed)) => wanted == installed,
                _ => false,
            },
        }
    }
}

/// Ensures every prerequisite is present, installing the missing ones; fails on the first that cannot be.
pub fn ensure(list: &[Prereq]) -> Result<()> {
    list.iter().try_for_each(ensure_one)
}

/// Ensures one prerequisite, installing it when missing.
pub fn ensure_one(prereq: &Prereq) -> Result<()> {
    if prereq.present() {
        return Ok(());
    }
    let name = prereq.name();
    match &prereq.install {
        Install::Apt(packages) => {
            println!("xtask: installing {name}: apt-get install -y {}", packages.join(" "));
            apt_install(packages)?;
        }
        Install::Cargo(krate) => {
            println!("xtask: installing {name}: cargo install {krate} --locked (this compiles it; minutes)");
            run_inherited(Command::new(paths::cargo()).args(["install", krate, "--locked"]))?;
        }
        Install::RustupTarget(target) => {
            println!("xtask: installing {name}: rustup target add {target}");
            run_inherited(Command::new("rustup").args(["target", "add", target]))?;
        }
        Install::NpmCi(dir) => {
            println!("xtask: installing {name}: npm ci in {}", dir.display());
            run_inherited(
                Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund"])
                    .current_dir(dir),
            )?;
        }
        Install::Venv { venv, requirements } => {
            println!(
                "xtask: installing {name}: pip install -r into the venv {}",
                venv.display()
            );
            install_venv(venv, requirements)?;
        }
    }
    if let Probe::Manifest { manifest, stamp } = &prereq.probe {
        fs::copy(manifest, stamp).with_context(|| format!("recording {} as installed", manifest.display()))?;
    }
    if !prereq.present() {
        bail!("{name} is still missing after installing it");
    }
    println!("xtask: installed {name}");
    Ok(())
}

/// Whether `dpkg-query` reports every one of `packages` installed.
fn deb_installed(packages: &[&str]) -> bool {
    Command::new("dpkg-query")
        .args(["--show", "--showformat=${db:Status-Abbrev}\\n"])
        .args(packages)
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| {
            let text = String::from_utf8_lossy(&out.stdout);
            out.status.success()
                && text.lines().count() == packages.len()
                && text.lines().all(|line| line.starts_with("ii"))
        })
}

/// Creates the venv when it is missing, then installs `requirements` into it.
fn install_venv(venv: &Path, requirements: &Path) -> Result<()> {
    if !venv.join("bin/python").exists() {
        let python = paths::find_program("python3").context("python3 is not on PATH")?;
        run_inherited(Command::new(python).arg("-m").arg("venv").arg(venv))?;
    }
    run_inherited(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--disable-pip-version-check", "--quiet", "--requirement"])
            .arg(requirements),
    )
}

fn run_inherited(command: &mut Command) -> Result<()> {
    let status = command.status().with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// Set once `apt-get update` has run in this process, so it runs at most once.
static APT_UPDATED: AtomicBool = AtomicBool::new(false);

fn apt_install(packages: &[&str]) -> Result<()> {
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend_from_slice(packages);
    let Err(output) = apt_get(&args)? else {
        return Ok(());
    };
    let stale_lists = output.contains("Unable to locate package") || output.contains("has no installation candidate");
    if !stale_lists || APT_UPDATED.swap(true, Ordering::SeqCst) {
        bail!("apt-get install {} failed:\n{output}", packages.join(" "));
    }
    println!(
        "xtask: apt-get update (the package lists do not know {})",
        packages.join(" ")
    );
    if let Err(output) = apt_get(&["update"])? {
        bail!("apt-get update failed:\n{output}");
    }
    if let Err(output) = apt_get(&args)? {
        bail!(
            "apt-get install {} failed after apt-get update:\n{output}",
            packages.join(" ")
        );
    }
    Ok(())
}

/// Runs apt-get (through `sudo -n` when not root); `Err(output)` carries its output when it fails.
fn apt_get(args: &[&str]) -> Result<std::result::Result<(), String>> {
    let mut command = if is_root() {
        Command::new("apt-get")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", "apt-get"]);
        sudo
    };
    let output = command
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .context("starting apt-get")?;
    if output.status.success() {
        return Ok(Ok(()));
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok(Err(text))
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}
