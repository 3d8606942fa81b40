//! The plugin's config table, `[plugins.NAME]` in `config.toml`.
//!
//! The host hands values over as text: strings as they are, numbers, booleans, arrays and
//! tables as JSON (`["92", "44"]`, `5`, `true`). [`get`] gives that text; [`list`], [`bool`](fn@bool)
//! and [`number`] read it as a list, a boolean or a number, and fail with a message naming the
//! key when it is something else. The `parse_*` functions do the same on text you already
//! have, which is what a plugin's native tests want.
//!
//! The keys `on_error`, `secret` and `allow_private` are read by the host itself.
//!
//! ```no_run
//! use wapi_plugin_sdk::config;
//!
//! # fn run() -> Result<(), String> {
//! let url = config::get("url").ok_or("config key `url` is required")?;
//! let events = config::list("events")?; // [] when absent
//! let groups = config::bool("groups")?.unwrap_or(true);
//! let spin_ms = config::number("spin_ms")?.unwrap_or(0.0);
//! let everything = config::get_json(); // the whole table, a JSON object
//! # Ok(()) }
//! ```

use crate::bindings::wapi::plugin::host;
use serde_json::Value;

/// The raw text of `key`, if the table has it.
pub fn get(key: &str) -> Option<String> {
    host::config_get(key)
}

/// The plugin's whole config table, as a JSON object's text.
pub fn get_json() -> String {
    host::config_json()
}

/// `key` as a list of strings; empty when absent. See [`parse_list`].
pub fn list(key: &str) -> Result<Vec<String>, String> {
    get(key).map_or(Ok(Vec::new()), |raw| parse_list(key, &raw))
}

/// `key` as a boolean, `None` when absent. See [`parse_bool`].
pub fn bool(key: &str) -> Result<Option<bool>, String> {
    get(key).map(|raw| parse_bool(key, &raw)).transpose()
}

/// `key` as a number, `None` when absent. See [`parse_number`].
pub fn number(key: &str) -> Result<Option<f64>, String> {
    get(key).map(|raw| parse_number(key, &raw)).transpose()
}

/// Reads a list from a key's text: a JSON array of strings, numbers or booleans (a TOML array),
/// or else a comma-separated string. Items are trimmed and empty ones dropped.
///
/// ```
/// use wapi_plugin_sdk::config::parse_list;
///
/// assert_eq!(parse_list("k", r#"["92", 44]"#), Ok(vec!["92".to_string(), "44".to_string()]));
/// assert_eq!(parse_list("k", "sent, failed,"), Ok(vec!["sent".to_string(), "failed".to_string()]));
/// assert_eq!(parse_list("k", "923001234567"), Ok(vec!["923001234567".to_string()]));
/// assert!(parse_list("k", r#"[{"a": 1}]"#).is_err());
/// ```
pub fn parse_list(key: &str, raw: &str) -> Result<Vec<String>, String> {
    let raw = raw.trim();
    if !raw.starts_with('[') {
        return Ok(split_commas(raw));
    }
    let items: Vec<Value> =
        serde_json::from_str(raw).map_err(|e| format!("config key `{key}` is not a valid list: {e}"))?;
    let mut list = Vec::with_capacity(items.len());
    for item in items {
        let text = match item {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => return Err(format!("config key `{key}` must list strings, not {other}")),
        };
        let text = text.trim();
        if !text.is_empty() {
            list.push(text.to_owned());
        }
    }
    Ok(list)
}

/// The non-empty, trimmed parts of a comma-separated string.
fn split_commas(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Reads a boolean from a key's text: `true` or `false`.
///
/// ```
/// use wapi_plugin_sdk::config::parse_bool;
///
/// assert_eq!(parse_bool("groups", "false"), Ok(false));
/// assert!(parse_bool("groups", "no").is_err());
/// ```
pub fn parse_bool(key: &str, raw: &str) -> Result<bool, String> {
    match raw.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("config key `{key}` must be true or false, not `{other}`")),
    }
}

/// Reads a number from a key's text (an integer or a float, as TOML writes them).
///
/// ```
/// use wapi_plugin_sdk::config::parse_number;
///
/// assert_eq!(parse_number("spin_ms", "250"), Ok(250.0));
/// assert_eq!(parse_number("ratio", "0.5"), Ok(0.5));
/// assert!(parse_number("spin_ms", "soon").is_err());
/// ```
pub fn parse_number(key: &str, raw: &str) -> Result<f64, String> {
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or_else(|| format!("config key `{key}` must be a number, not `{}`", raw.trim()))
}
