//! wapi: a self-hosted WhatsApp HTTP API gateway.
//!
//! Modules in the order a message travels: configuration and time, then HTTP → auth → limits →
//! validation (`send`) → acceptance → the queue (`store`) → the anti-ban sender (`queue`) →
//! the WhatsApp session → events → plugins, and the `webhooks` they ask the host to deliver.
//! `dashboard` serves the page at `/` that calls the API; `app` wires them together.

pub mod accept;
pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod events;
pub mod gateway;
pub mod http;
pub mod inbox;
pub mod limits;
pub mod plugins;
pub mod queue;
pub mod send;
pub mod store;
pub mod supervise;
pub mod webhooks;
pub mod whatsapp;
