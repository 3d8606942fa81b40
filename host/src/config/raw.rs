//! The configuration exactly as written: `config.toml`, then `.env`, then `WAPI_*` variables.
//!
//! Stage one of two: every field mirrors the file, unknown keys are refused, nothing is
//! interpreted yet. [`super::resolve`] turns this into the typed [`super::Config`].

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    pub server: RawServer,
    pub storage: RawStorage,
    pub whatsapp: RawWhatsApp,
    pub antiban: RawAntiBan,
    pub limits: RawLimits,
    pub plugins: RawPlugins,
    pub webhooks: RawWebhooks,
    pub log: RawLog,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawServer {
    pub listen: String,
    pub public_url: String,
    pub tls_cert: String,
    pub tls_key: String,
    pub cors_origins: Vec<String>,
    pub header_timeout: String,
    pub body_timeout: String,
    pub max_connections: u32,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            cors_origins: Vec::new(),
            header_timeout: "10s".into(),
            body_timeout: "30s".into(),
            max_connections: 512,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawStorage {
    pub path: String,
    pub media_dir: String,
}

impl Default for RawStorage {
    fn default() -> Self {
        Self {
            path: "data/wapi.db".into(),
            media_dir: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawWhatsApp {
    pub backend: String,
    pub simulator: RawSimulator,
}

impl Default for RawWhatsApp {
    fn default() -> Self {
        Self {
            backend: "web".into(),
            simulator: RawSimulator::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSimulator {
    pub auto_link: bool,
    pub not_on_whatsapp: Vec<String>,
    pub fail_sends_to: Vec<String>,
    pub fail_after_sending_to: Vec<String>,
    pub record: String,
    pub send_time: String,
}

impl Default for RawSimulator {
    fn default() -> Self {
        Self {
            auto_link: true,
            not_on_whatsapp: Vec::new(),
            fail_sends_to: Vec::new(),
            fail_after_sending_to: Vec::new(),
            record: String::new(),
            send_time: "3ms".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAntiBan {
    pub min_gap: String,
    pub max_gap: String,
    pub typing: bool,
    pub typing_min: String,
    pub typing_max: String,
    pub typing_per_char: String,
    pub cooldown_every: u32,
    pub cooldown_min: String,
    pub cooldown_max: String,
    pub daily_limit: u32,
    pub verify_numbers: bool,
    pub verify_cache: String,
    pub sync_wait: String,
    pub resend_interrupted: bool,
}

impl Default for RawAntiBan {
    fn default() -> Self {
        Self {
            min_gap: "5s".into(),
            max_gap: "9s".into(),
            typing: true,
            typing_min: "1s".into(),
            typing_max: "4s".into(),
            typing_per_char: "50ms".into(),
            cooldown_every: 20,
            cooldown_min: "30s".into(),
            cooldown_max: "60s".into(),
            daily_limit: 500,
            verify_numbers: true,
            verify_cache: "24h".into(),
            sync_wait: "15s".into(),
            resend_interrupted: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLimits {
    pub requests_per_window: u32,
    pub reads_per_window: u32,
    pub window: String,
    pub max_upload: String,
    pub max_body: String,
    pub max_text: usize,
    pub max_batch: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            requests_per_window: 120,
            reads_per_window: 1200,
            window: "15m".into(),
            max_upload: "25MB".into(),
            max_body: "4MB".into(),
            max_text: 4096,
            max_batch: 500,
        }
    }
}

/// `[plugins]`: the runtime's keys, plus one table per plugin (`[plugins.template]`), which
/// `flatten` collects; stray scalars among them are refused when resolving.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RawPlugins {
    pub dir: String,
    pub cache_dir: String,
    pub order: Vec<String>,
    pub budget: String,
    pub memory: String,
    pub kv_max_bytes: String,
    pub debounce: String,
    pub max_concurrent: u32,
    #[serde(flatten)]
    pub tables: std::collections::BTreeMap<String, serde_json::Value>,
}

impl Default for RawPlugins {
    fn default() -> Self {
        Self {
            dir: "plugins.d".into(),
            cache_dir: String::new(),
            order: Vec::new(),
            budget: "250ms".into(),
            memory: "64MB".into(),
            kv_max_bytes: "1MB".into(),
            debounce: "50ms".into(),
            max_concurrent: 64,
            tables: Default::default(),
        }
    }
}

/// `[webhooks]`: how the host delivers what plugins ask it to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawWebhooks {
    pub timeout: String,
    pub retry_schedule: Vec<String>,
    pub max_payload: String,
    pub concurrency: u32,
}

impl Default for RawWebhooks {
    fn default() -> Self {
        Self {
            timeout: "10s".into(),
            retry_schedule: ["5s", "5m", "30m", "2h", "5h", "10h", "10h"].map(String::from).to_vec(),
            max_payload: "256KB".into(),
            concurrency: 4,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLog {
    pub format: String,
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "human".into(),
            level: "info".into(),
        }
    }
}
