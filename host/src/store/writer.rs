//! The one writing connection, owned by a dedicated thread, with group commit.
//!
//! Callers hand in closures; the thread runs every closure that is waiting in one
//! `BEGIN IMMEDIATE … COMMIT` (each inside its own savepoint, so one failure rolls back only
//! itself) and answers them after the commit is on disk. With `synchronous=FULL` that is one
//! fsync for many acknowledged requests: durable and fast together.

use std::sync::mpsc as std_mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::StoreError;

/// How many waiting writes one transaction takes at most.
const MAX_GROUP: usize = 512;

type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A write to run: given the connection inside the group's transaction, or `None` when the
/// transaction could not begin (then it only reports the failure).
type Job = Box<dyn FnOnce(Option<&mut Connection>) -> Completion + Send>;

#[derive(Clone)]
pub(super) struct Writer {
    jobs: std_mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread; it ends when every `Writer` handle is dropped.
    pub(super) fn start(conn: Connection) -> std::io::Result<Self> {
        let (jobs, rx) = std_mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("wapi-store-writer".into())
            .spawn(move || run(conn, rx))?;
        Ok(Self { jobs })
    }

    /// Runs `f` in the next group transaction and returns its result once committed.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn: Option<&mut Connection>| {
            let result = conn.map(|conn| in_savepoint(conn, f));
            Box::new(move |commit: Result<(), StoreError>| {
                let _ = tx.send(match (commit, result) {
                    (Ok(()), Some(result)) => result.map_err(StoreError::from),
                    (Err(e), _) => Err(e),
                    (Ok(()), None) => Err(StoreError::Closed),
                });
            })
        });
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

/// Runs `f` in a savepoint of the group's transaction: on error only its own changes roll back.
/// (Cached statements: parsing SAVEPOINT/RELEASE for every write showed up in profiles.)
fn in_savepoint<T>(conn: &mut Connection, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    conn.prepare_cached("SAVEPOINT write")?.execute([])?;
    let result = f(conn);
    if result.is_err() {
        conn.prepare_cached("ROLLBACK TO write")?.execute([])?;
    }
    conn.prepare_cached("RELEASE write")?.execute([])?;
    result
}

fn run(mut conn: Connection, rx: std_mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let (completions, outcome) = commit_group(&mut conn, group);
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
        let completions = group.into_iter().map(|job| job(None)).collect();
        return (completions, Err(StoreError::from(e)));
    }
    let completions: Vec<Completion> = group.into_iter().map(|job| job(Some(&mut *conn))).collect();
    let outcome = conn.execute_batch("COMMIT").map_err(StoreError::from);
    if outcome.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    (completions, outcome)
}
