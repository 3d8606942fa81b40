//! A message's lifecycle through the API: an upload whose request ends before its message is
//! queued leaves no file, and sends cut by a dropped connection — before or after they left —
//! end as the at-most-once rule says, under one WhatsApp id.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::support::{Gateway, ON_WHATSAPP, eventually, fixture_plugin};

const BOUNDARY: &str = "wapi-test-boundary";
/// The bytes of the uploaded file (what it is does not matter to the simulator).
const FILE: &[u8] = b"\x89PNG\r\n\x1a\n a picture, or near enough";

/// A `multipart/form-data` body with `to` and an image `file`.
fn media_body(to: &str) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\n{to}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(FILE);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn media_request(gw: &Gateway) -> crate::support::Call {
    gw.admin(Method::POST, "/api/messages/media").body(
        &format!("multipart/form-data; boundary={BOUNDARY}"),
        media_body(ON_WHATSAPP),
    )
}

/// Where the test gateway keeps uploads (`storage.media_dir` by default: beside the database).
fn media_dir(gw: &Gateway) -> PathBuf {
    gw.database_path().parent().expect("data folder").join("media")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_client_went_away_while_plugins_ran_is_removed() {
    // The filter takes 5 s; the client leaves long before it answers.
    let overrides = [("plugins.slow.spin_ms", "5000"), ("plugins.budget", r#""10s""#)];
    let gw = Gateway::with_plugins(&[("slow", fixture_plugin("slow-filter"))], &overrides).await;
    let dir = media_dir(&gw);
    let in_flight = tokio::spawn(media_request(&gw).raw());
    eventually("the whole upload to be on disk (the filter runs next)", || async {
        let files = files_in(&dir);
        let written = files.first().and_then(|f| std::fs::metadata(f).ok()).map(|m| m.len());
        (written == Some(FILE.len() as u64)).then_some(())
    })
    .await;
    in_flight.abort();
    assert!(in_flight.await.is_err(), "the request was cut before its answer");
    // Well before the filter could have let the message through and the send removed the file.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while !files_in(&dir).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upload of a request that went away is still there: {:?}",
            files_in(&dir)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let listed = gw.admin(Method::GET, "/api/messages").send().await.expect(200);
    assert_eq!(listed.data()["items"], Value::Array(vec![]), "and nothing was queued");
    gw.stop().await;
}

#[tokio::test]
async fn a_send_cut_after_it_left_fails_as_interrupted_under_the_id_it_left_with() {
    let folder = tempfile::tempdir().expect("tempdir");
    let record = folder.path().join("sent.jsonl");
    let record_setting = format!("{:?}", record.display().to_string());
    let overrides = [
        ("whatsapp.simulator.record", record_setting.as_str()),
        ("antiban.sync_wait", r#""0ms""#),
    ];
    let gw = Gateway::start(&overrides).await;
    assert_eq!(
        gw.simulate("drop_after_send").await,
        "connected",
        "armed for the next send"
    );
    let queued = gw.send_text(&gw.admin, ON_WHATSAPP, "hello").await.expect(202);
    let id = queued.data()["id"].as_i64().expect("id");
    let message = gw.final_message(id).await;
    assert_eq!(
        (message["status"].as_str(), message["reason"].as_str()),
        (Some("failed"), Some("interrupted")),
        "{message}"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&record)
        .expect("record")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "it reached WhatsApp once: {lines:?}");
    assert_eq!(
        lines[0]["wa_id"], message["waMessageId"],
        "under the id the message shows"
    );
    assert_eq!(gw.status().await["connection"]["state"], "reconnecting");
    gw.stop().await;
}

#[tokio::test]
async fn a_media_send_whose_upload_was_cut_waits_and_goes_under_the_same_id() {
    let gw = Gateway::start(&[("antiban.sync_wait", r#""0ms""#)]).await;
    gw.simulate("drop_during_upload").await;
    let queued = media_request(&gw).send().await.expect(202);
    let id = queued.data()["id"].as_i64().expect("id");
    let first_id = eventually("the message to be queued again after its attempt", || async {
        let message = gw.message(id).await;
        let again = message["status"] == "queued" && message["waMessageId"].is_string();
        again.then(|| message["waMessageId"].clone())
    })
    .await;
    assert_eq!(gw.status().await["connection"]["state"], "reconnecting");
    assert_eq!(files_in(&media_dir(&gw)).len(), 1, "the file waits with its message");
    gw.simulate("link").await;
    let sent = gw.final_message(id).await;
    assert_eq!(
        (&sent["status"], &sent["waMessageId"]),
        (&Value::from("sent"), &first_id)
    );
    assert!(files_in(&media_dir(&gw)).is_empty(), "removed once WhatsApp had it");
    gw.stop().await;
}
