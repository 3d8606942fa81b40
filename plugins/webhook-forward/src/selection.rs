//! Which events are forwarded: config key `events`, a list of event names.

use crate::payload::TYPES;
use wapi_plugin_sdk::Event;

/// The events to forward.
#[derive(Debug, PartialEq, Eq)]
pub struct Selection {
    /// The selected case names; empty means all.
    names: Vec<&'static str>,
}

impl Selection {
    /// Reads the `events` list: case names of the WIT `event` variant (`sent`) or webhook types
    /// (`message.sent`); an empty list selects everything.
    pub fn parse(written: &[String]) -> Result<Selection, String> {
        let mut names = Vec::with_capacity(written.len());
        for name in written {
            names.push(case_name(name.trim()).ok_or_else(|| unknown(name))?);
        }
        Ok(Selection { names })
    }

    /// Whether `event` is forwarded.
    pub fn includes(&self, event: &Event) -> bool {
        self.names.is_empty() || self.names.contains(&event.name())
    }
}

/// The case name `written` refers to, directly or through its webhook type.
fn case_name(written: &str) -> Option<&'static str> {
    TYPES
        .iter()
        .find(|(name, kind)| *name == written || *kind == written)
        .map(|(name, _)| *name)
}

/// The error for a name that is no event.
fn unknown(written: &str) -> String {
    let known: Vec<&str> = TYPES.iter().map(|(name, _)| *name).collect();
    format!(
        "config key `events`: unknown event `{written}` (known: {})",
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wapi_plugin_sdk::{ReceiptEvent, SessionEvent};

    fn parse(names: &[&str]) -> Result<Selection, String> {
        Selection::parse(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
    }

    fn receipt() -> Event {
        Event::Receipt(ReceiptEvent {
            id: "m1".into(),
            kind: "read".into(),
            at_ms: 0,
        })
    }

    fn session() -> Event {
        Event::Session(SessionEvent {
            state: "connected".into(),
            error: None,
            at_ms: 0,
        })
    }

    #[test]
    fn no_list_selects_everything() {
        let all = parse(&[]).unwrap();
        assert!(all.includes(&receipt()) && all.includes(&session()));
    }

    #[test]
    fn names_and_types_both_select() {
        let some = parse(&["receipt", " session.changed "]).unwrap();
        assert_eq!(some, parse(&["message.receipt", "session"]).unwrap());
        assert!(some.includes(&receipt()) && some.includes(&session()));
        assert!(!parse(&["sent"]).unwrap().includes(&receipt()));
    }

    #[test]
    fn an_unknown_name_is_an_error() {
        let err = parse(&["delivered"]).unwrap_err();
        assert!(err.contains("unknown event `delivered`"), "{err}");
    }
}
