//! What the API answers with: the JSON shapes of messages, keys and status (serde and OpenAPI
//! live here, at the edge; the domain types stay plain).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::rfc3339_ms;
use crate::send::TextInput;
use crate::store::{self, KeyRow, MessageRecord, StatusChange};
use crate::whatsapp;

/// The body of `POST /api/messages` and of each batch item.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "to": "923001234567", "text": "Hello from wapi" }))]
pub struct SendRequest {
    // The formats are documented by the types named in `value_type` (a doc comment here would
    // wrap them in an `allOf` with an object). `to` is an `Option` so that a missing one is
    // reported together with the other bad fields; the document calls it required.
    #[schema(inline, value_type = RecipientText, required = true)]
    pub to: Option<String>,
    #[schema(inline, value_type = MessageText, required = false)]
    pub text: Option<String>,
    /// Template name for a templating plugin (refused when none is loaded).
    pub template: Option<String>,
    /// Values for the template's placeholders (refused when no templating plugin is loaded).
    pub vars: Option<BTreeMap<String, String>>,
}

impl From<SendRequest> for TextInput {
    fn from(r: SendRequest) -> Self {
        Self {
            to: r.to,
            text: r.text,
            template: r.template,
            vars: r.vars,
        }
    }
}

/// Where a message is: `queued` → `sending` → `sent` | `failed`, or `cancelled` while queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Sending,
    Sent,
    Failed,
    Cancelled,
}

impl From<store::Status> for Status {
    fn from(s: store::Status) -> Self {
        match s {
            store::Status::Queued => Self::Queued,
            store::Status::Sending => Self::Sending,
            store::Status::Sent => Self::Sent,
            store::Status::Failed => Self::Failed,
            store::Status::Cancelled => Self::Cancelled,
        }
    }
}

/// A key's role: `admin` (everything) or `user` (send and read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

impl From<store::Role> for Role {
    fn from(r: store::Role) -> Self {
        match r {
            store::Role::Admin => Self::Admin,
            store::Role::User => Self::User,
        }
    }
}

impl From<Role> for store::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => Self::Admin,
            Role::User => Self::User,
        }
    }
}

/// The WhatsApp session's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Starting,
    WaitingForQr,
    Pairing,
    Connected,
    Reconnecting,
    LoggedOut,
    TemporarilyBanned,
}

impl From<whatsapp::SessionState> for SessionState {
    fn from(s: whatsapp::SessionState) -> Self {
        use whatsapp::SessionState as S;
        match s {
            S::Starting => Self::Starting,
            S::WaitingForQr => Self::WaitingForQr,
            S::Pairing => Self::Pairing,
            S::Connected => Self::Connected,
            S::Reconnecting => Self::Reconnecting,
            S::LoggedOut => Self::LoggedOut,
            S::TemporarilyBanned => Self::TemporarilyBanned,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageDto {
    /// Stable id, used by the other message endpoints; also the send order.
    pub id: i64,
    /// `text`, `image`, `document`, `audio` or `video`.
    #[serde(rename = "type")]
    pub kind: String,
    pub to: String,
    /// The text, or the media's caption.
    pub text: Option<String>,
    pub media: Option<MediaDto>,
    pub status: Status,
    /// Why it failed or was cancelled.
    pub reason: Option<String>,
    /// WhatsApp's id of the message: fixed when it is first handed to WhatsApp and kept for every
    /// attempt (so also on a message queued again or failed as `interrupted`); null before.
    pub wa_message_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub sent_at: Option<String>,
    /// When WhatsApp's server acknowledged the send (real backend).
    pub acked_at: Option<String>,
    /// The server's refusal code, if it refused the send.
    pub ack_error: Option<String>,
    /// The recipient's first delivery receipt, when their phone sends one.
    pub delivered_at: Option<String>,
    /// The recipient's first read (or play) receipt, when their phone sends one.
    pub read_at: Option<String>,
    /// Every status the message went through (only on `GET /api/messages/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryDto>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaDto {
    pub file_name: String,
    pub mime_type: String,
    pub size: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryDto {
    pub status: Status,
    pub at: String,
    pub detail: Option<String>,
}

impl MessageDto {
    pub fn from_record(m: &MessageRecord) -> Self {
        Self {
            id: m.id,
            kind: m.kind.as_str().to_string(),
            to: m.recipient.clone(),
            text: m.body.clone(),
            media: m.media_name.as_ref().map(|name| MediaDto {
                file_name: name.clone(),
                mime_type: m.media_mime.clone().unwrap_or_default(),
                size: m.media_size.unwrap_or(0),
            }),
            status: m.status.into(),
            reason: m.reason.clone(),
            wa_message_id: m.wa_id.clone(),
            created_at: rfc3339_ms(m.created_at),
            updated_at: rfc3339_ms(m.updated_at),
            sent_at: m.sent_at.map(rfc3339_ms),
            acked_at: m.acked_at.map(rfc3339_ms),
            ack_error: m.ack_error.clone(),
            delivered_at: m.delivered_at.map(rfc3339_ms),
            read_at: m.read_at.map(rfc3339_ms),
            history: None,
        }
    }

    pub fn with_history(mut self, history: &[StatusChange]) -> Self {
        self.history = Some(
            history
                .iter()
                .map(|h| HistoryDto {
                    status: h.status.into(),
                    at: rfc3339_ms(h.at),
                    detail: h.detail.clone(),
                })
                .collect(),
        );
        self
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    pub items: Vec<MessageDto>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyDto {
    pub id: String,
    pub name: String,
    /// `wapi_<id>_…`: enough to recognise a key, never enough to use it.
    pub prefix: String,
    pub role: Role,
    pub created_at: String,
    /// To the minute.
    pub last_used_at: Option<String>,
    /// `active` or `revoked`.
    pub status: String,
    pub revoked_at: Option<String>,
}

impl KeyDto {
    pub fn from_row(k: &KeyRow) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            prefix: format!("wapi_{}_", k.id),
            role: k.role.into(),
            created_at: rfc3339_ms(k.created_at),
            last_used_at: k.last_used_at.map(rfc3339_ms),
            status: if k.revoked_at.is_some() { "revoked" } else { "active" }.into(),
            revoked_at: k.revoked_at.map(rfc3339_ms),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKeyDto {
    #[serde(flatten)]
    pub key: KeyDto,
    /// The whole key. Shown once, now; only its hash is stored.
    pub secret: String,
}

// The formats the handlers check, as OpenAPI schemas: what a client may send, so that a value the
// document calls valid is never refused for its form (the handlers parse with `send::Recipient`,
// `send::PhoneNumber` and the validator; these types exist for the document only).

/// Digits with country code and no `+` (`923001234567`), or a group JID ending `@g.us`.
#[derive(ToSchema)]
#[schema(value_type = String, pattern = r"^([1-9][0-9]{7,14}|[0-9]+(-[0-9]+)*@g\.us)$", max_length = 69, example = "923001234567")]
pub struct RecipientText(#[allow(dead_code)] String);

/// A phone number: 8 to 15 digits with country code, no `+`, no leading 0.
#[derive(ToSchema)]
#[schema(value_type = String, pattern = r"^[1-9][0-9]{7,14}$", example = "923001234567")]
pub struct PhoneText(#[allow(dead_code)] String);

/// The message text: 1 to `limits.max_text` (default 4096) characters, not only white space, no
/// NUL. May be left out when `template` names a template (with a templating plugin loaded).
#[derive(ToSchema)]
#[schema(value_type = String, min_length = 1, pattern = r"^[^\x00]*[^\s\x00][^\x00]*$", example = "Hello from wapi")]
pub struct MessageText(#[allow(dead_code)] String);
