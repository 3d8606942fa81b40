//! Plugin faults: a corrupt precompiled-plugin cache, and plugins failing half their calls or
//! growing their memory past the cap while hundreds of sends go through them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Answer, Gateway, TO};

use super::{fast, mib, open_fds, rss_kib};

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
    let list = gw.get("/api/plugins").send().await.expect(200);
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
    let serves = |resp: Answer| assert_eq!(resp.expect(202).data()["text"], "hi [a]");
    serves(gw.send_text(&gw.admin, TO, "hi").await);
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
        serves(gw.send_text(&gw.admin, TO, "hi").await);
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
    serves(gw.send_text(&gw.admin, TO, "hi").await);
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

/// RSS samples of a process, taken every 20 ms until stopped (the interval is the measurement's).
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
        async move { request.try_send().await.expect("every request is answered") }
    });
    let answers: Vec<Answer> = futures_util::stream::iter(sends).buffer_unordered(8).collect().await;
    let (mut refused, mut template_failed) = (0, 0);
    for resp in &answers {
        match resp.status.as_u16() {
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
        let resp = gw.send_text(&gw.admin, TO, &format!("m{call_no}")).await;
        if call_no % 2 == 0 {
            let resp = resp.expect_error(422, "RECIPIENT_REJECTED");
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
            assert_eq!(resp.expect(202).data()["text"], expected.as_str(), "call {call_no}");
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
    gw.healthy().await;

    // Eight in flight: first a warm-up (connections, pooled instances, readers), then the
    // measured round.
    let (warm_refused, warm_failed) = eight_at_a_time(&gw, WARM_UP, "w").await;
    let (warm_rss, warm_fds) = (rss_kib(pid), open_fds(pid));
    let (round_refused, round_failed) = eight_at_a_time(&gw, CONCURRENT, "c").await;
    let (last_rss, last_fds) = (rss_kib(pid), open_fds(pid));
    let (concurrent_refused, template_failed) = (warm_refused + round_refused, warm_failed + round_failed);
    gw.healthy().await;

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
