//! WAL checkpoints off the write path.
//!
//! SQLite's automatic checkpoint runs inside the COMMIT that crosses 1,000 WAL pages: that one
//! commit copies every page back into the database file and syncs it, and every write waiting
//! behind it in the group commit waits as long — on top of the commit's own sync, which is the
//! disk's and which nothing above the disk removes. So the writing connection has
//! `wal_autocheckpoint=0`, and this thread, on a connection of its own, runs a PASSIVE checkpoint
//! every second: it copies what no reader still needs without taking the write lock, so commits
//! go on while it syncs.
//!
//! A PASSIVE checkpoint never makes the next write start the WAL over, though: under steady reads
//! some reader always holds a snapshot, and the soak saw the WAL grow to 23 MB in six minutes. So
//! once the WAL holds [`RESTART_AT`] frames, a RESTART follows the PASSIVE one: what is left to copy
//! is a few frames, then it waits (at most [`RESTART_WAIT`], holding writes back) for the readers
//! on older snapshots to finish, and the next write starts the file from the beginning.
//!
//! A round that panics (a bug) is logged with its message and reported (`store-checkpoint` in
//! `/healthz`); the thread opens a new connection and goes on, and the next round that completes
//! reports it up again. Missed rounds cost only WAL growth, so going on is always safe.

use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::supervise::{self, Health};

/// The checkpointer's name in the health registry.
pub(super) const PART: &str = "store-checkpoint";

/// How often the WAL is copied back into the database file.
pub(super) const EVERY: Duration = Duration::from_secs(1);
/// WAL frames (pages) past which the log is started over: SQLite's own default, ~4 MB.
pub(super) const RESTART_AT: i64 = 1_000;
/// How long a RESTART checkpoint waits for readers (and holds writes back) before it gives up
/// until the next round.
const RESTART_WAIT: Duration = Duration::from_millis(100);
/// A checkpoint taking this long is logged (the disk's sync is most of it).
const SLOW: Duration = Duration::from_millis(100);

/// Stops its thread when dropped.
pub(super) struct Checkpointer {
    _stop: std_mpsc::Sender<()>,
}

/// What one checkpoint did, in WAL frames (pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Checkpointed {
    /// Frames in the WAL.
    pub wal: i64,
    /// Frames now in the database file.
    pub copied: i64,
}

impl Checkpointer {
    /// Opens a connection to `path` and checkpoints it every `every` until dropped, starting
    /// the WAL over once it holds `restart_at` frames.
    pub(super) fn start(path: &Path, every: Duration, restart_at: i64, health: &Health) -> anyhow::Result<Self> {
        let mut conn = connect(path)?;
        let (stop, stopped) = std_mpsc::channel::<()>();
        let (path, health) = (path.to_path_buf(), health.clone());
        std::thread::Builder::new()
            .name("wapi-store-checkpoint".into())
            .spawn(move || {
                supervise::run_thread(&health.clone(), PART, move || {
                    while let Err(std_mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                        conn = round(conn, &path, restart_at, &health);
                    }
                })
            })?;
        Ok(Self { _stop: stop })
    }
}

/// The checkpointer's own connection.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // PASSIVE never waits on a lock; RESTART waits this long for writers and readers.
    conn.busy_timeout(RESTART_WAIT)?;
    Ok(conn)
}

/// One round, a panic in it caught: reported down, and the connection replaced (it was in the
/// middle of something); the next round that completes reports up.
fn round(conn: Connection, path: &Path, restart_at: i64, health: &Health) -> Connection {
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if health.faults().crashed(PART) {
            panic!("fault injection: a checkpoint panicked");
        }
        run_once(&conn, restart_at);
    }));
    let Err(panic) = ran else {
        health.report_up(PART);
        return conn;
    };
    let cause = format!("panicked: {}", supervise::panic_message(&*panic));
    tracing::error!(part = PART, %cause, "a WAL checkpoint panicked; going on with a new connection");
    health.report_down(PART, cause);
    connect(path).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot open a new connection for checkpoints; keeping the old one");
        conn
    })
}

fn run_once(conn: &Connection, restart_at: i64) {
    let began = Instant::now();
    let done = checkpoint(conn, "PASSIVE").and_then(|done| {
        if done.wal >= restart_at {
            checkpoint(conn, "RESTART")
        } else {
            Ok(done)
        }
    });
    match done {
        Ok(done) => {
            let took = began.elapsed();
            metrics::histogram!("wapi_db_checkpoint_seconds").record(took.as_secs_f64());
            if took >= SLOW {
                tracing::info!(
                    took_ms = took.as_millis() as u64,
                    wal_frames = done.wal,
                    copied = done.copied,
                    "slow WAL checkpoint (off the write path: commits went on)"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; retrying in a second"),
    }
}

/// One checkpoint: PASSIVE copies the frames no reader still needs and waits for nothing;
/// RESTART copies them all and waits for the readers so that the next write starts the WAL over.
/// Either answers what it managed (a RESTART that timed out is not an error).
pub(super) fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<Checkpointed> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok(Checkpointed {
            wal: r.get(1)?,
            copied: r.get(2)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database whose WAL only a checkpoint empties, holding `rows` rows of 2 KB.
    fn filled(rows: usize) -> (tempfile::TempDir, std::path::PathBuf, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t (v BLOB NOT NULL);")
            .unwrap();
        for _ in 0..rows {
            conn.execute("INSERT INTO t VALUES (zeroblob(2000))", []).unwrap();
        }
        (dir, path, conn)
    }

    fn size(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().len()
    }

    #[test]
    fn the_checkpointer_copies_the_wal_into_the_database_file() {
        // 1,500 single-row commits: SQLite on its own would have checkpointed at 1,000 pages.
        let (_dir, path, _conn) = filled(1_500);
        assert!(
            size(&path) < 64 * 1024,
            "checkpointed without us: {} bytes",
            size(&path)
        );
        let _running = Checkpointer::start(&path, Duration::from_millis(10), RESTART_AT, &Health::default()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while size(&path) < 1_500 * 2_000 {
            assert!(Instant::now() < deadline, "not checkpointed: {} bytes", size(&path));
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Polls (a thread, not a task) until `done` holds.
    fn wait_until(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "never: {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn rounds_that_panic_are_reported_and_the_thread_goes_on_checkpointing() {
        let (_dir, path, conn) = filled(1);
        let health = Health::default();
        let _running = Checkpointer::start(&path, Duration::from_millis(5), RESTART_AT, &health).unwrap();
        health.faults().crash(PART);
        wait_until("the checkpointer reported down", || health.down() == [PART]);
        let cause = health.cause(PART).unwrap();
        assert!(cause.contains("a checkpoint panicked"), "{cause}");
        health.faults().heal(PART);
        wait_until("the checkpointer reported up", || health.down().is_empty());
        for _ in 0..500 {
            conn.execute("INSERT INTO t VALUES (zeroblob(2000))", []).unwrap();
        }
        wait_until("the rows checkpointed", || size(&path) >= 500 * 2_000);
    }

    #[test]
    fn a_checkpoint_leaves_what_a_reader_still_reads() {
        let (_dir, path, conn) = filled(10);
        let reader = Connection::open(&path).unwrap();
        reader.execute_batch("BEGIN; SELECT COUNT(*) FROM t;").unwrap();
        conn.execute("INSERT INTO t VALUES (zeroblob(2000))", []).unwrap();
        let done = checkpoint(&Connection::open(&path).unwrap(), "PASSIVE").unwrap();
        assert!(
            done.copied < done.wal,
            "{done:?}: the reader's snapshot was overwritten"
        );
        reader.execute_batch("COMMIT").unwrap();
        let done = checkpoint(&Connection::open(&path).unwrap(), "PASSIVE").unwrap();
        assert_eq!(done.copied, done.wal);
    }

    #[test]
    fn under_steady_reads_the_wal_is_started_over_and_stays_small() {
        let (_dir, path, conn) = filled(1);
        let _running = Checkpointer::start(&path, Duration::from_millis(5), 100, &Health::default()).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Two readers taking turns so that some snapshot is nearly always open: a PASSIVE
        // checkpoint alone never lets the WAL start over under them.
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (path, stop) = (path.clone(), stop.clone());
                std::thread::spawn(move || {
                    let reader = Connection::open(&path).unwrap();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        reader
                            .query_row(
                                "SELECT length(v) FROM t WHERE rowid = (SELECT max(rowid) FROM t)",
                                [],
                                |r| r.get::<_, i64>(0),
                            )
                            .unwrap();
                    }
                })
            })
            .collect();
        // ~3,000 pages written one row at a time, with a little time between rows.
        for _ in 0..3_000 {
            conn.execute("INSERT INTO t VALUES (zeroblob(2000))", []).unwrap();
            std::thread::sleep(Duration::from_micros(200));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for reader in readers {
            reader.join().unwrap();
        }
        // Without the RESTART it grows to ~25 MB; with it, a few hundred frames (bounded loosely:
        // a busy machine may delay a round or two).
        let wal = size(&path.with_extension("db-wal"));
        assert!(wal < 5_000_000, "the WAL grew to {wal} bytes over 3,000 commits");
    }
}
