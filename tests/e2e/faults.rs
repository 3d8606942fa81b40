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
//! The tmpfs tests need root (`mount -t tmpfs`), as the test machines have.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::api::try_call;
use crate::{Gateway, Resp, Setup, TO, call, eventually};

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

fn accepted(resp: &Resp) -> Option<i64> {
    matches!(resp.status, 200 | 202)
        .then(|| resp.data()["id"].as_i64())
        .flatten()
}

/// A tmpfs mounted for one test; unmounted when dropped, panics included.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs"])
            .arg(path)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mount -t tmpfs {} failed (this test needs root): {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            path: path.to_path_buf(),
        }
    }

    /// Free bytes, as `df` sees them.
    fn free(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.path)
            .output()
            .expect("running df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df prints the free bytes")
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy (a process holding a file): detach it now, freed when let go.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// Writes `path` until the file system refuses; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).expect("creating the filler");
    let mut total = 0u64;
    for chunk in [1 << 20, 64 << 10, 4 << 10, 512, 1] {
        let bytes = vec![0xA5u8; chunk];
        loop {
            match file.write(&bytes) {
                Ok(0) => break,
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("writing the filler: {e}"),
            }
        }
    }
    total
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
struct Answer {
    at: Instant,
    took: Duration,
    status: u16,
    code: String,
    id: Option<i64>,
    body: Value,
}

/// Sends texts from `workers` tasks until stopped, keeping every answer.
struct Traffic {
    answers: Arc<Mutex<Vec<Answer>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Traffic {
    fn start(gw: &Gateway, workers: usize, label: &str) -> Self {
        let answers = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..workers)
            .map(|w| {
                let request = {
                    let (client, url, key) = (gw.client().clone(), gw.url("/api/messages"), gw.key().to_string());
                    move |text: String| {
                        client
                            .post(&url)
                            .header("X-API-Key", &key)
                            .json(&json!({ "to": TO, "text": text }))
                    }
                };
                let (answers, stop, label) = (answers.clone(), stop.clone(), label.to_string());
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let started = Instant::now();
                        let resp = try_call(request(format!("{label} w{w} n{n}")))
                            .await
                            .unwrap_or_else(|e| panic!("a send got no answer: {e}"));
                        answers.lock().unwrap().push(Answer {
                            at: Instant::now(),
                            took: started.elapsed(),
                            status: resp.status,
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
    async fn until(&self, what: &str, timeout: Duration, enough: impl Fn(&[Answer]) -> bool) {
        eventually(what, timeout, || async {
            enough(&self.answers.lock().unwrap()).then_some(())
        })
        .await;
    }

    async fn finish(self) -> Vec<Answer> {
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

async fn healthy(gw: &Gateway) {
    let resp = call(gw.request(reqwest::Method::GET, "/healthz", crate::Auth::None)).await;
    let resp = resp.ok(200);
    assert_eq!(resp.data()["status"], "ok", "{}", resp.body);
}

/// A 64 KiB upload sent as a document.
async fn send_document(gw: &Gateway) -> Resp {
    let part = reqwest::multipart::Part::bytes(vec![7u8; 64 << 10])
        .file_name("notes.bin")
        .mime_str("application/octet-stream")
        .expect("mime");
    let form = reqwest::multipart::Form::new().text("to", TO).part("file", part);
    call(
        gw.request(reqwest::Method::POST, "/api/messages/media", crate::Auth::Admin)
            .multipart(form),
    )
    .await
}

#[tokio::test]
async fn a_full_disk_refuses_sends_clearly_loses_nothing_and_recovers_when_space_returns() {
    let root = tempfile::Builder::new()
        .prefix("wapi-faults-")
        .tempdir()
        .expect("temp dir");
    let disk = Tmpfs::mount(&root.path().join("disk"), "8m");
    let db = disk.path.join("wapi.db");
    // Sends that take a while: the disk is filled while one is in flight, so the sender's
    // write of its outcome meets the full disk too.
    let setup = fast()
        .set("storage.path", db.display().to_string())
        .set("whatsapp.simulator.send_time", "25ms");
    let mut gw = Gateway::start(setup).await;
    let free_at_start = disk.free();

    // Sends in flight while the disk fills up.
    let started = Instant::now();
    let traffic = Traffic::start(&gw, 4, "full");
    traffic
        .until("40 accepted sends", Duration::from_secs(20), |a| {
            a.iter().filter(|a| a.id.is_some()).count() >= 40
        })
        .await;
    eventually("a message being sent", Duration::from_secs(10), || async {
        let sending = call(gw.get("/api/messages?status=sending&limit=1")).await.ok(200);
        (!sending.data()["items"].as_array().unwrap().is_empty()).then_some(())
    })
    .await;
    let filler = disk.path.join("filler");
    let filled_at = Instant::now();
    let filler_bytes = fill(&filler);
    traffic
        .until("30 sends refused with STORAGE_FULL", Duration::from_secs(20), |a| {
            a.iter()
                .filter(|a| a.at > filled_at && a.code == "STORAGE_FULL")
                .count()
                >= 30
        })
        .await;
    let first_refusal = traffic
        .answers
        .lock()
        .unwrap()
        .iter()
        .find(|a| a.code == "STORAGE_FULL")
        .map(|a| a.at - filled_at)
        .expect("a refusal");

    // While full: reads, health and the refusal of an upload.
    healthy(&gw).await;
    let status = gw.status().await;
    assert!(status["pendingMessages"].is_u64(), "{status}");
    call(gw.get("/api/messages?limit=5")).await.ok(200);
    let upload = send_document(&gw).await.err(503, "STORAGE_FULL");
    assert!(
        upload.body["error"].as_str().unwrap().contains("disk is full"),
        "{}",
        upload.body
    );

    // Space returns: sends are accepted again, without a restart.
    std::fs::remove_file(&filler).expect("removing the filler");
    let freed_at = Instant::now();
    traffic
        .until("30 sends accepted after space returned", Duration::from_secs(20), |a| {
            a.iter().filter(|a| a.at > freed_at && a.id.is_some()).count() >= 30
        })
        .await;
    let recovered_after = traffic
        .answers
        .lock()
        .unwrap()
        .iter()
        .find(|a| a.at > freed_at && a.id.is_some())
        .map(|a| a.at - freed_at)
        .expect("an accepted send");
    let answers = traffic.finish().await;
    let document = accepted(&send_document(&gw).await).expect("an upload is accepted again");

    let unexpected: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.id.is_none() && !(a.status == 503 && a.code == "STORAGE_FULL"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "answers other than accepted or STORAGE_FULL: {unexpected:?}"
    );
    let refusal = answers.iter().find(|a| a.code == "STORAGE_FULL").expect("a refusal");
    assert!(
        refusal.body["error"].as_str().unwrap().contains("disk is full"),
        "{}",
        refusal.body
    );
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.code == "STORAGE_FULL").collect();
    let slowest_refusal = refused.iter().map(|a| a.took).max().unwrap();
    assert!(
        slowest_refusal < Duration::from_secs(3),
        "a refusal took {slowest_refusal:?}"
    );
    let mut acknowledged: HashSet<i64> = answers.iter().filter_map(|a| a.id).collect();
    acknowledged.insert(document);

    let drain_started = Instant::now();
    gw.drained(Duration::from_secs(60)).await;
    let drained_in = drain_started.elapsed();
    let sent = sent_exactly_once(&gw, &acknowledged).await;
    healthy(&gw).await;
    let logs = gw.logs();
    assert!(!logs.contains("panicked"), "{logs}");
    let sender_retries = logs.matches("could not record a send's outcome").count();
    println!(
        "disk full: tmpfs 8 MiB ({} KiB free at start, filler {} KiB); {} answers: {} accepted, {} STORAGE_FULL \
         (first {:?} after the fill, slowest {:?}); accepted again {:?} after space returned; \
         {sent} sent exactly once, drained in {:?}; {sender_retries} sender retries of an outcome; total {:?}",
        free_at_start / 1024,
        filler_bytes / 1024,
        answers.len(),
        answers.iter().filter(|a| a.id.is_some()).count(),
        refused.len(),
        first_refusal,
        slowest_refusal,
        recovered_after,
        drained_in,
        started.elapsed(),
    );
    gw.terminate().await;
}

/// Holds `BEGIN EXCLUSIVE` on the database from another process for `hold`; returns once the
/// lock is taken, with the process (which prints `released` when it lets go).
async fn lock_database(db: &Path, hold: Duration) -> tokio::process::Child {
    const SCRIPT: &str = "import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
c.execute('BEGIN EXCLUSIVE')
print('locked', flush=True)
time.sleep(float(sys.argv[2]))
c.execute('COMMIT')
print('released', flush=True)
";
    let mut child = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(db)
        .arg(hold.as_secs_f64().to_string())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 (installed by cargo xtask test)");
    let stdout = child.stdout.as_mut().expect("piped");
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(20), BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("the lock was taken in time")
        .expect("reading python's output");
    assert_eq!(line.trim(), "locked");
    child
}

/// Sends `n` texts at once; returns each answer with how long it took.
async fn burst(gw: &Gateway, n: usize, label: &str) -> Vec<(Duration, Resp)> {
    let sends = (0..n).map(|i| {
        let request = gw.post("/api/messages", json!({ "to": TO, "text": format!("{label} {i}") }));
        async move {
            let started = Instant::now();
            let resp = call(request).await;
            (started.elapsed(), resp)
        }
    });
    futures_util::future::join_all(sends).await
}

#[tokio::test]
async fn a_database_locked_by_another_process_delays_or_refuses_sends_and_then_all_proceeds() {
    // The store's busy timeout (`PRAGMA busy_timeout=5000`).
    const BUSY: Duration = Duration::from_secs(5);
    let mut gw = Gateway::start(fast().set("antiban.min_gap", "50ms").set("antiban.max_gap", "80ms")).await;
    let db = gw.dir().join("data").join("wapi.db");
    let mut acknowledged = HashSet::new();
    // A queue that is draining when the lock comes: the sender meets it too.
    let items: Vec<Value> = (0..40)
        .map(|i| json!({ "to": TO, "text": format!("queued {i}") }))
        .collect();
    let batch = gw.batch(json!(items)).await.ok(200);
    for item in batch.data()["items"].as_array().unwrap() {
        acknowledged.insert(item["message"]["id"].as_i64().expect("a queued item's id"));
    }

    // A lock shorter than the busy timeout: sends wait for it, then are accepted.
    let hold = Duration::from_secs(2);
    let locked_at = Instant::now();
    let mut locker = lock_database(&db, hold).await;
    let read_started = Instant::now();
    healthy(&gw).await;
    gw.status().await;
    let read_took = read_started.elapsed();
    assert!(
        read_took < Duration::from_secs(1),
        "reads wait for no writer: {read_took:?}"
    );
    let waited = burst(&gw, 8, "during a short lock").await;
    let answered_by = locked_at.elapsed();
    assert!(locker.wait().await.unwrap().success());
    for (took, resp) in &waited {
        let id = accepted(resp).unwrap_or_else(|| panic!("refused during a short lock: {}", resp.body));
        acknowledged.insert(id);
        assert!(*took < BUSY + Duration::from_secs(1), "a send waited {took:?}");
    }
    let longest_wait = waited.iter().map(|(t, _)| *t).max().unwrap();
    assert!(
        longest_wait >= hold - Duration::from_millis(600),
        "the sends could not have been stored while the lock was held: {longest_wait:?}"
    );

    // A lock longer than twice the busy timeout: the write groups that meet it fail after the
    // timeout, and their sends are refused with STORAGE_BUSY — no 500, no hang.
    let hold = 2 * BUSY + Duration::from_secs(1);
    let mut locker = lock_database(&db, hold).await;
    let refused = burst(&gw, 6, "during a long lock").await;
    assert!(locker.wait().await.unwrap().success());
    for (took, resp) in &refused {
        assert_eq!(
            (resp.status, resp.body["code"].as_str()),
            (503, Some("STORAGE_BUSY")),
            "{}",
            resp.body
        );
        assert!(
            resp.body["error"]
                .as_str()
                .unwrap()
                .contains("locked by another process"),
            "{}",
            resp.body
        );
        assert!(
            *took >= BUSY - Duration::from_millis(500) && *took <= 2 * BUSY + Duration::from_secs(1),
            "a refusal came after {took:?}"
        );
    }
    let refusal_times: Vec<Duration> = refused.iter().map(|(t, _)| *t).collect();

    // Released: sends are accepted at once, and the queue drains.
    let after = burst(&gw, 8, "after the lock").await;
    for (took, resp) in &after {
        acknowledged.insert(accepted(resp).unwrap_or_else(|| panic!("refused after the lock: {}", resp.body)));
        assert!(*took < Duration::from_secs(2), "{took:?}");
    }
    gw.drained(Duration::from_secs(30)).await;
    let sent = sent_exactly_once(&gw, &acknowledged).await;
    healthy(&gw).await;
    let logs = gw.logs();
    assert!(!logs.contains("panicked"), "{logs}");
    println!(
        "database locked: reads during the lock {read_took:?}; 8 sends during a 2 s lock accepted, longest wait \
         {longest_wait:?} (all answered {answered_by:?} after the lock); 6 sends during an 11 s lock refused \
         STORAGE_BUSY after {refusal_times:?}; {sent} sent exactly once; {} sender database errors, {} retried outcomes",
        logs.matches("sender: database error").count(),
        logs.matches("could not record a send's outcome").count(),
    );
    gw.terminate().await;
}

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/plugins/target/wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} — build the fixtures with `cargo xtask plugins` (`cargo xtask test` does)",
            path.display()
        )
    })
}

async fn plugin_views(gw: &Gateway) -> HashMap<String, Value> {
    let list = call(gw.get("/api/plugins")).await.ok(200);
    list.data()
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p.clone()))
        .collect()
}

fn run_log(gw: &Gateway, run: usize) -> String {
    std::fs::read_to_string(gw.dir().join(format!("stderr-{run}.log"))).unwrap_or_default()
}

#[tokio::test]
async fn a_corrupt_plugin_cache_is_compiled_again_and_the_plugin_serves() {
    let setup = fast()
        .set("plugins.cache_dir", "plugin-cache")
        .file("plugins.d/stamp.wasm", fixture("stamp-a"));
    let mut gw = Gateway::start(setup).await;
    let serves = |resp: Resp| assert_eq!(resp.ok(202).data()["text"], "hi [a]");
    serves(gw.send_text(TO, "hi").await);
    let cache = gw.dir().join("plugin-cache");
    let artifact = only_artifact(&cache);
    let good = std::fs::read(&artifact).unwrap();
    assert!(run_log(&gw, 1).contains("cached=false"));
    gw.terminate().await;

    let mut garbage = vec![0u8; good.len()];
    rand::fill(&mut garbage[..]);
    // The ELF headers and section table intact, the machine code after the first page
    // overwritten: mapped and run as is, this dies of SIGILL.
    let mut overwritten = good.clone();
    overwritten[4096..good.len() / 2].fill(0xFF);
    let variants: [(&str, Vec<u8>); 5] = [
        ("code overwritten", overwritten),
        ("garbage", garbage),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("header only", good[..64].to_vec()),
        ("empty", Vec::new()),
    ];
    let mut figures = Vec::new();
    for (what, bytes) in variants {
        std::fs::write(&artifact, &bytes).unwrap();
        let started = Instant::now();
        gw.restart().await;
        let up = started.elapsed();
        serves(gw.send_text(TO, "hi").await);
        let view = plugin_views(&gw).await.remove("stamp").expect("stamp listed");
        assert_eq!(view["state"], "active", "{what}: {view}");
        let log = run_log(&gw, gw_runs(&gw));
        assert!(
            log.contains("unusable cached plugin; compiling again"),
            "{what}: the log says the cache was unusable:\n{log}"
        );
        assert!(log.contains("cached=false"), "{what}: compiled again:\n{log}");
        let rewritten = std::fs::read(only_artifact(&cache)).unwrap();
        assert_ne!(rewritten, bytes, "{what}: the artifact was written again");
        figures.push(format!("{what} ({} B): up in {up:?}", bytes.len()));
        gw.terminate().await;
    }

    // The artifact written back is good: the next start maps it.
    let started = Instant::now();
    gw.restart().await;
    let up = started.elapsed();
    serves(gw.send_text(TO, "hi").await);
    let log = run_log(&gw, gw_runs(&gw));
    assert!(log.contains("cached=true"), "{log}");
    assert!(!gw.logs().contains("panicked"));
    println!(
        "corrupt plugin cache ({} B artifact): {}; then from the rewritten cache in {up:?}",
        good.len(),
        figures.join("; ")
    );
    gw.terminate().await;
}

/// The one precompiled artifact in the cache folder.
fn only_artifact(cache: &Path) -> PathBuf {
    let artifacts: Vec<PathBuf> = std::fs::read_dir(cache)
        .expect("the cache folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    match artifacts.as_slice() {
        [one] => one.clone(),
        _ => panic!("one cached artifact: {artifacts:?}"),
    }
}

/// The number of the gateway's current run (its logs are `stderr-N.log`).
fn gw_runs(gw: &Gateway) -> usize {
    (1..)
        .take_while(|n| gw.dir().join(format!("stderr-{n}.log")).exists())
        .last()
        .expect("at least one run")
}

/// RSS samples of a process, taken every 20 ms until stopped.
struct Sampler {
    samples: Arc<Mutex<Vec<u64>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (samples, stop) = (samples.clone(), stop.clone());
            async move {
                while !stop.load(Ordering::Relaxed) {
                    samples.lock().unwrap().push(rss_kib(pid));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
        Self { samples, stop, task }
    }

    async fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        Arc::try_unwrap(self.samples).unwrap().into_inner().unwrap()
    }
}

/// What the memory grower allocates on its `call`th call, with its default config.
fn grower_mib(call: u64) -> u64 {
    8 * (1 + (call - 1) % 8)
}

/// Sends `n` texts eight at a time through the flaky filters and the grower; every request
/// must be answered, accepted (202) or refused by the failing filter (422). Returns how many
/// were refused, and how many accepted ones show the grower's call failed (no ` [grew …]`).
async fn eight_at_a_time(gw: &Gateway, n: usize, label: &str) -> (u64, u64) {
    use futures_util::StreamExt;
    let sends = (0..n).map(|i| {
        let request = gw.post("/api/messages", json!({ "to": TO, "text": format!("{label}{i}") }));
        async move { try_call(request).await.expect("every request is answered") }
    });
    let answers: Vec<Resp> = futures_util::stream::iter(sends).buffer_unordered(8).collect().await;
    let (mut refused, mut template_failed) = (0, 0);
    for resp in &answers {
        match resp.status {
            202 if !resp.data()["text"].as_str().unwrap().contains("[grew ") => template_failed += 1,
            202 => {}
            422 if resp.body["code"] == "RECIPIENT_REJECTED" => refused += 1,
            _ => panic!("unexpected answer: {} {}", resp.status, resp.body),
        }
    }
    (refused, template_failed)
}

#[tokio::test]
async fn plugins_failing_half_their_calls_or_growing_their_memory_leave_the_host_healthy() {
    // 32 MB of linear memory: the grower's 8, 16 and 24 MiB calls fit, 32 MiB and more do not.
    const FITS_MIB: u64 = 24;
    const SEQUENTIAL: u64 = 200;
    const WARM_UP: usize = 100;
    const CONCURRENT: usize = 200;
    let setup = fast()
        .set("plugins.memory", "32MB")
        .raw("plugins.order", r#"["grower", "flaky-allow", "flaky"]"#)
        .set("plugins.flaky-allow.on_error", "allow")
        .file("plugins.d/grower.wasm", fixture("memory-grower"))
        .file("plugins.d/flaky.wasm", fixture("flaky-filter"))
        .file("plugins.d/flaky-allow.wasm", fixture("flaky-filter"));
    let mut gw = Gateway::start(setup).await;
    let pid = gw.pid();
    let started = Instant::now();
    let sampler = Sampler::start(pid);

    // In order, one at a time: every call's fate is known in advance.
    let mut refused = 0u64;
    for call_no in 1..=SEQUENTIAL {
        let resp = gw.send_text(TO, &format!("m{call_no}")).await;
        if call_no % 2 == 0 {
            let resp = resp.err(422, "RECIPIENT_REJECTED");
            let sentence = resp.body["error"].as_str().unwrap();
            assert!(
                sentence.contains("filter plugin flaky failed"),
                "call {call_no}: {sentence}"
            );
            refused += 1;
        } else {
            let expected = match grower_mib(call_no) <= FITS_MIB {
                true => format!("m{call_no} [grew {} MiB]", grower_mib(call_no)),
                false => format!("m{call_no}"),
            };
            assert_eq!(resp.ok(202).data()["text"], expected.as_str(), "call {call_no}");
        }
    }
    let views = plugin_views(&gw).await;
    let grower_failures = (1..=SEQUENTIAL).filter(|&c| grower_mib(c) > FITS_MIB).count() as u64;
    for (name, failures) in [
        ("flaky", SEQUENTIAL / 2),
        ("flaky-allow", SEQUENTIAL / 2),
        ("grower", grower_failures),
    ] {
        let view = &views[name];
        assert_eq!(view["state"], "active", "{view}");
        assert_eq!(
            (view["calls"].as_u64(), view["failures"].as_u64()),
            (Some(SEQUENTIAL), Some(failures)),
            "{view}"
        );
    }
    assert_eq!(refused, SEQUENTIAL / 2);
    healthy(&gw).await;

    // Eight in flight: first a warm-up (connections, pooled instances, readers), then the
    // measured round.
    let (warm_refused, warm_failed) = eight_at_a_time(&gw, WARM_UP, "w").await;
    let (warm_rss, warm_fds) = (rss_kib(pid), open_fds(pid));
    let (round_refused, round_failed) = eight_at_a_time(&gw, CONCURRENT, "c").await;
    let (last_rss, last_fds) = (rss_kib(pid), open_fds(pid));
    let (concurrent_refused, template_failed) = (warm_refused + round_refused, warm_failed + round_failed);
    healthy(&gw).await;

    let after = plugin_views(&gw).await;
    let total = SEQUENTIAL + (WARM_UP + CONCURRENT) as u64;
    let delta = |name: &str, field: &str| after[name][field].as_u64().unwrap() - views[name][field].as_u64().unwrap();
    for name in ["flaky", "flaky-allow", "grower"] {
        assert_eq!(after[name]["calls"].as_u64(), Some(total), "{}", after[name]);
    }
    assert_eq!(
        delta("flaky", "failures"),
        concurrent_refused,
        "every refusal is a counted failure"
    );
    let grower_delta = delta("grower", "failures");
    assert!(
        (template_failed..=template_failed + concurrent_refused).contains(&grower_delta),
        "grower failures {grower_delta}: {template_failed} seen in answers, {concurrent_refused} unseen"
    );
    assert!(delta("flaky-allow", "failures") > 0);

    let samples = sampler.finish().await;
    let max_rss = samples.iter().copied().max().unwrap_or(last_rss);
    let first_rss = samples.first().copied().unwrap_or(warm_rss);
    assert!(
        last_rss < warm_rss + 50 * 1024,
        "RSS grew from {:.1} MiB after warm-up to {:.1} MiB",
        mib(warm_rss),
        mib(last_rss)
    );
    assert!(
        last_fds <= warm_fds + 2,
        "open files went from {warm_fds} to {last_fds}"
    );
    gw.drained(Duration::from_secs(60)).await;
    assert!(!gw.logs().contains("panicked"));
    println!(
        "flaky plugins: {total} sends in {:?} ({SEQUENTIAL} in order: {refused} refused, flaky {}/{SEQUENTIAL} \
         failures, grower {grower_failures} failures; {} eight at a time: {concurrent_refused} refused, grower \
         +{grower_delta} failures, flaky-allow +{} failures); RSS first {:.1} MiB, after warm-up {:.1}, max {:.1}, \
         last {:.1}; open files {warm_fds} -> {last_fds}",
        started.elapsed(),
        SEQUENTIAL / 2,
        WARM_UP + CONCURRENT,
        delta("flaky-allow", "failures"),
        mib(first_rss),
        mib(warm_rss),
        mib(max_rss),
        mib(last_rss),
    );
    gw.terminate().await;
}
