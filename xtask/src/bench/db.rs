//! Straight to wapi's SQLite file while the server is stopped: seed queued rows, count rows.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use rusqlite::{Connection, params};

/// Inserts `count` queued text messages in one transaction (a recursive CTE feeding one INSERT).
pub fn seed_queued(db: &Path, count: u64) -> Result<()> {
    let mut conn = Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let tx = conn.transaction()?;
    let inserted = tx
        .execute(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?1)
             INSERT INTO messages (session, kind, recipient, body, status, created_at, updated_at)
             SELECT 'default', 'text', '15551234567', 'bench message', 'queued', ?2, ?2 FROM seq",
            params![count as i64, now],
        )
        .context("inserting queued rows into messages")?;
    tx.commit().context("committing the queued rows")?;
    anyhow::ensure!(inserted as u64 == count, "inserted {inserted} rows, wanted {count}");
    Ok(())
}

/// Counts all rows of `messages` (queued or not).
pub fn count_messages(db: &Path) -> Result<u64> {
    let conn = Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM messages", [], |row| row.get(0))
        .context("counting messages")?;
    Ok(rows as u64)
}
