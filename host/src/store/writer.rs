//! The one writing connection, owned by a dedicated thread, with group commit.
//!
//! Callers hand in closures; the thread runs every closure that is waiting in one
//! `BEGIN IMMEDIATE … COMMIT` and answers them after the commit is on disk. With
//! `synchronous=FULL` that is one fsync for many acknowledged requests: durable and fast together.
//!
//! A write that fails (only disk and database faults do: the closures report refusals such as
//! the daily cap as values, not errors) fails its whole group: the group rolls back and every
//! write in it is answered with an error, so nothing is acknowledged that is not on disk.
//! (Savepoints per write would isolate failures, at two more statements per write on the
//! hottest path; profiles showed them.)
//!
//! A write that panics fails its group the same way: the panic is caught around the write (it
//! never unwinds through the thread), logged once with its message, the group is rolled back,
//! and every write of the group is answered with an error naming the panic; the thread goes on
//! with the next group. (A panic may leave its statements half-done, so the group cannot commit
//! the others without it.)
//!
//! No write waits longer than [`BUSY_TIMEOUT`] for a lock another process holds: a group's
//! `BEGIN IMMEDIATE` waits only what is left of its oldest write's budget, so the writes that
//! queued behind a group that timed out fail with it instead of waiting a second timeout.
//!
//! The thread itself is not restarted: with every write's panic caught, only a bug in the loop
//! below could end it. Its end is reported (`store-writer` in `/healthz`, 503) so that whatever
//! runs the process restarts it; every write meanwhile fails with [`StoreError::Closed`].

use std::sync::mpsc as std_mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::StoreError;
use crate::supervise::{self, Health};

/// How many waiting writes one transaction takes at most.
const MAX_GROUP: usize = 512;
/// The longest a write waits for another process's lock before it fails as busy.
pub(super) const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Answers a write once its group's fate is known.
type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A write to run inside the group's transaction (or `None` when it could not begin): it returns
/// its completion and, when it failed, its error (for the rest of the group).
type Job = Box<dyn FnOnce(Option<&Connection>) -> (Completion, Option<StoreError>) + Send>;

/// The writer thread's name in the health registry.
pub(super) const PART: &str = "store-writer";

#[derive(Clone)]
pub(super) struct Writer {
    jobs: std_mpsc::Sender<(Job, std::time::Instant)>,
    /// For the fault hooks of test builds.
    health: Health,
}

impl Writer {
    /// Starts the writer thread; it ends when every `Writer` handle is dropped, and reports to
    /// `health` if it ends otherwise.
    pub(super) fn start(conn: Connection, health: &Health) -> std::io::Result<Self> {
        let (jobs, rx) = std_mpsc::channel::<(Job, std::time::Instant)>();
        let thread_health = health.clone();
        std::thread::Builder::new()
            .name("wapi-store-writer".into())
            .spawn(move || {
                supervise::run_thread(&thread_health, PART, || run(conn, &rx, &thread_health));
                // Only now do writes fail to queue: a dead thread is reported before.
                drop(rx);
            })?;
        Ok(Self {
            jobs,
            health: health.clone(),
        })
    }

    /// Runs `f` in the next group transaction and returns its result once committed.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let health = self.health.clone();
        let job: Job = Box::new(move |conn: Option<&Connection>| {
            let result = conn.map(|conn| {
                caught(move || {
                    if health.faults().take_write_panic() {
                        panic!("fault injection: a write job panicked");
                    }
                    f(conn)
                })
            });
            let failed = match &result {
                Some(Err(e)) => Some(e.clone()),
                _ => None,
            };
            let done: Completion = Box::new(move |commit: Result<(), StoreError>| {
                let _ = tx.send(match (result, commit) {
                    (Some(Err(e)), _) => Err(e),
                    (_, Err(e)) => Err(e),
                    (Some(Ok(value)), Ok(())) => Ok(value),
                    (None, Ok(())) => Err(StoreError::Closed),
                });
            });
            (done, failed)
        });
        self.jobs
            .send((job, std::time::Instant::now()))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

/// A write group taking this long (statements, commit and its sync) is logged.
const SLOW_GROUP: std::time::Duration = std::time::Duration::from_millis(100);

/// Runs one write, turning a panic inside it into an error that names it (logged here, once).
fn caught<T>(write: impl FnOnce() -> rusqlite::Result<T>) -> Result<T, StoreError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(write)) {
        Ok(result) => result.map_err(StoreError::from),
        Err(panic) => {
            let message = supervise::panic_message(&*panic);
            tracing::error!(panic = %message, "a database write panicked; its group is rolled back");
            Err(StoreError::Panicked(message))
        }
    }
}

fn run(mut conn: Connection, rx: &std_mpsc::Receiver<(Job, std::time::Instant)>, health: &Health) {
    while let Ok((first, oldest)) = rx.recv() {
        if health.faults().crashed(PART) {
            panic!("fault injection: the writer thread panicked");
        }
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok((job, _)) => group.push(job),
                Err(_) => break,
            }
        }
        // The first write is the oldest (the channel is FIFO): the lock wait is what its budget
        // has left (at least a moment, so a free lock is still taken).
        let budget = BUSY_TIMEOUT
            .saturating_sub(oldest.elapsed())
            .max(std::time::Duration::from_millis(1));
        if let Err(e) = conn.busy_timeout(budget) {
            tracing::warn!(error = %e, "could not set the write's lock timeout");
        }
        let (writes, began) = (group.len(), std::time::Instant::now());
        let (completions, outcome) = commit_group(&mut conn, group);
        let took = began.elapsed();
        if took >= SLOW_GROUP {
            // Every write waiting behind this one waited as long: say so, with what it was.
            tracing::warn!(
                took_ms = took.as_millis() as u64,
                writes,
                "slow database commit (the disk's sync, a checkpoint or another process's lock)"
            );
        }
        for done in completions {
            done(outcome.clone());
        }
    }
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
        tracing::warn!(error = %e, "final WAL checkpoint failed");
    }
}

fn commit_group(conn: &mut Connection, group: Vec<Job>) -> (Vec<Completion>, Result<(), StoreError>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let completions = group.into_iter().map(|job| job(None).0).collect();
        return (completions, Err(StoreError::from(e)));
    }
    let mut failed: Option<StoreError> = None;
    let completions: Vec<Completion> = group
        .into_iter()
        .map(|job| {
            // After a failure the rest of the group is not run: it would be rolled back anyway,
            // and SQLite may already have rolled the transaction back by itself (a full disk, an
            // I/O error), so the next write would run — and commit — on its own.
            if failed.is_some() {
                return job(None).0;
            }
            let (done, job_failed) = job(Some(conn));
            failed = job_failed;
            done
        })
        .collect();
    let outcome = if let Some(first) = failed {
        // The others in the group share its fate, and its cause: a full disk is a full disk
        // for every write of the transaction.
        Err(StoreError::Db {
            message: format!("a write in the same transaction failed ({first}); rolled back"),
            code: first.code(),
        })
    } else {
        conn.execute_batch("COMMIT").map_err(StoreError::from)
    };
    // A failed COMMIT (or statement) may have ended the transaction already.
    if outcome.is_err()
        && !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(error = %e, "rollback after a failed write group failed");
    }
    (completions, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (v INTEGER NOT NULL);")
            .unwrap();
        (dir, Writer::start(conn, &Health::default()).unwrap())
    }

    #[tokio::test]
    async fn a_failed_write_fails_its_group_and_nothing_of_it_is_kept() {
        let (dir, writer) = writer();
        let ok = writer.write(|c| c.execute("INSERT INTO t VALUES (1)", []));
        let bad = writer.write(|c| c.execute("INSERT INTO t VALUES (NULL)", []));
        let (ok, bad) = tokio::join!(ok, bad);
        assert!(bad.is_err());
        // Whether the good write shared the failed group or not, its answer tells the truth.
        let kept: i64 = Connection::open(dir.path().join("w.db"))
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, i64::from(ok.is_ok()));
        // The writer goes on after a failed group.
        writer
            .write(|c| c.execute("INSERT INTO t VALUES (2)", []))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn after_a_failed_write_the_rest_of_its_group_is_not_run_and_shares_the_cause() {
        let (dir, writer) = writer();
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Holds the writer thread until the two writes below wait together: the next group.
        let (release, held) = std_mpsc::channel::<()>();
        let (running, started) = std_mpsc::channel::<()>();
        let hold = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .write(move |_| {
                        running.send(()).unwrap();
                        Ok(held.recv().ok())
                    })
                    .await
            }
        });
        tokio::task::spawn_blocking(move || started.recv().unwrap())
            .await
            .unwrap();
        let bad = tokio::spawn({
            let writer = writer.clone();
            async move { writer.write(|c| c.execute("INSERT INTO t VALUES (NULL)", [])).await }
        });
        tokio::task::yield_now().await;
        let good = tokio::spawn({
            let (writer, ran) = (writer.clone(), ran.clone());
            async move {
                writer
                    .write(move |c| {
                        ran.store(true, std::sync::atomic::Ordering::SeqCst);
                        c.execute("INSERT INTO t VALUES (1)", [])
                    })
                    .await
            }
        });
        tokio::task::yield_now().await;
        release.send(()).unwrap();
        hold.await.unwrap().unwrap();
        let bad = bad.await.unwrap().unwrap_err();
        let good = good.await.unwrap().unwrap_err();
        assert_eq!(bad.code(), Some(rusqlite::ErrorCode::ConstraintViolation), "{bad}");
        assert_eq!(good.code(), bad.code(), "the group's error carries the cause: {good}");
        assert!(
            !ran.load(std::sync::atomic::Ordering::SeqCst),
            "a write after the failure ran"
        );
        let kept: i64 = Connection::open(dir.path().join("w.db"))
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 0);
    }

    /// Regression: a panic inside a write job (an `expect` on a row that was not there) unwound
    /// through the writer thread and ended it; every later write failed with `Closed`.
    #[tokio::test]
    async fn a_write_that_panics_fails_its_group_and_the_writer_goes_on() {
        let (dir, writer) = writer();
        // Holds the writer thread until the three writes below wait together: the next group.
        let (release, held) = std_mpsc::channel::<()>();
        let (running, started) = std_mpsc::channel::<()>();
        let hold = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .write(move |_| {
                        running.send(()).unwrap();
                        Ok(held.recv().ok())
                    })
                    .await
            }
        });
        tokio::task::spawn_blocking(move || started.recv().unwrap())
            .await
            .unwrap();
        let queue = |value: i64, panics: bool| {
            let writer = writer.clone();
            let job = tokio::spawn(async move {
                writer
                    .write(move |c| {
                        c.execute("INSERT INTO t VALUES (?1)", [value])?;
                        assert!(!panics, "row {value} exists");
                        Ok(())
                    })
                    .await
            });
            async move { job.await.unwrap() }
        };
        let before = queue(1, false);
        tokio::task::yield_now().await;
        let panicking = queue(2, true);
        tokio::task::yield_now().await;
        let after = queue(3, false);
        tokio::task::yield_now().await;
        release.send(()).unwrap();
        hold.await.unwrap().unwrap();
        let (before, panicking, after) = tokio::join!(before, panicking, after);
        let panicked = panicking.unwrap_err();
        assert!(
            matches!(&panicked, StoreError::Panicked(m) if m.contains("row 2 exists")),
            "{panicked}"
        );
        for other in [before.unwrap_err(), after.unwrap_err()] {
            assert!(other.to_string().contains("row 2 exists"), "names the panic: {other}");
        }
        let count = || {
            Connection::open(dir.path().join("w.db"))
                .unwrap()
                .query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))
                .unwrap()
        };
        assert_eq!(count(), 0, "the group was rolled back");
        writer
            .write(|c| c.execute("INSERT INTO t VALUES (4)", []))
            .await
            .expect("the writer goes on after a panic");
        assert_eq!(count(), 1);
    }

    #[tokio::test]
    async fn a_writer_thread_that_dies_is_reported_down() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        let health = Health::default();
        let writer = Writer::start(conn, &health).unwrap();
        writer.write(|c| c.execute_batch("SELECT 1")).await.unwrap();
        assert!(health.down().is_empty());
        health.faults().crash(PART);
        for _ in 0..2 {
            // The first write is lost with the thread; the second fails once its channel is
            // gone, which is after the thread was reported.
            let lost = writer.write(|c| c.execute_batch("SELECT 1")).await.unwrap_err();
            assert!(matches!(lost, StoreError::Closed), "{lost}");
        }
        assert_eq!(health.down(), [PART]);
        assert!(health.cause(PART).unwrap().contains("the writer thread panicked"));
    }

    #[tokio::test]
    async fn a_full_database_is_told_apart_and_the_writer_goes_on_once_there_is_room() {
        let (dir, writer) = writer();
        // `max_page_count` caps the file as a full disk would: SQLite answers SQLITE_FULL.
        let limit: i64 = writer
            .write(|c| {
                let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
                c.query_row(&format!("PRAGMA max_page_count = {}", pages + 2), [], |r| r.get(0))
            })
            .await
            .unwrap();
        assert!(limit > 0);
        let mut full = None;
        for _ in 0..1_000 {
            let wrote = writer
                .write(|c| c.execute("INSERT INTO t VALUES (length(zeroblob(2000)))", []))
                .await;
            if let Err(e) = wrote {
                full = Some(e);
                break;
            }
        }
        let full = full.expect("the capped database filled up");
        assert!(full.is_full(), "{full}");
        assert!(!full.is_busy());
        let count = || {
            Connection::open(dir.path().join("w.db"))
                .unwrap()
                .query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))
                .unwrap()
        };
        let before = count();
        writer
            .write(|c| c.query_row("PRAGMA max_page_count = 1000000", [], |r| r.get::<_, i64>(0)))
            .await
            .unwrap();
        writer
            .write(|c| c.execute("INSERT INTO t VALUES (3)", []))
            .await
            .unwrap();
        assert_eq!(count(), before + 1);
    }
}
