//! Loading one file: check it is a component, compile it once per content (or map the cached
//! precompiled artifact), check the interface version, link it, and ask it what it is.
//! Any refusal is a sentence naming the problem; nothing is published until all of it passed.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::bindings::{INTERFACE_VERSION, PluginPre};
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
        let hash = hex(&Sha256::digest(&bytes));
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
    let (component, cached) = tokio::task::spawn_blocking(move || compile(&engine, &cache_dir_owned, &key, &bytes))
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

/// The compiled component, from the cache when the same content was compiled by this engine
/// before; `true` when it came from the cache.
///
/// An artifact is named `<content sha256>-<engine hash>-<artifact digest>.cwasm`: the digest is
/// the first 128 bits of the artifact's own SHA-256, checked before the file is mapped. A
/// precompiled artifact is native code run as is, so a file damaged on disk (truncated by a
/// crash, bytes overwritten) must never be mapped: it is deleted and the plugin compiled again.
fn compile(engine: &Engine, cache_dir: &Path, hash: &str, bytes: &[u8]) -> Result<(Component, bool), String> {
    let mut engine_hash = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_hash);
    let prefix = format!("{hash}-{:016x}-", engine_hash.finish());
    for (cached, digest) in cached_artifacts(cache_dir, &prefix) {
        let unusable = match artifact_digest(&cached) {
            Ok(actual) if actual == digest => {
                // SAFETY: the file holds what this host serialized for this content and this
                // engine's compatibility hash, byte for byte (its digest matches its name); wasmtime
                // checks the engine again while deserializing. Only someone who may write the cache
                // folder could change it between the check and the mapping.
                match unsafe { Component::deserialize_file(engine, &cached) } {
                    Ok(component) => return Ok((component, true)),
                    Err(e) => format!("{e:#}"),
                }
            }
            Ok(_) => "its content does not match its digest (damaged or truncated)".into(),
            Err(e) => format!("reading it: {e}"),
        };
        tracing::warn!(path = %cached.display(), reason = unusable, "unusable cached plugin; compiling again");
        if let Err(e) = std::fs::remove_file(&cached) {
            tracing::warn!(path = %cached.display(), error = %e, "could not remove the unusable cached plugin");
        }
    }
    let component = Component::new(engine, bytes).map_err(|e| format!("is not a valid component: {e:#}"))?;
    if let Err(e) = store_artifact(&component, cache_dir, &prefix) {
        tracing::warn!(dir = %cache_dir.display(), error = %e, "could not cache the compiled plugin");
    }
    Ok((component, false))
}

/// Hex characters of an artifact's digest in its name.
const DIGEST_HEX: usize = 32;

/// The cached artifacts named `<prefix><digest>.cwasm`, with their digests.
fn cached_artifacts(dir: &Path, prefix: &str) -> Vec<(std::path::PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?;
            let digest = name.strip_prefix(prefix)?.strip_suffix(".cwasm")?;
            (digest.len() == DIGEST_HEX && digest.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| (path.clone(), digest.to_ascii_lowercase()))
        })
        .collect()
}

/// The first [`DIGEST_HEX`] hex characters of a file's SHA-256, read in chunks.
fn artifact_digest(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut chunk)? {
            0 => break,
            n => hasher.update(&chunk[..n]),
        }
    }
    Ok(digest_of(hasher))
}

fn digest_of(hasher: Sha256) -> String {
    let mut digest = hex(&hasher.finalize());
    digest.truncate(DIGEST_HEX);
    digest
}

/// Writes the artifact under a temporary name, flushes it to disk, then renames it to
/// `<prefix><digest>.cwasm`: a reader never sees a partial file under the final name.
fn store_artifact(component: &Component, dir: &Path, prefix: &str) -> anyhow::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let artifact = component.serialize()?;
    let mut hasher = Sha256::new();
    hasher.update(&artifact);
    let path = dir.join(format!("{prefix}{}.cwasm", digest_of(hasher)));
    let tmp = dir.join(format!(".{}.{}.tmp", std::process::id(), rand::random::<u64>()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&artifact)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(written?)
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

    #[test]
    fn cached_artifacts_are_found_by_content_and_engine_with_the_digest_their_name_claims() {
        let dir = tempfile::tempdir().unwrap();
        let digest = "0123456789abcdef0123456789abcdef";
        for name in [
            format!("aa-01-{digest}.cwasm"),
            format!("aa-02-{digest}.cwasm"),
            format!("bb-01-{digest}.cwasm"),
            "aa-01.cwasm".to_string(),
            format!("aa-01-{}.cwasm", &digest[..31]),
            format!("aa-01-{}zz.cwasm", &digest[..30]),
            format!(".aa-01-{digest}.cwasm.tmp"),
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let found = cached_artifacts(dir.path(), "aa-01-");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, digest);
        assert!(cached_artifacts(&dir.path().join("absent"), "aa-01-").is_empty());

        let file = dir.path().join("data");
        std::fs::write(&file, vec![7u8; 3 << 20]).unwrap();
        let mut hasher = Sha256::new();
        hasher.update(vec![7u8; 3 << 20]);
        assert_eq!(artifact_digest(&file).unwrap(), digest_of(hasher));
    }
}
