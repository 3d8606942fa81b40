//! Write wapi plugins in Rust.
//!
//! A wapi plugin is a WebAssembly component that the gateway loads from its `plugins.d`
//! folder. This crate hides the generated WIT bindings (`wapi:plugin@0.1.0`) behind one trait,
//! [`Plugin`], one macro, [`export_plugin!`], and safe wrappers for everything the host offers:
//! [`log`], [`config`], [`kv`], [`clock`], [`random`] and [`webhook`].
//!
//! A plugin declares the hooks it implements in [`Plugin::HOOKS`]; the host calls only those:
//!
//! - **template** ([`Plugin::template`]) rewrites an outgoing message's text before it is queued;
//! - **filter** ([`Plugin::filter`]) allows or refuses an outgoing message;
//! - **events** ([`Plugin::on_event`]) observes what happens to messages and to the session.
//!
//! Every call runs in a fresh instance: a plugin keeps nothing in memory between calls. What it
//! must remember goes in its key-value store ([`kv`]); what it is told goes in its config table
//! (`[plugins.NAME]` in `config.toml`, read with [`config`]).
//!
//! # Example
//!
//! A filter that refuses recipients listed in its config and counts what it refused:
//!
//! ```no_run
//! use wapi_plugin_sdk::{Hook, Outgoing, Plugin, Verdict, config, kv, log};
//!
//! struct Blocklist;
//!
//! impl Plugin for Blocklist {
//!     const VERSION: &'static str = "1.0.0";
//!     const HOOKS: &'static [Hook] = &[Hook::Filter];
//!
//!     fn filter(message: Outgoing) -> Result<Verdict, String> {
//!         // `blocked = ["923001234567"]` or `blocked = "923001234567, 923007654321"`
//!         let blocked = config::list("blocked")?;
//!         if !blocked.contains(&message.to) {
//!             return Ok(Verdict::Allow);
//!         }
//!         let refused: u64 = kv::get("refused").and_then(|n| n.parse().ok()).unwrap_or(0);
//!         kv::set("refused", &(refused + 1).to_string())?;
//!         log::info(&format!("refused a message to {}", message.to));
//!         Ok(Verdict::Refuse(format!("recipient {} is blocked", message.to)))
//!     }
//! }
//!
//! wapi_plugin_sdk::export_plugin!(Blocklist);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (the crate is a `cdylib`) and
//! copy `target/wasm32-wasip2/release/blocklist.wasm` into `plugins.d/`; the file's stem is the
//! plugin's name, so its config table is `[plugins.blocklist]`.
//!
//! # Testing
//!
//! The bindings compile on the native target too, so `cargo test` works for a plugin crate;
//! only the host functions are unusable there (they panic). Keep the logic in pure functions
//! that take what the host returned, and test those.
#![deny(missing_docs)]

mod plugin;
mod types;

pub mod clock;
pub mod config;
pub mod kv;
pub mod log;
pub mod random;
pub mod webhook;

pub use plugin::Plugin;
pub use types::{
    Event, Hook, IncomingEvent, Info, Level, MessageEvent, Outgoing, ReceiptEvent, Rendered, SessionEvent, Verdict,
};

/// The bindings generated from `plugin-sdk/wit`. Not part of the stable surface: use the
/// re-exported types and the [`export_plugin!`] macro instead.
#[doc(hidden)]
#[allow(missing_docs, clippy::too_many_arguments)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        default_bindings_module: "wapi_plugin_sdk::bindings",
        additional_derives: [PartialEq, Eq],
    });
}

/// What [`export_plugin!`] expands to; not for direct use.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::Guest;
    pub use crate::plugin::describe;
}
