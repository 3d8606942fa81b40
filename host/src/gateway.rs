//! The gateway's services as one cheap-clone handle: what every request handler and background
//! part reaches the domain through. It imports only the domain; `app` builds it and the HTTP
//! layer receives it as state.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::accept::Acceptor;
use crate::clock::Clock;
use crate::config::{Backend, Config};
use crate::events::Events;
use crate::limits::RateLimits;
use crate::plugins::Plugins;
use crate::queue::{Lifecycle, SenderHandle};
use crate::send::Validator;
use crate::store::Store;
use crate::supervise::Health;
use crate::webhooks::Webhooks;
use crate::whatsapp::simulator::Simulator;
use crate::whatsapp::{NumberVerifier, Session, SessionStatus};

#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Parts>,
}

/// The parts of a [`Gateway`], as `app` assembles them.
pub struct Parts {
    pub config: Config,
    pub clock: Clock,
    pub store: Store,
    pub session: Session,
    pub simulator: Option<Arc<Simulator>>,
    pub verifier: Arc<NumberVerifier>,
    pub limits: RateLimits,
    pub events: Events,
    pub lifecycle: Lifecycle,
    pub sender: SenderHandle,
    pub webhooks: Webhooks,
    pub plugins: Plugins,
    pub accept: Acceptor,
    pub metrics: PrometheusHandle,
    pub health: Health,
    pub shutdown: CancellationToken,
}

impl Gateway {
    pub fn new(parts: Parts) -> Self {
        Self { inner: Arc::new(parts) }
    }
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    pub fn session_status(&self) -> SessionStatus {
        self.inner.session.status().borrow().clone()
    }
    pub fn session(&self) -> &Session {
        &self.inner.session
    }
    pub fn simulator(&self) -> Option<&Simulator> {
        self.inner.simulator.as_deref()
    }
    pub fn backend_name(&self) -> &'static str {
        match self.inner.config.backend {
            Backend::Web => "web",
            Backend::Simulator(_) => "simulator",
        }
    }
    pub fn verifier(&self) -> &NumberVerifier {
        &self.inner.verifier
    }
    pub fn limits(&self) -> &RateLimits {
        &self.inner.limits
    }
    pub fn events(&self) -> &Events {
        &self.inner.events
    }
    /// Every change of a message's status: enqueue, cancel (the sender does the rest).
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.inner.lifecycle
    }
    pub fn sender(&self) -> &SenderHandle {
        &self.inner.sender
    }
    /// Webhook delivery: plugins ask for deliveries here; the admin API lists and retries them.
    pub fn webhooks(&self) -> &Webhooks {
        &self.inner.webhooks
    }
    /// The loaded plugins and their hooks.
    pub fn plugins(&self) -> &Plugins {
        &self.inner.plugins
    }
    pub fn metrics(&self) -> &PrometheusHandle {
        &self.inner.metrics
    }
    /// Which long-lived parts are down (`/healthz`).
    pub fn health(&self) -> &Health {
        &self.inner.health
    }
    /// Cancelled when the gateway starts to stop: long waits in handlers end with it.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }
    pub fn validator(&self) -> Validator {
        self.inner.accept.validator
    }
    /// The accepting service: hooks, gate, number check, enqueue.
    pub fn accept(&self) -> &Acceptor {
        &self.inner.accept
    }
}
