//! Stage two of the configuration: durations and sizes parsed, paths made absolute,
//! cross-checks done. Every refusal names the key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ConfigError, RawConfig};
use crate::send::PhoneNumber;

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub backend: Backend,
    pub antiban: AntiBan,
    pub limits: LimitsConfig,
    pub plugins: PluginsConfig,
    pub webhooks: WebhooksConfig,
    pub log: LogConfig,
}

/// The plugin runtime (PRODUCT.md §5).
#[derive(Debug, Clone)]
pub struct PluginsConfig {
    /// The watched folder of `.wasm` files.
    pub dir: PathBuf,
    /// Precompiled plugins, keyed by content hash and engine.
    pub cache_dir: PathBuf,
    /// Plugins that run first, in this order; the others follow by name.
    pub order: Vec<String>,
    /// Guest execution time per call (time spent in host calls is not counted).
    pub budget: Duration,
    /// Linear memory per call.
    pub memory: u64,
    /// Bytes each plugin may keep in its key-value store.
    pub kv_max_bytes: u64,
    /// How long the folder must be quiet before a change is loaded.
    pub debounce: Duration,
    /// Plugin instances alive at once (the pooling allocator's size).
    pub max_concurrent: u32,
    /// `[plugins.NAME]` tables: each plugin's own configuration.
    pub tables: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

impl PluginsConfig {
    /// The table of plugin `name` (empty when config.toml has none).
    pub fn table(&self, name: &str) -> serde_json::Map<String, serde_json::Value> {
        self.tables.get(name).cloned().unwrap_or_default()
    }
}

/// Webhook delivery (PRODUCT.md §5): retries, caps.
#[derive(Debug, Clone)]
pub struct WebhooksConfig {
    /// One attempt's time limit, connection to last byte.
    pub timeout: Duration,
    /// Waits before each retry; after the last one fails the delivery is dead-lettered.
    pub retry_schedule: Vec<Duration>,
    /// Largest payload a plugin may ask to deliver.
    pub max_payload: usize,
    /// Deliveries in flight at once.
    pub concurrency: usize,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub public_url: Option<String>,
    pub tls: Option<TlsFiles>,
    pub cors_origins: Vec<String>,
    /// How long a client has to send a request's headers (and a new connection its first bytes,
    /// and the TLS handshake); an idle keep-alive connection is closed after it too.
    pub header_timeout: Duration,
    /// The longest quiet time while a request body is arriving: a body that stalls longer is
    /// answered 408 and its connection closed.
    pub body_timeout: Duration,
    /// Connections open at once; past it new ones wait in the listen queue.
    pub max_connections: usize,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub path: PathBuf,
    pub media_dir: PathBuf,
    /// WhatsApp's own keys and sessions (the library's SQLite store), beside the database.
    pub whatsapp_store: PathBuf,
}

#[derive(Debug, Clone)]
pub enum Backend {
    /// The real WhatsApp Web companion (whatsapp-rust).
    Web,
    Simulator(SimulatorConfig),
}

#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    pub auto_link: bool,
    pub not_on_whatsapp: Vec<PhoneNumber>,
    pub fail_sends_to: Vec<PhoneNumber>,
    /// Sends to these numbers reach WhatsApp, then the call fails as if the connection broke
    /// after the write (a repeat of the same message id is dropped, as WhatsApp does).
    pub fail_after_sending_to: Vec<PhoneNumber>,
    pub record: Option<PathBuf>,
    pub send_time: Duration,
}

/// The anti-ban rules (PRODUCT.md §3). Every number the sender uses comes from here.
#[derive(Debug, Clone, PartialEq)]
pub struct AntiBan {
    pub min_gap: Duration,
    pub max_gap: Duration,
    pub typing: Option<Typing>,
    pub cooldown_every: u32,
    pub cooldown_min: Duration,
    pub cooldown_max: Duration,
    pub daily_limit: u32,
    pub verify_numbers: bool,
    pub verify_cache: Duration,
    pub sync_wait: Duration,
    pub resend_interrupted: bool,
}

/// "typing…" before a text send: `per_char` of the text's length, within `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Typing {
    pub min: Duration,
    pub max: Duration,
    pub per_char: Duration,
}

#[derive(Debug, Clone)]
pub struct LimitsConfig {
    pub sends_per_window: NonZeroU32,
    pub reads_per_window: NonZeroU32,
    pub window: Duration,
    pub max_upload: u64,
    pub max_body: usize,
    pub max_text: usize,
    pub max_batch: usize,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub json: bool,
    pub level: String,
}

pub(super) fn resolve(raw: RawConfig, base: &Path) -> Result<Config, ConfigError> {
    let server = resolve_server(&raw, base)?;
    let path = absolute(base, nonempty("storage.path", &raw.storage.path)?);
    let media_dir = if raw.storage.media_dir.is_empty() {
        path.parent().unwrap_or(base).join("media")
    } else {
        absolute(base, &raw.storage.media_dir)
    };
    Ok(Config {
        plugins: resolve_plugins(&raw, base, &path)?,
        webhooks: resolve_webhooks(&raw)?,
        server,
        storage: StorageConfig {
            whatsapp_store: path.with_file_name("whatsapp.db"),
            path,
            media_dir,
        },
        backend: resolve_backend(&raw, base)?,
        antiban: resolve_antiban(&raw)?,
        limits: resolve_limits(&raw)?,
        log: LogConfig {
            json: match raw.log.format.as_str() {
                "human" | "" => false,
                "json" => true,
                other => {
                    return Err(invalid("log.format", format!("`{other}` is not human or json")));
                }
            },
            level: raw.log.level.clone(),
        },
    })
}

fn resolve_server(raw: &RawConfig, base: &Path) -> Result<ServerConfig, ConfigError> {
    let s = &raw.server;
    let listen = s
        .listen
        .parse()
        .map_err(|_| invalid("server.listen", format!("`{}` is not host:port", s.listen)))?;
    let tls = match (s.tls_cert.is_empty(), s.tls_key.is_empty()) {
        (true, true) => None,
        (false, false) => Some(TlsFiles {
            cert: absolute(base, &s.tls_cert),
            key: absolute(base, &s.tls_key),
        }),
        (false, true) => {
            return Err(invalid("server.tls_key", "tls_cert is set, so tls_key must be too"));
        }
        (true, false) => {
            return Err(invalid("server.tls_cert", "tls_key is set, so tls_cert must be too"));
        }
    };
    let public_url = s.public_url.trim().trim_end_matches('/');
    let has_scheme = public_url.starts_with("http://") || public_url.starts_with("https://");
    if !public_url.is_empty() && !has_scheme {
        return Err(invalid("server.public_url", "must start with http:// or https://"));
    }
    let header_timeout = duration("server.header_timeout", &s.header_timeout)?;
    if header_timeout.is_zero() {
        return Err(invalid("server.header_timeout", "must be longer than zero"));
    }
    let body_timeout = duration("server.body_timeout", &s.body_timeout)?;
    if body_timeout.is_zero() {
        return Err(invalid("server.body_timeout", "must be longer than zero"));
    }
    if !(1..=100_000).contains(&s.max_connections) {
        return Err(invalid("server.max_connections", "must be between 1 and 100000"));
    }
    Ok(ServerConfig {
        listen,
        public_url: (!public_url.is_empty()).then(|| public_url.to_string()),
        tls,
        cors_origins: s.cors_origins.clone(),
        header_timeout,
        body_timeout,
        max_connections: s.max_connections as usize,
    })
}

fn resolve_backend(raw: &RawConfig, base: &Path) -> Result<Backend, ConfigError> {
    match raw.whatsapp.backend.as_str() {
        "web" => Ok(Backend::Web),
        "simulator" => {
            let s = &raw.whatsapp.simulator;
            let numbers = |key: &'static str, list: &[String]| {
                list.iter()
                    .map(|n| PhoneNumber::parse(n).map_err(|e| invalid(key, format!("`{n}`: {e}"))))
                    .collect::<Result<Vec<_>, _>>()
            };
            Ok(Backend::Simulator(SimulatorConfig {
                auto_link: s.auto_link,
                not_on_whatsapp: numbers("whatsapp.simulator.not_on_whatsapp", &s.not_on_whatsapp)?,
                fail_sends_to: numbers("whatsapp.simulator.fail_sends_to", &s.fail_sends_to)?,
                fail_after_sending_to: numbers("whatsapp.simulator.fail_after_sending_to", &s.fail_after_sending_to)?,
                record: (!s.record.is_empty()).then(|| absolute(base, &s.record)),
                send_time: duration("whatsapp.simulator.send_time", &s.send_time)?,
            }))
        }
        other => Err(invalid(
            "whatsapp.backend",
            format!("`{other}` is not web or simulator"),
        )),
    }
}

fn resolve_antiban(raw: &RawConfig) -> Result<AntiBan, ConfigError> {
    let a = &raw.antiban;
    let min_gap = duration("antiban.min_gap", &a.min_gap)?;
    let max_gap = duration("antiban.max_gap", &a.max_gap)?;
    ordered("antiban.max_gap", min_gap, max_gap)?;
    let typing_min = duration("antiban.typing_min", &a.typing_min)?;
    let typing_max = duration("antiban.typing_max", &a.typing_max)?;
    ordered("antiban.typing_max", typing_min, typing_max)?;
    let cooldown_min = duration("antiban.cooldown_min", &a.cooldown_min)?;
    let cooldown_max = duration("antiban.cooldown_max", &a.cooldown_max)?;
    ordered("antiban.cooldown_max", cooldown_min, cooldown_max)?;
    if a.daily_limit == 0 {
        return Err(invalid("antiban.daily_limit", "must be at least 1"));
    }
    Ok(AntiBan {
        min_gap,
        max_gap,
        typing: a.typing.then_some(Typing {
            min: typing_min,
            max: typing_max,
            per_char: duration("antiban.typing_per_char", &a.typing_per_char)?,
        }),
        cooldown_every: a.cooldown_every,
        cooldown_min,
        cooldown_max,
        daily_limit: a.daily_limit,
        verify_numbers: a.verify_numbers,
        verify_cache: duration("antiban.verify_cache", &a.verify_cache)?,
        sync_wait: duration("antiban.sync_wait", &a.sync_wait)?,
        resend_interrupted: a.resend_interrupted,
    })
}

fn resolve_limits(raw: &RawConfig) -> Result<LimitsConfig, ConfigError> {
    let l = &raw.limits;
    let nonzero = |key: &'static str, v: u32| NonZeroU32::new(v).ok_or_else(|| invalid(key, "must be at least 1"));
    let window = duration("limits.window", &l.window)?;
    if window.is_zero() {
        return Err(invalid("limits.window", "must be longer than zero"));
    }
    let max_body = size("limits.max_body", &l.max_body)?;
    if !(1..=500).contains(&l.max_batch) {
        return Err(invalid("limits.max_batch", "must be between 1 and 500"));
    }
    if l.max_text == 0 || l.max_text > 65_536 {
        return Err(invalid("limits.max_text", "must be between 1 and 65536 characters"));
    }
    Ok(LimitsConfig {
        sends_per_window: nonzero("limits.requests_per_window", l.requests_per_window)?,
        reads_per_window: nonzero("limits.reads_per_window", l.reads_per_window)?,
        window,
        max_upload: size("limits.max_upload", &l.max_upload)?,
        max_body: usize::try_from(max_body).map_err(|_| invalid("limits.max_body", "too large"))?,
        max_text: l.max_text,
        max_batch: l.max_batch,
    })
}

fn resolve_plugins(raw: &RawConfig, base: &Path, db: &Path) -> Result<PluginsConfig, ConfigError> {
    let p = &raw.plugins;
    let mut tables = BTreeMap::new();
    for (name, value) in &p.tables {
        match value {
            serde_json::Value::Object(table) => {
                tables.insert(name.clone(), table.clone());
            }
            _ => {
                return Err(ConfigError::Invalid {
                    key: format!("plugins.{name}"),
                    reason: "is not a key of [plugins]; a plugin's settings go in a table [plugins.NAME]".into(),
                });
            }
        }
    }
    let budget = duration("plugins.budget", &p.budget)?;
    if budget.is_zero() {
        return Err(invalid("plugins.budget", "must be longer than zero"));
    }
    let memory = size("plugins.memory", &p.memory)?;
    if memory < 1 << 20 {
        return Err(invalid("plugins.memory", "must be at least 1MiB"));
    }
    if !(1..=10_000).contains(&p.max_concurrent) {
        return Err(invalid("plugins.max_concurrent", "must be between 1 and 10000"));
    }
    Ok(PluginsConfig {
        dir: absolute(base, nonempty("plugins.dir", &p.dir)?),
        cache_dir: if p.cache_dir.trim().is_empty() {
            db.parent().unwrap_or(base).join("plugin-cache")
        } else {
            absolute(base, &p.cache_dir)
        },
        order: p.order.clone(),
        budget,
        memory,
        kv_max_bytes: size("plugins.kv_max_bytes", &p.kv_max_bytes)?,
        debounce: duration("plugins.debounce", &p.debounce)?,
        max_concurrent: p.max_concurrent,
        tables,
    })
}

fn resolve_webhooks(raw: &RawConfig) -> Result<WebhooksConfig, ConfigError> {
    let w = &raw.webhooks;
    let timeout = duration("webhooks.timeout", &w.timeout)?;
    if timeout.is_zero() {
        return Err(invalid("webhooks.timeout", "must be longer than zero"));
    }
    let retry_schedule = w
        .retry_schedule
        .iter()
        .map(|d| duration("webhooks.retry_schedule", d))
        .collect::<Result<Vec<_>, _>>()?;
    if retry_schedule.len() > 20 {
        return Err(invalid("webhooks.retry_schedule", "at most 20 retries"));
    }
    let max_payload = size("webhooks.max_payload", &w.max_payload)?;
    if max_payload > 16 << 20 {
        return Err(invalid("webhooks.max_payload", "must be at most 16MiB"));
    }
    if !(1..=64).contains(&w.concurrency) {
        return Err(invalid("webhooks.concurrency", "must be between 1 and 64"));
    }
    Ok(WebhooksConfig {
        timeout,
        retry_schedule,
        max_payload: max_payload as usize,
        concurrency: w.concurrency as usize,
    })
}

/// Parses "750ms", "5s", "15m", "24h" (and combinations such as "1m 30s").
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration like 750ms, 5s, 15m or 24h ({e})"))
}

/// Parses "25MB", "512KiB", "1000" (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| format!("`{text}` is not a size like 25MB or 512KiB"))
}

fn duration(key: &'static str, text: &str) -> Result<Duration, ConfigError> {
    parse_duration(text).map_err(|reason| invalid(key, reason))
}

fn size(key: &'static str, text: &str) -> Result<u64, ConfigError> {
    let bytes = parse_size(text).map_err(|reason| invalid(key, reason))?;
    if bytes == 0 {
        return Err(invalid(key, "must be larger than zero"));
    }
    Ok(bytes)
}

fn ordered(key: &'static str, low: Duration, high: Duration) -> Result<(), ConfigError> {
    if high < low {
        return Err(invalid(key, format!("{high:?} is below its minimum {low:?}")));
    }
    Ok(())
}

fn nonempty<'a>(key: &'static str, text: &'a str) -> Result<&'a str, ConfigError> {
    if text.trim().is_empty() {
        return Err(invalid(key, "must not be empty"));
    }
    Ok(text)
}

fn absolute(base: &Path, path: impl AsRef<Path>) -> PathBuf {
    let path = path.as_ref();
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}
