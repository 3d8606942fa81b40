//! Storage faults: the disk under the database fills up (a small tmpfs), and another process
//! holds the database's write lock.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::{Answer, Gateway, TO, eventually_within};

use super::{Seen, Traffic, accepted, fast, send_document, sent_exactly_once};

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
    eventually_within("a message being sent", Duration::from_secs(10), || async {
        let sending = gw.get("/api/messages?status=sending&limit=1").send().await.expect(200);
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
    gw.healthy().await;
    let status = gw.status().await;
    assert!(status["pendingMessages"].is_u64(), "{status}");
    gw.get("/api/messages?limit=5").send().await.expect(200);
    let upload = send_document(&gw).await.expect_error(503, "STORAGE_FULL");
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

    let unexpected: Vec<&Seen> = answers
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
    let refused: Vec<&Seen> = answers.iter().filter(|a| a.code == "STORAGE_FULL").collect();
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
    gw.healthy().await;
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
async fn burst(gw: &Gateway, n: usize, label: &str) -> Vec<(Duration, Answer)> {
    let sends = (0..n).map(|i| {
        let request = gw.post("/api/messages", json!({ "to": TO, "text": format!("{label} {i}") }));
        async move {
            let started = Instant::now();
            let resp = request.send().await;
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
    let batch = gw.batch(json!(items)).await.expect(200);
    for item in batch.data()["items"].as_array().unwrap() {
        acknowledged.insert(item["message"]["id"].as_i64().expect("a queued item's id"));
    }

    // A lock shorter than the busy timeout: sends wait for it, then are accepted.
    let hold = Duration::from_secs(2);
    let locked_at = Instant::now();
    let mut locker = lock_database(&db, hold).await;
    let read_started = Instant::now();
    gw.healthy().await;
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

    // A lock longer than twice the busy timeout: the sends that meet it are refused with
    // STORAGE_BUSY once the timeout is spent — no 500, no hang, and no send waits a second
    // timeout behind a group that failed before it.
    let hold = 2 * BUSY + Duration::from_secs(1);
    let mut locker = lock_database(&db, hold).await;
    let refused = burst(&gw, 6, "during a long lock").await;
    assert!(locker.wait().await.unwrap().success());
    for (took, resp) in &refused {
        assert_eq!(
            (resp.status.as_u16(), resp.body["code"].as_str()),
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
            *took >= BUSY - Duration::from_millis(500) && *took <= BUSY + Duration::from_secs(1),
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
    gw.healthy().await;
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
