//! Watching `plugins.dir`: notify's debouncer coalesces the burst of events an editor, `cp` or
//! a rename makes; after `plugins.debounce` of quiet the folder is rescanned (content hashes
//! decide what changed), off the file-watching thread.

use std::time::Duration;

use notify_debouncer_full::notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Plugins;

/// Watching stops when this is dropped.
pub struct Watcher {
    _debouncer: Debouncer<notify_debouncer_full::notify::RecommendedWatcher, RecommendedCache>,
}

impl Watcher {
    pub fn start(plugins: Plugins, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
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
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    got = rx.recv() => if got.is_none() { return },
                    _ = shutdown.cancelled() => return,
                }
                // Several bursts while a slow compile ran: one rescan covers them all.
                while rx.try_recv().is_ok() {}
                plugins.rescan().await;
            }
        });
        Ok(Self { _debouncer: debouncer })
    }
}
