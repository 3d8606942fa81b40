//! `cargo xtask`: the project's own automation — `test` (what CI runs) and `bench` (measured figures).

mod bench;
mod paths;
mod prereqs;
mod test;

use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test [-- ARGS...]   install what the test run needs, then `cargo test --workspace --all-targets ARGS...`
  bench               measure throughput, latency and memory figures; writes target/bench/latest.json";

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("test") => test::run(args.collect()),
        Some("bench") => bench::run(),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => bail!("unknown command `{other}`\n{USAGE}"),
        None => bail!("no command given\n{USAGE}"),
    }
}
