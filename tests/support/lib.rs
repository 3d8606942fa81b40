//! What both HTTP test levels share — the API tests (`host/tests/api/`, a gateway started in
//! the test process) and the end-to-end tests (`tests/e2e/`, the real binary): a [`Client`] for
//! one gateway with the usual calls as one-liners, [`Call`] to build any request, [`Answer`] to
//! read and check the envelope, [`eventually`] to wait for background work with a deadline
//! instead of sleeping, and a local [`webhook_receiver`]. Each level keeps only what differs:
//! how its gateway is started, stopped and restarted (its `Gateway` dereferences to a
//! [`Client`]).
//!
//! A crate of its own rather than a module included by `#[path]` in both test crates: it is
//! compiled once, and a helper only one level uses is not a dead-code warning in the other.

mod answer;
mod call;
mod client;
mod wait;
mod webhook;

pub use answer::{Answer, fields, ids};
pub use call::Call;
pub use client::{Client, Key};
pub use wait::{WAIT, eventually, eventually_within};
pub use webhook::webhook_receiver;
