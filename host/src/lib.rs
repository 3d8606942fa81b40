//! wapi: a self-hosted WhatsApp HTTP API gateway.
//!
//! Modules in the order a message travels: configuration and time; the HTTP layer (`http` the
//! transport, edge, extractors and envelope; `api` the handlers with their request and response
//! types; `dashboard` the page that calls them), which reaches the domain through the `gateway`
//! handle; then the domain — keys and budgets (`auth`, `limits`), validation (`send`), the
//! plugins' template and filter hooks, acceptance (`accept`), the queue's storage (`store`), the
//! anti-ban sender (`queue`), the WhatsApp session and what arrives from it (`inbox`), `events`
//! (which the plugins' events hook reads), and the `webhooks` plugins ask the host to deliver;
//! `supervise` watches every long-lived part of them.
//! `app` builds the domain, hands it to the HTTP layer and runs both; `cli` is the command line.
//!
//! Layers import one way: the HTTP layer imports the domain, never the reverse, and nothing
//! imports `app`.

pub mod config;
pub mod clock;
pub mod http;
pub mod api;
pub mod dashboard;
pub mod gateway;
pub mod auth;
pub mod limits;
pub mod send;
pub mod plugins;
pub mod accept;
pub mod store;
pub mod queue;
pub mod whatsapp;
pub mod inbox;
pub mod events;
pub mod webhooks;
pub mod supervise;
pub mod app;
pub mod cli;

#[cfg(test)]
mod layering_tests;
