//! A probe of the disk under the soak's database: a 4 KiB append and `fsync` every 100 ms on the
//! same filesystem, for the whole load run. A durable commit waits for its sync and nothing above
//! the disk makes that faster, so a minute in which the disk itself stalled is told apart from a
//! minute in which wapi did.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// How often the probe syncs.
const EVERY: Duration = Duration::from_millis(100);
/// What one probe write is: a WAL frame's worth.
const WRITE: usize = 4096;
/// The probe file starts over past this size, as a restarted WAL does.
const WRAP: u64 = 1 << 20;
/// A sync taking this long is a stall of the disk (the gateway logs commits this slow).
pub const STALL: Duration = Duration::from_millis(100);

/// The running probe; [`Probe::finish`] stops it and hands back what it measured.
pub struct Probe {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
    syncs: Arc<Mutex<Vec<(Duration, Duration)>>>,
}

/// Every probe sync: when (since the run began) and how long it took.
pub struct Syncs(Vec<(Duration, Duration)>);

impl Probe {
    pub fn start(dir: &Path, began: Instant) -> Result<Self> {
        let path = dir.join("disk-probe");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let syncs: Arc<Mutex<Vec<(Duration, Duration)>>> = Arc::default();
        let thread = std::thread::spawn({
            let (stop, syncs) = (stop.clone(), syncs.clone());
            move || {
                let block = [0x5au8; WRITE];
                while !stop.load(Ordering::Relaxed) {
                    let at = began.elapsed();
                    let took = Instant::now();
                    if file.stream_position().is_ok_and(|p| p >= WRAP) {
                        let _ = file.seek(SeekFrom::Start(0));
                    }
                    if file.write_all(&block).and_then(|()| file.sync_all()).is_ok() {
                        syncs.lock().expect("probe").push((at, took.elapsed()));
                    }
                    std::thread::sleep(EVERY.saturating_sub(took.elapsed()));
                }
            }
        });
        Ok(Self { stop, thread, syncs })
    }

    pub fn finish(self) -> Syncs {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        Syncs(std::mem::take(&mut *self.syncs.lock().expect("probe")))
    }
}

impl Syncs {
    /// The slowest sync of minute `minute` (1-based), if the probe ran in it.
    pub fn worst_in(&self, minute: usize) -> Option<Duration> {
        let (from, to) = (
            Duration::from_secs(60 * (minute as u64 - 1)),
            Duration::from_secs(60 * minute as u64),
        );
        self.0
            .iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .map(|(_, took)| *took)
            .max()
    }

    /// Median, p99 and max of every sync, in milliseconds.
    pub fn summary(&self) -> Option<(f64, f64, f64)> {
        let mut took: Vec<f64> = self.0.iter().map(|(_, t)| t.as_secs_f64() * 1e3).collect();
        if took.is_empty() {
            return None;
        }
        took.sort_by(f64::total_cmp);
        let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
        Some((at(0.5), at(0.99), took[took.len() - 1]))
    }

    /// What the JSON report keeps: `[seconds since start, sync ms]` per sync.
    pub fn to_json(&self) -> serde_json::Value {
        self.0
            .iter()
            .map(|(at, took)| serde_json::json!([at.as_secs_f64(), took.as_secs_f64() * 1e3]))
            .collect::<Vec<_>>()
            .into()
    }
}
