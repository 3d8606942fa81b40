//! What a send is once it has been checked: a [`Recipient`] that cannot hold a bad number and a
//! [`Content`] within bounds, together a [`ValidatedSend`] — the only thing the queue accepts.

mod recipient;
mod upload;
mod validate;

pub use recipient::{GroupJid, PhoneNumber, Recipient};
pub use upload::Upload;
pub use validate::{Draft, FieldError, TextInput, ValidatedSend, Validator};

use std::path::PathBuf;

/// The kinds of message WhatsApp distinguishes and the queue stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Text,
    Image,
    Document,
    Audio,
    Video,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Image => "image",
            Self::Document => "document",
            Self::Audio => "audio",
            Self::Video => "video",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "text" => Self::Text,
            "image" => Self::Image,
            "document" => Self::Document,
            "audio" => Self::Audio,
            "video" => Self::Video,
            _ => return None,
        })
    }

    /// The media kind of a stored message; `None` for text.
    pub fn media(self) -> Option<MediaKind> {
        Some(match self {
            Self::Text => return None,
            Self::Image => MediaKind::Image,
            Self::Document => MediaKind::Document,
            Self::Audio => MediaKind::Audio,
            Self::Video => MediaKind::Video,
        })
    }
}

/// The kinds a media message can have: a media send can never be text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Document,
    Audio,
    Video,
}

impl MediaKind {
    /// The media kind WhatsApp shows for a MIME type; anything unknown travels as a document.
    pub fn from_mime(mime: &str) -> Self {
        let essence = mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.split('/').next() {
            Some("image") if essence != "image/svg+xml" => Self::Image,
            Some("audio") => Self::Audio,
            Some("video") => Self::Video,
            _ => Self::Document,
        }
    }

    pub fn as_str(self) -> &'static str {
        MessageKind::from(self).as_str()
    }
}

impl From<MediaKind> for MessageKind {
    fn from(kind: MediaKind) -> Self {
        match kind {
            MediaKind::Image => Self::Image,
            MediaKind::Document => Self::Document,
            MediaKind::Audio => Self::Audio,
            MediaKind::Video => Self::Video,
        }
    }
}

/// A media file already streamed to disk.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaFile {
    pub path: PathBuf,
    pub mime: String,
    pub file_name: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text(String),
    Media {
        kind: MediaKind,
        file: MediaFile,
        caption: Option<String>,
    },
}

impl Content {
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::Text(_) => MessageKind::Text,
            Self::Media { kind, .. } => (*kind).into(),
        }
    }

    /// The text a person reads: the message, or the media's caption.
    pub fn body(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(t),
            Self::Media { caption, .. } => caption.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests;
