//! How an API test gets its gateway: started in this process on a free port (simulator
//! backend, millisecond anti-ban numbers, a tempdir database), stopped, restarted on the same
//! database. Calling it — requests, the envelope, bounded waits, a webhook receiver — is the
//! harness the end-to-end tests share (`tests/support`, re-exported here).

use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::PathBuf;

use tempfile::TempDir;
use wapi::app::{self, Running, StartOptions};
use wapi::auth::ApiKey;
use wapi::clock::Clock;
pub use wapi_test_support::{Answer, Call, Client, Key, eventually, ids, webhook_receiver};

/// A number the simulator knows as on WhatsApp.
pub const ON_WHATSAPP: &str = "923001234567";
/// A number the simulator reports as not registered.
pub const NOT_ON_WHATSAPP: &str = "15550009999";
/// A number whose sends the simulator fails.
pub const FAILS_TO_SEND: &str = "15550008888";

/// The configuration every test gateway starts from; values are TOML literals.
fn base_config() -> Vec<(&'static str, String)> {
    let quoted = |s: &str| format!("{s:?}");
    vec![
        ("server.listen", quoted("127.0.0.1:0")),
        ("storage.path", quoted("data/wapi.db")),
        ("plugins.dir", quoted("plugins.d")),
        // Shared by every test gateway: each plugin is compiled once per test run, not per test.
        ("plugins.cache_dir", quoted(&plugin_cache().display().to_string())),
        ("whatsapp.backend", quoted("simulator")),
        ("whatsapp.simulator.send_time", quoted("1ms")),
        (
            "whatsapp.simulator.not_on_whatsapp",
            format!("[{}]", quoted(NOT_ON_WHATSAPP)),
        ),
        (
            "whatsapp.simulator.fail_sends_to",
            format!("[{}]", quoted(FAILS_TO_SEND)),
        ),
        ("antiban.min_gap", quoted("1ms")),
        ("antiban.max_gap", quoted("3ms")),
        ("antiban.typing_min", quoted("1ms")),
        ("antiban.typing_max", quoted("2ms")),
        ("antiban.typing_per_char", quoted("0ms")),
        ("antiban.cooldown_min", quoted("1ms")),
        ("antiban.cooldown_max", quoted("2ms")),
        ("antiban.sync_wait", quoted("5s")),
    ]
}

/// The base configuration with `overrides` (`("section.key", "toml literal")`) applied, as TOML.
fn config_text(overrides: &[(&str, &str)]) -> String {
    let mut values: BTreeMap<String, String> = base_config().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    values.extend(overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut sections: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (path, value) in &values {
        let (section, key) = path.rsplit_once('.').expect("override keys are section.key");
        sections.entry(section).or_default().push(format!("{key} = {value}"));
    }
    sections
        .iter()
        .map(|(section, lines)| format!("[{section}]\n{}\n", lines.join("\n")))
        .collect()
}

/// The precompiled-plugin cache the test gateways share.
pub fn plugin_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

fn built(path: PathBuf) -> PathBuf {
    assert!(
        path.is_file(),
        "{} is missing: build the plugins with `cargo xtask plugins` (`cargo xtask test` does)",
        path.display()
    );
    path
}

/// An example plugin as `cargo xtask plugins` builds it (`template`, `js-signature`, …).
pub fn example_plugin(name: &str) -> PathBuf {
    built(repo_root().join("plugins.d").join(format!("{name}.wasm")))
}

/// A test fixture plugin from tests/fixtures/plugins (`endless-loop`, `stamp-a`, …).
pub fn fixture_plugin(name: &str) -> PathBuf {
    built(
        repo_root()
            .join("tests/fixtures/plugins/target/wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_"))),
    )
}

/// A gateway running in this process; it dereferences to the [`Client`] that calls it.
pub struct Gateway {
    running: Running,
    dir: TempDir,
    client: Client,
}

impl Deref for Gateway {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Gateway {
    /// Starts a gateway on a fresh database, the base configuration changed by `overrides`.
    pub async fn start(overrides: &[(&str, &str)]) -> Self {
        Self::start_in(tempfile::tempdir().expect("tempdir"), ApiKey::generate(), overrides).await
    }

    /// Starts a gateway whose plugins folder holds `plugins` (`(name, built file)`): each is
    /// copied in as `NAME.wasm` before the start.
    pub async fn with_plugins(plugins: &[(&str, PathBuf)], overrides: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path().join("plugins.d");
        std::fs::create_dir_all(&folder).expect("plugins folder");
        for (name, file) in plugins {
            std::fs::copy(file, folder.join(format!("{name}.wasm"))).expect("copy plugin");
        }
        Self::start_in(dir, ApiKey::generate(), overrides).await
    }

    /// The watched plugins folder.
    pub fn plugins_dir(&self) -> PathBuf {
        self.dir.path().join("plugins.d")
    }

    /// Publishes `file` as plugin `name` the way a deploy should: a temporary name, then a rename.
    pub fn install_plugin(&self, name: &str, file: &std::path::Path) {
        let tmp = self.plugins_dir().join(format!(".{name}.wasm.tmp"));
        std::fs::copy(file, &tmp).expect("copy plugin");
        std::fs::rename(&tmp, self.plugins_dir().join(format!("{name}.wasm"))).expect("rename plugin");
    }

    async fn start_in(dir: TempDir, admin: ApiKey, overrides: &[(&str, &str)]) -> Self {
        let text = config_text(overrides);
        let config = wapi::config::from_toml(&text, dir.path()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let options = StartOptions {
            admin_key: Some(admin.clone()),
            ..StartOptions::default()
        };
        let running = app::start(config, Clock::system(), options)
            .await
            .expect("the gateway starts");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let client = Client::new(http, format!("http://{}", running.addr), admin.expose().to_string());
        Self { running, dir, client }
    }

    /// Stops this gateway and starts another on the same database, with the same admin key.
    pub async fn restart(self, overrides: &[(&str, &str)]) -> Self {
        self.restart_after(overrides, |_| {}).await
    }

    /// Like [`Gateway::restart`], with `edit` run on the database file while nothing runs.
    pub async fn restart_after(self, overrides: &[(&str, &str)], edit: impl FnOnce(&std::path::Path)) -> Self {
        let database = self.database_path();
        let Self { running, dir, client } = self;
        let admin = ApiKey::parse(&client.admin).expect("admin key");
        drop(client);
        running.stop().await;
        edit(&database);
        Self::start_in(dir, admin, overrides).await
    }

    pub async fn stop(self) {
        drop(self.client);
        self.running.stop().await;
    }

    /// The database file (`data/wapi.db`).
    pub fn database_path(&self) -> PathBuf {
        self.dir.path().join("data/wapi.db")
    }

    /// The database file and its companions (`-wal`, `-shm`), as bytes.
    pub fn database_bytes(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = self.dir.path().join("data");
        std::fs::read_dir(&dir)
            .expect("database folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("wapi.db"))
            })
            .map(|p| {
                let bytes = std::fs::read(&p).expect("database file");
                (p, bytes)
            })
            .collect()
    }

    /// Which parts are down, and the fault hooks of test builds.
    pub fn health(&self) -> &wapi::supervise::Health {
        self.running.app.health()
    }

    /// The gateway's webhook delivery, as the plugin runtime calls it.
    pub fn webhooks(&self) -> &wapi::webhooks::Webhooks {
        self.running.app.webhooks()
    }
}
