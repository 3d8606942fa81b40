//! Slow and silent clients against the real binary over raw TCP: slowloris clients trickling
//! their headers and clients sending nothing are cut off at `server.header_timeout` while a
//! normal client is still served promptly; HTTP/2 connections that make no request (silent,
//! pinging, or with request headers that never complete) are closed after the same time while
//! a busy one is kept; a request body that stalls is answered 408 at `server.body_timeout` (a
//! slow but steady one is served); past `server.max_connections` new connections wait in the
//! listen queue until a slot frees. Memory is read from /proc; every case prints its figures.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::hostile::{addr, head, memory, memory_bounded, read_answer};
use crate::{Gateway, Setup, TO};

/// Opens a connection, writes `bytes` one every `gap`, and returns how long until the server
/// closed it (`None`: still open after `give_up`).
async fn trickle(addr: SocketAddr, bytes: &'static [u8], gap: Duration, give_up: Duration) -> Option<Duration> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let started = Instant::now();
    let mut sent = 0;
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Some(started.elapsed()),
                Ok(_) => {}
            },
            _ = tokio::time::sleep(gap) => {
                if started.elapsed() > give_up {
                    return None;
                }
                if sent < bytes.len() {
                    if stream.write_all(&bytes[sent..=sent]).await.is_err() {
                        return Some(started.elapsed());
                    }
                    sent += 1;
                }
            }
        }
    }
}

fn spread(mut times: Vec<Duration>) -> String {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    format!("min {:?}, median {:?}, max {:?}", at(0.0), at(0.5), at(1.0))
}

#[tokio::test]
async fn slowloris_and_silent_connections_are_cut_off_while_others_are_served() {
    let gw = Gateway::start(Setup::new().set("server.header_timeout", "1s")).await;
    let before = memory(&gw);
    const SLOW: &[u8] = b"GET /api/status HTTP/1.1\r\nHost: gw\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let give_up = Duration::from_secs(6);
    let server = addr(&gw);
    let attackers: Vec<_> = (0..250)
        .map(|i| {
            let bytes: &'static [u8] = if i < 200 { SLOW } else { b"" };
            tokio::spawn(trickle(server, bytes, Duration::from_millis(100), give_up))
        })
        .collect();
    // A normal client during the attack, every 100 ms: answered promptly, not held until the
    // attackers' deadline (the bound is generous for a loaded CI machine; the figures show the
    // real spread).
    let mut latencies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        let t = Instant::now();
        gw.get("/api/status").send().await.expect(200);
        latencies.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut closed = (Vec::new(), Vec::new());
    for (i, task) in attackers.into_iter().enumerate() {
        let after = task
            .await
            .expect("trickle task")
            .unwrap_or_else(|| panic!("connection {i} still open after {give_up:?}"));
        if i < 200 {
            closed.0.push(after)
        } else {
            closed.1.push(after)
        }
    }
    println!("200 slowloris connections closed after: {}", spread(closed.0.clone()));
    println!("50 silent connections closed after: {}", spread(closed.1.clone()));
    println!(
        "a normal client during the attack ({} requests): {}",
        latencies.len(),
        spread(latencies.clone())
    );
    for after in closed.0.iter().chain(&closed.1) {
        assert!(
            *after >= Duration::from_millis(900),
            "closed before the deadline: {after:?}"
        );
        assert!(
            *after < Duration::from_secs(4),
            "closed long after the deadline: {after:?}"
        );
    }
    assert!(
        latencies.iter().max().unwrap() < &Duration::from_secs(2),
        "the normal client waited"
    );
    gw.healthy().await;
    memory_bounded(&gw, "slowloris", before, 30);
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_and_a_slow_steady_one_is_served() {
    let gw = Gateway::start(Setup::new().set("server.body_timeout", "1s")).await;
    let before = memory(&gw);
    let stall = |path: &str, content_type: &str, start: &[u8]| {
        let mut request = head(
            "POST",
            path,
            &[&format!("Content-Type: {content_type}"), "Content-Length: 1000"],
        );
        request.extend_from_slice(start);
        request
    };
    let multipart_start =
        b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\r\nsome bytes".as_slice();
    for (case, request) in [
        ("JSON", stall("/api/messages", "application/json", b"{\"to\": \"")),
        (
            "multipart",
            stall(
                "/api/messages/media",
                "multipart/form-data; boundary=b",
                multipart_start,
            ),
        ),
    ] {
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr(&gw)).await.expect("connect");
        stream.write_all(&request).await.expect("write");
        let answer = read_answer(&mut stream, Duration::from_secs(10))
            .await
            .expect("an answer");
        let after = started.elapsed();
        let body = answer.envelope(408, "VALIDATION_ERROR");
        assert!(
            body["error"].as_str().unwrap().contains("server.body_timeout"),
            "{body}"
        );
        assert_eq!(answer.header("connection").as_deref(), Some("close"));
        let mut rest = [0u8; 16];
        let closed = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut rest)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "{case}: the connection stays open"
        );
        println!("stalled {case} body: 408 after {after:?}, then closed");
        assert!(
            after >= Duration::from_millis(900) && after < Duration::from_secs(4),
            "{case}: {after:?}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(gw.media_dir())
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "a stalled upload left files: {left:?}");

    // Pieces 300 ms apart: slower in total than the timeout, but never quiet that long.
    let body = json!({ "to": TO, "text": "slow but steady" }).to_string();
    let mut stream = TcpStream::connect(addr(&gw)).await.expect("connect");
    let started = Instant::now();
    let length = format!("Content-Length: {}", body.len());
    stream
        .write_all(&head(
            "POST",
            "/api/messages",
            &["Content-Type: application/json", &length],
        ))
        .await
        .expect("write");
    for piece in body.as_bytes().chunks(body.len() / 6 + 1) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stream.write_all(piece).await.expect("write");
    }
    let answer = read_answer(&mut stream, Duration::from_secs(10))
        .await
        .expect("an answer");
    println!(
        "a body in 6 pieces 300 ms apart: {} after {:?}",
        answer.status,
        started.elapsed()
    );
    assert_eq!(answer.status, 200, "{:?}", String::from_utf8_lossy(&answer.body));
    gw.healthy().await;
    memory_bounded(&gw, "stalled bodies", before, 30);
}

#[tokio::test]
async fn past_max_connections_new_connections_wait_until_one_frees() {
    let gw = Gateway::start(
        Setup::new()
            .set("server.max_connections", 20)
            .set("server.header_timeout", "30s"),
    )
    .await;
    let before = memory(&gw);
    // More silent connections than the cap (the harness's own client may hold one slot too).
    // Each is in the listen queue once its connect returns, and the queue is taken in order:
    // the one after them waits behind them whenever the server gets to it.
    let mut silent = Vec::new();
    for _ in 0..25 {
        silent.push(TcpStream::connect(addr(&gw)).await.expect("the listen queue takes it"));
    }
    let mut waiting = TcpStream::connect(addr(&gw)).await.expect("the listen queue takes it");
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let early = read_answer(&mut waiting, Duration::from_millis(1500)).await;
    assert!(early.is_none(), "answered past the cap: {early:?}");
    let freed = Instant::now();
    drop(silent);
    let answer = read_answer(&mut waiting, Duration::from_secs(5))
        .await
        .expect("answered once slots freed");
    assert_eq!(answer.status, 200);
    println!(
        "at the cap of 20: no answer for 1.5 s; answered {:?} after the slots freed",
        freed.elapsed()
    );
    assert!(freed.elapsed() < Duration::from_secs(2));
    gw.healthy().await;
    memory_bounded(&gw, "connection cap", before, 30);
}

/// An HTTP/2 frame: 9-byte header (length, type, flags, stream) and payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    [&len[1..], &[kind, flags], &stream.to_be_bytes(), payload].concat()
}

/// `GET /healthz` on `stream` (HPACK: indexed :method GET and :scheme http, literal :path and
/// :authority); `complete` = END_HEADERS, else the header block never ends.
fn get_healthz(stream: u32, complete: bool) -> Vec<u8> {
    let block = [&[0x82u8, 0x86, 0x04, 8][..], b"/healthz", &[0x01, 2], b"gw"].concat();
    frame(1, if complete { 0x05 } else { 0x01 }, stream, &block)
}

/// Plays `script` (bytes at offsets from the start) on a new connection while reading the
/// server's frames; returns the streams it answered (HEADERS frames) and when it closed.
async fn h2_session(addr: SocketAddr, script: Vec<(u64, Vec<u8>)>) -> (Vec<u32>, Duration) {
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    let started = tokio::time::Instant::now();
    let (mut bytes, mut answered, mut steps) = (Vec::new(), Vec::new(), script.into_iter().peekable());
    let mut buf = [0u8; 16 * 1024];
    loop {
        let next = steps.peek().map(|(at, _)| started + Duration::from_millis(*at));
        let write_due = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = conn.read(&mut buf) => match read {
                Ok(0) | Err(_) => return (answered, started.elapsed()),
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
            },
            _ = write_due => {
                let (_, data) = steps.next().expect("a step");
                if conn.write_all(&data).await.is_err() {
                    return (answered, started.elapsed());
                }
            }
            _ = tokio::time::sleep(Duration::from_secs(8)) => panic!("the HTTP/2 connection is still open after 8 s"),
        }
        while bytes.len() >= 9 {
            let len = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
            if bytes.len() < 9 + len {
                break;
            }
            let stream = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & 0x7fff_ffff;
            if bytes[3] == 1 {
                answered.push(stream);
            }
            bytes.drain(..9 + len);
        }
    }
}

#[tokio::test]
async fn http2_connections_without_requests_are_closed_and_busy_ones_kept() {
    let gw = Gateway::start(Setup::new().set("server.header_timeout", "1s")).await;
    let before = memory(&gw);
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let opening = [PREFACE, &frame(4, 0, 0, &[]), &frame(4, 1, 0, &[])].concat();
    let pings: Vec<(u64, Vec<u8>)> = (1..30).map(|i| (i * 200, frame(6, 0, 0, &[7; 8]))).collect();
    let cases = [
        ("silent after the preface", vec![(0, PREFACE.to_vec())]),
        ("pinging, never asking", [vec![(0, opening.clone())], pings].concat()),
        (
            "request headers never completed",
            vec![(0, opening.clone()), (50, get_healthz(1, false))],
        ),
        (
            "busy: a request every 700 ms",
            vec![
                (0, opening.clone()),
                (0, get_healthz(1, true)),
                (700, get_healthz(3, true)),
                (1400, get_healthz(5, true)),
            ],
        ),
    ];
    // The raw client never acknowledges the server's PING, so a graceful close (GOAWAY, PING)
    // does not complete and the hard stop one header_timeout later closes it; real clients
    // acknowledge and are closed at the first deadline.
    for (case, script) in cases {
        let busy = case.starts_with("busy");
        let (answered, closed) = h2_session(addr(&gw), script).await;
        println!("HTTP/2, {case}: answered streams {answered:?}, closed after {closed:?}");
        match busy {
            true => {
                assert_eq!(answered, [1, 3, 5], "{case}");
                assert!(
                    closed >= Duration::from_millis(2300),
                    "{case}: cut while busy ({closed:?})"
                );
            }
            false => assert!(answered.is_empty(), "{case}: {answered:?}"),
        }
        assert!(
            closed >= Duration::from_millis(900),
            "{case}: closed before the deadline ({closed:?})"
        );
        assert!(closed < Duration::from_secs(5), "{case}: {closed:?}");
    }
    gw.healthy().await;
    memory_bounded(&gw, "HTTP/2 idle", before, 30);
}
