//! Install what a fresh machine lacks: each `Prereq` pairs a probe with the step that installs it.

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
    #[allow(dead_code, reason = "used once the WASM plugin fixtures need wasm32-wasip2")]
    RustTarget(&'static str),
}

enum Install {
    /// `apt-get install -y` these Debian packages.
    Apt(&'static [&'static str]),
    /// `cargo install --locked` this crate into cargo's install folder.
    Cargo(&'static str),
    /// `rustup target add` this target.
    #[allow(dead_code, reason = "used once the WASM plugin fixtures need wasm32-wasip2")]
    RustupTarget(&'static str),
}

impl Prereq {
    /// A program from Debian packages.
    pub const fn apt(program: &'static str, packages: &'static [&'static str]) -> Self {
        Self {
            probe: Probe::Program(program),
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
    #[allow(dead_code, reason = "used once the WASM plugin fixtures need wasm32-wasip2")]
    pub const fn rustup_target(target: &'static str) -> Self {
        Self {
            probe: Probe::RustTarget(target),
            install: Install::RustupTarget(target),
        }
    }

    fn name(&self) -> &'static str {
        match self.probe {
            Probe::Program(name) | Probe::RustTarget(name) => name,
        }
    }

    fn present(&self) -> bool {
        match self.probe {
            Probe::Program(name) => paths::find_program(name).is_some(),
            Probe::RustTarget(target) => Command::new("rustup")
                .args(["target", "list", "--installed"])
                .output()
                .is_ok_and(|out| {
                    String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .any(|line| line.trim() == target)
                }),
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
    match prereq.install {
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
    }
    if !prereq.present() {
        bail!("{name} is still missing after installing it");
    }
    println!("xtask: installed {name}");
    Ok(())
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
