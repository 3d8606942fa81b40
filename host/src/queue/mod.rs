//! The anti-ban queue: the one owner of a message's [`lifecycle`], a pure pacing [`policy`], and
//! the one [`sender`] task that drains the SQLite queue through it, one message at a time.

mod lifecycle;
pub mod policy;
mod sender;

pub use lifecycle::Lifecycle;
pub use sender::{SenderDeps, SenderHandle, SenderView, sender_task, spawn};

#[cfg(test)]
mod tests;
