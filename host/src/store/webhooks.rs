//! Webhook deliveries: stored before the plugin is answered, picked by the worker in due order,
//! moved to delivered or (the dead letter) failed, listed and retried by admins.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Store, StoreError};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its next attempt (or in one).
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Dead-lettered: every attempt of the schedule failed, or it could not be signed.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// One stored delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    /// `msg_…`: the `webhook-id` header, the same on every attempt.
    pub id: String,
    pub plugin: String,
    pub url: String,
    pub payload: String,
    pub state: DeliveryState,
    /// Attempts finished since it was created (or last retried by an admin).
    pub attempts: u32,
    /// While pending: when the next attempt is due (Unix ms).
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_status: Option<u16>,
    pub created_at: i64,
    pub updated_at: i64,
    pub failed_at: Option<i64>,
}

/// A delivery to store, already validated.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: String,
    pub plugin: String,
    pub url: String,
    pub payload: String,
    /// The event this delivery was asked for while handling, and which request of that call it
    /// was (`h42#0`); a second ask with the same origin is the same delivery.
    pub origin: Option<String>,
}

/// How an attempt ended, as the store records it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptRecord {
    Delivered {
        status: u16,
    },
    /// Failed; try again at `at` (Unix ms).
    Retry {
        status: Option<u16>,
        error: String,
        at: i64,
    },
    /// Failed for good: the dead letter.
    DeadLetter {
        status: Option<u16>,
        error: String,
    },
}

/// What an admin's retry did.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryOutcome {
    /// Pending again, attempts reset, due now.
    Retried(DeliveryRecord),
    /// Refused: it is not dead-lettered (pending or delivered).
    NotDeadLettered(DeliveryRecord),
    NotFound,
}

/// A page of dead letters, newest first.
#[derive(Debug, Clone)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryRecord>,
    pub next_cursor: Option<String>,
}

const COLUMNS: &str = "id, plugin, url, payload, state, attempts, next_attempt_at, last_error, last_status, \
                       created_at, updated_at, failed_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<DeliveryRecord> {
    let state: String = r.get(4)?;
    Ok(DeliveryRecord {
        id: r.get(0)?,
        plugin: r.get(1)?,
        url: r.get(2)?,
        payload: r.get(3)?,
        state: DeliveryState::parse(&state).unwrap_or(DeliveryState::Failed),
        attempts: r.get(5)?,
        next_attempt_at: r.get(6)?,
        last_error: r.get(7)?,
        last_status: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        failed_at: r.get(11)?,
    })
}

fn find(c: &Connection, id: &str) -> rusqlite::Result<Option<DeliveryRecord>> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM webhook_deliveries WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()
}

impl Store {
    /// Stores a new pending delivery, due now, and answers its id once it is committed. When a
    /// delivery with the same plugin and origin exists (an event handed on again after a crash),
    /// nothing is stored and that delivery's id is the answer.
    pub async fn insert_delivery(&self, d: NewDelivery, now_ms: i64) -> Result<String, StoreError> {
        let session = self.session().to_string();
        self.write(move |c| {
            if let Some(origin) = &d.origin {
                let existing: Option<String> = c
                    .prepare_cached(
                        "SELECT id FROM webhook_deliveries WHERE session = ?1 AND plugin = ?2 AND origin = ?3",
                    )?
                    .query_row(params![session, d.plugin, origin], |r| r.get(0))
                    .optional()?;
                if let Some(id) = existing {
                    return Ok(id);
                }
            }
            c.prepare_cached(
                "INSERT INTO webhook_deliveries (id, session, plugin, url, payload, state, attempts, next_attempt_at, \
                 created_at, updated_at, origin) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6, ?6, ?7)",
            )?
            .execute(params![d.id, session, d.plugin, d.url, d.payload, now_ms, d.origin])?;
            Ok(d.id)
        })
        .await
    }

    /// The first `limit` pending deliveries in due order (due or not: the worker decides).
    pub async fn pending_deliveries(&self, limit: usize) -> Result<Vec<DeliveryRecord>, StoreError> {
        let session = self.session().to_string();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM webhook_deliveries WHERE session = ?1 AND state = 'pending' \
                 ORDER BY next_attempt_at, id LIMIT ?2"
            ))?
            .query_map(params![session, limit as i64], from_row)?
            .collect()
        })
        .await
    }

    /// Records attempt number `attempts` of a pending delivery; `false` when it is no longer
    /// pending (nothing changed).
    pub async fn finish_attempt(
        &self,
        id: &str,
        attempts: u32,
        outcome: AttemptRecord,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |c| {
            let (state, status, error, next, failed_at) = match outcome {
                AttemptRecord::Delivered { status } => ("delivered", Some(status), None, None, None),
                AttemptRecord::Retry { status, error, at } => ("pending", status, Some(error), Some(at), None),
                AttemptRecord::DeadLetter { status, error } => ("failed", status, Some(error), None, Some(now_ms)),
            };
            // A success keeps the error of the attempt before it: the history of a late delivery.
            let n = c
                .prepare_cached(
                    "UPDATE webhook_deliveries SET state = ?2, attempts = ?3, last_status = ?4, \
                     last_error = COALESCE(?5, last_error), next_attempt_at = ?6, failed_at = ?7, updated_at = ?8 \
                     WHERE id = ?1 AND state = 'pending'",
                )?
                .execute(params![id, state, attempts, status, error, next, failed_at, now_ms])?;
            Ok(n == 1)
        })
        .await
    }

    /// Moves a dead letter back to pending, attempts reset, due now.
    pub async fn retry_delivery(&self, id: &str, now_ms: i64) -> Result<RetryOutcome, StoreError> {
        let id = id.to_string();
        self.write(move |c| {
            let Some(row) = find(c, &id)? else {
                return Ok(RetryOutcome::NotFound);
            };
            if row.state != DeliveryState::Failed {
                return Ok(RetryOutcome::NotDeadLettered(row));
            }
            c.prepare_cached(
                "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?2, \
                 failed_at = NULL, updated_at = ?2 WHERE id = ?1",
            )?
            .execute(params![id, now_ms])?;
            let row = find(c, &id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
            Ok(RetryOutcome::Retried(row))
        })
        .await
    }

    /// One delivery by id (a primary-key lookup, in place).
    pub async fn delivery(&self, id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        self.read_now(|c| find(c, id))
    }

    /// Dead letters, newest first; `cursor` (from a previous page) continues after it.
    pub async fn dead_letters(&self, cursor: Option<&str>, limit: u32) -> Result<DeliveryPage, StoreError> {
        let session = self.session().to_string();
        let after = cursor.and_then(DeadCursor::parse);
        let limit = limit.clamp(1, 500) as usize;
        self.read(move |c| {
            let (failed_at, id) = after.map_or((i64::MAX, String::new()), |a| (a.failed_at, a.id));
            let mut items = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM webhook_deliveries WHERE session = ?1 AND state = 'failed' \
                     AND (failed_at < ?2 OR (failed_at = ?2 AND (?3 = '' OR id < ?3))) \
                     ORDER BY failed_at DESC, id DESC LIMIT ?4"
                ))?
                .query_map(params![session, failed_at, id, limit as i64 + 1], from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let more = items.len() > limit;
            items.truncate(limit);
            let next_cursor = more
                .then(|| items.last())
                .flatten()
                .map(|d| DeadCursor {
                    failed_at: d.failed_at.unwrap_or(0),
                    id: d.id.clone(),
                })
                .map(|c| c.encode());
            Ok(DeliveryPage { items, next_cursor })
        })
        .await
    }

    /// Forgets deliveries delivered before `before_ms`; returns how many.
    pub async fn purge_delivered(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM webhook_deliveries WHERE state = 'delivered' AND updated_at < ?1")?
                .execute([before_ms])
        })
        .await
    }
}

/// Where a page of dead letters continues: after (`failed_at`, `id`) in descending order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DeadCursor {
    failed_at: i64,
    id: String,
}

impl DeadCursor {
    fn encode(&self) -> String {
        format!("{}.{}", self.failed_at, self.id)
    }

    fn parse(text: &str) -> Option<Self> {
        let (at, id) = text.split_once('.')?;
        let failed_at = at.parse().ok().filter(|t: &i64| *t >= 0)?;
        let valid_id = id.strip_prefix("msg_").is_some_and(|rest| {
            !rest.is_empty() && rest.len() <= 64 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        valid_id.then(|| Self {
            failed_at,
            id: id.to_string(),
        })
    }
}

/// Whether a client's dead-letter cursor is one this store gave out.
pub fn valid_delivery_cursor(text: &str) -> bool {
    DeadCursor::parse(text).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("wapi.db")).unwrap();
        (dir, store)
    }

    fn new(id: &str) -> NewDelivery {
        NewDelivery {
            origin: None,
            id: id.into(),
            plugin: "hook".into(),
            url: "https://example.com/in".into(),
            payload: r#"{"a":1}"#.into(),
        }
    }

    async fn dead(store: &Store, id: &str, at: i64) {
        store.insert_delivery(new(id), at).await.unwrap();
        let outcome = AttemptRecord::DeadLetter {
            status: Some(500),
            error: "HTTP 500".into(),
        };
        assert!(store.finish_attempt(id, 1, outcome, at).await.unwrap());
    }

    #[tokio::test]
    async fn pending_rows_come_in_due_order_and_an_attempt_moves_them_on() {
        let (_dir, store) = open();
        store.insert_delivery(new("msg_b"), 20).await.unwrap();
        store.insert_delivery(new("msg_a"), 10).await.unwrap();
        let ids = |rows: Vec<DeliveryRecord>| rows.into_iter().map(|d| d.id).collect::<Vec<_>>();
        assert_eq!(ids(store.pending_deliveries(10).await.unwrap()), ["msg_a", "msg_b"]);
        let retry = AttemptRecord::Retry {
            status: None,
            error: "connection refused".into(),
            at: 30,
        };
        assert!(store.finish_attempt("msg_a", 1, retry, 11).await.unwrap());
        assert_eq!(ids(store.pending_deliveries(10).await.unwrap()), ["msg_b", "msg_a"]);
        assert!(
            store
                .finish_attempt("msg_a", 2, AttemptRecord::Delivered { status: 204 }, 31)
                .await
                .unwrap()
        );
        let a = store.delivery("msg_a").await.unwrap().unwrap();
        assert_eq!(
            (
                a.state,
                a.attempts,
                a.last_status,
                a.last_error.as_deref(),
                a.next_attempt_at
            ),
            (DeliveryState::Delivered, 2, Some(204), Some("connection refused"), None)
        );
        // A finished delivery is not touched by a late attempt record.
        assert!(
            !store
                .finish_attempt("msg_a", 3, AttemptRecord::Delivered { status: 200 }, 40)
                .await
                .unwrap()
        );
        assert_eq!(store.purge_delivered(32).await.unwrap(), 1);
        assert_eq!(store.delivery("msg_a").await.unwrap(), None);
    }

    #[tokio::test]
    async fn dead_letters_page_newest_first_and_a_retry_makes_one_pending_again() {
        let (_dir, store) = open();
        for (id, at) in [("msg_a", 100), ("msg_b", 200), ("msg_c", 200), ("msg_d", 300)] {
            dead(&store, id, at).await;
        }
        let first = store.dead_letters(None, 2).await.unwrap();
        let ids = |p: &DeliveryPage| p.items.iter().map(|d| d.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&first), ["msg_d", "msg_c"]);
        let cursor = first.next_cursor.clone().unwrap();
        assert!(valid_delivery_cursor(&cursor));
        let second = store.dead_letters(Some(&cursor), 2).await.unwrap();
        assert_eq!(ids(&second), ["msg_b", "msg_a"]);
        assert_eq!(second.next_cursor, None);

        match store.retry_delivery("msg_b", 400).await.unwrap() {
            RetryOutcome::Retried(d) => assert_eq!(
                (d.state, d.attempts, d.next_attempt_at, d.failed_at),
                (DeliveryState::Pending, 0, Some(400), None)
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            store.retry_delivery("msg_b", 401).await.unwrap(),
            RetryOutcome::NotDeadLettered(_)
        ));
        assert_eq!(
            store.retry_delivery("msg_zz", 401).await.unwrap(),
            RetryOutcome::NotFound
        );
        assert_eq!(
            ids(&store.dead_letters(None, 10).await.unwrap()),
            ["msg_d", "msg_c", "msg_a"]
        );
    }

    #[test]
    fn only_cursors_of_the_right_shape_are_accepted() {
        assert!(valid_delivery_cursor("123.msg_abc"));
        for bad in [
            "",
            "123",
            "x.msg_a",
            "-1.msg_a",
            "1.msg_",
            "1.abc",
            "1.msg_a.b",
            "1.msg_a'--",
        ] {
            assert!(!valid_delivery_cursor(bad), "{bad}");
        }
    }
}
