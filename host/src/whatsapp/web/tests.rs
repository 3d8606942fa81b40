//! The mappings that need no network: recipients to JIDs, media kinds, library events to
//! session states, what the queue may do in each state, and what a failed send or upload means
//! for the message (left or not).

use std::time::Duration;

use whatsapp_rust::prelude::*;
use whatsapp_rust::wacore::download::MediaType;
use whatsapp_rust::wacore::types::events as ev;

use super::events::{Effect, Next, effect};
use super::{jid, media_type, send_failed, upload_failed};
use crate::send::{MediaKind, Recipient};
use crate::whatsapp::{Gate, SessionState, SessionStatus};

#[test]
fn recipients_become_jids() {
    let phone = jid(&Recipient::parse("923001234567").unwrap()).unwrap();
    assert_eq!(phone.to_string(), "923001234567@s.whatsapp.net");
    let group = jid(&Recipient::parse("120363000000000000@g.us").unwrap()).unwrap();
    assert_eq!(group.to_string(), "120363000000000000@g.us");
}

#[test]
fn media_kinds_upload_under_their_category() {
    assert!(matches!(media_type(MediaKind::Image), MediaType::Image));
    assert!(matches!(media_type(MediaKind::Video), MediaType::Video));
    assert!(matches!(media_type(MediaKind::Audio), MediaType::Audio));
    assert!(matches!(media_type(MediaKind::Document), MediaType::Document));
}

#[test]
fn library_events_map_to_session_states() {
    let qr = Event::PairingQrCode(
        ev::PairingQrCode::builder()
            .code("2@abc".into())
            .timeout(Duration::from_secs(60))
            .build(),
    );
    assert_eq!(effect(&qr), Effect::Qr("2@abc".into()));

    let exhausted = Event::PairingQrCodesExhausted(ev::PairingQrCodesExhausted::builder().disconnected(true).build());
    assert!(matches!(
        effect(&exhausted),
        Effect::End(Next::WaitForDemand, SessionState::WaitingForQr, Some(_))
    ));
    let still_up = Event::PairingQrCodesExhausted(ev::PairingQrCodesExhausted::builder().disconnected(false).build());
    assert_eq!(effect(&still_up), Effect::Nothing);

    assert_eq!(
        effect(&Event::Connected(ev::Connected::builder().build())),
        Effect::Connected
    );

    let dropped = Event::Disconnected(
        ev::Disconnected::builder()
            .reason(whatsapp_rust::wacore::net::DisconnectReason::StreamEnded)
            .build(),
    );
    assert!(matches!(
        effect(&dropped),
        Effect::State(SessionState::Reconnecting, Some(_))
    ));

    let replaced = Event::StreamReplaced(ev::StreamReplaced::builder().build());
    assert!(matches!(
        effect(&replaced),
        Effect::End(Next::Stop, SessionState::LoggedOut, Some(_))
    ));

    let ban = Event::TemporaryBan(
        ev::TemporaryBan::builder()
            .code(ev::TempBanReason::SentToTooManyPeople)
            .expire(chrono::TimeDelta::seconds(3600))
            .build(),
    );
    match effect(&ban) {
        Effect::State(SessionState::TemporarilyBanned, Some(why)) => assert!(why.contains("3600"), "{why}"),
        other => panic!("a ban pauses with the reason: {other:?}"),
    }
}

#[test]
fn the_queue_gate_follows_state_and_link() {
    let status = |state, linked| SessionStatus {
        state,
        since: Default::default(),
        last_error: None,
        number: None,
        linked,
        qr: None,
    };
    let table = [
        (SessionState::Connected, true, Gate::Open),
        (SessionState::Starting, true, Gate::Paused),
        (SessionState::Reconnecting, true, Gate::Paused),
        (SessionState::TemporarilyBanned, true, Gate::Paused),
        (SessionState::Starting, false, Gate::Unlinked),
        (SessionState::Reconnecting, false, Gate::Unlinked),
        (SessionState::WaitingForQr, false, Gate::Unlinked),
        (SessionState::Pairing, false, Gate::Unlinked),
        (SessionState::LoggedOut, false, Gate::Unlinked),
    ];
    for (state, linked, gate) in table {
        assert_eq!(status(state, linked).gate(), gate, "{state:?} linked={linked}");
    }
}

#[test]
fn only_delivered_read_and_played_receipts_are_reported() {
    use super::events::receipt_kind;
    use crate::whatsapp::ReceiptKind;
    use whatsapp_rust::wacore::types::presence::ReceiptType;
    assert_eq!(receipt_kind(&ReceiptType::Delivered), Some(ReceiptKind::Delivered));
    assert_eq!(receipt_kind(&ReceiptType::Read), Some(ReceiptKind::Read));
    assert_eq!(receipt_kind(&ReceiptType::Played), Some(ReceiptKind::Played));
    assert_eq!(receipt_kind(&ReceiptType::Retry), None);
    assert_eq!(receipt_kind(&ReceiptType::ReadSelf), None);
}

/// An inbox that takes everything (the scripted session below sends it nothing).
struct Nowhere;

#[async_trait::async_trait]
impl crate::whatsapp::Inbox for Nowhere {
    async fn incoming(&self, _: Vec<crate::whatsapp::Incoming>) -> anyhow::Result<()> {
        Ok(())
    }
    async fn server_ack(&self, _: &str, _: Option<String>) {}
    async fn receipt(&self, _: Vec<String>, _: crate::whatsapp::ReceiptKind) {}
}

#[test]
fn the_supervisor_follows_a_scripted_session() {
    use super::events::apply;
    let clock = crate::clock::Clock::starting_at("2026-11-28T10:00:00Z".parse().unwrap());
    let shared = super::Shared::new("/nonexistent/whatsapp.db".into(), clock, std::sync::Arc::new(Nowhere));
    let step = |event: Event| apply(&shared, effect(&event), Some("923001234567".into()));
    let now = || shared.status.borrow().clone();
    let qr = |code: &str| {
        Event::PairingQrCode(
            ev::PairingQrCode::builder()
                .code(code.into())
                .timeout(Duration::from_secs(20))
                .build(),
        )
    };

    assert_eq!(step(qr("code-1")), None);
    assert_eq!(
        (now().state, now().qr.as_deref(), now().gate()),
        (SessionState::WaitingForQr, Some("code-1"), Gate::Unlinked)
    );
    step(qr("code-2"));
    assert_eq!(now().qr.as_deref(), Some("code-2"), "the code rotates");

    step(Event::PairSuccess(
        ev::PairSuccess::builder()
            .id("923001234567:1@s.whatsapp.net".parse().unwrap())
            .lid("1@lid".parse().unwrap())
            .business_name(String::new())
            .platform(String::new())
            .build(),
    ));
    let linked = now();
    assert_eq!(
        (linked.state, linked.linked, linked.qr.clone(), linked.gate()),
        (SessionState::Connected, true, None, Gate::Open)
    );
    assert_eq!(linked.number.as_deref(), Some("923001234567"));

    step(Event::Disconnected(
        ev::Disconnected::builder()
            .reason(whatsapp_rust::wacore::net::DisconnectReason::StreamEnded)
            .build(),
    ));
    assert_eq!(
        (now().state, now().gate()),
        (SessionState::Reconnecting, Gate::Paused),
        "linked: sends wait"
    );
    assert!(now().last_error.is_some());

    step(Event::Connected(ev::Connected::builder().build()));
    assert_eq!((now().state, now().last_error), (SessionState::Connected, None));

    step(Event::TemporaryBan(
        ev::TemporaryBan::builder()
            .code(ev::TempBanReason::SentToTooManyPeople)
            .expire(chrono::TimeDelta::seconds(60))
            .build(),
    ));
    assert_eq!(
        (now().state, now().gate()),
        (SessionState::TemporarilyBanned, Gate::Paused)
    );

    let logged_out = Event::LoggedOut(
        ev::LoggedOut::builder()
            .on_connect(false)
            .reason(ev::ConnectFailureReason::LoggedOut)
            .build(),
    );
    assert_eq!(
        step(logged_out),
        Some(Next::Wipe),
        "a logout ends the client and forgets the device"
    );
    assert_eq!(
        (now().state, now().linked, now().gate()),
        (SessionState::LoggedOut, false, Gate::Unlinked)
    );
}

/// What `send_message_with_options` returns when the frame carrying the message failed.
fn wire(error: whatsapp_rust::socket::error::EncryptSendError) -> whatsapp_rust::SendError {
    whatsapp_rust::SendError::Client(whatsapp_rust::ClientError::EncryptSend(error))
}

fn left(error: crate::whatsapp::SendError) -> Option<bool> {
    match error {
        crate::whatsapp::SendError::MaybeSent { .. } => None,
        crate::whatsapp::SendError::NotSent { retry, .. } => Some(retry),
    }
}

#[test]
fn a_send_is_ambiguous_only_when_the_write_of_its_frame_failed() {
    use whatsapp_rust::ClientError;
    use whatsapp_rust::socket::error::EncryptSendError;
    // `None`: may have left; `Some(retry)`: never left, and whether it goes back to the queue.
    let cases: Vec<(&str, whatsapp_rust::SendError, bool, Option<bool>)> = vec![
        (
            "the transport write broke off",
            wire(EncryptSendError::transport(anyhow::anyhow!("broken pipe"))),
            false,
            None,
        ),
        (
            "the sender task went away with the frame",
            wire(EncryptSendError::channel_closed()),
            true,
            None,
        ),
        (
            "the same, wrapped deeper",
            whatsapp_rust::SendError::Internal(anyhow::Error::new(ClientError::EncryptSend(
                EncryptSendError::transport(anyhow::anyhow!("reset")),
            ))),
            false,
            None,
        ),
        (
            "a sender poisoned by an earlier failure writes nothing",
            wire(EncryptSendError::poisoned()),
            false,
            Some(true),
        ),
        (
            "encryption failed before the write",
            wire(EncryptSendError::crypto(anyhow::anyhow!("bad key"))),
            true,
            Some(false),
        ),
        (
            "no socket when the stanza was ready",
            whatsapp_rust::SendError::Client(ClientError::NotConnected),
            true,
            Some(true),
        ),
        (
            "refused before the wire, connection up",
            whatsapp_rust::SendError::InvalidRequest("bad".into()),
            true,
            Some(false),
        ),
        (
            "failed before the wire as the connection dropped",
            whatsapp_rust::SendError::Internal(anyhow::anyhow!("device list")),
            false,
            Some(true),
        ),
    ];
    for (what, error, connected, expected) in cases {
        assert_eq!(left(send_failed(&error, connected)), expected, "{what}");
    }
}

#[test]
fn an_upload_is_tried_again_when_the_connection_dropped_and_fails_otherwise() {
    let refused = anyhow::anyhow!("the media server answered 413");
    assert_eq!(left(upload_failed(refused.as_ref(), true)), Some(false));
    assert_eq!(
        left(upload_failed(refused.as_ref(), false)),
        Some(true),
        "the connection is gone"
    );
    let gone = anyhow::Error::new(whatsapp_rust::ClientError::NotConnected);
    assert_eq!(
        left(upload_failed(gone.as_ref(), true)),
        Some(true),
        "the transport was gone"
    );
}
