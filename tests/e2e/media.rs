//! `POST /api/messages/media`: a multipart upload sent as an image, and an upload over
//! `limits.max_upload` refused with 413 without leaving a file behind.

use std::time::Duration;

use reqwest::multipart::{Form, Part};

use crate::{Answer, Gateway, Setup, TO};

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D,
    0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

async fn upload(gw: &Gateway, bytes: Vec<u8>, name: &str, mime: &str, caption: &str) -> Answer {
    let file = Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(mime)
        .expect("mime");
    let form = Form::new()
        .text("to", TO)
        .text("caption", caption.to_string())
        .part("file", file);
    gw.admin(reqwest::Method::POST, "/api/messages/media")
        .multipart(form)
        .send()
        .await
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn media_upload_is_sent_as_an_image_and_oversized_uploads_are_refused() {
    let gw = Gateway::start(Setup::new().set("limits.max_upload", "1KB")).await;

    let sent = upload(&gw, PNG.to_vec(), "dot.png", "image/png", "a red dot").await;
    let id = sent.accepted();
    assert_eq!(sent.data()["type"], "image", "{}", sent.body);
    assert_eq!(sent.data()["media"]["size"], PNG.len());
    let message = gw.wait_status(id, "sent", Duration::from_secs(10)).await;
    assert_eq!(
        (message["type"].as_str(), message["text"].as_str()),
        (Some("image"), Some("a red dot"))
    );
    let record = gw.record();
    assert_eq!(record.len(), 1);
    assert_eq!(
        (
            record[0]["type"].as_str(),
            record[0]["id"].as_i64(),
            record[0]["text"].as_str()
        ),
        (Some("image"), Some(id), Some("a red dot"))
    );
    assert_eq!(record[0]["typing_ms"], 0, "no typing before media");
    assert_eq!(
        files_in(&gw.media_dir()),
        Vec::<String>::new(),
        "a sent file is removed"
    );

    let big = upload(&gw, vec![7u8; 5_000], "big.bin", "application/octet-stream", "too big")
        .await
        .expect_error(413, "UPLOAD_ERROR");
    assert!(big.body["error"].as_str().unwrap().contains("limit"), "{}", big.body);
    assert_eq!(
        files_in(&gw.media_dir()),
        Vec::<String>::new(),
        "nothing of a refused upload stays on disk"
    );
    assert_eq!(gw.statuses().await.len(), 1, "the refused upload queued nothing");
}
