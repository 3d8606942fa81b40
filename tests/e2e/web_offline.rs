//! The real WhatsApp backend (`backend = "web"`) with WhatsApp unreachable, as on this machine:
//! the gateway starts, serves, says why it is not connected, refuses sends it could not deliver,
//! stays small and quiet while its client retries, and stops promptly.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::{Gateway, Setup, TO, eventually_within};

/// CPU time (user + system, in clock ticks of 10 ms) and anonymous resident memory (kB: the
/// heap and stacks, not the mapped binary, which is large in a debug build) of a process.
fn usage(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("process stat");
    let fields: Vec<&str> = stat.rsplit_once(") ").expect("stat format").1.split(' ').collect();
    let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .expect("RssAnon");
    (ticks, rss)
}

#[tokio::test]
async fn offline_the_real_backend_serves_explains_refuses_and_stops_promptly() {
    let mut gw = Gateway::start(Setup::new().set("whatsapp.backend", "web")).await;
    assert_eq!(gw.status().await["connection"]["backend"], "web");

    // No event comes while offline; the supervisor still reports the state with a reason.
    let status = eventually_within(
        "the session to report reconnecting",
        Duration::from_secs(40),
        || async {
            let s = gw.status().await;
            (s["connection"]["state"] == "reconnecting").then_some(s)
        },
    )
    .await;
    let why = status["connection"]["lastError"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!why.is_empty(), "a reason is given: {status}");
    assert!(status["connection"]["since"].is_string());

    // Nothing linked: a send is refused with 503 and nothing is queued.
    gw.post("/api/messages", json!({"to": TO, "text": "hello"}))
        .send()
        .await
        .expect_error(503, "WHATSAPP_NOT_CONNECTED");
    assert_eq!(gw.status().await["pendingMessages"], 0);
    let qr = gw.get("/api/session/qr").send().await.expect(200);
    assert!(qr.data()["code"].is_null(), "no code without WhatsApp: {}", qr.data());
    gw.post("/api/numbers/check", json!({"numbers": [TO]}))
        .send()
        .await
        .expect_error(503, "WHATSAPP_NOT_CONNECTED");

    // Retrying stays cheap: under 10 % of a core and a small footprint, measured over 5 s.
    let (before, _) = usage(gw.pid());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (after, rss_kb) = usage(gw.pid());
    assert!(
        after - before < 50,
        "{} ms of CPU in 5 s while offline",
        (after - before) * 10
    );
    assert!(rss_kb < 64 * 1024, "RSS {rss_kb} kB while offline");

    let asked = Instant::now();
    let exit = gw.terminate().await;
    assert!(exit.success(), "{exit:?}");
    assert!(asked.elapsed() < Duration::from_secs(20));
}

/// In a terminal, a waiting session draws its linking code as a QR for the operator to scan.
#[tokio::test]
async fn the_linking_code_is_drawn_when_stdout_is_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[server]\nlisten = \"127.0.0.1:0\"\n[whatsapp]\nbackend = \"simulator\"\n[whatsapp.simulator]\nauto_link = false\n",
    )
    .unwrap();
    // `script` gives the gateway a pseudo-terminal as stdout; `timeout` stops it after 3 s.
    let command = format!("timeout 3 {} --config {}", env!("CARGO_BIN_EXE_wapi"), config.display());
    let output = tokio::process::Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .output()
        .await
        .expect("running script(1)");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(shown.contains("Scan with WhatsApp"), "{shown}");
    assert!(
        shown.lines().filter(|l| l.contains('█') || l.contains('▀')).count() > 10,
        "a QR drawn in blocks:\n{shown}"
    );
}

/// Messages queued earlier stay queued, in order, while the real backend cannot reach WhatsApp.
#[tokio::test]
async fn what_was_queued_is_held_while_the_real_backend_is_offline() {
    let slow = || Setup::new().set("antiban.min_gap", "1h").set("antiban.max_gap", "1h");
    let mut gw = Gateway::start(slow()).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let answer = gw
            .post("/api/messages", json!({"to": TO, "text": format!("held {i}")}))
            .send()
            .await
            .expect(202);
        ids.push(answer.data()["id"].as_i64().unwrap());
    }
    assert!(gw.terminate().await.success());

    gw.restart_with(slow().set("whatsapp.backend", "web")).await;
    let queued: Vec<i64> = gw
        .messages("status=queued")
        .await
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(queued, ids, "every queued message is still there, in send order");
    assert_eq!(gw.status().await["pendingMessages"], 3);
    gw.post("/api/messages", json!({"to": TO, "text": "new"}))
        .send()
        .await
        .expect_error(503, "WHATSAPP_NOT_CONNECTED");
    assert_eq!(gw.status().await["pendingMessages"], 3, "a refused send adds nothing");
}

/// Ctrl-C stops the real backend as promptly as SIGTERM does.
#[tokio::test]
async fn ctrl_c_stops_the_real_backend_promptly() {
    let mut gw = Gateway::start(Setup::new().set("whatsapp.backend", "web")).await;
    let asked = Instant::now();
    let exit = gw.interrupt().await;
    assert!(exit.success(), "{exit:?}");
    assert!(asked.elapsed() < Duration::from_secs(20));
}
