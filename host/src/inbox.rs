//! What arrives from WhatsApp, on its way into the gateway: incoming messages stored before they
//! are acknowledged, server acks recorded on our messages, both then published as events.

use crate::clock::Clock;
use crate::events::{Events, GatewayEvent};
use crate::store::Store;
use crate::whatsapp::{Inbox, Incoming, ReceiptKind};

/// What the WhatsApp backend hands over: stored first (only then is it acknowledged to
/// WhatsApp), then published as events.
pub struct GatewayInbox {
    pub store: Store,
    pub events: Events,
    pub clock: Clock,
}

#[async_trait::async_trait]
impl Inbox for GatewayInbox {
    async fn incoming(&self, batch: Vec<Incoming>) -> anyhow::Result<()> {
        let stored = self.store.store_incoming(batch, self.clock.now_ms()).await?;
        for (id, m) in stored {
            tracing::info!(id, chat = %m.chat, "message received");
            self.events.publish(GatewayEvent::MessageReceived {
                id,
                chat: m.chat,
                sender: m.sender,
                text: m.text,
            });
        }
        Ok(())
    }

    async fn server_ack(&self, wa_id: &str, error: Option<String>) {
        match self
            .store
            .record_server_ack(wa_id, error.clone(), self.clock.now_ms())
            .await
        {
            Ok(Some(id)) => {
                if let Some(code) = &error {
                    tracing::warn!(id, wa_id, code, "WhatsApp's server refused a sent message");
                }
                self.events.publish(GatewayEvent::MessageAcked { id, error });
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(wa_id, error = %e, "could not record a server ack"),
        }
    }

    async fn receipt(&self, wa_ids: Vec<String>, kind: ReceiptKind) {
        for wa_id in wa_ids {
            let read = matches!(kind, ReceiptKind::Read | ReceiptKind::Played);
            match self.store.record_receipt(&wa_id, read, self.clock.now_ms()).await {
                Ok(Some(id)) => self.events.publish(GatewayEvent::MessageReceipt { id, kind }),
                Ok(None) => {}
                Err(e) => tracing::warn!(wa_id, error = %e, "could not match a receipt"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    #[tokio::test]
    async fn the_inbox_stores_before_it_tells_and_reports_acks_on_our_messages() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("wapi.db")).unwrap();
        let events = Events::default();
        let mut rx = events.subscribe();
        let inbox = GatewayInbox {
            store: store.clone(),
            events,
            clock: Clock::system(),
        };
        let message = Incoming {
            wa_id: "ABC".into(),
            chat: "15551234567@s.whatsapp.net".into(),
            sender: "15551234567@s.whatsapp.net".into(),
            from_me: false,
            push_name: None,
            text: Some("hello".into()),
            media_type: None,
            sent_at: 1,
        };
        inbox.incoming(vec![message.clone(), message]).await.unwrap();
        match rx.recv().await.unwrap() {
            GatewayEvent::MessageReceived { text, .. } => assert_eq!(text.as_deref(), Some("hello")),
            other => panic!("expected a received message, got {other:?}"),
        }
        assert!(rx.try_recv().is_err(), "a message delivered twice is announced once");
        inbox.server_ack("unknown", None).await;
        assert!(rx.try_recv().is_err(), "acks of messages that are not ours are ignored");

        let input = crate::send::TextInput {
            to: Some("15551234567".into()),
            text: Some("hi".into()),
            ..Default::default()
        };
        let send = crate::send::Validator::new(100).text(&input, "").unwrap();
        let item = crate::store::EnqueueItem {
            send,
            idem: None,
            upload: None,
        };
        store
            .enqueue("k", vec![item], "2026-11-28".into(), 10, 1)
            .await
            .unwrap();
        store.claim(1, "WA1".into(), 2).await.unwrap();
        store.mark_sent(1, "WA1".into(), "2026-11-28".into(), 3).await.unwrap();
        inbox.server_ack("WA1", Some("479".into())).await;
        assert_eq!(
            rx.recv().await.unwrap(),
            GatewayEvent::MessageAcked {
                id: 1,
                error: Some("479".into())
            }
        );
        inbox
            .receipt(vec!["WA1".into(), "OTHER".into()], ReceiptKind::Read)
            .await;
        assert_eq!(
            rx.recv().await.unwrap(),
            GatewayEvent::MessageReceipt {
                id: 1,
                kind: ReceiptKind::Read
            }
        );
        assert!(rx.try_recv().is_err());
        let (message, _) = store.message(1).await.unwrap().unwrap();
        assert!(message.acked_at.is_some() && message.ack_error.as_deref() == Some("479"));
        assert!(
            message.read_at.is_some() && message.delivered_at.is_some(),
            "a read implies delivery"
        );
    }
}
