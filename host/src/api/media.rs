//! `POST /api/messages/media`: a multipart upload (`file`, `to`, `caption`) streamed to disk in
//! chunks — never held whole in memory — and refused with 413 past `limits.max_upload`.

use std::path::{Path, PathBuf};

use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::dto::MessageDto;
use super::messages::{may_wait, send_one};
use crate::accept::media_fingerprint;
use crate::gateway::Gateway;
use crate::http::{ApiError, Envelope, ErrorEnvelope, Sender, idempotency_key};
use crate::send::{FieldError, MediaFile, Upload, ValidatedSend};
use crate::store::{EnqueueItem, IdemClaim};

/// Text fields (`to`, `caption`) are small; anything longer is refused.
const MAX_TEXT_FIELD: usize = 256 * 1024;

/// The multipart fields; any other field is refused.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct MediaUpload {
    /// The file: images, audio and video are sent as such, anything else as a document.
    #[schema(value_type = String, format = Binary, min_length = 1)]
    file: Vec<u8>,
    #[schema(inline, value_type = super::dto::RecipientText)]
    to: String,
    /// Empty, or as a message's text: 1 to `limits.max_text` characters, not only white space.
    #[schema(pattern = r"^([^\x00]*[^\s\x00][^\x00]*)?$")]
    caption: Option<String>,
}

/// Send an image, document, audio or video.
#[utoipa::path(post, path = "/api/messages/media", tag = "messages", operation_id = "sendMedia",
    request_body(content = MediaUpload, content_type = "multipart/form-data"),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$",
        description = "1–255 visible ASCII characters; repeats within 24 h replay the first answer")),
    responses(
        (status = 200, description = "Sent (or failed) while the request waited", body = Envelope<MessageDto>,
            links(("message" = (operation_id = "getMessage", parameters(("id" = "$response.body#/data/id")))))),
        (status = 202, description = "Queued", body = Envelope<MessageDto>,
            links(
                ("message" = (operation_id = "getMessage", parameters(("id" = "$response.body#/data/id")))),
                ("cancel" = (operation_id = "cancelMessage", parameters(("id" = "$response.body#/data/id")))),
            )),
        (status = 400, description = "Not a multipart body with the right fields", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or revoked key", body = ErrorEnvelope),
        (status = 404, description = "The number is not on WhatsApp", body = ErrorEnvelope),
        (status = 413, description = "File over limits.max_upload", body = ErrorEnvelope),
        (status = 422, description = "Invalid fields, or Idempotency-Key reused with another request", body = ErrorEnvelope),
        (status = 429, description = "Rate limited or daily cap reached", body = ErrorEnvelope),
        (status = 503, description = "No linked WhatsApp session (WHATSAPP_NOT_CONNECTED), or the database cannot take the write: disk full (STORAGE_FULL) or locked by another process (STORAGE_BUSY)", body = ErrorEnvelope),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn send_media(
    State(app): State<Gateway>,
    Sender(principal): Sender,
    req: Request,
) -> Result<Response, ApiError> {
    let idem = idempotency_key(req.headers())?;
    let multipart = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::BadRequest {
            message: format!(
                "send multipart/form-data with the fields file, to and caption ({})",
                e.body_text()
            ),
            details: vec![FieldError::new("Content-Type", "must be multipart/form-data")],
        })?;
    // From here the file is in an `Upload` guard: whatever ends this request before the message
    // is queued (a refusal, an error, the client going away while plugins run) removes it.
    let mut form = read_form(&app, multipart).await?;
    let (send, file_hash) = validate(&app, &form)?;
    // The fingerprint is of the request as sent, before hooks rewrite the caption.
    let claim = idem.map(|key| IdemClaim {
        key,
        fingerprint: media_fingerprint(&send, &file_hash),
    });
    let send = app.accept().compose_media(send, &principal.name).await?;
    let events = may_wait(&app).then(|| app.events().subscribe());
    let item = EnqueueItem {
        send,
        idem: claim,
        upload: form.file.take().map(|saved| saved.upload),
    };
    send_one(&app, &principal.key_id, item, events).await
}

/// The multipart fields as read.
struct Form {
    to: Option<String>,
    caption: Option<String>,
    file: Option<Saved>,
}

/// The file, streamed to the media folder.
struct Saved {
    file: MediaFile,
    hash: [u8; 32],
    upload: Upload,
}

async fn read_form(app: &Gateway, mut multipart: Multipart) -> Result<Form, ApiError> {
    let mut form = Form {
        to: None,
        caption: None,
        file: None,
    };
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or("") {
            "to" => form.to = Some(text_field(field, "to").await?),
            "caption" => form.caption = Some(text_field(field, "caption").await?),
            "file" if form.file.is_none() => form.file = Some(save_file(app, field).await?),
            "file" => return Err(ApiError::invalid("file", "send one file per request")),
            other => {
                return Err(ApiError::BadRequest {
                    message: format!("unknown field {other:?}; expected file, to and caption"),
                    details: vec![FieldError::new(other, "is not a known field (file, to, caption)")],
                });
            }
        }
    }
    Ok(form)
}

async fn text_field(mut field: Field<'_>, name: &str) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_TEXT_FIELD {
            return Err(ApiError::invalid(name, "is too long"));
        }
    }
    String::from_utf8(bytes).map_err(|_| ApiError::invalid(name, "must be UTF-8 text"))
}

/// Streams the file to the media folder, hashing it on the way; 413 past the cap.
async fn save_file(app: &Gateway, mut field: Field<'_>) -> Result<Saved, ApiError> {
    let limit = app.config().limits.max_upload;
    let file_name = sanitize_name(field.file_name().unwrap_or("file"));
    let mime = field
        .content_type()
        .filter(|m| !m.is_empty() && *m != "application/octet-stream")
        .map(str::to_string)
        .unwrap_or_else(|| mime_guess::from_path(&file_name).first_or_octet_stream().to_string());
    let upload = Upload::new(upload_path(&app.config().storage.media_dir));
    let path = upload.path();
    let mut out = tokio::fs::File::create(path)
        .await
        .map_err(|e| ApiError::io(format_args!("creating {}", path.display()), &e))?;
    let mut hash = Sha256::new();
    let mut size: u64 = 0;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        size += chunk.len() as u64;
        if size > limit {
            return Err(ApiError::Upload(format!(
                "the file is larger than the limit of {} bytes",
                limit
            )));
        }
        hash.update(&chunk);
        out.write_all(&chunk)
            .await
            .map_err(|e| ApiError::io("writing upload", &e))?;
    }
    out.sync_all().await.map_err(|e| ApiError::io("syncing upload", &e))?;
    if size == 0 {
        return Err(ApiError::invalid("file", "is empty"));
    }
    Ok(Saved {
        file: MediaFile {
            path: path.to_path_buf(),
            mime,
            file_name,
            size,
        },
        hash: hash.finalize().into(),
        upload,
    })
}

fn validate(app: &Gateway, form: &Form) -> Result<(ValidatedSend, [u8; 32]), ApiError> {
    let saved = form.file.as_ref();
    let send = app
        .validator()
        .media(form.to.as_deref(), form.caption.as_deref(), saved.map(|s| &s.file))
        .map_err(ApiError::fields)?;
    let hash = saved.map(|s| s.hash).expect("validation requires the file");
    Ok((send, hash))
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::Upload("the upload is larger than limits.max_upload".into())
    } else {
        ApiError::BadRequest {
            message: format!("the multipart body could not be read: {}", e.body_text()),
            details: vec![],
        }
    }
}

fn upload_path(dir: &Path) -> PathBuf {
    dir.join(format!(
        "upload-{:016x}{:016x}",
        rand::rng().random::<u64>(),
        rand::rng().random::<u64>()
    ))
}

/// Keeps the last path segment, printable and at most 200 characters.
fn sanitize_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if clean.trim().is_empty() { "file".into() } else { clean }
}
