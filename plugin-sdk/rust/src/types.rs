//! The types hooks take and return, re-exported from the generated bindings, with a few
//! conveniences.

pub use crate::bindings::wapi::plugin::host::Level;
pub use crate::bindings::wapi::plugin::types::{
    Event, Hook, IncomingEvent, Info, MessageEvent, Outgoing, ReceiptEvent, Rendered, SessionEvent, Verdict,
};

impl Outgoing {
    /// The value of the request's variable `name`, if it was given.
    ///
    /// ```
    /// # use wapi_plugin_sdk::Outgoing;
    /// let message = Outgoing {
    ///     to: "923001234567".into(),
    ///     kind: "text".into(),
    ///     text: "Hi {{name}}".into(),
    ///     template: None,
    ///     vars: vec![("name".into(), "Ayesha".into())],
    ///     key_name: "default".into(),
    /// };
    /// assert_eq!(message.var("name"), Some("Ayesha"));
    /// assert_eq!(message.var("city"), None);
    /// ```
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether the recipient is a group (a JID ending `@g.us`) rather than a phone number.
    pub fn is_group(&self) -> bool {
        self.to.ends_with("@g.us")
    }
}

impl Event {
    /// The name of the event's case in the WIT `event` variant: `queued`, `sent`, `failed`,
    /// `cancelled`, `receipt`, `received` or `session`.
    ///
    /// ```
    /// # use wapi_plugin_sdk::{Event, SessionEvent};
    /// let event = Event::Session(SessionEvent { state: "connected".into(), error: None, at_ms: 0 });
    /// assert_eq!(event.name(), "session");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Event::Queued(_) => "queued",
            Event::Sent(_) => "sent",
            Event::Failed(_) => "failed",
            Event::Cancelled(_) => "cancelled",
            Event::Receipt(_) => "receipt",
            Event::Received(_) => "received",
            Event::Session(_) => "session",
        }
    }

    /// When it happened, in milliseconds since the Unix epoch (UTC).
    pub fn at_ms(&self) -> u64 {
        match self {
            Event::Queued(m) | Event::Sent(m) | Event::Failed(m) | Event::Cancelled(m) => m.at_ms,
            Event::Receipt(r) => r.at_ms,
            Event::Received(i) => i.at_ms,
            Event::Session(s) => s.at_ms,
        }
    }
}
