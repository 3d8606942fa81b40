//! Watching `plugins.dir`: notify's debouncer coalesces the burst of events an editor, `cp` or
//! a rename makes; after `plugins.debounce` of quiet the folder is rescanned (content hashes
//! decide what changed), off the file-watching thread.

use std::time::Duration;

use notify_debouncer_full::notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Plugins;

/// A watch on the folder; it stops when this is dropped.
pub struct Watcher {
    _debouncer: Debouncer<notify_debouncer_full::notify::RecommendedWatcher, RecommendedCache>,
    changes: mpsc::UnboundedReceiver<()>,
    plugins: Plugins,
}

impl Watcher {
    /// Watches the folder (an error if it cannot be watched); nothing is rescanned until
    /// [`Watcher::run`].
    pub fn start(plugins: Plugins) -> anyhow::Result<Self> {
        let (tx, changes) = mpsc::unbounded_channel::<()>();
        let debounce = plugins.inner.config.debounce.max(Duration::from_millis(1));
        let mut debouncer = new_debouncer(debounce, None, move |result: DebounceEventResult| match result {
            Ok(events) if events.iter().any(|e| !e.kind.is_access()) => {
                let _ = tx.send(());
            }
            Ok(_) => {}
            Err(errors) => {
                for e in errors {
                    tracing::warn!(error = %e, "watching the plugins folder");
                }
                let _ = tx.send(());
            }
        })?;
        debouncer.watch(plugins.dir(), RecursiveMode::NonRecursive)?;
        tracing::info!(dir = %plugins.dir().display(), "watching the plugins folder");
        Ok(Self {
            _debouncer: debouncer,
            changes,
            plugins,
        })
    }

    /// Rescans after every burst of changes, until `shutdown`; the watch ends with it.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                got = self.changes.recv() => if got.is_none() { return },
                _ = shutdown.cancelled() => return,
            }
            // Several bursts while a slow compile ran: one rescan covers them all.
            while self.changes.try_recv().is_ok() {}
            self.plugins.rescan().await;
        }
    }
}
