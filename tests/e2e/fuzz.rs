//! API fuzzing with schemathesis against the real binary: every operation `/api/openapi.json`
//! describes, run once with the admin key and once with a user key, at least 1,000 generated
//! cases in all (examples, coverage, fuzzing and stateful phases; positive and negative data).
//! It proves that no answer is a server error and none breaks the document: the status code, the
//! content type, the body's schema and the documented headers (`X-Request-Id` and
//! `Cache-Control: no-store` on every answer, `WWW-Authenticate` on 401, `Retry-After` on 429) are
//! checked on every response, and that generated sends reach the queue.
//!
//! How the run is set up, and why:
//! - schemathesis is pinned by `tests/fuzz/requirements.txt`; `cargo xtask test` installs it in a
//!   venv under the target folder and names the program in `SCHEMATHESIS_BIN`. Without it this
//!   test fails (it does not skip) and says to run `cargo xtask test`.
//! - The seed is printed; `FUZZ_SEED=N` replays a run (on the pinned versions). `WAPI_SOAK=1`
//!   (`cargo xtask soak`) generates ten times as many cases.
//! - The gateway runs the simulator with millisecond gaps, and budgets and a daily cap nobody
//!   reaches, so answers come from each operation's logic rather than a 429 (a 429 would still
//!   have to match the document).
//! - The key travels in `X-API-Key` on every request, and schemathesis does not generate values of
//!   its own for the security headers (`--generation-with-security-parameters false`): a case
//!   with a made-up key would only ever reach the 401 path. Refusals of bad keys have their own
//!   tests (`keys.rs`, and the security suite).
//! - No operation is excluded. Two would saw off the branch the run sits on, and
//!   `tests/fuzz/hooks.py` handles exactly those: a revocation of a key the runs use is sent for
//!   an unknown id instead (the stateful phase finds the admin key in `GET /api/keys` and would
//!   revoke it), and a successful logout is followed by relinking the simulated session, so later
//!   cases reach the send path rather than its 503. With the user key, the admin operations must
//!   answer their documented 403.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::setup::ADMIN_KEY;
use crate::{Gateway, Setup};

/// The variable `cargo xtask test` sets to the schemathesis program it installed.
const SCHEMATHESIS_VAR: &str = "SCHEMATHESIS_BIN";

/// What every response is checked against.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";

/// Cases generated for the two runs together, at least.
const MIN_CASES: u64 = 1_000;

/// How one run is sized: `--max-examples` per operation and phase, and the deadline after which
/// the run is killed and the test fails.
struct Budget {
    max_examples: u32,
    deadline: Duration,
}

fn budget() -> Budget {
    match std::env::var_os("WAPI_SOAK").is_some_and(|v| !v.is_empty() && v != "0") {
        true => Budget {
            max_examples: 600,
            deadline: Duration::from_secs(30 * 60),
        },
        false => Budget {
            max_examples: 60,
            deadline: Duration::from_secs(85),
        },
    }
}

/// What one run reported (its JSON report) and how long it took here.
struct Run {
    role: &'static str,
    report: Value,
    wall: Duration,
}

impl Run {
    fn cases(&self) -> u64 {
        self.report["test_cases"]["generated"].as_u64().unwrap_or(0)
    }

    fn figure(&self, path: &str) -> u64 {
        self.report.pointer(path).and_then(Value::as_u64).unwrap_or(0)
    }

    /// Cases that failed a check (the report also groups them, per operation, in `failures`).
    fn failures(&self) -> u64 {
        let grouped = self.report["failures"].as_array().map_or(0, Vec::len) as u64;
        self.figure("/test_cases/with_failures").max(grouped)
    }
}

#[tokio::test]
async fn every_operation_answers_as_documented_to_generated_requests() {
    let Some(schemathesis) = std::env::var_os(SCHEMATHESIS_VAR).map(PathBuf::from) else {
        panic!(
            "{SCHEMATHESIS_VAR} is not set: run `cargo xtask test`, which installs schemathesis \
             (tests/fuzz/requirements.txt) into a venv and passes its path to the tests"
        );
    };
    assert!(
        schemathesis.is_file(),
        "{SCHEMATHESIS_VAR}={} does not exist: run `cargo xtask test`",
        schemathesis.display()
    );
    let seed: u64 = match std::env::var("FUZZ_SEED") {
        Ok(text) => text.parse().expect("FUZZ_SEED is a whole number"),
        Err(_) => rand::random::<u32>().into(),
    };
    let budget = budget();
    println!(
        "fuzz: seed {seed} (replay with FUZZ_SEED={seed}), --max-examples {} per operation and phase",
        budget.max_examples
    );

    let gw = Gateway::start(
        Setup::new()
            .set("antiban.min_gap", "1ms")
            .set("antiban.max_gap", "5ms")
            .set("antiban.typing_min", "1ms")
            .set("antiban.typing_max", "5ms")
            .set("antiban.cooldown_min", "5ms")
            .set("antiban.cooldown_max", "10ms")
            .set("antiban.sync_wait", "500ms")
            .set("antiban.daily_limit", 1_000_000),
    )
    .await;
    let operations = documented_operations(&gw).await;
    let created = gw
        .post("/api/keys", json!({ "name": "fuzz user", "role": "user" }))
        .send()
        .await
        .expect(201);
    let user_key = created.data()["secret"].as_str().expect("secret").to_string();
    let user_id = created.data()["id"].as_str().expect("id").to_string();
    let admin_id = &ADMIN_KEY[5..13];

    let fuzzer = Fuzzer {
        program: schemathesis,
        work: gw.dir().join("fuzz"),
        keep: format!("{admin_id},{user_id}"),
        seed,
        budget,
    };
    std::fs::create_dir_all(&fuzzer.work).expect("the fuzzing folder");
    let mut runs = Vec::new();
    for (role, key) in [("admin", ADMIN_KEY), ("user", user_key.as_str())] {
        runs.push(fuzzer.run(&gw, role, key).await);
    }

    for run in &runs {
        println!(
            "fuzz: {:5} key: {:5} cases, {}/{} operations tested, {} failures, {} errors, {:.1} s",
            run.role,
            run.cases(),
            run.figure("/operations/tested"),
            run.figure("/operations/total"),
            run.failures(),
            run.report["errors"].as_array().map_or(0, Vec::len),
            run.wall.as_secs_f64(),
        );
        let warnings = &run.report["warnings"];
        for name in ["validation_mismatch", "missing_test_data"] {
            if let Some(ops) = warnings[name].as_array().filter(|ops| !ops.is_empty()) {
                println!("fuzz: {:5} key: note: {name}: {}", run.role, join(ops));
            }
        }
    }
    let total: u64 = runs.iter().map(Run::cases).sum();
    let failures: u64 = runs.iter().map(Run::failures).sum();
    let wall: Duration = runs.iter().map(|r| r.wall).sum();
    println!(
        "fuzz: {total} cases over {operations} operations with 2 keys, {failures} failures, {:.1} s",
        wall.as_secs_f64()
    );
    assert!(
        total >= MIN_CASES,
        "only {total} cases generated; at least {MIN_CASES} wanted"
    );
    for run in &runs {
        assert_eq!(
            run.figure("/operations/total"),
            operations,
            "the {} run saw another document",
            run.role
        );
    }

    // Generated requests reached the queue (a document that hid the formats the handlers check
    // once kept every generated send at 422), and the runs left the gateway serving, with both
    // keys alive and the session linked.
    let accepted = gw.messages("").await.len();
    println!("fuzz: {accepted} generated sends were accepted into the queue");
    assert!(accepted >= 20, "only {accepted} generated sends were accepted");
    let status = gw.status().await;
    assert_eq!(status["connection"]["state"], "connected", "{status}");
    gw.call(reqwest::Method::GET, "/api/status")
        .key(&user_key)
        .send()
        .await
        .expect(200);
}

/// How many operations (method and path) the served document describes.
async fn documented_operations(gw: &Gateway) -> u64 {
    let doc = gw.openapi().await;
    let methods = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .values()
        .flat_map(|item| item.as_object().into_iter().flat_map(|ops| ops.keys()))
        .filter(|name| methods.contains(&name.as_str()))
        .count() as u64
}

/// One schemathesis set-up, run once per key.
struct Fuzzer {
    program: PathBuf,
    /// Where the reports go (inside the gateway's folder, kept when the test fails).
    work: PathBuf,
    /// The public ids of the keys the runs use, for `tests/fuzz/hooks.py`.
    keep: String,
    seed: u64,
    budget: Budget,
}

impl Fuzzer {
    /// Runs schemathesis over every operation with `key`; fails the test on any failure or
    /// error, a phase that did not pass, an operation left untested, or a run that outlives its
    /// deadline.
    async fn run(&self, gw: &Gateway, role: &'static str, key: &str) -> Run {
        let report = self.work.join(format!("{role}.json"));
        let mut command = self.command(gw, key, &report);
        let started = Instant::now();
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.program.display()));
        let deadline = self.budget.deadline;
        let output = tokio::time::timeout(deadline, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("the {role} run outlived its {deadline:?} deadline"))
            .expect("waiting for schemathesis");
        let wall = started.elapsed();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = std::fs::read(&report)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_else(|| panic!("the {role} run wrote no JSON report ({}):\n{text}", output.status));
        let run = Run { role, report, wall };
        assert!(
            output.status.success() && run.failures() == 0,
            "the {role} run found {} failures ({}):\n{text}",
            run.failures(),
            output.status
        );
        assert_eq!(run.report["errors"], json!([]), "the {role} run had errors:\n{text}");
        assert_eq!(
            run.figure("/operations/tested"),
            run.figure("/operations/total"),
            "the {role} run left operations untested:\n{text}"
        );
        for phase in ["examples", "coverage", "fuzzing", "stateful"] {
            assert_eq!(
                run.report["phases"][phase]["status"], "success",
                "the {role} run's {phase} phase:\n{text}"
            );
        }
        run
    }

    fn command(&self, gw: &Gateway, key: &str, report: &Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .arg("run")
            .arg(gw.url("/api/openapi.json"))
            .args(["--header", &format!("X-API-Key: {key}")])
            .args(["--checks", CHECKS])
            .args(["--max-examples", &self.budget.max_examples.to_string()])
            .args(["--seed", &self.seed.to_string()])
            .args(["--workers", "1", "--request-timeout", "30"])
            .args(["--generation-with-security-parameters", "false"])
            .args(["--generation-database", "none", "--no-color"])
            .args(["--report", "json", "--report-json-path"])
            .arg(report)
            .env("SCHEMATHESIS_HOOKS", repo().join("tests/fuzz/hooks.py"))
            .env("FUZZ_KEEP_KEYS", &self.keep)
            .env("FUZZ_BASE", gw.url(""))
            .env("FUZZ_ADMIN_KEY", ADMIN_KEY)
            .env("NO_COLOR", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(&self.work)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }
}

fn join(values: &[Value]) -> String {
    values.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ lives in the repository")
        .to_path_buf()
}
