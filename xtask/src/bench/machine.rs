//! How busy the machine is with work that is not the bench's, read from /proc/stat.

use std::time::Duration;

use anyhow::{Context, Result};

/// The share of all CPU time (0.0–1.0) spent busy during `window`, sampled while the bench is idle.
pub fn busy_share(window: Duration) -> Result<f64> {
    let before = cpu_jiffies()?;
    std::thread::sleep(window);
    let after = cpu_jiffies()?;
    let total = (after.0 - before.0) as f64;
    Ok(if total > 0.0 {
        (after.1 - before.1) as f64 / total
    } else {
        0.0
    })
}

/// Samples two seconds at a time until the busy share is at most `quiet` or `within` has passed;
/// returns the last sample.
pub fn wait_quiet(quiet: f64, within: Duration) -> Result<f64> {
    let began = std::time::Instant::now();
    let mut busy = busy_share(Duration::from_secs(2))?;
    if busy > quiet {
        println!(
            "xtask bench: the machine is {:.0} % busy; waiting up to {} s for it to go quiet",
            busy * 100.0,
            within.as_secs()
        );
    }
    while busy > quiet && began.elapsed() < within {
        busy = busy_share(Duration::from_secs(2))?;
    }
    Ok(busy)
}

/// (all, busy) jiffies of the aggregate `cpu` line; busy is everything but idle and iowait.
fn cpu_jiffies() -> Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat
        .lines()
        .find(|line| line.starts_with("cpu "))
        .context("no cpu line in /proc/stat")?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).filter_map(|n| n.parse().ok()).collect();
    let all: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Ok((all, all - idle))
}
