//! The gateway's clock. Plugins have no other: WASI clocks are not offered.
//!
//! ```no_run
//! let started = wapi_plugin_sdk::clock::now_ms();
//! ```

use crate::bindings::wapi::plugin::host;

/// Milliseconds since the Unix epoch (UTC), as the gateway sees it (tests may move it).
pub fn now_ms() -> u64 {
    host::now_ms()
}
