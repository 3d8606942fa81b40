//! Listing the queue and history: the message being sent and the queued ones in send order,
//! then the rest newest first, in pages with opaque cursors.

use rusqlite::Connection;

use super::messages::{COLUMNS, from_row};
use super::{MessageRecord, Status, Store, StoreError};

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub cursor: Option<String>,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<MessageRecord>,
    pub next_cursor: Option<String>,
}

impl Store {
    /// Queue and history: the message being sent and the queued ones in send order, then the
    /// rest newest first. A cursor continues where the previous page ended.
    pub async fn list(&self, filter: ListFilter) -> Result<Page, StoreError> {
        let session = self.session().to_string();
        self.read(move |c| list(c, &session, &filter)).await
    }
}

fn list(c: &Connection, session: &str, filter: &ListFilter) -> rusqlite::Result<Page> {
    let limit = filter.limit.clamp(1, 500) as usize;
    let cursor = filter.cursor.as_deref().and_then(Cursor::parse);
    let mut items = Vec::with_capacity(limit);
    let ascending = |status: Status| matches!(status, Status::Queued | Status::Sending);
    let query = |sql: &str, params: &[&dyn rusqlite::ToSql], items: &mut Vec<MessageRecord>| -> rusqlite::Result<()> {
        let rows = c
            .prepare_cached(sql)?
            .query_map(params, from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        items.extend(rows);
        Ok(())
    };
    let n = limit as i64 + 1;
    if let Some(status) = filter.status {
        let (after, order, cmp) = match (ascending(status), cursor) {
            (true, Some(Cursor::Queued(id) | Cursor::History(id))) => (id, "ASC", ">"),
            (true, None | Some(Cursor::Start)) => (0, "ASC", ">"),
            (false, Some(Cursor::Queued(id) | Cursor::History(id))) => (id, "DESC", "<"),
            (false, None | Some(Cursor::Start)) => (i64::MAX, "DESC", "<"),
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM messages WHERE session = ?1 AND status = ?2 AND id {cmp} ?3 ORDER BY id {order} LIMIT ?4"
        );
        query(&sql, &[&session, &status.as_str(), &after, &n], &mut items)?;
        let more = items.len() > limit;
        items.truncate(limit);
        let next = more.then(|| Cursor::Queued(items.last().map_or(0, |m| m.id)).encode());
        return Ok(Page {
            items,
            next_cursor: next,
        });
    }
    let mut segment = cursor.unwrap_or(Cursor::Start);
    loop {
        let remaining = n - items.len() as i64;
        match segment {
            Cursor::Start => {
                let sql =
                    format!("SELECT {COLUMNS} FROM messages WHERE session = ?1 AND status = 'sending' ORDER BY id");
                query(&sql, &[&session], &mut items)?;
                segment = Cursor::Queued(0);
            }
            Cursor::Queued(after) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM messages WHERE session = ?1 AND status = 'queued' AND id > ?2 ORDER BY id LIMIT ?3"
                );
                query(&sql, &[&session, &after, &remaining], &mut items)?;
                if items.len() as i64 >= n {
                    break;
                }
                segment = Cursor::History(i64::MAX);
            }
            Cursor::History(before) => {
                query(&history_sql(), &[&session, &before, &remaining], &mut items)?;
                break;
            }
        }
    }
    let more = items.len() > limit;
    items.truncate(limit);
    let next = more.then(|| match items.last() {
        Some(m) if ascending(m.status) => Cursor::Queued(m.id).encode(),
        Some(m) => Cursor::History(m.id).encode(),
        None => Cursor::Start.encode(),
    });
    Ok(Page {
        items,
        next_cursor: next,
    })
}

/// A page of history, newest first, before an id. `NOT INDEXED` keeps SQLite on the rowid: with
/// `messages_by_status` it would read every row of the session and sort them (50 ms at 100,000
/// messages, growing with the history), where walking the rowid down costs the page itself.
fn history_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM messages NOT INDEXED WHERE session = ?1 AND status NOT IN ('queued', 'sending') \
         AND id < ?2 ORDER BY id DESC LIMIT ?3"
    )
}

/// Where a listing continues: after a queued id, or before a history id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    Start,
    Queued(i64),
    History(i64),
}

impl Cursor {
    fn encode(self) -> String {
        match self {
            Self::Start => "s0".into(),
            Self::Queued(id) => format!("q{id}"),
            Self::History(id) => format!("h{id}"),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let (tag, id) = text.split_at_checked(1)?;
        let id: i64 = id.parse().ok().filter(|id| *id >= 0)?;
        match tag {
            "s" => Some(Self::Start),
            "q" => Some(Self::Queued(id)),
            "h" => Some(Self::History(id)),
            _ => None,
        }
    }
}

/// Whether a client's cursor is one this store gave out.
pub fn valid_cursor(text: &str) -> bool {
    Cursor::parse(text).is_some()
}

#[cfg(test)]
mod tests {
    /// The history page walks the rowid backwards: no index scan of the whole session, no sort.
    #[test]
    fn a_history_page_reads_the_page_not_the_history() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        for migration in crate::store::MIGRATIONS {
            c.execute_batch(migration).unwrap();
        }
        let plan: Vec<String> = c
            .prepare(&format!("EXPLAIN QUERY PLAN {}", super::history_sql()))
            .unwrap()
            .query_map(["default", "9", "51"], |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            plan,
            ["SEARCH messages USING INTEGER PRIMARY KEY (rowid<?)"],
            "{plan:?}"
        );
    }
}
