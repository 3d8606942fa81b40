//! End-to-end tests: each starts the real `wapi` binary on its own temporary folder with the
//! simulated WhatsApp backend, drives it over HTTP (and its command line), and checks what the
//! simulator recorded as sent. Tests run in parallel; none sleeps through a real anti-ban gap.
//! Calling the gateway is the harness the API tests share (`tests/support`); what is this
//! level's own is starting, stopping and reading the real process (`harness.rs`, `setup.rs`).

mod harness;
mod setup;

mod batch;
mod cancel;
mod clients;
mod crash;
mod daily_cap;
mod dashboard;
mod durability;
mod faults;
mod fuzz;
mod hostile;
mod idempotency;
mod keys;
mod media;
mod numbers;
mod pacing;
mod plugins;
mod routes;
mod security;
mod session;
mod slow_clients;
mod tls;
mod web_offline;

pub use harness::Gateway;
pub use setup::Setup;
pub use wapi_test_support::{Answer, eventually, eventually_within};

/// A number the simulator knows as on WhatsApp.
pub const TO: &str = "15550009999";
