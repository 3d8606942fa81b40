//! Watching `plugins.dir`: the kernel's file events (notify's inotify watcher, whose thread
//! sleeps until something changes) wake a task that waits for `plugins.debounce` of quiet — the
//! burst an editor, `cp` or a rename makes — and then rescans the folder (content hashes decide
//! what changed). Nothing ticks while the folder is quiet.

use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Plugins;

/// Watching stops when this is dropped.
pub struct Watcher {
    _watcher: RecommendedWatcher,
}

impl Watcher {
    pub fn start(plugins: Plugins, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel::<()>();
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
        tokio::spawn(rescan_after_quiet(plugins, rx, debounce, shutdown));
        Ok(Self { _watcher: watcher })
    }
}

/// Sleeps until a file event, then until `debounce` passes without another, then rescans. A
/// burst during a slow rescan is one more rescan, not one per event.
async fn rescan_after_quiet(
    plugins: Plugins,
    mut events: mpsc::UnboundedReceiver<()>,
    debounce: Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            got = events.recv() => if got.is_none() { return },
            _ = shutdown.cancelled() => return,
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(debounce) => break,
                got = events.recv() => if got.is_none() { return },
                _ = shutdown.cancelled() => return,
            }
        }
        plugins.rescan().await;
    }
}
