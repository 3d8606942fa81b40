//! Lines in the gateway's log, tagged with the plugin's name.
//!
//! ```no_run
//! use wapi_plugin_sdk::log;
//!
//! log::info("starting");
//! log::warn(&format!("config key `{}` is missing", "url"));
//! ```

use crate::bindings::wapi::plugin::host;
use crate::types::Level;

/// Writes `message` at `level`.
pub fn write(level: Level, message: &str) {
    host::log(level, message);
}

/// Writes a debug line.
pub fn debug(message: &str) {
    write(Level::Debug, message);
}

/// Writes an info line.
pub fn info(message: &str) {
    write(Level::Info, message);
}

/// Writes a warning.
pub fn warn(message: &str) {
    write(Level::Warn, message);
}

/// Writes an error line.
pub fn error(message: &str) {
    write(Level::Error, message);
}
