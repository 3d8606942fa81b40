//! An uploaded file that no queued message owns yet: removed when it is dropped — a refused or
//! invalid request, a failed write, a client gone while plugins run, an idempotent replay — unless
//! the queue took it (`queue::Lifecycle::enqueue` calls [`Upload::queued`]).

use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Upload {
    /// `None` once the queue owns the file.
    path: Option<PathBuf>,
}

impl Upload {
    /// Takes charge of the file at `path` (it may not exist yet: the guard is made before the
    /// first byte is written, so a write cut short is removed too).
    pub fn new(path: PathBuf) -> Self {
        Self { path: Some(path) }
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("an upload has its path until it is queued")
    }

    /// A queued message names the file now: the queue removes it once the message is final.
    pub fn queued(mut self) {
        self.path = None;
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        let Some(path) = self.path.take() else { return };
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::debug!(path = %path.display(), "upload removed: no message was queued with it"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "could not remove an upload"),
        }
    }
}
