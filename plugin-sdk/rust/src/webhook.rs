//! Signed webhooks, delivered by the gateway.
//!
//! The host signs the payload (Standard Webhooks, with `secret` from the plugin's config table),
//! persists the delivery, retries it with back-off and dead-letters it when every attempt
//! failed. The reserved config keys `secret` and `allow_private` are read by the host itself.
//!
//! ```no_run
//! use wapi_plugin_sdk::webhook;
//!
//! let payload = r#"{"type":"ping","timestamp":"2025-01-01T00:00:00.000Z","data":{}}"#;
//! match webhook::deliver("https://example.com/hooks/wapi", payload) {
//!     Ok(id) => wapi_plugin_sdk::log::debug(&format!("queued delivery {id}")),
//!     Err(reason) => wapi_plugin_sdk::log::warn(&format!("refused: {reason}")),
//! }
//! ```

use crate::bindings::wapi::plugin::host;

/// Asks the host to deliver `payload` (a JSON document) to `url`. Returns the delivery id
/// (`msg_...`), or why it was refused (bad URL, payload not JSON or too large, no secret
/// configured, private address not allowed).
pub fn deliver(url: &str, payload: &str) -> Result<String, String> {
    host::deliver_webhook(url, payload)
}
