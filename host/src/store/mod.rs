//! Storage: the only module that writes SQL. One SQLite file in WAL mode with
//! `synchronous=FULL`; one writing thread with group commit ([`writer`]), WAL checkpoints on a
//! thread of their own ([`checkpoint`]), a small pool of read-only connections for queries, and
//! migrations applied at start.

mod checkpoint;
mod contacts;
mod inbound;
mod journal;
mod keys;
mod list;
mod messages;
mod plugin_kv;
mod webhooks;
mod writer;

pub use journal::{Journaled, Stream as JournalStream};
pub use keys::{KeyRow, RevokeOutcome, Role};
pub use list::{ListFilter, Page, valid_cursor};
pub use messages::{
    CancelOutcome, DailyCounts, EnqueueItem, EnqueueOutcome, IdemClaim, MessageRecord, Status, StatusChange,
};
pub use plugin_kv::KvRefusal;
pub use webhooks::{
    AttemptRecord, DeliveryPage, DeliveryRecord, DeliveryState, NewDelivery, RetryOutcome, valid_delivery_cursor,
};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

use crate::supervise::Health;
use writer::Writer;

/// The session every row belongs to until several linked numbers per host arrive.
pub const DEFAULT_SESSION: &str = "default";

const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("schema2.sql"),
    include_str!("schema3.sql"),
    include_str!("schema4.sql"),
    include_str!("schema5.sql"),
    include_str!("schema6.sql"),
    include_str!("schema7.sql"),
];
const MAX_IDLE_READERS: usize = 8;
/// SQLite's page cache per connection, in KiB (`PRAGMA cache_size` takes it negative), bounded
/// below SQLite's 2 MiB default. The writer's cache keeps the b-trees' upper levels and right
/// edges, where new rows land: a few hundred pages at most. A reader's cache is emptied whenever
/// the database changed since its last query (WAL), so it holds one query's pages.
const WRITER_CACHE_KIB: u32 = 1024;
const READER_CACHE_KIB: u32 = 512;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {message}")]
    Db {
        message: String,
        code: Option<rusqlite::ErrorCode>,
    },
    #[error("the database writer has stopped")]
    Closed,
    /// A write panicked (a bug): its group was rolled back; the writer goes on.
    #[error("a database write panicked: {0}")]
    Panicked(String),
}

impl StoreError {
    /// True when the disk (or the database's size limit) is full.
    pub fn is_full(&self) -> bool {
        self.code() == Some(rusqlite::ErrorCode::DiskFull)
    }

    /// True when another connection held a lock past the busy timeout.
    pub fn is_busy(&self) -> bool {
        matches!(
            self.code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }

    /// SQLite's primary result code, when SQLite gave one.
    pub fn code(&self) -> Option<rusqlite::ErrorCode> {
        match self {
            Self::Db { code, .. } => *code,
            Self::Closed | Self::Panicked(_) => None,
        }
    }

    fn from_ref(e: &rusqlite::Error) -> Self {
        Self::Db {
            code: e.sqlite_error_code(),
            message: e.to_string(),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::from_ref(&e)
    }
}

/// A cheap-clone handle to the database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    session: String,
    writer: Writer,
    _checkpointer: checkpoint::Checkpointer,
    readers: Mutex<Vec<Connection>>,
    /// Messages not yet in a final state (queued or sending), kept so status reads need no COUNT.
    pending: AtomicI64,
}

impl Store {
    /// Opens (creating file and folder if needed) and migrates the database.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Self::open_watched(path, &Health::default())
    }

    /// [`Store::open`], with the writer and checkpointer threads reporting to `health`
    /// (`store-writer`, `store-checkpoint`).
    pub fn open_watched(path: &Path, health: &Health) -> anyhow::Result<Self> {
        use anyhow::Context;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
             PRAGMA busy_timeout=5000; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=0;",
        )
        .context("setting database pragmas")?;
        conn.pragma_update(None, "cache_size", -i64::from(WRITER_CACHE_KIB))?;
        migrate(&mut conn).context("migrating the database")?;
        let pending: i64 = conn.query_row(
            "SELECT COUNT(*) FROM messages WHERE session = ?1 AND status IN ('queued', 'sending')",
            [DEFAULT_SESSION],
            |r| r.get(0),
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                session: DEFAULT_SESSION.to_string(),
                writer: Writer::start(conn, health).context("starting the database writer")?,
                _checkpointer: checkpoint::Checkpointer::start(path, checkpoint::EVERY, checkpoint::RESTART_AT, health)
                    .context("starting the WAL checkpointer")?,
                readers: Mutex::new(Vec::new()),
                pending: AtomicI64::new(pending),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn session(&self) -> &str {
        &self.inner.session
    }

    /// Messages queued or being sent, without touching the database.
    pub fn pending(&self) -> u64 {
        self.inner.pending.load(Ordering::Relaxed).max(0) as u64
    }

    fn adjust_pending(&self, delta: i64) {
        self.inner.pending.fetch_add(delta, Ordering::Relaxed);
    }

    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.inner.writer.write(f).await
    }

    /// Runs a query on a read-only connection, off the async executor.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = store.take_reader()?;
            let result = f(&conn);
            store.return_reader(conn);
            result.map_err(StoreError::from)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }

    /// Runs a point query (a primary-key lookup, microseconds) on a read-only connection right
    /// here, on the calling thread: a hop to the blocking pool would cost more than the query.
    /// Holds no async lock; scans and anything unbounded go through [`Store::read`].
    fn read_now<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let conn = self.take_reader()?;
        let result = f(&conn);
        self.return_reader(conn);
        result.map_err(StoreError::from)
    }

    fn take_reader(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.inner.readers.lock().expect("reader pool").pop() {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.inner.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.execute_batch(&format!(
            "PRAGMA busy_timeout=5000; PRAGMA query_only=ON; PRAGMA cache_size=-{READER_CACHE_KIB};"
        ))?;
        Ok(conn)
    }

    fn return_reader(&self, conn: Connection) {
        let mut pool = self.inner.readers.lock().expect("reader pool");
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
    }
}

/// Bytes SQLite holds right now in this process (page caches, statements, schemas of every
/// connection), and the most it has held since the start.
pub fn sqlite_memory() -> (i64, i64) {
    // SAFETY: both read SQLite's global allocation counters; they take no pointers and are
    // thread-safe in every threading mode.
    unsafe {
        (
            rusqlite::ffi::sqlite3_memory_used(),
            rusqlite::ffi::sqlite3_memory_highwater(0),
        )
    }
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current = tx.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests;
