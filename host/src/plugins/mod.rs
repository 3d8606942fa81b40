//! The plugin platform (PRODUCT.md §5): WebAssembly components from the watched folder
//! `plugins.dir`, called at three hooks — `template` and `filter` before a message is queued,
//! `events` in the background — in the configured order, each call in a fresh sandboxed
//! instance. The interface is `plugin-sdk/wit`.
//!
//! The published set of plugins is an immutable [`Registry`] behind an `ArcSwap`: a call holds
//! the `Arc` of the version it started on, so a reload never disturbs calls in flight, and a
//! file that fails to load never replaces the version that works.

mod bindings;
mod cache;
mod events;
mod hooks;
mod host_api;
mod load;
mod runtime;
mod stats;
mod watch;

pub use events::{event_hook, place_cursors};
pub use hooks::{Outgoing, TemplateOutcome};
pub use host_api::Deliveries;
pub use load::compatible;
pub use runtime::Failure;
pub use stats::StatsView;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::clock::Clock;
use crate::config::PluginsConfig;
use crate::store::Store;
use crate::supervise::Start;
use bindings::PluginPre;
use load::Candidate;
use runtime::{Runtime, State};
use stats::Stats;

/// The hooks a plugin can implement, in the order a message meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hook {
    Template = 0,
    Filter = 1,
    Events = 2,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Template => "template",
            Self::Filter => "filter",
            Self::Events => "events",
        }
    }
}

impl From<runtime::wit::Hook> for Hook {
    fn from(hook: runtime::wit::Hook) -> Self {
        match hook {
            runtime::wit::Hook::Template => Self::Template,
            runtime::wit::Hook::Filter => Self::Filter,
            runtime::wit::Hook::Events => Self::Events,
        }
    }
}

/// One loaded version of a plugin: linked, described, ready to instantiate.
pub struct Loaded {
    pub name: Arc<str>,
    pub version: String,
    pub hooks: Vec<Hook>,
    /// SHA-256 of the file, hex.
    pub hash: String,
    /// The `wapi:plugin` version it was built for.
    pub interface: String,
    pre: PluginPre<State>,
    config: Arc<serde_json::Map<String, serde_json::Value>>,
    /// `on_error = "allow"`: a failing filter lets the message through.
    pub on_error_allow: bool,
    /// Guest time per call: `budget` in its table, else `plugins.budget`.
    pub budget: std::time::Duration,
    /// The counters of its name, shared with the registry entry (they outlive versions).
    stats: Arc<Stats>,
}

impl Loaded {
    pub fn has(&self, hook: Hook) -> bool {
        self.hooks.contains(&hook)
    }
}

/// What the folder holds under one name: the version serving (if any) and the last load error.
#[derive(Clone)]
struct Entry {
    file: PathBuf,
    active: Option<Arc<Loaded>>,
    /// The hash of the newest file seen under this name, loaded or not.
    seen_hash: String,
    /// Its size and modification time: an unchanged stamp is not read again.
    seen_stamp: Option<(u64, std::time::SystemTime)>,
    error: Option<String>,
    stats: Arc<Stats>,
}

/// The published plugins: every entry by name, and the serving ones in call order.
#[derive(Default)]
pub struct Registry {
    entries: BTreeMap<String, Entry>,
    ordered: Vec<Arc<Loaded>>,
}

impl Registry {
    fn with(&self, order: &[String], change: impl FnOnce(&mut BTreeMap<String, Entry>)) -> Self {
        let mut entries = self.entries.clone();
        change(&mut entries);
        let mut ordered: Vec<Arc<Loaded>> = entries.values().filter_map(|e| e.active.clone()).collect();
        let rank = |name: &str| order.iter().position(|o| o == name).unwrap_or(usize::MAX);
        ordered.sort_by(|a, b| rank(&a.name).cmp(&rank(&b.name)).then_with(|| a.name.cmp(&b.name)));
        Self { entries, ordered }
    }

    /// The serving plugins with `hook`, in call order.
    pub fn with_hook(&self, hook: Hook) -> impl Iterator<Item = &Arc<Loaded>> {
        self.ordered.iter().filter(move |p| p.has(hook))
    }
}

/// What is known of a plugin: its serving version, its last load error, its counters.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    /// The file's stem: `template.wasm` is plugin `template`, configured in `[plugins.template]`.
    pub name: String,
    pub file: String,
    /// `active` (serving), `failed` (no version serving: see `loadError`).
    pub state: &'static str,
    /// The serving version's own version string.
    pub version: Option<String>,
    pub hooks: Vec<Hook>,
    /// SHA-256 of the serving file.
    pub hash: Option<String>,
    /// The `wapi:plugin` interface version it was built for.
    pub interface: Option<String>,
    /// Why the newest file under this name did not load (the previous version, if any, still serves).
    pub load_error: Option<String>,
    /// Position in the call order (1 = first).
    pub order: Option<usize>,
    pub calls: u64,
    pub failures: u64,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
}

/// The cheap-clone handle to the plugin platform.
#[derive(Clone)]
pub struct Plugins {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Arc<Runtime>,
    registry: ArcSwap<Registry>,
    config: PluginsConfig,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
}

impl Plugins {
    /// Builds the runtime and loads every plugin in the folder (creating it if absent). The
    /// folder is not watched until [`Plugins::watcher`].
    pub async fn start(
        config: &PluginsConfig,
        store: Store,
        clock: Clock,
        deliveries: Arc<dyn Deliveries>,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        std::fs::create_dir_all(&config.dir)
            .with_context(|| format!("plugins.dir: creating {}", config.dir.display()))?;
        let services = host_api::Services {
            store,
            clock,
            kv_max_bytes: config.kv_max_bytes,
            deliveries,
        };
        let runtime = Runtime::new(config, services).context("starting the plugin runtime")?;
        let plugins = Self {
            inner: Arc::new(Inner {
                runtime: Arc::new(runtime),
                registry: ArcSwap::from_pointee(Registry::default()),
                config: config.clone(),
                reloading: tokio::sync::Mutex::new(()),
            }),
        };
        plugins.rescan().await;
        Ok(plugins)
    }

    /// What watches the folder until `shutdown`: every change is loaded after `plugins.debounce`
    /// of quiet. The first watch is set up here (an error if the folder cannot be watched); every
    /// start after the first sets up a new one, and ends at once, logged, if it cannot.
    pub fn watcher(&self, shutdown: tokio_util::sync::CancellationToken) -> anyhow::Result<impl Start> {
        let mut first = Some(watch::Watcher::start(self.clone())?);
        let plugins = self.clone();
        Ok(move || {
            let (ready, plugins, shutdown) = (first.take(), plugins.clone(), shutdown.clone());
            async move {
                let watcher = match ready.map_or_else(|| watch::Watcher::start(plugins), Ok) {
                    Ok(watcher) => watcher,
                    Err(e) => return tracing::error!(error = %e, "plugins.dir: cannot watch the folder"),
                };
                watcher.run(shutdown).await
            }
        })
    }

    pub fn dir(&self) -> &Path {
        &self.inner.config.dir
    }

    /// The published set, as of now.
    pub fn registry(&self) -> Arc<Registry> {
        self.inner.registry.load_full()
    }

    /// True when a serving plugin has `hook`.
    pub fn has(&self, hook: Hook) -> bool {
        self.inner.registry.load().with_hook(hook).next().is_some()
    }

    /// Every plugin in the folder, in call order, then the failed ones by name.
    pub fn list(&self) -> Vec<PluginInfo> {
        let registry = self.inner.registry.load();
        let mut views: Vec<PluginInfo> = registry
            .entries
            .iter()
            .map(|(name, entry)| {
                let stats = entry.stats.view();
                let active = entry.active.as_ref();
                PluginInfo {
                    name: name.clone(),
                    file: entry.file.display().to_string(),
                    state: if active.is_some() { "active" } else { "failed" },
                    version: active.map(|a| a.version.clone()),
                    hooks: active.map(|a| a.hooks.clone()).unwrap_or_default(),
                    hash: active.map(|a| a.hash.clone()),
                    interface: active.map(|a| a.interface.clone()),
                    load_error: entry.error.clone(),
                    order: registry.ordered.iter().position(|p| &*p.name == name).map(|i| i + 1),
                    calls: stats.calls,
                    failures: stats.failures,
                    p50_us: stats.p50_us,
                    p99_us: stats.p99_us,
                }
            })
            .collect();
        views.sort_by_key(|v| (v.order.unwrap_or(usize::MAX), v.name.clone()));
        views
    }

    /// Brings the registry in line with the folder: loads new and changed files, drops removed
    /// ones. A file that fails keeps the previous version serving and records its error.
    pub async fn rescan(&self) {
        let _one_at_a_time = self.inner.reloading.lock().await;
        let files = match list_folder(&self.inner.config.dir) {
            Ok(files) => files,
            Err(e) => {
                tracing::error!(dir = %self.inner.config.dir.display(), error = %e, "cannot read the plugins folder");
                return;
            }
        };
        let current = self.inner.registry.load_full();
        for gone in current.entries.keys().filter(|n| !files.contains_key(*n)) {
            tracing::info!(plugin = gone.as_str(), "plugin removed");
        }
        self.publish(|entries| entries.retain(|name, _| files.contains_key(name)));
        for (name, path) in files {
            let known = self.inner.registry.load().entries.get(&name).cloned();
            let stamp = file_stamp(&path);
            if stamp.is_some() && known.as_ref().is_some_and(|e| e.seen_stamp == stamp) {
                continue;
            }
            let candidate = match Candidate::read(&name, &path) {
                Ok(c) => c,
                Err(e) => {
                    // Removed or replaced while we looked: the next event brings it back.
                    tracing::debug!(plugin = name, error = %e, "plugin file vanished while reading");
                    continue;
                }
            };
            let hash = candidate.hash.clone();
            let stats = known
                .as_ref()
                .map_or_else(|| Arc::new(Stats::new(&name)), |e| e.stats.clone());
            let outcome = if known.as_ref().is_some_and(|e| e.seen_hash == hash) {
                None
            } else {
                let table = self.inner.config.table(&name);
                let cache = &self.inner.config.cache_dir;
                let loaded = load::load(&self.inner.runtime, cache, candidate, table, stats.clone()).await;
                if let Err(error) = &loaded {
                    tracing::error!(plugin = name, file = %path.display(), error, "plugin not loaded; any previous version keeps serving");
                    metrics::counter!("wapi_plugin_load_failures_total", "plugin" => name.clone()).increment(1);
                }
                Some(loaded)
            };
            self.publish(|entries| {
                let entry = entries.entry(name.clone()).or_insert_with(|| Entry {
                    file: path.clone(),
                    active: None,
                    seen_hash: String::new(),
                    seen_stamp: None,
                    error: None,
                    stats,
                });
                entry.file = path.clone();
                entry.seen_hash = hash;
                entry.seen_stamp = stamp;
                match outcome {
                    None => {}
                    Some(Ok(loaded)) => {
                        entry.active = Some(Arc::new(loaded));
                        entry.error = None;
                    }
                    Some(Err(error)) => entry.error = Some(error),
                }
            });
        }
        self.prune_cache().await;
    }

    /// Drops cached artifacts that nothing loaded has used for a day (see `cache::prune`).
    async fn prune_cache(&self) {
        let engine = &self.inner.runtime.engine;
        let in_use: Vec<String> = self
            .inner
            .registry
            .load()
            .entries
            .values()
            .filter_map(|e| e.active.as_ref())
            .map(|loaded| cache::prefix(engine, &loaded.hash))
            .collect();
        let dir = self.inner.config.cache_dir.clone();
        let now = std::time::SystemTime::now();
        match tokio::task::spawn_blocking(move || cache::prune(&dir, &in_use, now)).await {
            Ok((0, _)) | Err(_) => {}
            Ok((files, bytes)) => {
                tracing::info!(files, bytes, "removed cached plugins nothing loaded has used for a day")
            }
        }
    }

    fn publish(&self, change: impl FnOnce(&mut BTreeMap<String, Entry>)) {
        let next = self.inner.registry.load().with(&self.inner.config.order, change);
        self.inner.registry.store(Arc::new(next));
    }

    fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }
}

/// A file's size and modification time, when the file system tells them.
fn file_stamp(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// `*.wasm` files of the folder by plugin name; dot-files (temporary names) are ignored.
fn list_folder(dir: &Path) -> std::io::Result<BTreeMap<String, PathBuf>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if file_name.starts_with('.') || !path.is_file() {
            continue;
        }
        if let Some(name) = file_name.strip_suffix(".wasm")
            && !name.is_empty()
        {
            files.insert(name.to_string(), path);
        }
    }
    Ok(files)
}
