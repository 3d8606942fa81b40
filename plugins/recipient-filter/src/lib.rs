//! The `recipient-filter` plugin: allows or refuses outgoing messages by recipient (exact
//! numbers, prefixes, groups) and by the time of day (quiet hours in a time zone).
//!
//! The config is read into `settings::Settings` first, so a bad config fails every call
//! (the host then fails closed); the decision itself is the pure `settings::Settings::check`.

mod quiet;
mod rules;
mod settings;

use settings::Settings;
use wapi_plugin_sdk::{Hook, Outgoing, Plugin, Verdict, clock, config};

/// The plugin's exports.
struct RecipientFilter;

impl Plugin for RecipientFilter {
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const HOOKS: &'static [Hook] = &[Hook::Filter];

    fn filter(message: Outgoing) -> Result<Verdict, String> {
        let settings = Settings::read(config::get)?;
        Ok(match settings.check(&message.to, clock::now_ms()) {
            None => Verdict::Allow,
            Some(reason) => Verdict::Refuse(reason),
        })
    }
}

wapi_plugin_sdk::export_plugin!(RecipientFilter);
