//! `cargo xtask`: the project's own automation — `test` (what CI runs), `plugins` (every plugin
//! built from source), `bench` (measured figures) and `soak` (the long reliability suites).

mod bench;
mod paths;
mod plugins;
mod prereqs;
mod soak;
mod test;

use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test [-- ARGS...]   `plugins`, the tools the client tests run (Node, curl, Python, PHP), then
                      `cargo test --workspace --all-targets ARGS...`, the plugin SDK's doctests and
                      the unit tests of the Rust plugins (`cargo test` in plugins/)
  plugins [--out DIR] build every plugin from source (Rust, JavaScript, Python, C; installing the
                      toolchains they need) into DIR, plugins.d/ by default, and the test fixtures of
                      tests/fixtures/plugins/; skips what is up to date
  bench [plugins]     measure throughput, latency and memory figures, then the plugin platform's
                      (hook latency per language, hot reload, cold start); `plugins` runs only
                      those; writes target/bench/latest.json
  soak [--minutes N] [load|suites]
                      the long reliability suites: N (10) minutes of mixed load at fixed rates with
                      oha (errors, p99 per minute, RSS drift), then the crash and fuzzing suites
                      scaled up (WAPI_SOAK=1); writes target/soak/latest.json";

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
        Some("plugins") => plugins::run(args.collect()),
        Some("bench") => bench::run(args.collect()),
        Some("soak") => soak::run(args.collect()),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => bail!("unknown command `{other}`\n{USAGE}"),
        None => bail!("no command given\n{USAGE}"),
    }
}
