//! Loading one file: check it is a component, compile it once per content (or map the cached
//! precompiled artifact), check the interface version, link it, and ask it what it is.
//! Any refusal is a sentence naming the problem; nothing is published until all of it passed.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::bindings::{INTERFACE_VERSION, PluginPre};
use super::cache;
use super::runtime::{AsyncCall, Runtime, State, wit};
use super::stats::Stats;
use super::{Hook, Loaded};

const WASM_MAGIC: &[u8] = b"\0asm";
/// Bytes 4..8 of a component (version 0x0d, layer 1); a core module has version 1, layer 0.
const COMPONENT_HEADER: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
const CORE_MODULE_HEADER: [u8; 4] = [0x01, 0x00, 0x00, 0x00];

/// A file read from the plugins folder.
pub struct Candidate {
    pub name: String,
    pub bytes: Vec<u8>,
    pub hash: String,
}

impl Candidate {
    pub fn read(name: &str, path: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        let hash = cache::hex(&Sha256::digest(&bytes));
        Ok(Self {
            name: name.to_string(),
            bytes,
            hash,
        })
    }
}

/// Compiles (or maps from the cache), checks, links and describes a plugin.
pub async fn load(
    runtime: &Arc<Runtime>,
    cache_dir: &Path,
    candidate: Candidate,
    config: serde_json::Map<String, serde_json::Value>,
    stats: Arc<Stats>,
) -> Result<Loaded, String> {
    let started = Instant::now();
    check_header(&candidate.bytes)?;
    let on_error_allow = match config.get("on_error") {
        None => false,
        Some(serde_json::Value::String(s)) if s == "refuse" => false,
        Some(serde_json::Value::String(s)) if s == "allow" => true,
        Some(other) => {
            return Err(format!(
                "config key plugins.{}.on_error: `{other}` is not \"allow\" or \"refuse\"",
                candidate.name
            ));
        }
    };
    let budget = match config.get("budget") {
        None => runtime.budget,
        Some(serde_json::Value::String(text)) => crate::config::parse_duration(text)
            .ok()
            .filter(|b| !b.is_zero())
            .ok_or_else(|| {
                format!(
                    "config key plugins.{}.budget: `{text}` is not a duration like 250ms",
                    candidate.name
                )
            })?,
        Some(other) => {
            return Err(format!(
                "config key plugins.{}.budget: `{other}` is not a duration like \"250ms\"",
                candidate.name
            ));
        }
    };
    let (engine, cache_dir_owned) = (runtime.engine.clone(), cache_dir.to_path_buf());
    let Candidate { name, bytes, hash, .. } = candidate;
    let key = hash.clone();
    let (component, cached) =
        tokio::task::spawn_blocking(move || cache::compile(&engine, &cache_dir_owned, &key, &bytes))
            .await
            .map_err(|e| format!("compiling: {e}"))??;
    let interface = check_interface(&runtime.engine, &component)?;
    let pre = runtime
        .linker
        .instantiate_pre(&component)
        .and_then(PluginPre::new)
        .map_err(|e| format!("does not fit the host interface wapi:plugin@{INTERFACE_VERSION}: {e:#}"))?;
    let name: Arc<str> = name.into();
    let config = Arc::new(config);
    let info = runtime
        .call(&name, &config, &pre, budget, Describe)
        .await
        .map_err(|f| format!("`describe` failed: {f}"))?;
    let mut hooks: Vec<Hook> = info.hooks.iter().map(|h| Hook::from(*h)).collect();
    hooks.sort();
    hooks.dedup();
    tracing::info!(
        plugin = &*name,
        version = info.version,
        hooks = ?hooks,
        cached,
        took_ms = started.elapsed().as_millis() as u64,
        "plugin loaded"
    );
    Ok(Loaded {
        name,
        version: info.version,
        hooks,
        hash,
        interface,
        pre,
        config,
        on_error_allow,
        budget,
        stats,
    })
}

fn check_header(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err("is not a WebAssembly file".into());
    }
    match <[u8; 4]>::try_from(&bytes[4..8]).expect("four bytes") {
        COMPONENT_HEADER => Ok(()),
        CORE_MODULE_HEADER => Err(
            "is a core WebAssembly module, not a component: build for wasm32-wasip2, \
             or wrap it with `wasm-tools component new` (see plugin-sdk/README.md)"
                .into(),
        ),
        other => Err(format!("has an unknown WebAssembly version/layer {other:02x?}")),
    }
}

/// The `wapi:plugin` version the component was built for; refused unless this host speaks it
/// (same major version; for 0.x the same minor; not newer than the host's).
fn check_interface(engine: &Engine, component: &Component) -> Result<String, String> {
    let ty = component.component_type();
    let names: Vec<String> = ty
        .imports(engine)
        .map(|(n, _)| n.to_string())
        .chain(ty.exports(engine).map(|(n, _)| n.to_string()))
        .collect();
    let versions: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_prefix("wapi:plugin/"))
        .filter_map(|rest| rest.split_once('@').map(|(_, v)| v))
        .collect();
    let Some(version) = versions.first() else {
        return Err(if names.iter().any(|n| n == "describe") {
            "does not use the wapi:plugin interface types (rebuild it against plugin-sdk/wit)".into()
        } else {
            "is not a wapi plugin: it neither imports wapi:plugin nor exports `describe`".into()
        });
    };
    if let Some(other) = versions.iter().find(|v| *v != version) {
        return Err(format!("mixes wapi:plugin versions {version} and {other}"));
    }
    if !compatible(version, INTERFACE_VERSION) {
        return Err(format!(
            "was built for wapi:plugin@{version}, and this gateway speaks wapi:plugin@{INTERFACE_VERSION}; \
             rebuild it with a matching SDK (see plugin-sdk/VERSIONING.md)"
        ));
    }
    Ok(version.to_string())
}

/// True when a plugin built for `plugin` runs on a host speaking `host` (semver rules).
pub fn compatible(plugin: &str, host: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64, u64)> {
        let core = v.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
        Some((parts.next()??, parts.next()??, parts.next()??))
    };
    let (Some(p), Some(h)) = (parse(plugin), parse(host)) else {
        return false;
    };
    let same_line = if h.0 == 0 { p.0 == 0 && p.1 == h.1 } else { p.0 == h.0 };
    same_line && p <= h
}

struct Describe;

impl AsyncCall<wit::Info> for Describe {
    async fn run(
        self,
        instance: &super::bindings::Plugin,
        store: &mut wasmtime::Store<State>,
    ) -> wasmtime::Result<wit::Info> {
        instance.call_describe(store).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_versions_follow_semver() {
        assert!(compatible("0.1.0", "0.1.0"));
        assert!(compatible("0.1.0", "0.1.3"));
        assert!(!compatible("0.1.4", "0.1.3"), "newer than the host");
        assert!(!compatible("0.2.0", "0.1.0"), "0.x minors are breaking");
        assert!(!compatible("9.0.0", "0.1.0"));
        assert!(compatible("1.2.0", "1.4.1"));
        assert!(!compatible("2.0.0", "1.4.1"));
        assert!(!compatible("banana", "0.1.0"));
    }

    #[test]
    fn headers_tell_components_from_modules_and_junk() {
        assert!(
            check_header(b"hello world")
                .unwrap_err()
                .contains("not a WebAssembly file")
        );
        assert!(
            check_header(b"\0asm\x01\0\0\0")
                .unwrap_err()
                .contains("core WebAssembly module")
        );
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
    }
}
