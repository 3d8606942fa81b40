//! A real `wapi` process on a temporary folder: start it, learn its port from its log, call it,
//! read what the simulator recorded, stop it (`kill -9` or SIGTERM) and start it again on the
//! same folder. Dropping a [`Gateway`] kills the process; a failing test keeps the folder and
//! prints the end of the log.

use std::fs::File;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use wapi_test_support::{Client, eventually_within};

use crate::setup::{ADMIN_KEY, Setup};

const BINARY: &str = env!("CARGO_BIN_EXE_wapi");
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A real gateway process; it dereferences to the [`Client`] that calls its current run.
pub struct Gateway {
    dir: Option<TempDir>,
    setup: Setup,
    child: Option<Child>,
    /// How many times the process was started (each run logs to its own files).
    runs: usize,
    /// Made anew at every start: the port changes.
    client: Client,
}

impl Deref for Gateway {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Gateway {
    /// Writes the folder and starts the gateway; returns once `/healthz` answers.
    pub async fn start(setup: Setup) -> Self {
        let dir = prepare(&setup);
        let mut gw = Self {
            dir: Some(dir),
            setup,
            child: None,
            runs: 0,
            client: Client::new(reqwest::Client::new(), String::new(), String::new()),
        };
        gw.launch().await;
        gw
    }

    /// Runs the server on a bad configuration and returns how it ended: it must stop by itself.
    pub async fn refused(setup: Setup) -> Output {
        let dir = prepare(&setup);
        let command = base_command(&setup, &dir.path().join("config.toml"));
        run_to_exit(command, Duration::from_secs(20))
            .await
            .expect("the gateway kept running on a bad configuration")
    }

    async fn launch(&mut self) {
        self.runs += 1;
        let dir = self.dir().to_path_buf();
        let log = |name: &str| File::create(dir.join(format!("{name}-{}.log", self.runs))).expect("log file");
        let mut command = base_command(&self.setup, &self.config_path());
        command
            .stdout(Stdio::from(log("stdout")))
            .stderr(Stdio::from(log("stderr")));
        self.child = Some(command.spawn().expect("spawning wapi"));
        let port = self.wait_for_port().await;
        let base = match self.setup.tls_root {
            Some(_) => format!("https://localhost:{port}"),
            None => format!("http://127.0.0.1:{port}"),
        };
        let admin = match self.setup.admin_key {
            true => ADMIN_KEY.to_string(),
            false => std::fs::read_to_string(self.admin_key_file())
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        self.client = Client::new(self.build_client(port), base, admin);
        let health = self.url("/healthz");
        let http = self.http().clone();
        eventually_within("GET /healthz = 200", Duration::from_secs(10), || {
            let request = http.get(&health).send();
            async move { request.await.ok().filter(|r| r.status() == 200).map(drop) }
        })
        .await;
    }

    /// Reads this run's stderr until the `listening on …` line names the port.
    async fn wait_for_port(&mut self) -> u16 {
        let stderr = self.dir().join(format!("stderr-{}.log", self.runs));
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&stderr).unwrap_or_default();
            if let Some(port) = listening_port(&text) {
                return port;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().expect("child status")) {
                panic!("wapi exited ({status}) before listening:\n{}", self.logs());
            }
            assert!(
                started.elapsed() < START_DEADLINE,
                "wapi did not log `listening on` in time:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn build_client(&self, port: u16) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .use_rustls_tls();
        if let Some(pem) = &self.setup.tls_root {
            let root = reqwest::Certificate::from_pem(pem).expect("PEM root certificate");
            builder = builder
                .add_root_certificate(root)
                .resolve("localhost", ([127, 0, 0, 1], port).into());
        }
        builder.build().expect("HTTP client")
    }

    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .expect("the folder lives as long as the gateway")
            .path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir().join("config.toml")
    }

    pub fn admin_key_file(&self) -> PathBuf {
        self.dir().join("data").join("admin-key.txt")
    }

    pub fn media_dir(&self) -> PathBuf {
        self.dir().join("data").join("media")
    }

    /// What the simulator sent, one JSON object per line (`time`, `to`, `type`, `text`,
    /// `typing_ms`, `id`, `wa_id`).
    pub fn record(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir().join("sent.jsonl")).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("record line {l:?}: {e}")))
            .collect()
    }

    /// Waits up to `deadline` until the simulator recorded at least `n` sends; returns the record.
    pub async fn recorded(&self, n: usize, deadline: Duration) -> Vec<Value> {
        eventually_within(&format!("{n} sends in the record"), deadline, || async {
            let record = self.record();
            (record.len() >= n).then_some(record)
        })
        .await
    }

    /// Every run's stdout and stderr.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for run in 1..=self.runs {
            for stream in ["stdout", "stderr"] {
                let text = std::fs::read_to_string(self.dir().join(format!("{stream}-{run}.log"))).unwrap_or_default();
                all.push_str(&format!("--- run {run} {stream} ---\n{text}"));
            }
        }
        all
    }

    /// The running server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the gateway is running").id()
    }

    /// SIGKILL, as a crash or a power cut would.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("the gateway is running");
        child.kill().expect("kill -9");
        child.wait().expect("reaping wapi");
    }

    /// SIGTERM; the process must exit within 20 s. Returns its exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        self.signal("-TERM").await
    }

    /// SIGINT (Ctrl-C); the process must exit within 20 s. Returns its exit status.
    pub async fn interrupt(&mut self) -> ExitStatus {
        self.signal("-INT").await
    }

    async fn signal(&mut self, which: &str) -> ExitStatus {
        let mut child = self.child.take().expect("the gateway is running");
        let status = Command::new("kill")
            .args([which, &child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill {which} failed");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("child status") {
                return status;
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("wapi did not exit within 20 s of kill {which}:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the gateway again on the same folder, database and configuration.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the gateway before restarting it");
        self.launch().await;
    }

    /// Starts the gateway again on the same folder and database with another configuration.
    pub async fn restart_with(&mut self, setup: Setup) {
        assert!(self.child.is_none(), "stop the gateway before restarting it");
        std::fs::write(self.config_path(), setup.render()).expect("writing config.toml");
        self.setup = setup;
        self.launch().await;
    }

    /// Runs `wapi --config <this gateway's config> ARGS…` (e.g. `keys list`) to its end.
    pub async fn cli(&self, args: &[&str]) -> Output {
        let mut command = base_command(&self.setup, &self.config_path());
        command.args(args);
        run_to_exit(command, Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("wapi {args:?} did not finish"))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() && self.dir.is_some() {
            let logs = self.logs();
            let tail: Vec<&str> = logs.lines().rev().take(80).collect();
            let kept = self.dir.take().expect("checked").keep();
            eprintln!("gateway folder kept at {}; end of its logs:", kept.display());
            for line in tail.into_iter().rev() {
                eprintln!("  {line}");
            }
        }
    }
}

/// A fresh folder holding `config.toml` and the setup's files.
fn prepare(setup: &Setup) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("wapi-e2e-")
        .tempdir()
        .expect("temp dir");
    std::fs::write(dir.path().join("config.toml"), setup.render()).expect("writing config.toml");
    for (name, contents) in &setup.files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("a setup file's folder");
        }
        std::fs::write(path, contents).expect("writing a setup file");
    }
    dir
}

/// `wapi --config PATH` with the setup's environment and none of the test runner's `WAPI_*`.
fn base_command(setup: &Setup, config: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .arg("--config")
        .arg(config)
        .current_dir(config.parent().expect("config folder"))
        .stdin(Stdio::null());
    for (name, _) in std::env::vars() {
        if name.starts_with("WAPI_") || name == "DAILY_SEND_LIMIT" || name == "RUST_LOG" {
            command.env_remove(&name);
        }
    }
    command.env("NO_COLOR", "1");
    if setup.admin_key {
        command.env("WAPI_ADMIN_KEY", ADMIN_KEY);
    }
    for (name, value) in &setup.env {
        command.env(name, value);
    }
    command
}

/// Runs a command to its end, capturing its output; `None` (after killing it) if it outlives `deadline`.
async fn run_to_exit(command: Command, deadline: Duration) -> Option<Output> {
    let mut command = tokio::process::Command::from(command);
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let child = command.spawn().expect("spawning wapi");
    tokio::time::timeout(deadline, child.wait_with_output())
        .await
        .ok()
        .map(|r| r.expect("waiting for wapi"))
}

/// The port in a `listening on http://127.0.0.1:PORT` (or https) log line.
fn listening_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains("listening on "))?;
    let url = line.split("listening on ").nth(1)?;
    let after_host = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"))?;
    let port_text = after_host.split_once(':')?.1;
    let digits: String = port_text.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
