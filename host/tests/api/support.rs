//! What every API test shares: a gateway started in this process on a free port (simulator
//! backend, millisecond anti-ban numbers, a tempdir database), requests whose answers are checked
//! for the envelope, and a bounded wait for work the gateway finishes in the background.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use wapi::app::{self, Running, StartOptions};
use wapi::auth::ApiKey;
use wapi::clock::Clock;

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

/// A gateway running in this process, with its admin key.
pub struct Gateway {
    running: Running,
    dir: TempDir,
    client: reqwest::Client,
    base: String,
    /// The admin key the gateway was started with (`WAPI_ADMIN_KEY`).
    pub admin: String,
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
        let base = format!("http://{}", running.addr);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            running,
            dir,
            client,
            base,
            admin: admin.expose().to_string(),
        }
    }

    /// Stops this gateway and starts another on the same database, with the same admin key.
    pub async fn restart(self, overrides: &[(&str, &str)]) -> Self {
        self.restart_after(overrides, |_| {}).await
    }

    /// Like [`Gateway::restart`], with `edit` run on the database file while nothing runs.
    pub async fn restart_after(self, overrides: &[(&str, &str)], edit: impl FnOnce(&std::path::Path)) -> Self {
        let database = self.database_path();
        let Self {
            running,
            dir,
            admin,
            client,
            ..
        } = self;
        drop(client);
        running.stop().await;
        edit(&database);
        Self::start_in(dir, ApiKey::parse(&admin).expect("admin key"), overrides).await
    }

    pub async fn stop(self) {
        drop(self.client);
        self.running.stop().await;
    }

    /// The served OpenAPI document.
    pub async fn openapi(&self) -> Value {
        self.call(Method::GET, "/api/openapi.json")
            .raw()
            .await
            .json()
            .await
            .expect("the OpenAPI document is JSON")
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

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Which parts are down, and the fault hooks of test builds.
    pub fn health(&self) -> &wapi::supervise::Health {
        self.running.app.health()
    }

    /// The gateway's webhook delivery, as the plugin runtime calls it.
    pub fn webhooks(&self) -> &wapi::webhooks::Webhooks {
        self.running.app.webhooks()
    }

    /// A request without a key.
    pub fn call(&self, method: Method, path: &str) -> Call {
        Call {
            what: format!("{method} {path}"),
            builder: self.client.request(method, self.url(path)),
        }
    }

    /// A request with the admin key.
    pub fn admin(&self, method: Method, path: &str) -> Call {
        self.call(method, path).key(&self.admin)
    }

    /// Creates a key with the admin key; returns the whole key and its public id.
    pub async fn create_key(&self, role: &str) -> Key {
        self.create_key_with(&self.admin, role).await
    }

    /// Creates a key with the admin key `by`.
    pub async fn create_key_with(&self, by: &str, role: &str) -> Key {
        let body = json!({"name": format!("{role} key"), "role": role});
        let answer = self.call(Method::POST, "/api/keys").key(by).json(&body).send().await;
        let data = answer.expect(201).data().clone();
        Key {
            id: data["id"].as_str().expect("id").to_string(),
            secret: data["secret"].as_str().expect("secret").to_string(),
        }
    }

    /// `POST /api/messages` with `key`; the answer is not checked beyond the envelope.
    pub async fn send_text(&self, key: &str, to: &str, text: &str) -> Answer {
        self.call(Method::POST, "/api/messages")
            .key(key)
            .json(&json!({"to": to, "text": text}))
            .send()
            .await
    }

    /// Drives the simulated session (`link`, `disconnect`, `logout`); returns the new state.
    pub async fn simulate(&self, action: &str) -> String {
        let answer = self
            .admin(Method::POST, "/api/simulator")
            .json(&json!({"action": action}))
            .send()
            .await
            .expect(200);
        answer.data()["state"].as_str().expect("state").to_string()
    }

    /// `GET /api/status` with `key`; the answer is not checked beyond the envelope.
    pub async fn status_as(&self, key: &str) -> Answer {
        self.call(Method::GET, "/api/status").key(key).send().await
    }

    /// `GET /api/status` with the admin key.
    pub async fn status(&self) -> Value {
        self.admin(Method::GET, "/api/status")
            .send()
            .await
            .expect(200)
            .data()
            .clone()
    }

    /// `GET /api/messages/{id}` with the admin key.
    pub async fn message(&self, id: i64) -> Value {
        self.admin(Method::GET, &format!("/api/messages/{id}"))
            .send()
            .await
            .expect(200)
            .data()
            .clone()
    }

    /// Waits until message `id` is sent, failed or cancelled; returns it.
    pub async fn final_message(&self, id: i64) -> Value {
        eventually(&format!("message {id} to reach a final status"), || async {
            let message = self.message(id).await;
            matches!(message["status"].as_str(), Some("sent" | "failed" | "cancelled")).then_some(message)
        })
        .await
    }
}

/// A key created through the API.
pub struct Key {
    pub id: String,
    pub secret: String,
}

/// A request being built; `send` checks the envelope of whatever comes back.
pub struct Call {
    what: String,
    builder: reqwest::RequestBuilder,
}

impl Call {
    pub fn key(self, key: &str) -> Self {
        self.header("x-api-key", key)
    }

    pub fn bearer(self, key: &str) -> Self {
        self.header("authorization", &format!("Bearer {key}"))
    }

    pub fn header(self, name: &str, value: &str) -> Self {
        Self {
            builder: self.builder.header(name, value),
            ..self
        }
    }

    pub fn json(self, body: &Value) -> Self {
        Self {
            builder: self.builder.json(body),
            ..self
        }
    }

    /// Fails the request (and so the test) when no answer comes within `limit`.
    pub fn timeout(self, limit: Duration) -> Self {
        Self {
            builder: self.builder.timeout(limit),
            ..self
        }
    }

    /// A body sent as is, with this content type.
    pub fn body(self, content_type: &str, body: impl Into<reqwest::Body>) -> Self {
        Self {
            builder: self.builder.header("content-type", content_type).body(body),
            ..self
        }
    }

    /// Sends, and checks the answer has the envelope and a request id.
    pub async fn send(self) -> Answer {
        let what = self.what.clone();
        Answer::read(what, self.raw().await).await
    }

    /// Sends; the answer is the caller's to check (documents, metrics, UI files).
    pub async fn raw(self) -> reqwest::Response {
        let response = self.builder.send().await.unwrap_or_else(|e| {
            let why = if e.is_timeout() {
                "no answer within the time limit".to_string()
            } else {
                format!("{e:?}")
            };
            panic!("{}: {why}", self.what)
        });
        let id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(!id.is_empty(), "{}: no X-Request-Id", self.what);
        response
    }
}

/// An answer in the envelope `{success, data, error, code}`.
#[derive(Debug)]
pub struct Answer {
    pub what: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    /// The body exactly as received.
    pub text: String,
}

impl Answer {
    async fn read(what: String, response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "{what} → {status}: content type {content_type:?}: {text}"
        );
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what} → {status}: not JSON ({e}): {text}"));
        let keys: Vec<&str> = body
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            ["code", "data", "error", "success"],
            "{what} → {status}: not the envelope: {text}"
        );
        let success = body["success"]
            .as_bool()
            .unwrap_or_else(|| panic!("{what}: success is not a boolean: {text}"));
        let (error, code) = (body["error"].as_str(), body["code"].as_str());
        let (Some(error), Some(code)) = (error, code) else {
            panic!("{what}: error and code must be strings: {text}")
        };
        if success {
            assert!(status.is_success(), "{what} → {status} with success true: {text}");
            assert_eq!(
                (error, code),
                ("", ""),
                "{what}: a success carries empty error and code: {text}"
            );
        } else {
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{what} → {status} with success false: {text}"
            );
            assert!(
                !error.is_empty() && !code.is_empty(),
                "{what}: an error needs a sentence and a code: {text}"
            );
        }
        Self {
            what,
            status,
            headers,
            body,
            text,
        }
    }

    /// Asserts a success with this HTTP status.
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "{}: {}", self.what, self.text);
        assert_eq!(self.body["success"], true, "{}: {}", self.what, self.text);
        self
    }

    /// Asserts an error with this HTTP status and machine code.
    pub fn expect_error(self, status: u16, code: &str) -> Self {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, code),
            "{}: {}",
            self.what,
            self.text
        );
        self
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }

    /// A header's value; panics when it is missing.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("{}: no {name} header", self.what))
            .to_str()
            .expect("ASCII header")
    }

    /// The fields named in `data.details`, in order.
    pub fn detail_fields(&self) -> Vec<String> {
        let details = self.data()["details"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no data.details: {}", self.what, self.text));
        details
            .iter()
            .map(|d| d["field"].as_str().expect("field").to_string())
            .collect()
    }
}

/// Polls `probe` until it yields a value (the gateway finishes some work in the background:
/// sends taking milliseconds, a key's last use recorded after the answer).
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The ids of a listing page's items, in order.
pub fn ids(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect()
}

/// A local webhook receiver recording what arrives.
pub async fn webhook_receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(axum::http::HeaderMap, String)>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}
