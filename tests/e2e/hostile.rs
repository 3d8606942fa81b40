//! Hostile input against the real binary over raw TCP: empty, 1 MB and 100 MB bodies (a body
//! over `limits.max_body` or `limits.max_upload` is refused 413 early and never buffered whole),
//! invalid UTF-8 in a body, headers and the path, JSON nested 100,000 deep, a 1 MB header and
//! thousands of headers (431 or a close, never a crash). The server's memory is read from /proc
//! before and after; every case prints its figures. Slow clients are in `slow_clients.rs`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Gateway, Setup, TO};

const MB: usize = 1 << 20;
const KEY: &str = crate::setup::ADMIN_KEY;

/// The server's resident memory now and at its peak so far, in KiB (VmRSS, VmHWM).
pub(crate) fn memory(gw: &Gateway) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{}/status", gw.pid())).expect("/proc/PID/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/PID/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Prints the memory figures and checks the peak grew by less than `max_growth_mb`.
pub(crate) fn memory_bounded(gw: &Gateway, case: &str, before: (u64, u64), max_growth_mb: u64) {
    let after = memory(gw);
    let growth = after.1.saturating_sub(before.1) / 1024;
    println!(
        "{case}: RSS {} -> {} MiB, peak {} -> {} MiB (peak grew {growth} MiB)",
        before.0 / 1024,
        after.0 / 1024,
        before.1 / 1024,
        after.1 / 1024
    );
    assert!(growth < max_growth_mb, "{case}: the peak RSS grew {growth} MiB");
}

pub(crate) fn addr(gw: &Gateway) -> SocketAddr {
    gw.url("")
        .trim_start_matches("http://")
        .parse()
        .expect("http://IP:PORT")
}

/// An answer read off a raw connection.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    head: String,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The envelope, checked: the status and code expected, a request id.
    #[track_caller]
    pub(crate) fn envelope(&self, status: u16, code: &str) -> Value {
        let body: Value = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: not JSON ({e}): {:?}",
                self.head,
                String::from_utf8_lossy(&self.body)
            )
        });
        assert_eq!((self.status, body["code"].as_str()), (status, Some(code)), "{body}");
        assert_eq!(body["success"], false, "{body}");
        assert!(self.header("x-request-id").is_some(), "no X-Request-Id: {}", self.head);
        body
    }
}

/// A whole answer in `bytes` (head and, by Content-Length, body), if it is there yet.
pub(crate) fn parse(bytes: &[u8]) -> Option<Answer> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let mut answer = Answer {
        status,
        head,
        body: Vec::new(),
    };
    let length: usize = answer
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let body = &bytes[end + 4..];
    (body.len() >= length).then(|| {
        answer.body = body[..length].to_vec();
        answer
    })
}

/// Reads until a whole answer arrived or the server closed the connection.
pub(crate) async fn read_answer(stream: &mut (impl AsyncReadExt + Unpin), limit: Duration) -> Option<Answer> {
    let mut bytes = Vec::new();
    let mut piece = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut piece)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return parse(&bytes),
            Ok(Ok(n)) => {
                bytes.extend_from_slice(&piece[..n]);
                if let Some(answer) = parse(&bytes) {
                    return Some(answer);
                }
            }
        }
    }
}

/// Sends `request` as it is on a new connection and reads the answer.
async fn exchange(gw: &Gateway, request: &[u8]) -> Option<Answer> {
    let mut stream = TcpStream::connect(addr(gw)).await.expect("connect");
    // The server may answer and close before taking it all (431): that is an answer too.
    let _ = stream.write_all(request).await;
    read_answer(&mut stream, Duration::from_secs(10)).await
}

/// A request head with the admin key; `extra` lines are added as they are.
pub(crate) fn head(method: &str, path: &str, extra: &[&str]) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: gw\r\nX-API-Key: {KEY}\r\n");
    for line in extra {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// What a streamed upload got: the answer, the body bytes written when it arrived, and when.
struct Streamed {
    answer: Option<Answer>,
    sent: usize,
    after: Duration,
}

/// Sends `head`, `preamble` and then `total` bytes of filler (chunked when `chunked`) as fast as
/// the server takes them, reading the answer all the while; stops writing once it arrives.
async fn stream_body(gw: &Gateway, head: Vec<u8>, preamble: Vec<u8>, total: usize, chunked: bool) -> Streamed {
    let (mut rd, mut wr) = TcpStream::connect(addr(gw)).await.expect("connect").into_split();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        let frame = |data: &[u8]| match chunked {
            true => [format!("{:x}\r\n", data.len()).as_bytes(), data, b"\r\n"].concat(),
            false => data.to_vec(),
        };
        wr.write_all(&head).await?;
        wr.write_all(&frame(&preamble)).await?;
        counter.fetch_add(preamble.len(), Ordering::Relaxed);
        let filler = frame(&vec![b'x'; 64 * 1024]);
        let mut left = total;
        while left > 0 {
            wr.write_all(&filler).await?;
            counter.fetch_add(64 * 1024, Ordering::Relaxed);
            left = left.saturating_sub(64 * 1024);
        }
        std::io::Result::Ok(())
    });
    let answer = read_answer(&mut rd, Duration::from_secs(40)).await;
    let (sent, after) = (sent.load(Ordering::Relaxed), started.elapsed());
    writer.abort();
    Streamed { answer, sent, after }
}

#[tokio::test]
async fn empty_large_and_huge_bodies_are_answered_without_buffering_them() {
    let gw = Gateway::start(Setup::new()).await;
    let before = memory(&gw);
    let json_head = |length: Option<usize>| {
        let length = match length {
            Some(n) => format!("Content-Length: {n}"),
            None => "Transfer-Encoding: chunked".into(),
        };
        head("POST", "/api/messages", &["Content-Type: application/json", &length])
    };

    let empty = exchange(&gw, &json_head(Some(0))).await.expect("an answer");
    empty.envelope(400, "VALIDATION_ERROR");

    // 1 MB is under limits.max_body (4 MB): read, then refused for the text's length.
    let text = json!({ "to": TO, "text": "x".repeat(MB) }).to_string();
    let mut request = json_head(Some(text.len()));
    request.extend_from_slice(text.as_bytes());
    let big = exchange(&gw, &request).await.expect("an answer");
    let body = big.envelope(422, "VALIDATION_ERROR");
    assert_eq!(body["data"]["details"][0]["field"], "text", "{body}");

    let preamble = format!("{{\"to\": \"{TO}\", \"text\": \"").into_bytes();
    for (case, length) in [
        ("100 MB JSON, Content-Length", Some(100 * MB)),
        ("100 MB JSON, chunked", None),
    ] {
        let streamed = stream_body(&gw, json_head(length), preamble.clone(), 100 * MB, length.is_none()).await;
        let answer = streamed.answer.unwrap_or_else(|| panic!("{case}: no answer"));
        let body = answer.envelope(413, "UPLOAD_ERROR");
        assert!(body["error"].as_str().unwrap().contains("max_body"), "{body}");
        println!(
            "{case}: 413 after {:?} with {:.1} MiB of 100 MiB sent",
            streamed.after,
            streamed.sent as f64 / MB as f64
        );
        assert!(
            streamed.sent < 40 * MB,
            "{case}: the server took {} bytes",
            streamed.sent
        );
    }

    // Multipart streams to disk up to limits.max_upload (25 MB by default), then 413.
    let boundary = "hostile-boundary";
    let preamble = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\n{TO}\r\n--{boundary}\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    let media_head = head(
        "POST",
        "/api/messages/media",
        &[
            &format!("Content-Type: multipart/form-data; boundary={boundary}"),
            &format!("Content-Length: {}", preamble.len() + 100 * MB),
        ],
    );
    let streamed = stream_body(&gw, media_head, preamble, 100 * MB, false).await;
    let answer = streamed.answer.expect("multipart: an answer");
    answer.envelope(413, "UPLOAD_ERROR");
    println!(
        "100 MB multipart: 413 after {:?} with {:.1} MiB of 100 MiB sent",
        streamed.after,
        streamed.sent as f64 / MB as f64
    );
    assert!(
        streamed.sent < 60 * MB,
        "multipart: the server took {} bytes",
        streamed.sent
    );
    let left: Vec<_> = std::fs::read_dir(gw.media_dir())
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "a refused upload left files: {left:?}");

    gw.healthy().await;
    memory_bounded(&gw, "bodies", before, 30);
    assert_eq!(gw.statuses().await.len(), 0, "nothing was queued");
}

#[tokio::test]
async fn invalid_utf8_and_deep_nesting_are_refused_with_the_envelope() {
    let gw = Gateway::start(Setup::new()).await;
    let before = memory(&gw);
    let post = |body: Vec<u8>| gw.admin(Method::POST, "/api/messages").body("application/json", body);
    let mut bad_utf8 = format!("{{\"to\": \"{TO}\", \"text\": \"").into_bytes();
    bad_utf8.extend_from_slice(b"\xff\xfe\xc3\x28\"}");
    post(bad_utf8).send().await.expect_error(400, "VALIDATION_ERROR");

    let deep_array = "[".repeat(100_000).into_bytes();
    let deep_object = "{\"a\":".repeat(100_000).into_bytes();
    let deep_field = format!(
        "{{\"to\": \"{TO}\", \"text\": \"hi\", \"vars\": {}",
        "[".repeat(100_000)
    )
    .into_bytes();
    for (case, body) in [("array", deep_array), ("object", deep_object), ("field", deep_field)] {
        let started = Instant::now();
        let answer = post(body).send().await.expect_error(400, "VALIDATION_ERROR");
        println!(
            "nested 100k ({case}): 400 in {:?}: {}",
            started.elapsed(),
            answer.body["error"]
        );
    }

    // Header values that are not UTF-8 (obs-text bytes).
    let bytes = |b: &'static [u8]| reqwest::header::HeaderValue::from_bytes(b).expect("obs-text is a valid value");
    let status = || gw.call(Method::GET, "/api/status");
    status()
        .header("x-api-key", bytes(b"wapi_\xff\xfe"))
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    status()
        .header("authorization", bytes(b"Bearer \xc3\x28"))
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    let id = gw
        .get("/api/status")
        .header("x-request-id", bytes(b"id-\xff"))
        .send()
        .await
        .expect(200);
    let echoed = id.header("x-request-id");
    assert!(echoed.is_ascii() && !echoed.contains('\u{fffd}'), "{echoed:?}");
    let idem = gw
        .post("/api/messages", json!({ "to": TO, "text": "hi" }))
        .header("idempotency-key", bytes(b"k-\xff"))
        .send()
        .await
        .expect_error(422, "VALIDATION_ERROR");
    assert_eq!(idem.detail_fields(), ["Idempotency-Key"]);

    // The path: raw bytes are refused by the HTTP parser; percent-encoded ones reach the router.
    let raw_path = [
        b"GET /api/messages/".as_slice(),
        b"\xff\xfe",
        b" HTTP/1.1\r\nHost: gw\r\n\r\n",
    ]
    .concat();
    let raw = exchange(&gw, &raw_path).await;
    println!("raw bytes 0xFF 0xFE in the path: {:?}", raw.as_ref().map(|a| a.status));
    assert!(
        raw.is_none_or(|a| a.status == 400 || a.status == 404),
        "a bad path is 400, 404 or a close"
    );
    for path in ["/api/messages/%FF%FE", "/api/keys/%C3%28", "/%FF", "/dashboard/%FF.js"] {
        let answer = gw.admin(Method::GET, path).send().await;
        assert!(answer.status.is_client_error(), "{path}: {}", answer.status);
    }
    gw.get("/api/messages?cursor=%FF%FE")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");

    gw.healthy().await;
    memory_bounded(&gw, "malformed input", before, 30);
    assert_eq!(gw.statuses().await.len(), 0, "nothing was queued");
}

#[tokio::test]
async fn huge_and_numerous_headers_get_431_or_a_clean_close() {
    let gw = Gateway::start(Setup::new()).await;
    let before = memory(&gw);
    let padded = |len: usize| format!("X-Pad: {}", "a".repeat(len));
    // 16 KB is an ordinary (if large) header: served.
    let fine = exchange(&gw, &head("GET", "/api/status", &[&padded(16 * 1024)])).await;
    assert_eq!(fine.expect("an answer").status, 200);

    let numbered = |n: usize| {
        let lines: Vec<String> = (0..n).map(|i| format!("X-H{i}: v")).collect();
        head(
            "GET",
            "/api/status",
            &lines.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    let one_mb = exchange(&gw, &head("GET", "/api/status", &[&padded(MB)])).await;
    let many = exchange(&gw, &numbered(5_000)).await;
    let over = exchange(&gw, &numbered(101)).await;
    for (case, answer) in [
        ("a 1 MB header", one_mb),
        ("5,000 headers", many),
        ("101 headers", over),
    ] {
        let status = answer.as_ref().map(|a| a.status);
        println!("{case}: {status:?}");
        assert!(status.is_none_or(|s| s == 431), "{case}: {status:?}");
    }
    gw.healthy().await;
    memory_bounded(&gw, "headers", before, 30);
}
