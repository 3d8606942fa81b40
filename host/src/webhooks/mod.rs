//! Webhook delivery for plugins (PRODUCT.md §5). A plugin asks for a delivery (URL, JSON
//! payload); [`Webhooks::deliver`] checks it against the address [`target`] policy, stores it and
//! answers only after the commit; the [`worker`] signs each attempt ([`sign`], Standard
//! Webhooks), retries on the configured schedule, and dead-letters what never succeeds. Nothing
//! on the send path waits on any of it.

mod resolve;
mod sign;
mod target;
mod worker;

pub use resolve::{Resolve, Resolver};

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use self::sign::Secret;
use crate::clock::Clock;
use crate::config::{PluginsConfig, WebhooksConfig};
use crate::store::{DeliveryPage, DeliveryRecord, NewDelivery, RetryOutcome, Store, StoreError};
use crate::supervise::Start;

/// The cheap-clone handle: plugins deliver through it, the admin API lists and retries.
#[derive(Clone)]
pub struct Webhooks {
    shared: Arc<Shared>,
}

/// What the handle and the worker share.
struct Shared {
    store: Store,
    clock: Clock,
    config: WebhooksConfig,
    /// Each configured plugin's settings, or why they cannot be used.
    plugins: HashMap<String, Result<PluginSettings, String>>,
    /// Tells the worker that a delivery became due now.
    wake: Notify,
    /// Turns a receiver's name into the addresses that are checked and connected to.
    resolver: Resolver,
}

/// What the host reads from a plugin's `[plugins.NAME]` table for its webhooks.
#[derive(Debug, Clone)]
struct PluginSettings {
    secret: Secret,
    /// Targets on loopback, private, link-local… addresses are allowed.
    allow_private: bool,
}

impl PluginSettings {
    fn from_table(name: &str, table: &serde_json::Map<String, Value>) -> Result<Self, String> {
        let secret = match table.get("secret") {
            Some(Value::String(s)) => Secret::parse(s).map_err(|e| format!("plugins.{name}.secret: {e}"))?,
            Some(_) => return Err(format!("plugins.{name}.secret must be a string")),
            None => {
                return Err(format!(
                    "plugins.{name}.secret is not set: webhooks are signed with it (whsec_<base64>)"
                ));
            }
        };
        let allow_private = match table.get("allow_private") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(format!("plugins.{name}.allow_private must be true or false")),
        };
        Ok(Self { secret, allow_private })
    }
}

impl Shared {
    fn settings(&self, plugin: &str) -> Result<&PluginSettings, String> {
        match self.plugins.get(plugin) {
            Some(Ok(settings)) => Ok(settings),
            Some(Err(why)) => Err(why.clone()),
            None => Err(format!(
                "plugins.{plugin}.secret is not set: webhooks are signed with it (whsec_<base64>)"
            )),
        }
    }
}

impl Webhooks {
    /// The handle, and what starts the delivery worker: each start picks up the deliveries still
    /// pending in the database (from earlier runs, or from a worker that died: its attempts in
    /// flight ended with it and are attempted again, with the same `webhook-id`). The worker
    /// ends after `shutdown`, once the attempts in flight have finished.
    pub fn start(
        store: Store,
        clock: Clock,
        config: WebhooksConfig,
        plugins: &PluginsConfig,
        resolver: Resolver,
        shutdown: CancellationToken,
    ) -> (Self, impl Start) {
        let mut settings = HashMap::new();
        for (name, table) in &plugins.tables {
            let parsed = PluginSettings::from_table(name, table);
            // Only a table that means to configure webhooks deserves a warning.
            if let (Err(why), true) = (
                &parsed,
                table.contains_key("secret") || table.contains_key("allow_private"),
            ) {
                tracing::warn!(plugin = %name, "webhooks of this plugin will be refused: {why}");
            }
            settings.insert(name.clone(), parsed);
        }
        let shared = Arc::new(Shared {
            store,
            clock,
            config,
            plugins: settings,
            wake: Notify::new(),
            resolver,
        });
        let worker = shared.clone();
        let start = move || worker::run(worker.clone(), shutdown.clone());
        (Self { shared }, start)
    }

    /// Accepts a delivery for `plugin`: checks the URL (http/https, the address policy), the
    /// payload (JSON, at most `webhooks.max_payload` bytes) and that the plugin has a secret;
    /// stores it and answers with its id (`msg_…`, the `webhook-id` of every attempt) once it is
    /// committed. A refusal is a sentence for the plugin.
    pub async fn deliver(
        &self,
        plugin: &str,
        url: &str,
        payload: &str,
        origin: Option<String>,
    ) -> Result<String, String> {
        let result = self.accept(plugin, url, payload, origin).await;
        let outcome = if result.is_ok() { "accepted" } else { "refused" };
        metrics::counter!("wapi_webhook_deliveries_total", "outcome" => outcome).increment(1);
        match &result {
            Ok(id) => tracing::debug!(delivery = %id, %plugin, "webhook delivery accepted"),
            Err(why) => tracing::info!(%plugin, "webhook delivery refused: {why}"),
        }
        result
    }

    async fn accept(&self, plugin: &str, url: &str, payload: &str, origin: Option<String>) -> Result<String, String> {
        let shared = &self.shared;
        let settings = shared.settings(plugin)?;
        let target = target::check_url(url, settings.allow_private)?;
        let max = shared.config.max_payload;
        if payload.len() > max {
            return Err(format!(
                "the payload is {} bytes, over the limit of {max} (webhooks.max_payload)",
                payload.len()
            ));
        }
        serde_json::from_str::<serde::de::IgnoredAny>(payload).map_err(|e| format!("the payload is not JSON: {e}"))?;
        let delivery = NewDelivery {
            id: sign::new_id(),
            plugin: plugin.to_string(),
            url: target.url.to_string(),
            payload: payload.to_string(),
            origin,
        };
        match shared.store.insert_delivery(delivery, shared.clock.now_ms()).await {
            Ok(id) => {
                shared.wake.notify_one();
                Ok(id)
            }
            Err(e) => {
                tracing::error!(%plugin, error = %e, "a webhook delivery could not be stored");
                Err("the delivery could not be stored; see the gateway's log".into())
            }
        }
    }

    /// Moves a dead letter back to pending with its attempts reset, due now.
    pub async fn retry_failed(&self, id: &str) -> Result<RetryOutcome, StoreError> {
        let outcome = self.shared.store.retry_delivery(id, self.shared.clock.now_ms()).await?;
        if let RetryOutcome::Retried(d) = &outcome {
            metrics::counter!("wapi_webhook_deliveries_total", "outcome" => "retried").increment(1);
            tracing::info!(delivery = %d.id, plugin = %d.plugin, "dead-lettered webhook delivery retried");
            self.shared.wake.notify_one();
        }
        Ok(outcome)
    }

    /// Dead letters, newest first, `limit` per page; `cursor` continues a listing.
    pub async fn failed(&self, cursor: Option<&str>, limit: u32) -> Result<DeliveryPage, StoreError> {
        self.shared.store.dead_letters(cursor, limit).await
    }

    /// One delivery, in whatever state.
    pub async fn delivery(&self, id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        self.shared.store.delivery(id).await
    }
}
