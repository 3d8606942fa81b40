//! Cold start with the example plugins: from spawning the binary to the first 200 from
//! `/healthz` (the server loads every plugin before it serves), with no plugins, with the six
//! examples and an empty compiled-artifact cache, and with the cache filled; RSS right after.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::json;

use super::{Components, cache_dir_key, list, ms, table};
use crate::bench::http::Conn;
use crate::bench::report::{Report, mb, mb_delta};
use crate::bench::server::Instance;

/// Starts per warm case (no plugins, cached); the median is reported. The uncached start is once.
const STARTS: usize = 3;
/// Compiling 18 MB of Python and 1.6 MB of QuickJS with cranelift on a busy two-core machine.
const READY_WITHIN: Duration = Duration::from_secs(600);
const TARGET_CACHED_MS: f64 = 500.0;

/// One start: time to the first `/healthz` 200 and RSS then.
#[derive(Clone, Copy)]
struct Start {
    took: Duration,
    rss: u64,
}

pub fn run(binary: &Path, root: &Path, components: &Components, report: &mut Report) -> Result<()> {
    println!("xtask bench: cold start with the example plugins");
    let examples = components.all_examples()?;
    let dir = root.join("cold-start");
    std::fs::create_dir_all(&dir)?;
    let cache = dir.join("plugin-cache");
    let mut instance = Instance::new(binary, &dir)?;
    instance.ready_within = READY_WITHIN;
    instance.plugins_config = cache_dir_key(&cache);
    for (name, _) in &examples {
        instance.plugins_config.push_str(table(name));
    }
    let plugins_dir = dir.join("plugins.d");

    // The first start creates the database: every case starts on the same, existing one.
    let none = starts(&instance, STARTS, 0)?;
    for (name, component) in &examples {
        super::install(component, &plugins_dir, name)?;
    }
    if cache.exists() {
        std::fs::remove_dir_all(&cache)?;
    }
    let uncached = starts(&instance, 1, examples.len())?[0];
    let cached = starts(&instance, STARTS, examples.len())?;

    let names: Vec<&str> = examples.iter().map(|(name, _)| name.as_str()).collect();
    let runs = |starts: &[Start]| -> Vec<_> {
        starts
            .iter()
            .map(|s| json!({"ms": ms(s.took), "rss_bytes": s.rss}))
            .collect()
    };
    report.raw.insert(
        "plugins_cold_start".into(),
        json!({
            "plugins": names,
            "none": runs(&none),
            "uncached": runs(&[uncached]),
            "cached": runs(&cached),
        }),
    );
    let (none, cached) = (median(&none), median(&cached));
    report.info(
        &format!("start to first /healthz 200, no plugins (median of {STARTS})"),
        format!("{:.0} ms, RSS {}", ms(none.took), mb(none.rss)),
    );
    report.info(
        &format!(
            "start to first /healthz 200, {} example plugins, empty cache (cranelift compiles)",
            names.len()
        ),
        format!("{:.1} s, RSS {}", uncached.took.as_secs_f64(), mb(uncached.rss)),
    );
    report.check(
        &format!(
            "start to first /healthz 200, {} example plugins, cache filled (median of {STARTS})",
            names.len()
        ),
        format!(
            "{:.0} ms ({:+.0} ms over none), RSS {} ({})",
            ms(cached.took),
            ms(cached.took) - ms(none.took),
            mb(cached.rss),
            mb_delta(cached.rss, none.rss)
        ),
        "≤ 500 ms",
        ms(cached.took) <= TARGET_CACHED_MS,
    );
    Ok(())
}

/// `count` starts and stops of `instance`, each checked to serve `plugins` active plugins.
fn starts(instance: &Instance, count: usize, plugins: usize) -> Result<Vec<Start>> {
    let mut starts = Vec::with_capacity(count);
    for _ in 0..count {
        let server = instance.start()?;
        let start = Start {
            took: server.started_in,
            rss: server.rss_bytes()?,
        };
        let listed = list(&mut Conn::open(server.addr)?, &instance.key)?;
        let active = listed.iter().filter(|plugin| plugin["state"] == "active").count();
        if active != plugins || listed.len() != plugins {
            bail!(
                "wanted {plugins} active plugins, GET /api/plugins lists {active} active of {}: {listed:?}",
                listed.len()
            );
        }
        server.stop()?;
        starts.push(start);
    }
    Ok(starts)
}

/// The start with the median time.
fn median(starts: &[Start]) -> Start {
    let mut sorted = starts.to_vec();
    sorted.sort_by_key(|s| s.took);
    sorted[sorted.len() / 2]
}
