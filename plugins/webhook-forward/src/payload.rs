//! The webhook payload: the Standard Webhooks shape
//! `{"type": "message.sent", "timestamp": "<RFC 3339>", "data": {...}}`, where `data` holds the
//! event record's fields under their WIT names (snake_case) and `timestamp` is when the event
//! happened.

use serde_json::{Value, json};
use wapi_plugin_sdk::{Event, IncomingEvent, MessageEvent, ReceiptEvent, SessionEvent};

/// Each WIT `event` case with its webhook type.
pub const TYPES: [(&str, &str); 7] = [
    ("queued", "message.queued"),
    ("sent", "message.sent"),
    ("failed", "message.failed"),
    ("cancelled", "message.cancelled"),
    ("receipt", "message.receipt"),
    ("received", "message.received"),
    ("session", "session.changed"),
];

/// The webhook type of `event` (`message.sent`, `session.changed`, ...).
pub fn event_type(event: &Event) -> &'static str {
    let name = event.name();
    TYPES
        .iter()
        .find(|(case, _)| *case == name)
        .map_or(name, |(_, kind)| kind)
}

/// The payload for `event`.
pub fn build(event: &Event) -> Value {
    json!({
        "type": event_type(event),
        "timestamp": rfc3339(event.at_ms()),
        "data": data(event),
    })
}

/// The event record's fields.
fn data(event: &Event) -> Value {
    match event {
        Event::Queued(m) | Event::Sent(m) | Event::Failed(m) | Event::Cancelled(m) => message(m),
        Event::Receipt(r) => receipt(r),
        Event::Received(i) => incoming(i),
        Event::Session(s) => session(s),
    }
}

fn message(m: &MessageEvent) -> Value {
    json!({"id": m.id, "to": m.to, "kind": m.kind, "text": m.text, "error": m.error, "at_ms": m.at_ms})
}

fn receipt(r: &ReceiptEvent) -> Value {
    json!({"id": r.id, "kind": r.kind, "at_ms": r.at_ms})
}

fn incoming(i: &IncomingEvent) -> Value {
    json!({"id": i.id, "chat": i.chat, "sender": i.sender, "text": i.text, "at_ms": i.at_ms})
}

fn session(s: &SessionEvent) -> Value {
    json!({"state": s.state, "error": s.error, "at_ms": s.at_ms})
}

/// Milliseconds since the Unix epoch as RFC 3339 in UTC with milliseconds
/// (`2025-01-15T12:00:00.000Z`).
pub fn rfc3339(ms: u64) -> String {
    let (days, ms_of_day) = (ms / 86_400_000, ms % 86_400_000);
    let (year, month, day) = civil_date(days);
    let (secs, millis) = (ms_of_day / 1000, ms_of_day % 1000);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01.
///
/// Counts in 400-year eras that start on March 1st, so the leap day is the last day of a
/// counted year: an era has 146,097 days, and within it every 4th year is a leap year except
/// every 100th, which a 400th restores.
fn civil_date(days: u64) -> (u64, u64, u64) {
    // 1970-01-01 is day 719,468 counted from 0000-03-01.
    let days = days + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: 153 days in every 5 months (31, 30, 31, 30, 31).
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(951_868_799_999), "2000-02-29T23:59:59.999Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_735_689_599_000), "2024-12-31T23:59:59.000Z");
    }

    #[test]
    fn a_failed_message_has_its_type_time_and_fields() {
        let event = Event::Failed(MessageEvent {
            id: "msg_1".into(),
            to: "923001234567".into(),
            kind: "text".into(),
            text: "hi".into(),
            error: Some("not on WhatsApp".into()),
            at_ms: 1_700_000_000_000,
        });
        let expected = json!({
            "type": "message.failed",
            "timestamp": "2023-11-14T22:13:20.000Z",
            "data": {"id": "msg_1", "to": "923001234567", "kind": "text", "text": "hi",
                     "error": "not on WhatsApp", "at_ms": 1_700_000_000_000u64},
        });
        assert_eq!(build(&event), expected);
    }

    #[test]
    fn keys_come_in_the_standard_order() {
        let event = Event::Session(SessionEvent {
            state: "connected".into(),
            error: None,
            at_ms: 0,
        });
        let text = build(&event).to_string();
        assert!(text.starts_with(r#"{"type":"session.changed","timestamp":"#), "{text}");
        assert!(
            text.ends_with(r#""data":{"state":"connected","error":null,"at_ms":0}}"#),
            "{text}"
        );
    }

    #[test]
    fn every_case_has_a_type() {
        let incoming = Event::Received(IncomingEvent {
            id: "in_1".into(),
            chat: "1@g.us".into(),
            sender: "92300".into(),
            text: None,
            at_ms: 0,
        });
        assert_eq!(event_type(&incoming), "message.received");
        assert_eq!(build(&incoming)["data"]["text"], Value::Null);
        let receipt = Event::Receipt(ReceiptEvent {
            id: "m".into(),
            kind: "read".into(),
            at_ms: 0,
        });
        assert_eq!(event_type(&receipt), "message.receipt");
    }
}
