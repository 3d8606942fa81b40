//! Figure 5, the plugin platform: hook latency per guest language, hot-reload latency and cold
//! start with the example plugins, each against the release binary on the simulator backend.

mod cold_start;
mod latency;
mod reload;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::bench::http::Conn;
use crate::bench::machine;
use crate::bench::report::Report;
use crate::paths;

/// The text every plugin bench send carries; `{{name}}` gives the template plugin work.
pub const BODY: &str = r#"{"to":"15551234567","text":"Hello {{name}}, this is a bench message"}"#;

/// Each example plugin's `[plugins.NAME]` table as the bench configures it: every filter allows
/// [`BODY`], every template rewrites it.
const TABLES: &[(&str, &str)] = &[
    ("template", "[plugins.template.defaults]\nname = \"Sara\"\n"),
    (
        "recipient-filter",
        "[plugins.recipient-filter]\nallow_prefixes = [\"1\", \"92\"]\ndeny_prefixes = [\"4420\", \"4479\"]\n",
    ),
    (
        "js-signature",
        "[plugins.js-signature]\nsignature = \"\\n— sent by the wapi bench\"\n",
    ),
    (
        "py-keyword-filter",
        "[plugins.py-keyword-filter]\nblocked_words = [\"casino\", \"free money\"]\nmax_links = 1\n",
    ),
    ("c-length-guard", "[plugins.c-length-guard]\nmax_chars = 1000\n"),
];

/// Where the components are: the examples as `cargo xtask plugins` publishes them, the fixtures
/// where their workspace builds them.
pub struct Components {
    examples: PathBuf,
    fixtures: PathBuf,
}

impl Components {
    /// An example plugin, `plugins/NAME` built.
    fn example(&self, name: &str) -> PathBuf {
        self.examples.join(format!("{name}.wasm"))
    }

    /// A test fixture by crate name (`stamp_a`).
    fn fixture(&self, name: &str) -> PathBuf {
        self.fixtures.join(format!("{name}.wasm"))
    }

    /// Every published example plugin, by name.
    fn all_examples(&self) -> Result<Vec<(String, PathBuf)>> {
        let mut found = Vec::new();
        for entry in
            std::fs::read_dir(&self.examples).with_context(|| format!("listing {}", self.examples.display()))?
        {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".wasm").filter(|_| !name.starts_with('.')) {
                found.push((stem.to_owned(), path));
            }
        }
        found.sort();
        Ok(found)
    }
}

/// Builds the plugins (skipping what is up to date) and runs the three plugin figures; one that
/// fails is noted and the others still run.
pub fn run(binary: &Path, scratch: &Path, report: &mut Report) -> Result<()> {
    println!("xtask bench: building the plugins (cargo xtask plugins)");
    let components = Components {
        examples: scratch.join("plugins-built"),
        fixtures: paths::workspace_root().join("tests/fixtures/plugins/target/wasm32-wasip2/release"),
    };
    crate::plugins::build_and_publish(&components.examples).context("building the plugins")?;
    let root = scratch.join("plugins");
    std::fs::create_dir_all(&root)?;
    note_busy(report, "before")?;
    let figures: [(&str, Result<()>); 3] = [
        ("hook latency", latency::run(binary, &root, &components, report)),
        ("hot reload", reload::run(binary, &root, &components, report)),
        ("cold start", cold_start::run(binary, &root, &components, report)),
    ];
    note_busy(report, "after")?;
    let failed: Vec<String> = figures
        .into_iter()
        .filter_map(|(what, outcome)| outcome.err().map(|err| format!("{what}: {err:#}")))
        .collect();
    if !failed.is_empty() {
        bail!("plugin figures incomplete:\n{}", failed.join("\n"));
    }
    Ok(())
}

/// Latency figures read high on a busy machine: the share of CPU other work took is in the table.
fn note_busy(report: &mut Report, when: &str) -> Result<()> {
    let busy = machine::busy_share(Duration::from_secs(1))?;
    super::record_busy(report, busy, when, "plugin runs", "high and noisy");
    Ok(())
}

/// The `[plugins.NAME]` table the bench uses for `name` (empty when it needs none).
fn table(name: &str) -> &'static str {
    TABLES
        .iter()
        .find(|(plugin, _)| *plugin == name)
        .map_or("", |(_, table)| table)
}

/// `cache_dir = "..."` for the `[plugins]` section.
fn cache_dir_key(dir: &Path) -> String {
    format!("cache_dir = \"{}\"\n", dir.display())
}

/// Copies a component into a plugins folder as `NAME.wasm`.
fn install(component: &Path, plugins_dir: &Path, name: &str) -> Result<()> {
    let dest = plugins_dir.join(format!("{name}.wasm"));
    std::fs::copy(component, &dest)
        .with_context(|| format!("copying {} to {}", component.display(), dest.display()))?;
    Ok(())
}

/// `GET /api/plugins` with the admin key: the plugins as the server lists them.
fn list(conn: &mut Conn, key: &str) -> Result<Vec<Value>> {
    let answer = conn.send("GET", "/api/plugins", &[("X-API-Key", key)], "")?;
    if answer.status != 200 {
        bail!("GET /api/plugins answered {}: {}", answer.status, answer.body);
    }
    let json: Value = serde_json::from_str(&answer.body).context("GET /api/plugins: not JSON")?;
    json["data"]
        .as_array()
        .cloned()
        .with_context(|| format!("GET /api/plugins: no data array in {}", answer.body))
}

/// The listed plugin `name`.
fn find<'a>(plugins: &'a [Value], name: &str) -> Option<&'a Value> {
    plugins.iter().find(|plugin| plugin["name"] == name)
}

/// The nearest-rank `q` quantile (0–1) of sorted samples.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
