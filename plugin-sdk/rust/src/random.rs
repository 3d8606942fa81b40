//! Random bytes from the host's cryptographic generator.
//!
//! ```no_run
//! let nonce = wapi_plugin_sdk::random::bytes(16);
//! assert_eq!(nonce.len(), 16);
//! ```

use crate::bindings::wapi::plugin::host;

/// `len` random bytes (at most 1024 per call).
pub fn bytes(len: u32) -> Vec<u8> {
    host::random_bytes(len)
}
