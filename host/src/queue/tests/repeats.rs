//! Sends that cannot repeat: a message goes out under the WhatsApp id chosen when it was first
//! claimed, on every attempt; a send that may have left is never blindly sent again; one that
//! provably did not (not connected, an upload cut by a dropped connection) waits and goes later.

use std::time::Duration;

use serde_json::Value;

use super::{Rig, antiban};
use crate::events::GatewayEvent;
use crate::queue::policy::tests::ms;
use crate::send::{MediaFile, Validator};
use crate::store::{EnqueueItem, MessageRecord, Status};
use crate::whatsapp::WhatsApp;
use crate::whatsapp::simulator::SimAction;

/// A number whose sends the simulator delivers and then fails, as if the connection broke
/// right after the write.
const ANSWER_LOST: &str = "15550002222";
const FINE: &str = "15551234567";

fn rig() -> Rig {
    Rig::with("2026-11-28T10:00:00Z", |sim| {
        sim.fail_after_sending_to = vec![crate::send::PhoneNumber::parse(ANSWER_LOST).unwrap()]
    })
}

/// The simulator's record: one JSON object per message that reached "WhatsApp".
fn record(rig: &Rig) -> Vec<Value> {
    std::fs::read_to_string(&rig.record)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn row(rig: &Rig, id: i64) -> (MessageRecord, Vec<Status>) {
    let (message, history) = rig.store.message(id).await.unwrap().unwrap();
    (message, history.iter().map(|h| h.status).collect())
}

/// Polls on the paused clock (1 ms a step) until `done`, for at most ten minutes of it.
async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(ms(1)).await;
    }
}

/// Back in the queue after an attempt, with the WhatsApp id that attempt went out under.
async fn requeued(rig: &Rig, id: i64) -> String {
    until("the message to be queued again", async || {
        let (m, _) = row(rig, id).await;
        m.status == Status::Queued && m.wa_id.is_some()
    })
    .await;
    row(rig, id).await.0.wa_id.unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_send_that_fails_after_leaving_keeps_its_id_and_fails_as_interrupted() {
    let rig = rig();
    rig.enqueue(&[(ANSWER_LOST, "a"), (FINE, "b")]).await;
    let mut rx = rig.events.subscribe();
    rig.start(antiban());
    let finals = rig.finals(&mut rx, 2).await;
    assert_eq!(
        finals[0],
        GatewayEvent::MessageFailed {
            id: 1,
            reason: "interrupted".into()
        },
        "it may have reached WhatsApp: it is not sent again"
    );
    assert!(
        matches!(finals[1], GatewayEvent::MessageSent { id: 2, .. }),
        "the queue goes on"
    );
    let sent = record(&rig);
    assert_eq!(
        sent.iter().map(|l| l["id"].as_i64().unwrap()).collect::<Vec<_>>(),
        [1, 2]
    );
    let (first, history) = row(&rig, 1).await;
    assert_eq!(
        first.wa_id.as_deref(),
        sent[0]["wa_id"].as_str(),
        "the id it left under is kept"
    );
    assert_eq!(history, [Status::Queued, Status::Sending, Status::Failed]);
}

#[tokio::test(start_paused = true)]
async fn with_resend_a_send_that_may_have_left_goes_again_under_its_id_and_arrives_once() {
    let rig = rig();
    rig.enqueue(&[(ANSWER_LOST, "a")]).await;
    rig.start(crate::config::AntiBan {
        resend_interrupted: true,
        ..antiban()
    });
    // Polled rather than awaited as an event: a sender resending under new ids would loop.
    until("the message to be sent", async || {
        let sent = record(&rig);
        assert!(sent.len() <= 1, "delivered twice: {sent:?}");
        row(&rig, 1).await.0.status == Status::Sent
    })
    .await;
    let wa_id = row(&rig, 1).await.0.wa_id.expect("sent under an id");
    let sent = record(&rig);
    assert_eq!(sent.len(), 1, "WhatsApp dropped the repeat of an id it had: {sent:?}");
    assert_eq!(sent[0]["wa_id"].as_str(), Some(wa_id.as_str()));
    let (_, history) = row(&rig, 1).await;
    assert_eq!(
        history,
        [
            Status::Queued,
            Status::Sending,
            Status::Queued,
            Status::Sending,
            Status::Sent
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_send_that_never_left_waits_for_the_connection_and_goes_under_the_same_id() {
    let rig = rig();
    rig.enqueue(&[(FINE, "a")]).await;
    rig.simulator.act(SimAction::DropBeforeSend);
    let mut rx = rig.events.subscribe();
    rig.start(antiban());
    let first_id = requeued(&rig, 1).await;
    assert!(record(&rig).is_empty(), "nothing left");
    assert_eq!(
        rig.simulator.status().borrow().state,
        crate::whatsapp::SessionState::Reconnecting
    );
    rig.simulator.act(SimAction::Link);
    let finals = rig.finals(&mut rx, 1).await;
    assert_eq!(
        finals[0],
        GatewayEvent::MessageSent {
            id: 1,
            wa_id: first_id.clone()
        }
    );
    assert_eq!(record(&rig)[0]["wa_id"].as_str(), Some(first_id.as_str()));
}

#[tokio::test(start_paused = true)]
async fn a_media_upload_cut_by_a_dropped_connection_is_queued_again_and_sent_later() {
    let rig = rig();
    let path = rig._dir.path().join("upload-1");
    std::fs::write(&path, b"\x89PNG not really").unwrap();
    let item = EnqueueItem {
        send: Validator::new(100)
            .media(
                Some(FINE),
                None,
                Some(&MediaFile {
                    path: path.clone(),
                    mime: "image/png".into(),
                    file_name: "a.png".into(),
                    size: 16,
                }),
            )
            .unwrap(),
        idem: None,
        upload: None,
    };
    let now = rig.clock.now_ms();
    rig.store
        .enqueue("k", vec![item], rig.clock.today().to_string(), 100, now)
        .await
        .unwrap();
    rig.simulator.act(SimAction::DropDuringUpload);
    let mut rx = rig.events.subscribe();
    rig.start(antiban());
    let first_id = requeued(&rig, 1).await;
    assert!(path.exists(), "the file stays while the message waits");
    assert!(record(&rig).is_empty());
    rig.simulator.act(SimAction::Link);
    let finals = rig.finals(&mut rx, 1).await;
    assert!(matches!(&finals[0], GatewayEvent::MessageSent { id: 1, wa_id } if *wa_id == first_id));
    let sent = record(&rig);
    assert_eq!((sent.len(), sent[0]["type"].as_str()), (1, Some("image")));
    assert!(!path.exists(), "removed once WhatsApp had it");
}
