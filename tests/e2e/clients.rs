//! The clients in `clients/` against the real binary: the Apps Script client's Node tests
//! (`tests/clients/apps-script`: offline on fakes of Apps Script, then live, its fake UrlFetchApp
//! calling this gateway), and every code example the README and the dashboard show — each run,
//! so none of them can silently break. Needs `node`, `sh` + `curl`, `python3` and `php` with its
//! curl extension on PATH; `cargo xtask test` installs what is missing.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::{Gateway, Setup};

/// A number the live client test's simulator reports as not on WhatsApp.
const NOT_ON_WHATSAPP: &str = "15550000000";
/// The sheet's rows go to 15550001000 + i (i < 30); this one is not on WhatsApp.
const SHEET_NOT_ON_WHATSAPP: &str = "15550001006";
/// Well-formed, but no gateway knows it.
const UNKNOWN_KEY: &str = "wapi_Unknown0_0123456789abcdefghijABCDEFGHIJKL";

/// Every code example and what runs it.
const EXAMPLES: [(&str, &str); 4] = [
    ("send-text.sh", "sh"),
    ("send-text.mjs", "node"),
    ("send_text.py", "python3"),
    ("send-text.php", "php"),
];

#[tokio::test]
async fn apps_script_client_passes_its_tests_on_fakes_of_apps_script() {
    node_test(&["client.test.mjs", "sheet.test.mjs", "manifest.test.mjs"], &[]).await;
}

#[tokio::test]
async fn apps_script_client_calls_every_endpoint_of_the_real_binary() {
    let gw = Gateway::start(Setup::new().set("whatsapp.simulator.not_on_whatsapp", [NOT_ON_WHATSAPP])).await;
    node_test(&["live-client.test.mjs"], &live_env(&gw, NOT_ON_WHATSAPP)).await;
}

#[tokio::test]
async fn apps_script_sheet_sends_30_rows_once_through_a_429_and_the_time_limit() {
    let gw = Gateway::start(
        Setup::new()
            .set("whatsapp.simulator.not_on_whatsapp", [SHEET_NOT_ON_WHATSAPP])
            .set("limits.requests_per_window", 3)
            .set("limits.window", "2s"),
    )
    .await;
    node_test(&["live-sheet.test.mjs"], &live_env(&gw, SHEET_NOT_ON_WHATSAPP)).await;

    gw.drained(Duration::from_secs(30)).await;
    let record = gw.record();
    for i in 0..30 {
        let phone = (15_550_001_000u64 + i).to_string();
        let sent: Vec<&Value> = record.iter().filter(|e| e["to"] == phone.as_str()).collect();
        if phone == SHEET_NOT_ON_WHATSAPP {
            assert!(sent.is_empty(), "{phone} is not on WhatsApp: {sent:?}");
        } else {
            assert_eq!(sent.len(), 1, "row {} was sent exactly once: {sent:?}", i + 2);
            assert_eq!(sent[0]["text"], format!("Hello Customer {}!", i + 1));
        }
    }
    assert_eq!(record.len(), 29, "nothing else was sent");
}

#[tokio::test]
async fn code_examples_send_through_the_real_binary_and_fail_on_a_bad_key() {
    let gw = Gateway::start(Setup::new()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    for (file, interpreter) in EXAMPLES {
        let source = std::fs::read_to_string(root().join("clients/examples").join(file)).expect("reading the example");
        for literal in ["http://localhost:8080", "YOUR_API_KEY", "923001234567"] {
            assert!(
                source.contains(literal),
                "{file} keeps {literal}: the dashboard replaces it"
            );
        }

        let sent = run_example(dir.path(), file, interpreter, &source, &gw.url(""), &gw.admin).await;
        let stdout = String::from_utf8_lossy(&sent.stdout).into_owned();
        assert!(sent.status.success(), "{file}: {}", report(&sent));
        let (id, status) = printed_message(&stdout).unwrap_or_else(|| panic!("{file} printed no message: {stdout:?}"));
        assert!(status == "sent" || status == "queued", "{file}: {stdout}");
        let message = gw.message(id).await;
        assert_eq!(
            (message["to"].as_str(), message["text"].as_str()),
            (Some("923001234567"), Some("Hello from wapi")),
            "{file}"
        );

        let refused = run_example(dir.path(), file, interpreter, &source, &gw.url(""), UNKNOWN_KEY).await;
        assert!(
            !refused.status.success(),
            "{file} must fail on a refused key: {}",
            report(&refused)
        );
        assert!(
            report(&refused).contains("UNAUTHORIZED"),
            "{file} names the error code: {}",
            report(&refused)
        );
    }
}

#[tokio::test]
async fn readme_quick_start_sends_a_text() {
    let gw = Gateway::start(Setup::new().without_admin_key()).await;
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let snippet = readme
        .split("```sh\n")
        .skip(1)
        .filter_map(|block| block.split_once("```").map(|(code, _)| code))
        .find(|code| code.contains("admin-key.txt") && code.contains("/api/messages"))
        .expect("the README's quick start: the admin key, then a send with curl");
    let script = snippet.replace("http://127.0.0.1:8080", &gw.url(""));
    let mut command = tokio::process::Command::new(program("sh"));
    command.args(["-e", "-c", &script]).current_dir(gw.dir());
    let output = run(command, Duration::from_secs(60)).await;
    assert!(output.status.success(), "{}", report(&output));
    let body: Value = serde_json::from_slice(&output.stdout).expect("the answer is JSON");
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["data"]["text"], "Hello from wapi", "{body}");
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ is one level below the workspace root")
        .to_path_buf()
}

/// A program from PATH.
fn program(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{name} is not on PATH; `cargo xtask test` installs what the client tests need"))
}

/// Runs a command to its end within `limit`, capturing its output.
async fn run(mut command: tokio::process::Command, limit: Duration) -> Output {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{command:?} did not finish within {limit:?}"))
        .expect("waiting for the command")
}

fn report(output: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `node --test` on files of tests/clients/apps-script, with `env`.
async fn node_test(files: &[&str], env: &[(&str, String)]) {
    let dir = root().join("tests/clients/apps-script");
    let mut command = tokio::process::Command::new(program("node"));
    command
        .arg("--test")
        .args(files.iter().map(|f| dir.join(f)))
        .current_dir(root())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let output = run(command, Duration::from_secs(300)).await;
    assert!(output.status.success(), "node --test {files:?}: {}", report(&output));
}

/// What the live Node tests need to know of the gateway they talk to.
fn live_env(gw: &Gateway, not_on_whatsapp: &str) -> Vec<(&'static str, String)> {
    vec![
        ("WAPI_URL", gw.url("")),
        ("WAPI_KEY", gw.admin.clone()),
        ("WAPI_NOT_ON_WHATSAPP", not_on_whatsapp.to_string()),
    ]
}

/// Runs a copy of an example with the gateway's address and `key` in place of the placeholders.
async fn run_example(dir: &Path, file: &str, interpreter: &str, source: &str, base: &str, key: &str) -> Output {
    let copy = dir.join(file);
    let text = source
        .replace("http://localhost:8080", base)
        .replace("YOUR_API_KEY", key);
    std::fs::write(&copy, text).expect("writing the example's copy");
    let mut command = tokio::process::Command::new(program(interpreter));
    command.arg(&copy).current_dir(dir);
    run(command, Duration::from_secs(60)).await
}

/// The message an example printed: the curl example prints the envelope, the others
/// `message ID is STATUS`.
fn printed_message(stdout: &str) -> Option<(i64, String)> {
    if let Ok(body) = serde_json::from_str::<Value>(stdout.trim()) {
        let data = &body["data"];
        return Some((data["id"].as_i64()?, data["status"].as_str()?.to_string()));
    }
    let words: Vec<&str> = stdout.split_whitespace().collect();
    match words.as_slice() {
        ["message", id, "is", status] => Some((id.parse().ok()?, (*status).to_string())),
        _ => None,
    }
}
