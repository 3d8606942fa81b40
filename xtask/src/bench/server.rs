//! One wapi process for the bench: its folder and config file, start, readiness, RSS, stop.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use super::http;

/// How long a stopped server may take after SIGTERM before it gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// How long a starting server may take to answer `GET /healthz` with 200, unless the instance says otherwise.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How often a starting server is asked `GET /healthz`: the resolution of start-up times.
const READY_POLL: Duration = Duration::from_millis(2);

/// A folder holding one wapi instance's config, database, plugins folder and log.
pub struct Instance {
    pub dir: PathBuf,
    pub db: PathBuf,
    pub key: String,
    /// Appended to the config, right after `[plugins] dir = ...`: more `[plugins]` keys, then
    /// `[plugins.NAME]` tables.
    pub plugins_config: String,
    /// How long `start` waits for `GET /healthz` to answer 200 (a first compile of every plugin takes long).
    pub ready_within: Duration,
    /// The `[antiban]` table's lines: by default gaps of an hour, so nothing drains.
    pub antiban: String,
    binary: PathBuf,
}

/// A running wapi process; killed if dropped without `stop`.
pub struct Running {
    pub addr: SocketAddr,
    pub started_in: Duration,
    child: Child,
    log: PathBuf,
}

/// How a stop went.
pub struct Stopped {
    pub took: Duration,
    pub killed: bool,
    pub status: String,
}

impl Instance {
    /// Prepares `dir` (which must exist) for a wapi started from `binary`.
    pub fn new(binary: &Path, dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir.join("plugins.d")).context("creating the plugins folder")?;
        Ok(Self {
            dir: dir.to_path_buf(),
            db: dir.join("wapi.db"),
            key: admin_key(),
            plugins_config: String::new(),
            ready_within: READY_WITHIN,
            antiban: "min_gap = \"1h\"\nmax_gap = \"1h\"".into(),
            binary: binary.to_path_buf(),
        })
    }

    /// Writes a config on a fresh free port, starts wapi and waits for `GET /healthz` to answer 200.
    pub fn start(&self) -> Result<Running> {
        let port = free_port()?;
        let config = self.dir.join("config.toml");
        std::fs::write(&config, self.config(port)).context("writing the bench config")?;
        let log = self.dir.join("wapi.log");
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .context("opening the wapi log")?;
        let mut command = Command::new(&self.binary);
        // Only the bench's config counts: no WAPI_* overrides (log level, listen address…) from our environment.
        for (name, _) in std::env::vars_os().filter(|(name, _)| name.to_string_lossy().starts_with("WAPI_")) {
            command.env_remove(name);
        }
        let began = Instant::now();
        let child = command
            .arg("--config")
            .arg(&config)
            .env("WAPI_ADMIN_KEY", &self.key)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut running = Running {
            addr,
            started_in: Duration::ZERO,
            child,
            log,
        };
        running.wait_ready(began, self.ready_within)?;
        running.started_in = began.elapsed();
        Ok(running)
    }

    fn config(&self, port: u16) -> String {
        let dir = self.dir.display();
        format!(
            r#"[server]
listen = "127.0.0.1:{port}"
[storage]
path = "{dir}/wapi.db"
[whatsapp]
backend = "simulator"
[whatsapp.simulator]
auto_link = true
[antiban]
{antiban}
sync_wait = "0s"
daily_limit = 100000000
verify_numbers = false
[limits]
requests_per_window = 100000000
reads_per_window = 100000000
window = "15m"
[plugins]
dir = "{dir}/plugins.d"
{plugins}"#,
            plugins = self.plugins_config,
            antiban = self.antiban,
        )
    }
}

impl Running {
    fn wait_ready(&mut self, began: Instant, within: Duration) -> Result<()> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "wapi exited before it was ready ({status}); its log ends:\n{}",
                    self.log_tail()
                );
            }
            if http::send(self.addr, "GET", "/healthz", &[], "").is_ok_and(|answer| answer.status == 200) {
                return Ok(());
            }
            if began.elapsed() > within {
                bail!(
                    "wapi did not answer /healthz with 200 within {within:?}; its log ends:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(READY_POLL);
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size in bytes (VmRSS of /proc/PID/status).
    pub fn rss_bytes(&self) -> Result<u64> {
        rss_of(self.pid())
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after the grace period; waits for the process to end.
    pub fn stop(mut self) -> Result<Stopped> {
        let began = Instant::now();
        let term = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .context("running kill -TERM")?;
        if !term.success() {
            bail!("kill -TERM {} failed", self.pid());
        }
        while began.elapsed() < STOP_GRACE {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Stopped {
                    took: began.elapsed(),
                    killed: false,
                    status: status.to_string(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill().context("sending SIGKILL")?;
        let status = self.child.wait()?;
        Ok(Stopped {
            took: began.elapsed(),
            killed: true,
            status: status.to_string(),
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Resident set size in bytes of process `pid` (VmRSS of /proc/PID/status).
pub fn rss_of(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc/PID/status")?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .context("no VmRSS line")?;
    Ok(kib * 1024)
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A fresh admin key in wapi's format: `wapi_` + 8 base62 + `_` + 32 base62.
fn admin_key() -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let mut state = nanos ^ (u64::from(std::process::id()) << 32) | 1;
    let mut next = || {
        // xorshift64: not a secret, only a key for a throwaway bench server.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        BASE62[(state % 62) as usize] as char
    };
    let secret: String = (0..32).map(|_| next()).collect();
    format!("wapi_AAAAAAAA_{secret}")
}
