//! wapi: a self-hosted WhatsApp HTTP API gateway.
//!
//! Modules in the order a message travels: configuration and time, then HTTP → auth → limits →
//! validation (`send`) → acceptance → the queue (`store`) → the anti-ban sender (`queue`) →
//! the WhatsApp session → events. `app` wires them together.

pub mod config;
pub mod clock;
pub mod http;
pub mod auth;
pub mod limits;
pub mod send;
pub mod api;
pub mod accept;
pub mod store;
pub mod queue;
pub mod whatsapp;
pub mod events;
pub mod app;
pub mod cli;
