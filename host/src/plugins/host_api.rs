//! What a plugin may call (the WIT `host` interface): log, its own config table, its own
//! key-value store, the clock, randomness, and webhook delivery through the host. Nothing else
//! is linked: no files, no sockets, no environment.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use rand::RngCore;

use super::bindings::wapi::plugin::host::{Host, Level};
use super::runtime::State;
use crate::clock::Clock;
use crate::store::{KvRefusal, Store};

/// Largest log line a plugin may write; longer ones are cut.
const MAX_LOG: usize = 4096;
/// Largest value `random-bytes` returns.
const MAX_RANDOM: u32 = 1024;

/// Where webhook deliveries go: the host's persisted, retrying delivery queue.
#[async_trait]
pub trait Deliveries: Send + Sync {
    /// Persists a delivery of `payload` to `url` for `plugin`; its id, or why it was refused.
    /// `origin` names the event being handled and the request's place in that call: asking again
    /// with the same origin (the event handed on again after a crash) answers the same delivery.
    async fn deliver(&self, plugin: &str, url: &str, payload: &str, origin: Option<String>) -> Result<String, String>;
}

/// What the host functions reach.
pub struct Services {
    pub store: Store,
    pub clock: Clock,
    pub kv_max_bytes: u64,
    pub deliveries: Arc<dyn Deliveries>,
}

impl State {
    /// Runs a host call, keeping its time out of the plugin's budget.
    async fn host<T>(&mut self, work: impl Future<Output = T>) -> T {
        let start = Instant::now();
        let out = work.await;
        self.in_host += start.elapsed();
        out
    }
}

impl super::bindings::wapi::plugin::types::Host for State {}

impl Host for State {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let mut message = message;
        if message.len() > MAX_LOG {
            let mut cut = MAX_LOG;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = &*self.plugin;
        match level {
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
        Ok(())
    }

    async fn config_get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.config.get(&key).map(|value| match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }))
    }

    async fn config_json(&mut self) -> wasmtime::Result<String> {
        Ok(serde_json::Value::Object((*self.config).clone()).to_string())
    }

    async fn kv_get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        let start = Instant::now();
        let value = self.services.store.kv_get(&self.plugin, &key);
        self.in_host += start.elapsed();
        value.map_err(|e| wasmtime::format_err!("key-value store: {e}"))
    }

    async fn kv_set(&mut self, key: String, value: String) -> wasmtime::Result<Result<(), String>> {
        let services = self.services.clone();
        let plugin = self.plugin.clone();
        let now = services.clock.now_ms();
        let written = self
            .host(services.store.kv_set(&plugin, &key, &value, services.kv_max_bytes, now))
            .await;
        match written {
            Ok(()) => Ok(Ok(())),
            Err(KvRefusal::Store(e)) => Err(wasmtime::format_err!("key-value store: {e}")),
            Err(refusal) => Ok(Err(refusal.to_string())),
        }
    }

    async fn kv_delete(&mut self, key: String) -> wasmtime::Result<()> {
        let services = self.services.clone();
        let plugin = self.plugin.clone();
        self.host(services.store.kv_delete(&plugin, &key))
            .await
            .map_err(|e| wasmtime::format_err!("key-value store: {e}"))
    }

    async fn now_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(self.services.clock.now_ms().max(0) as u64)
    }

    async fn random_bytes(&mut self, len: u32) -> wasmtime::Result<Vec<u8>> {
        let mut bytes = vec![0; len.min(MAX_RANDOM) as usize];
        rand::rng().fill_bytes(&mut bytes);
        Ok(bytes)
    }

    async fn deliver_webhook(&mut self, url: String, payload: String) -> wasmtime::Result<Result<String, String>> {
        let services = self.services.clone();
        let plugin = self.plugin.clone();
        let origin = self.event_origin.as_ref().map(|event| {
            let nth = self.deliveries_asked;
            format!("{event}#{nth}")
        });
        self.deliveries_asked += 1;
        Ok(self
            .host(services.deliveries.deliver(&plugin, &url, &payload, origin))
            .await)
    }
}
