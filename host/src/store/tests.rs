use super::*;
use crate::send::{TextInput, Validator};

fn text(to: &str, body: &str) -> EnqueueItem {
    EnqueueItem {
        send: Validator::new(4096)
            .text(
                &TextInput {
                    to: Some(to.into()),
                    text: Some(body.into()),
                    ..Default::default()
                },
                "",
            )
            .unwrap(),
        idem: None,
        upload: None,
    }
}

fn with_key(mut item: EnqueueItem, key: &str, print: u8) -> EnqueueItem {
    item.idem = Some(IdemClaim {
        key: key.into(),
        fingerprint: [print; 32],
    });
    item
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("sub/wapi.db")).unwrap();
    (dir, store)
}

const DAY: &str = "2026-11-28";

/// Queues texts to one number on `DAY` (cap 10, time 1).
async fn queue(store: &Store, texts: &[&str]) -> Vec<EnqueueOutcome> {
    let items = texts.iter().map(|t| text("15551234567", t)).collect();
    store.enqueue("k", items, DAY.into(), 10, 1).await.unwrap()
}

fn queued_ids(outcomes: &[EnqueueOutcome]) -> Vec<i64> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            EnqueueOutcome::Queued(m) => Some(m.id),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_daily_cap_counts_accepted_messages_per_day() {
    let (_dir, store) = open();
    let items = (0..4).map(|i| text("15551234567", &format!("m{i}"))).collect();
    let out = store.enqueue("k", items, DAY.into(), 3, 1).await.unwrap();
    assert_eq!(queued_ids(&out), vec![1, 2, 3]);
    assert!(matches!(out[3], EnqueueOutcome::DailyLimit));
    assert!(matches!(
        store
            .enqueue("k", vec![text("15551234567", "x")], DAY.into(), 3, 2)
            .await
            .unwrap()[0],
        EnqueueOutcome::DailyLimit
    ));
    let next_day = store
        .enqueue("k", vec![text("15551234567", "x")], "2026-11-29".into(), 3, 3)
        .await
        .unwrap();
    assert_eq!(queued_ids(&next_day), vec![4]);
    assert_eq!(
        store.daily_counts(DAY.into()).await.unwrap(),
        DailyCounts { accepted: 3, sent: 0 }
    );
    assert_eq!(store.pending(), 4);
}

#[tokio::test]
async fn idempotency_keys_replay_or_refuse_and_expire() {
    let (_dir, store) = open();
    let first = store
        .enqueue(
            "k",
            vec![with_key(text("15551234567", "a"), "x", 1)],
            DAY.into(),
            10,
            1_000,
        )
        .await
        .unwrap();
    assert_eq!(queued_ids(&first), vec![1]);
    store.save_response("k", "x", "{\"first\":true}".into()).await.unwrap();
    let again = store
        .enqueue(
            "k",
            vec![with_key(text("15551234567", "a"), "x", 1)],
            DAY.into(),
            10,
            2_000,
        )
        .await
        .unwrap();
    match &again[0] {
        EnqueueOutcome::Replayed { message, response } => {
            assert_eq!(message.id, 1);
            assert_eq!(response.as_deref(), Some("{\"first\":true}"));
        }
        other => panic!("expected a replay, got {other:?}"),
    }
    let other_body = store
        .enqueue(
            "k",
            vec![with_key(text("15551234567", "b"), "x", 2)],
            DAY.into(),
            10,
            3_000,
        )
        .await
        .unwrap();
    assert!(matches!(other_body[0], EnqueueOutcome::IdemMismatch));
    // Keys are per API key.
    let other_key = store
        .enqueue(
            "k2",
            vec![with_key(text("15551234567", "b"), "x", 2)],
            DAY.into(),
            10,
            3_000,
        )
        .await
        .unwrap();
    assert_eq!(queued_ids(&other_key), vec![2]);
    // After 24 h the key is free again.
    let later = messages::IDEMPOTENCY_TTL_MS + 2_000;
    let fresh = store
        .enqueue(
            "k",
            vec![with_key(text("15551234567", "c"), "x", 3)],
            DAY.into(),
            10,
            later,
        )
        .await
        .unwrap();
    assert_eq!(queued_ids(&fresh), vec![3]);
    // Replays do not count against the cap.
    assert_eq!(store.daily_counts(DAY.into()).await.unwrap().accepted, 3);
}

#[tokio::test]
async fn a_message_moves_queued_sending_sent_and_keeps_its_history() {
    let (_dir, store) = open();
    queue(&store, &["a", "b"]).await;
    assert_eq!(store.head().await.unwrap().unwrap().id, 1);
    assert_eq!(store.claim(1, "WA1".into(), 2).await.unwrap().as_deref(), Some("WA1"));
    assert_eq!(
        store.claim(1, "WA2".into(), 2).await.unwrap(),
        None,
        "a claimed message cannot be claimed twice"
    );
    assert_eq!(store.head().await.unwrap().unwrap().id, 2);
    store.mark_sent(1, "WA1".into(), DAY.into(), 3).await.unwrap();
    let (m, history) = store.message(1).await.unwrap().unwrap();
    assert_eq!(
        (m.status, m.wa_id.as_deref(), m.sent_at),
        (Status::Sent, Some("WA1"), Some(3))
    );
    let statuses: Vec<_> = history.iter().map(|h| h.status).collect();
    assert_eq!(statuses, [Status::Queued, Status::Sending, Status::Sent]);
    assert_eq!(
        store.daily_counts(DAY.into()).await.unwrap(),
        DailyCounts { accepted: 2, sent: 1 }
    );
    assert!(matches!(
        store.cancel(1, 4).await.unwrap(),
        CancelOutcome::NotQueued(Status::Sent)
    ));
    assert!(matches!(store.cancel(2, 4).await.unwrap(), CancelOutcome::Cancelled(_)));
    assert!(matches!(store.cancel(99, 4).await.unwrap(), CancelOutcome::NotFound));
    assert!(store.head().await.unwrap().is_none());
    assert_eq!(store.pending(), 0);
}

#[tokio::test]
async fn a_send_that_never_left_goes_back_to_its_place() {
    let (_dir, store) = open();
    queue(&store, &["a", "b"]).await;
    assert_eq!(
        store.claim(1, "FIRST".into(), 2).await.unwrap().as_deref(),
        Some("FIRST")
    );
    store.requeue(1, "not connected".into(), 3).await.unwrap();
    assert_eq!(store.head().await.unwrap().unwrap().id, 1);
    assert_eq!(store.pending(), 2);
    assert_eq!(
        store.claim(1, "SECOND".into(), 4).await.unwrap().as_deref(),
        Some("FIRST"),
        "every attempt of a message goes out under the id of its first"
    );
}

#[tokio::test]
async fn after_a_crash_sending_rows_fail_as_interrupted_unless_resend_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wapi.db");
    {
        let store = Store::open(&path).unwrap();
        let items = (0..3).map(|i| text("15551234567", &format!("m{i}"))).collect();
        store.enqueue("k", items, DAY.into(), 10, 1).await.unwrap();
        assert!(store.claim(1, "W1".into(), 2).await.unwrap().is_some());
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.pending(), 3, "the counter is rebuilt from the database");
    let ids = |found: Vec<MessageRecord>| found.iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(store.recover_interrupted(false, 5).await.unwrap()), vec![1]);
    let (m, _) = store.message(1).await.unwrap().unwrap();
    assert_eq!((m.status, m.reason.as_deref()), (Status::Failed, Some("interrupted")));
    assert_eq!(store.pending(), 2);

    assert!(store.claim(2, "W2".into(), 6).await.unwrap().is_some());
    assert_eq!(ids(store.recover_interrupted(true, 7).await.unwrap()), vec![2]);
    let head = store.head().await.unwrap().unwrap();
    assert_eq!(
        (head.id, head.wa_id.as_deref()),
        (2, Some("W2")),
        "queued again, same id"
    );
}

#[tokio::test]
async fn concurrent_writes_share_commits_and_all_land() {
    let (_dir, store) = open();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .enqueue("k", vec![text("15551234567", &format!("m{i}"))], DAY.into(), 1_000, i)
                    .await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(queued_ids(&t.await.unwrap().unwrap()));
    }
    ids.sort();
    assert_eq!(ids, (1..=200).collect::<Vec<_>>());
    assert_eq!(store.daily_counts(DAY.into()).await.unwrap().accepted, 200);
}

#[tokio::test]
async fn commits_never_checkpoint_the_wal_themselves() {
    // The checkpointer thread does it, so no commit waits for pages copied and synced.
    let (_dir, store) = open();
    let auto: i64 = store
        .write(|c| c.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(auto, 0);
}

#[tokio::test]
async fn every_connection_has_a_bounded_page_cache() {
    let (_dir, store) = open();
    let cache = |c: &rusqlite::Connection| c.query_row("PRAGMA cache_size", [], |r| r.get::<_, i64>(0));
    let writer = store.write(move |c| cache(c)).await.unwrap();
    let reader = store.read(move |c| cache(c)).await.unwrap();
    assert_eq!((writer, reader), (-1024, -512), "KiB, as PRAGMA cache_size gives them");
}

#[tokio::test]
async fn listing_puts_the_queue_first_then_history_newest_first() {
    let (_dir, store) = open();
    let items = (0..6).map(|i| text("15551234567", &format!("m{i}"))).collect();
    store.enqueue("k", items, DAY.into(), 10, 1).await.unwrap();
    for id in [1, 2] {
        store.claim(id, format!("W{id}"), 2).await.unwrap();
        store.mark_sent(id, format!("W{id}"), DAY.into(), 3).await.unwrap();
    }
    store.claim(3, "W3".into(), 4).await.unwrap();
    store.cancel(5, 4).await.unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list(ListFilter {
                status: None,
                cursor,
                limit: 2,
            })
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|m| m.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    // sending (3), queued in send order (4, 6), then history newest first (5, 2, 1).
    assert_eq!(seen, vec![3, 4, 6, 5, 2, 1]);
    let sent = store
        .list(ListFilter {
            status: Some(Status::Sent),
            cursor: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(sent.items.iter().map(|m| m.id).collect::<Vec<_>>(), vec![2, 1]);
}

#[tokio::test]
async fn keys_are_found_touched_and_revoked() {
    let (_dir, store) = open();
    let row = KeyRow {
        id: "AAAAAAAA".into(),
        name: "n".into(),
        role: Role::User,
        hash: [7; 32],
        created_at: 1,
        last_used_at: None,
        revoked_at: None,
    };
    assert!(store.insert_key(row.clone()).await.unwrap());
    assert!(!store.insert_key(row.clone()).await.unwrap(), "ids are unique");
    store.touch_key("AAAAAAAA", 120_000).await.unwrap();
    store.touch_key("AAAAAAAA", 60_000).await.unwrap();
    assert_eq!(
        store.find_key("AAAAAAAA").await.unwrap().unwrap().last_used_at,
        Some(120_000)
    );
    assert!(
        matches!(store.revoke_key("AAAAAAAA", 5).await.unwrap(), RevokeOutcome::Revoked(k) if k.revoked_at == Some(5))
    );
    assert_eq!(store.revoke_key("BBBBBBBB", 5).await.unwrap(), RevokeOutcome::NotFound);
    let admin = |id: &str| KeyRow {
        id: id.into(),
        role: Role::Admin,
        ..row.clone()
    };
    store.insert_key(admin("CCCCCCCC")).await.unwrap();
    assert_eq!(store.revoke_key("CCCCCCCC", 6).await.unwrap(), RevokeOutcome::LastAdmin);
    store.insert_key(admin("DDDDDDDD")).await.unwrap();
    assert!(matches!(
        store.revoke_key("CCCCCCCC", 6).await.unwrap(),
        RevokeOutcome::Revoked(_)
    ));
    assert_eq!(store.revoke_key("DDDDDDDD", 6).await.unwrap(), RevokeOutcome::LastAdmin);
    assert_eq!(store.key_count().await.unwrap(), 3);
}

#[tokio::test]
async fn incoming_messages_are_stored_once_and_server_acks_land_on_ours() {
    let (_dir, store) = open();
    let message = |id: &str| crate::whatsapp::Incoming {
        wa_id: id.into(),
        chat: "15551234567@s.whatsapp.net".into(),
        sender: "15551234567@s.whatsapp.net".into(),
        from_me: false,
        push_name: Some("Ann".into()),
        text: Some("hi".into()),
        media_type: None,
        sent_at: 5,
    };
    let first = store
        .store_incoming(vec![message("A"), message("B")], 10)
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|(_, m)| m.wa_id.as_str()).collect::<Vec<_>>(),
        ["A", "B"]
    );
    let again = store
        .store_incoming(vec![message("B"), message("C")], 11)
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|(_, m)| m.wa_id.as_str()).collect::<Vec<_>>(),
        ["C"],
        "a redelivery is stored once"
    );

    queue(&store, &["a"]).await;
    store.claim(1, "WA1".into(), 2).await.unwrap();
    store.mark_sent(1, "WA1".into(), DAY.into(), 3).await.unwrap();
    assert_eq!(store.record_server_ack("WA1", None, 4).await.unwrap(), Some(1));
    assert_eq!(store.record_server_ack("NOT-OURS", None, 4).await.unwrap(), None);
}
