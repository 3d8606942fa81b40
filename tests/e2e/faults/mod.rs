//! Faults around the real binary, and the gateway staying whole through them:
//! - the disk under the database and the media fills up (a small tmpfs, filled by a file while
//!   sends are in flight): sends are refused with 503 `STORAGE_FULL`, reads and `/healthz` keep
//!   answering, and once space returns sends are accepted again without a restart — every
//!   acknowledged message sent exactly once, nothing refused stored;
//! - another process holds the database's write lock: sends wait for it within the busy
//!   timeout, or past it are refused with 503 `STORAGE_BUSY`, and then everything proceeds;
//! - the precompiled-plugin cache is corrupt (machine code overwritten, garbage, truncated,
//!   empty): the artifact is never run, the plugin is compiled again, serves, and the log says so;
//! - a filter failing half of its calls and a template growing its memory past the cap under a
//!   few hundred sends: every request answered per the failure policy, every failure counted,
//!   `/healthz` ok, RSS and open files bounded.
//!
//! `storage.rs` has the first two, `plugins.rs` the others; the helpers they share are here.
//! The tmpfs tests need root (`mount -t tmpfs`), as the test machines have.

mod plugins;
mod storage;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Answer, Gateway, Setup, TO, eventually_within};
use wapi_test_support::Client;

/// A quick anti-ban pace, so a few hundred messages drain in seconds.
fn fast() -> Setup {
    Setup::new()
        .set("antiban.min_gap", "1ms")
        .set("antiban.max_gap", "2ms")
        .set("antiban.typing", false)
        .set("antiban.cooldown_every", 100_000)
        .set("antiban.daily_limit", 100_000)
        .set("antiban.sync_wait", "0s")
}

fn accepted(resp: &Answer) -> Option<i64> {
    matches!(resp.status.as_u16(), 200 | 202)
        .then(|| resp.data()["id"].as_i64())
        .flatten()
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .count()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// One send's answer, as the traffic saw it.
#[derive(Debug)]
struct Seen {
    at: Instant,
    took: Duration,
    status: u16,
    code: String,
    id: Option<i64>,
    body: Value,
}

/// Sends texts from `workers` tasks until stopped, keeping every answer.
struct Traffic {
    answers: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Traffic {
    fn start(gw: &Gateway, workers: usize, label: &str) -> Self {
        let answers = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..workers)
            .map(|w| {
                let client = Client::clone(gw);
                let request = move |text: String| client.post("/api/messages", json!({ "to": TO, "text": text }));
                let (answers, stop, label) = (answers.clone(), stop.clone(), label.to_string());
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let started = Instant::now();
                        let resp = request(format!("{label} w{w} n{n}"))
                            .try_send()
                            .await
                            .unwrap_or_else(|e| panic!("a send got no answer: {e}"));
                        answers.lock().unwrap().push(Seen {
                            at: Instant::now(),
                            took: started.elapsed(),
                            status: resp.status.as_u16(),
                            code: resp.body["code"].as_str().unwrap_or_default().to_string(),
                            id: accepted(&resp),
                            body: resp.body,
                        });
                    }
                })
            })
            .collect();
        Self { answers, stop, tasks }
    }

    /// Waits until `enough` holds for the answers so far.
    async fn until(&self, what: &str, timeout: Duration, enough: impl Fn(&[Seen]) -> bool) {
        eventually_within(what, timeout, || async {
            enough(&self.answers.lock().unwrap()).then_some(())
        })
        .await;
    }

    async fn finish(self) -> Vec<Seen> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("a traffic task panicked");
        }
        Arc::try_unwrap(self.answers)
            .expect("the tasks are done")
            .into_inner()
            .unwrap()
    }
}

/// Checks that every acknowledged message was sent exactly once, and that nothing else was
/// stored or sent. Returns how many were sent.
async fn sent_exactly_once(gw: &Gateway, acknowledged: &HashSet<i64>) -> usize {
    let stored = gw.statuses().await;
    let stored_ids: HashSet<i64> = stored.keys().copied().collect();
    let unacknowledged: Vec<_> = stored_ids.difference(acknowledged).collect();
    assert!(
        unacknowledged.is_empty(),
        "stored although refused or never answered: {unacknowledged:?}"
    );
    for id in acknowledged {
        let status = stored.get(id).map(|m| m["status"].clone());
        assert_eq!(status, Some(json!("sent")), "acknowledged message {id}");
    }
    let mut times: HashMap<i64, usize> = HashMap::new();
    for line in gw.record() {
        *times.entry(line["id"].as_i64().expect("record id")).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    let recorded: HashSet<i64> = times.keys().copied().collect();
    assert_eq!(
        &recorded, acknowledged,
        "the simulator sent exactly the acknowledged messages"
    );
    recorded.len()
}

/// A 64 KiB upload sent as a document.
async fn send_document(gw: &Gateway) -> Answer {
    let part = reqwest::multipart::Part::bytes(vec![7u8; 64 << 10])
        .file_name("notes.bin")
        .mime_str("application/octet-stream")
        .expect("mime");
    let form = reqwest::multipart::Form::new().text("to", TO).part("file", part);
    gw.admin(reqwest::Method::POST, "/api/messages/media")
        .multipart(form)
        .send()
        .await
}
