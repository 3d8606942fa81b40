//! Hook latency per guest language: a server with one plugin alone takes sequential sends; the
//! host's own histogram (fresh instance + call) gives the hook's p50/p99, and the sends' round
//! trips against a server without plugins give what the plugin adds to `POST /api/messages`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::{BODY, Components, cache_dir_key, find, install, list, ms, quantile, table};
use crate::bench::clip;
use crate::bench::http::Conn;
use crate::bench::report::Report;
use crate::bench::server::Instance;

/// Sends before the measured ones: the first calls pay for page faults and lazy setup. The host's
/// histogram cannot be reset, so its figures include these.
const WARM_UP_SENDS: usize = 100;
/// Measured sends per server, one at a time on one kept-alive connection…
const SENDS: usize = 2_000;
/// …or fewer, when a slow plugin has not finished them in this time.
const SENDS_WITHIN: Duration = Duration::from_secs(60);
/// The first start of a server with the Python plugin compiles 18 MB of WebAssembly.
const READY_WITHIN: Duration = Duration::from_secs(600);

/// One plugin measured alone.
struct Case {
    language: &'static str,
    plugin: &'static str,
    /// The hook's p50 target in µs, where one is set.
    target_us: Option<u64>,
}

const CASES: &[Case] = &[
    Case {
        language: "Rust",
        plugin: "template",
        target_us: Some(40),
    },
    Case {
        language: "Rust",
        plugin: "recipient-filter",
        target_us: Some(40),
    },
    Case {
        language: "JavaScript",
        plugin: "js-signature",
        target_us: Some(300),
    },
    Case {
        language: "Python",
        plugin: "py-keyword-filter",
        target_us: Some(2_000),
    },
    Case {
        language: "C",
        plugin: "c-length-guard",
        target_us: None,
    },
];

/// What one server measured.
struct Run {
    /// Round trips of the measured sends, sorted.
    round_trips: Vec<Duration>,
    /// The plugin as `GET /api/plugins` listed it after the sends (none for the baseline).
    listed: Option<Value>,
    sample_answer: String,
    refusals: Refusals,
}

/// Sends after the first that were not answered 202.
#[derive(Default)]
struct Refusals {
    count: u64,
    /// The first one's status and body.
    first: Option<String>,
}

impl Refusals {
    fn note(&self, server: &str, sends: u64, report: &mut Report) {
        if let Some(first) = &self.first {
            report.note(format!(
                "{server}: {} of {sends} sends were not answered 202 (their round trips are in the figures); the first: {first}",
                self.count
            ));
        }
    }
}

impl Run {
    fn e2e_json(&self) -> Value {
        let total: Duration = self.round_trips.iter().sum();
        json!({
            "sends": self.round_trips.len(),
            "p50_ms": ms(quantile(&self.round_trips, 0.5)),
            "p99_ms": ms(quantile(&self.round_trips, 0.99)),
            "mean_ms": ms(total) / self.round_trips.len().max(1) as f64,
            "refused": self.refusals.count,
            "first_refusal": self.refusals.first,
        })
    }
}

pub fn run(binary: &Path, root: &Path, components: &Components, report: &mut Report) -> Result<()> {
    let cache = root.join("latency-cache");
    println!("xtask bench: POST /api/messages without plugins");
    let baseline = measure(binary, root, &cache, None)?;
    let base_p50 = quantile(&baseline.round_trips, 0.5);
    report.raw.insert("plugins_latency_none".into(), baseline.e2e_json());
    let sends = (WARM_UP_SENDS + baseline.round_trips.len()) as u64;
    baseline.refusals.note("without plugins", sends, report);
    report.info(
        &format!(
            "POST /api/messages without plugins: p50 / p99 ({} sequential sends, 1 kept-alive conn)",
            baseline.round_trips.len()
        ),
        format!(
            "{:.3} ms / {:.3} ms",
            ms(base_p50),
            ms(quantile(&baseline.round_trips, 0.99))
        ),
    );
    let mut failed = Vec::new();
    for case in CASES {
        println!("xtask bench: hook latency of {} ({})", case.plugin, case.language);
        match measure(
            binary,
            root,
            &cache,
            Some((case.plugin, &components.example(case.plugin))),
        ) {
            Ok(with) => tabulate(case, &with, base_p50, report),
            Err(err) => {
                report.note(format!("hook latency of {}: {err:#}", case.plugin));
                failed.push(case.plugin);
            }
        }
    }
    if !failed.is_empty() {
        bail!("no latency figures for {}", failed.join(", "));
    }
    Ok(())
}

/// Starts a server with `plugin` alone (or none), warms it up, times the sends one by one and reads
/// the plugin's figures.
fn measure(binary: &Path, root: &Path, cache: &Path, plugin: Option<(&str, &Path)>) -> Result<Run> {
    let dir = root.join(format!("latency-{}", plugin.map_or("none", |(name, _)| name)));
    std::fs::create_dir_all(&dir)?;
    let mut instance = Instance::new(binary, &dir)?;
    instance.ready_within = READY_WITHIN;
    instance.plugins_config = cache_dir_key(cache);
    if let Some((name, component)) = plugin {
        instance.plugins_config.push_str(table(name));
        install(component, &dir.join("plugins.d"), name)?;
    }
    let server = instance.start()?;
    let mut conn = Conn::open(server.addr)?;
    let headers = [
        ("Content-Type", "application/json"),
        ("X-API-Key", instance.key.as_str()),
    ];
    let first = conn.send("POST", "/api/messages", &headers, BODY)?;
    if first.status != 202 {
        bail!("the first POST /api/messages answered {}: {}", first.status, first.body);
    }
    // Later refusals (a filter over its time budget fails closed) are counted, not fatal.
    let mut refusals = Refusals::default();
    let mut send = || -> Result<()> {
        let answer = conn.send("POST", "/api/messages", &headers, BODY)?;
        if answer.status != 202 {
            refusals.count += 1;
            refusals
                .first
                .get_or_insert(format!("{} {}", answer.status, answer.body));
        }
        Ok(())
    };
    for _ in 1..WARM_UP_SENDS {
        send()?;
    }
    let mut round_trips = Vec::with_capacity(SENDS);
    let began = Instant::now();
    while round_trips.len() < SENDS && began.elapsed() < SENDS_WITHIN {
        let sent = Instant::now();
        send()?;
        round_trips.push(sent.elapsed());
    }
    round_trips.sort();
    let listed = match plugin {
        Some((name, _)) => {
            let plugins = list(&mut conn, &instance.key)?;
            let listed = find(&plugins, name).cloned();
            Some(listed.with_context(|| format!("GET /api/plugins does not list {name}: {plugins:?}"))?)
        }
        None => None,
    };
    drop(conn);
    server.stop()?;
    Ok(Run {
        round_trips,
        listed,
        sample_answer: first.body,
        refusals,
    })
}

fn tabulate(case: &Case, with: &Run, base_p50: Duration, report: &mut Report) {
    let listed = with.listed.as_ref().expect("a plugin run lists its plugin");
    let figure = |key: &str| listed[key].as_u64();
    let (calls, failures) = (figure("calls").unwrap_or(0), figure("failures").unwrap_or(0));
    let sends = (WARM_UP_SENDS + with.round_trips.len()) as u64;
    report.raw.insert(
        format!("plugins_latency_{}", case.plugin),
        json!({
            "language": case.language,
            "hook": listed,
            "e2e": with.e2e_json(),
            "sample_answer": clip(&with.sample_answer, 400),
        }),
    );
    if calls != sends || failures > 0 {
        report.note(format!(
            "{}: {calls} hook calls ({failures} failed) for {sends} sends; state {}, load error {}",
            case.plugin, listed["state"], listed["loadError"]
        ));
    }
    with.refusals.note(case.plugin, sends, report);
    let failed = if failures > 0 {
        format!(", {failures} failed")
    } else {
        String::new()
    };
    let label = format!(
        "{} hook p50 / p99: {} {} (fresh instance + call, {calls} calls{failed})",
        hooks(listed),
        case.language,
        case.plugin
    );
    let measured = match (figure("p50Us"), figure("p99Us")) {
        (Some(p50), Some(p99)) => format!("{p50} µs / {p99} µs"),
        _ => "no calls recorded".into(),
    };
    match case.target_us {
        Some(target) => {
            let met = figure("p50Us").is_some_and(|p50| p50 <= target);
            report.check(&label, measured, &target_text(target), met);
        }
        None => report.info(&label, measured),
    }
    let p50 = quantile(&with.round_trips, 0.5);
    report.info(
        &format!(
            "POST /api/messages p50 with {} vs without plugins ({} sends)",
            case.plugin,
            with.round_trips.len()
        ),
        format!(
            "{:.3} ms vs {:.3} ms: {:+.3} ms, ×{:.2}",
            ms(p50),
            ms(base_p50),
            ms(p50) - ms(base_p50),
            p50.as_secs_f64() / base_p50.as_secs_f64().max(1e-9)
        ),
    );
}

fn target_text(us: u64) -> String {
    if us >= 1_000 && us.is_multiple_of(1_000) {
        format!("p50 ≤ {} ms", us / 1_000)
    } else {
        format!("p50 ≤ {us} µs")
    }
}

/// The plugin's hooks as listed, joined: `template`, `filter`.
fn hooks(listed: &Value) -> String {
    let names: Vec<&str> = listed["hooks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if names.is_empty() {
        "plugin".into()
    } else {
        names.join("+")
    }
}
