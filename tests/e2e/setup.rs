//! What a test gateway starts with: its `config.toml` (a base suited to tests — the simulator,
//! millisecond anti-ban numbers, budgets nobody reaches — plus per-test overrides), extra
//! environment variables, files to put beside the config, and whether it gets a fixed admin key.

/// The admin key every test gateway gets through `WAPI_ADMIN_KEY` (unless told otherwise).
pub const ADMIN_KEY: &str = "wapi_E2eAdmin_0123456789abcdefghijABCDEFGHIJ01";

/// A value written into `config.toml`.
pub trait ToToml {
    fn to_toml(&self) -> String;
}

impl ToToml for &str {
    fn to_toml(&self) -> String {
        // A JSON string is a valid TOML basic string.
        serde_json::to_string(self).expect("strings serialize")
    }
}

impl ToToml for String {
    fn to_toml(&self) -> String {
        self.as_str().to_toml()
    }
}

macro_rules! plain_toml {
    ($($t:ty),*) => {$(
        impl ToToml for $t {
            fn to_toml(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

plain_toml!(i32, i64, u32, usize, bool);

impl<const N: usize> ToToml for [&str; N] {
    fn to_toml(&self) -> String {
        format!("[{}]", self.iter().map(|s| s.to_toml()).collect::<Vec<_>>().join(", "))
    }
}

#[derive(Debug, Clone)]
pub struct Setup {
    /// `(section, key, TOML value)`; a later `set` of the same key replaces the value in place.
    entries: Vec<(String, String, String)>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) files: Vec<(String, Vec<u8>)>,
    pub(crate) admin_key: bool,
    /// A PEM root certificate: the gateway is reached at `https://localhost:PORT` through it.
    pub(crate) tls_root: Option<Vec<u8>>,
}

impl Default for Setup {
    fn default() -> Self {
        Self::new()
    }
}

impl Setup {
    pub fn new() -> Self {
        let base: &[(&str, &str)] = &[
            ("server.listen", "127.0.0.1:0"),
            ("storage.path", "data/wapi.db"),
            ("whatsapp.backend", "simulator"),
            ("whatsapp.simulator.record", "sent.jsonl"),
            ("antiban.min_gap", "30ms"),
            ("antiban.max_gap", "60ms"),
            ("antiban.typing_min", "10ms"),
            ("antiban.typing_max", "40ms"),
            ("antiban.typing_per_char", "1ms"),
            ("antiban.cooldown_min", "100ms"),
            ("antiban.cooldown_max", "150ms"),
            ("antiban.sync_wait", "2s"),
            ("limits.window", "15m"),
            ("plugins.dir", "plugins.d"),
        ];
        let mut setup = Self {
            entries: Vec::new(),
            env: Vec::new(),
            files: Vec::new(),
            admin_key: true,
            tls_root: None,
        };
        for (path, value) in base {
            setup = setup.set(path, *value);
        }
        setup
            .set("antiban.cooldown_every", 10)
            .set("limits.requests_per_window", 1_000_000)
            .set("limits.reads_per_window", 1_000_000)
    }

    /// Sets `section.key` (the section may be dotted: `whatsapp.simulator.record`).
    pub fn set(self, path: &str, value: impl ToToml) -> Self {
        self.raw(path, &value.to_toml())
    }

    /// Sets `section.key` to TOML text as written.
    pub fn raw(mut self, path: &str, toml: &str) -> Self {
        let (section, key) = path.rsplit_once('.').expect("a key path is section.key");
        match self.entries.iter_mut().find(|(s, k, _)| s == section && k == key) {
            Some(entry) => entry.2 = toml.to_string(),
            None => self.entries.push((section.into(), key.into(), toml.into())),
        }
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// A file written beside `config.toml` before the gateway starts.
    pub fn file(mut self, name: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((name.into(), contents.into()));
        self
    }

    /// Starts without `WAPI_ADMIN_KEY`: the gateway creates its first admin key itself.
    pub fn without_admin_key(mut self) -> Self {
        self.admin_key = false;
        self
    }

    /// Serves HTTPS with this certificate and key; clients trust the certificate as a root.
    pub fn tls(self, cert_pem: &str, key_pem: &str) -> Self {
        let mut setup = self
            .file("tls-cert.pem", cert_pem)
            .file("tls-key.pem", key_pem)
            .set("server.tls_cert", "tls-cert.pem")
            .set("server.tls_key", "tls-key.pem");
        setup.tls_root = Some(cert_pem.as_bytes().to_vec());
        setup
    }

    /// The configuration file's text.
    pub fn render(&self) -> String {
        let mut sections: Vec<&str> = Vec::new();
        for (section, _, _) in &self.entries {
            if !sections.contains(&section.as_str()) {
                sections.push(section);
            }
        }
        let mut text = String::from("# written by the e2e harness\n");
        for section in sections {
            text.push_str(&format!("\n[{section}]\n"));
            for (_, key, value) in self.entries.iter().filter(|(s, _, _)| s == section) {
                text.push_str(&format!("{key} = {value}\n"));
            }
        }
        text
    }
}
