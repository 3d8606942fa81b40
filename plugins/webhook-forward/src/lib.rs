//! The `webhook-forward` plugin: forwards gateway events to a URL as signed webhooks
//! (Standard Webhooks payloads), through the host's delivery queue.
//!
//! `selection` reads which events to forward; `payload` builds the JSON. Both are pure.

mod payload;
mod selection;

use selection::Selection;
use wapi_plugin_sdk::{Event, Hook, Plugin, config, log, webhook};

/// The plugin's exports.
struct WebhookForward;

impl Plugin for WebhookForward {
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const HOOKS: &'static [Hook] = &[Hook::Events];

    fn on_event(event: Event) -> Result<(), String> {
        let Some(url) = config::get("url").filter(|u| !u.trim().is_empty()) else {
            log::debug("config key `url` is not set: nothing is forwarded");
            return Ok(());
        };
        let selection = Selection::parse(&config::list("events")?)?;
        if !selection.includes(&event) {
            return Ok(());
        }
        let body = payload::build(&event).to_string();
        let id = webhook::deliver(url.trim(), &body)
            .map_err(|reason| format!("webhook to {} refused: {reason}", url.trim()))?;
        log::debug(&format!("{} queued as {id}", payload::event_type(&event)));
        Ok(())
    }
}

wapi_plugin_sdk::export_plugin!(WebhookForward);
