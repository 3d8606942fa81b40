//! In-process API tests: real HTTP against a whole gateway started in this process
//! (`app::start` on `127.0.0.1:0`, simulator backend, tempdir SQLite). One module per area.

mod support;

mod auth;
mod cors;
mod docs;
mod envelope;
mod events_journal;
mod lifecycle;
mod linking;
mod messages;
mod panics;
mod plugins;
mod plugins_hostile;
mod plugins_reload;
mod rate_limits;
mod session;
mod ssrf;
mod supervision;
mod webhooks;
