//! Parse, don't validate: a request body becomes a [`ValidatedSend`] once, with every bad field
//! reported together.

use std::collections::BTreeMap;

use super::{Content, MediaFile, MediaKind, Recipient};

/// One field that failed validation, named as the client wrote it (`to`, `items[3].text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A text send as the client asked for it (`POST /api/messages`, each batch item), not yet checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextInput {
    pub to: Option<String>,
    pub text: Option<String>,
    /// Template name for a templating plugin (refused when none is loaded).
    pub template: Option<String>,
    /// Values for the template's placeholders (refused when no templating plugin is loaded).
    pub vars: Option<BTreeMap<String, String>>,
}

/// A text send whose recipient is checked and whose text the template hooks may still rewrite.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub to: Recipient,
    pub text: String,
    pub template: Option<String>,
    /// The request's `vars`, sorted by name.
    pub vars: Vec<(String, String)>,
}

/// A send that passed every check; the only thing the queue accepts. Only the [`Validator`]
/// makes one: its fields are private, and a media send's kind is a [`MediaKind`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedSend {
    to: Recipient,
    content: Content,
}

impl ValidatedSend {
    pub fn to(&self) -> &Recipient {
        &self.to
    }

    pub fn content(&self) -> &Content {
        &self.content
    }
}

/// The bounds a send is checked against (from `[limits]`).
#[derive(Debug, Clone, Copy)]
pub struct Validator {
    max_text: usize,
}

impl Validator {
    pub fn new(max_text: usize) -> Self {
        Self { max_text }
    }

    /// The longest text or caption, in characters.
    pub fn max_text(&self) -> usize {
        self.max_text
    }

    /// Checks a text send when no templating plugin is loaded; `prefix` names the place of the
    /// body in the request (`""` or `items[3].`).
    pub fn text(&self, req: &TextInput, prefix: &str) -> Result<ValidatedSend, Vec<FieldError>> {
        let draft = self.draft(req, prefix, false)?;
        self.finish(draft.to, &draft.text, prefix)
    }

    /// Checks what can be checked before the template hooks run. With `templating` (a template
    /// plugin is loaded), `template` and `vars` are accepted and `text` may be absent when a
    /// `template` is named; without it they are refused, since nothing would render them.
    pub fn draft(&self, req: &TextInput, prefix: &str, templating: bool) -> Result<Draft, Vec<FieldError>> {
        let mut errors = Vec::new();
        let to = self.recipient(req.to.as_deref(), &format!("{prefix}to"), &mut errors);
        let field = format!("{prefix}text");
        let text = match (req.text.as_deref(), &req.template) {
            (None, None) => {
                errors.push(FieldError::new(&field, "is required"));
                None
            }
            (None, Some(_)) => Some(String::new()),
            (Some(t), _) if templating => {
                if t.contains('\0') {
                    errors.push(FieldError::new(&field, "must not contain NUL characters"));
                }
                Some(t.to_string())
            }
            (Some(t), _) => self.body(t, &field, &mut errors),
        };
        if !templating && (req.template.is_some() || req.vars.is_some()) {
            let name = if req.template.is_some() { "template" } else { "vars" };
            errors.push(FieldError::new(
                format!("{prefix}{name}"),
                "needs a templating plugin, and none is loaded; send the final text in `text`",
            ));
        }
        match (to, text) {
            (Some(to), Some(text)) if errors.is_empty() => Ok(Draft {
                to,
                text,
                template: req.template.clone(),
                vars: req.vars.clone().unwrap_or_default().into_iter().collect(),
            }),
            _ => Err(errors),
        }
    }

    /// Checks the final text (after the template hooks) and makes the send.
    pub fn finish(&self, to: Recipient, text: &str, prefix: &str) -> Result<ValidatedSend, Vec<FieldError>> {
        let mut errors = Vec::new();
        match self.body(text, &format!("{prefix}text"), &mut errors) {
            Some(text) => Ok(ValidatedSend {
                to,
                content: Content::Text(text),
            }),
            None => Err(errors),
        }
    }

    /// Checks a media send: its recipient, its caption (empty is none) and that a file came.
    pub fn media(
        &self,
        to: Option<&str>,
        caption: Option<&str>,
        file: Option<&MediaFile>,
    ) -> Result<ValidatedSend, Vec<FieldError>> {
        let mut errors = Vec::new();
        let to = self.recipient(to, "to", &mut errors);
        let caption = match caption {
            None | Some("") => None,
            Some(c) => self.body(c, "caption", &mut errors),
        };
        if file.is_none() {
            errors.push(FieldError::new("file", "is required"));
        }
        match (to, file) {
            (Some(to), Some(file)) if errors.is_empty() => Ok(ValidatedSend {
                to,
                content: Content::Media {
                    kind: MediaKind::from_mime(&file.mime),
                    file: file.clone(),
                    caption,
                },
            }),
            _ => Err(errors),
        }
    }

    /// A media send with the caption the template hooks made of it: blank is none; NUL is
    /// refused. Text sends pass unchanged.
    pub fn recaption(&self, send: ValidatedSend, caption: String) -> Result<ValidatedSend, Vec<FieldError>> {
        let Content::Media { kind, file, .. } = send.content else {
            return Ok(send);
        };
        if caption.contains('\0') {
            return Err(vec![FieldError::new("caption", "must not contain NUL characters")]);
        }
        Ok(ValidatedSend {
            to: send.to,
            content: Content::Media {
                kind,
                file,
                caption: (!caption.trim().is_empty()).then_some(caption),
            },
        })
    }

    /// Checks the recipient field; records an error and returns `None` when it is bad.
    pub fn recipient(&self, to: Option<&str>, field: &str, errors: &mut Vec<FieldError>) -> Option<Recipient> {
        match to {
            None => {
                errors.push(FieldError::new(field, "is required"));
                None
            }
            Some(to) => Recipient::parse(to)
                .map_err(|m| errors.push(FieldError::new(field, m)))
                .ok(),
        }
    }

    /// Checks a text or caption: not blank, not over the limit, no NUL characters.
    pub fn body(&self, text: &str, field: &str, errors: &mut Vec<FieldError>) -> Option<String> {
        let count = text.chars().count();
        let message = if text.trim().is_empty() {
            "must not be empty".to_string()
        } else if count > self.max_text {
            format!("must be at most {} characters, not {count}", self.max_text)
        } else if text.contains('\0') {
            "must not contain NUL characters".to_string()
        } else {
            return Some(text.to_string());
        };
        errors.push(FieldError::new(field, message));
        None
    }
}
