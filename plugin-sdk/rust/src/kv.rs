//! The plugin's own persistent key-value store: the only state that outlives a call.
//!
//! Keys are 1 to 256 bytes; the whole store is capped by the gateway's `plugins.kv_max_bytes`.
//!
//! ```no_run
//! use wapi_plugin_sdk::kv;
//!
//! let seen: u64 = kv::get("seen").and_then(|n| n.parse().ok()).unwrap_or(0);
//! kv::set("seen", &(seen + 1).to_string()).expect("the store is full");
//! kv::delete("obsolete");
//! ```

use crate::bindings::wapi::plugin::host;

/// The value stored under `key`, if any.
pub fn get(key: &str) -> Option<String> {
    host::kv_get(key)
}

/// Stores `value` under `key`. Refused, with the reason, when the key is empty or longer than
/// 256 bytes, or when the store would grow past its cap.
pub fn set(key: &str, value: &str) -> Result<(), String> {
    host::kv_set(key, value)
}

/// Removes `key`; nothing happens when it is absent.
pub fn delete(key: &str) {
    host::kv_delete(key);
}
