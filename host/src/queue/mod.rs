//! The anti-ban queue: a pure pacing [`policy`] and the one [`sender`] task that drains the
//! SQLite queue through it, one message at a time.

pub mod policy;
mod sender;

pub use sender::{SenderDeps, SenderHandle, SenderView, remove_media, sender_task, spawn};

#[cfg(test)]
mod tests;
