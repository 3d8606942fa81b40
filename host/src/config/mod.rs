//! Configuration: where it comes from (`config.toml`, `.env`, `WAPI_*` variables) and what it
//! means once checked. Parts of the gateway receive the resolved pieces they need, never the
//! raw file.

mod raw;
mod resolve;

pub use raw::RawConfig;
pub use resolve::{
    AntiBan, Backend, Config, LimitsConfig, LogConfig, PluginsConfig, ServerConfig, SimulatorConfig, StorageConfig,
    TlsFiles, Typing, WebhooksConfig, parse_duration, parse_size,
};

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

/// Variables that start with `WAPI_` but are not configuration keys.
const NOT_CONFIG_KEYS: &[&str] = &["config", "admin_key", "clock_start", "log"];

/// Why the gateway refuses to start with a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("config: {0}")]
    Parse(String),
    #[error("config key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

/// Reads the file at `path`, the `.env` beside it, and the environment, then resolves them.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let raw = read_raw(path)?;
    let base = path
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    resolve::resolve(raw, &base)
}

/// Stage one: the file, `.env` and variables merged into the shape of the file.
pub fn read_raw(path: &Path) -> Result<RawConfig, ConfigError> {
    if !path.is_file() {
        return Err(ConfigError::File {
            path: path.into(),
            reason: "not found".into(),
        });
    }
    if let Some(dir) = path.parent() {
        let env_file = dir.join(".env");
        if env_file.is_file() {
            dotenvy::from_path(&env_file).map_err(|e| ConfigError::File {
                path: env_file.clone(),
                reason: e.to_string(),
            })?;
        }
    }
    Figment::from(Serialized::defaults(RawConfig::default()))
        .merge(Toml::file_exact(path))
        .merge(Env::prefixed("WAPI_").split("__").ignore(NOT_CONFIG_KEYS))
        // The seed page documents DAILY_SEND_LIMIT in .env; it stays accepted.
        .merge(
            Env::raw()
                .only(&["DAILY_SEND_LIMIT"])
                .map(|_| "antiban.daily_limit".into()),
        )
        .extract::<RawConfig>()
        .map_err(|e| ConfigError::Parse(e.to_string()))
}

/// Resolves configuration text alone (no `.env`, no environment), relative to `base`: for tests
/// and tools that build a gateway in process.
pub fn from_toml(text: &str, base: &Path) -> Result<Config, ConfigError> {
    let raw = Figment::from(Serialized::defaults(RawConfig::default()))
        .merge(Toml::string(text))
        .extract::<RawConfig>()
        .map_err(|e| ConfigError::Parse(e.to_string()))?;
    resolve::resolve(raw, base)
}

#[cfg(test)]
mod tests;
