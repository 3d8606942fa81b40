//! Watching `plugins.dir`: the kernel's file events (notify's inotify watcher, whose thread
//! sleeps until something changes) wake a task that waits for `plugins.debounce` of quiet — the
//! burst an editor, `cp` or a rename makes — and then rescans the folder (content hashes decide
//! what changed). Nothing ticks while the folder is quiet.

use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Plugins;

/// A watch on the folder; it stops when this is dropped.
pub struct Watcher {
    _watcher: RecommendedWatcher,
    changes: mpsc::UnboundedReceiver<()>,
    debounce: Duration,
    plugins: Plugins,
}

impl Watcher {
    /// Watches the folder (an error if it cannot be watched); nothing is rescanned until
    /// [`Watcher::run`].
    pub fn start(plugins: Plugins) -> anyhow::Result<Self> {
        let (tx, changes) = mpsc::unbounded_channel::<()>();
        let debounce = plugins.inner.config.debounce.max(Duration::from_millis(1));
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if event.kind.is_access() => {}
            Ok(_) => {
                let _ = tx.send(());
            }
            Err(e) => {
                tracing::warn!(error = %e, "watching the plugins folder");
                let _ = tx.send(());
            }
        })?;
        watcher.watch(plugins.dir(), RecursiveMode::NonRecursive)?;
        tracing::info!(dir = %plugins.dir().display(), "watching the plugins folder");
        Ok(Self {
            _watcher: watcher,
            changes,
            debounce,
            plugins,
        })
    }

    /// Sleeps until a file event, then until `debounce` passes without another, then rescans,
    /// until `shutdown`; the watch ends with it. A burst during a slow rescan is one more
    /// rescan, not one per event.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                got = self.changes.recv() => if got.is_none() { return },
                _ = shutdown.cancelled() => return,
            }
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(self.debounce) => break,
                    got = self.changes.recv() => if got.is_none() { return },
                    _ = shutdown.cancelled() => return,
                }
            }
            self.plugins.rescan().await;
        }
    }
}
