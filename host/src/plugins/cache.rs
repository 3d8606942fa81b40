//! The cache of compiled plugins in `plugins.cache_dir`: one precompiled artifact per plugin
//! content and engine, checked by its digest before it is mapped, written atomically, and pruned
//! so the folder does not grow with every version a plugin author saves.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// How long an artifact no loaded plugin uses is kept after its last use: a plugin removed or
/// replaced and put back within this time loads from the cache instead of compiling again.
const KEEP_UNUSED: Duration = Duration::from_secs(24 * 3600);
/// A temporary file this old was left by a write that never finished (a crash).
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);

/// The start of the names of `hash`'s artifacts compiled by `engine`.
pub(super) fn prefix(engine: &Engine, hash: &str) -> String {
    let mut engine_hash = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_hash);
    format!("{hash}-{:016x}-", engine_hash.finish())
}

/// The compiled component, from the cache when the same content was compiled by this engine
/// before; `true` when it came from the cache.
///
/// An artifact is named `<content sha256>-<engine hash>-<artifact digest>.cwasm`: the digest is
/// the first 128 bits of the artifact's own SHA-256, checked before the file is mapped. A
/// precompiled artifact is native code run as is, so a file damaged on disk (truncated by a
/// crash, bytes overwritten) must never be mapped: it is deleted and the plugin compiled again.
pub(super) fn compile(
    engine: &Engine,
    cache_dir: &Path,
    hash: &str,
    bytes: &[u8],
) -> Result<(Component, bool), String> {
    let prefix = prefix(engine, hash);
    for (cached, digest) in cached_artifacts(cache_dir, &prefix) {
        let unusable = match artifact_digest(&cached) {
            Ok(actual) if actual == digest => {
                // SAFETY: the file holds what this host serialized for this content and this
                // engine's compatibility hash, byte for byte (its digest matches its name); wasmtime
                // checks the engine again while deserializing. Only someone who may write the cache
                // folder could change it between the check and the mapping.
                match unsafe { Component::deserialize_file(engine, &cached) } {
                    Ok(component) => {
                        // Its age is the time since its last use (see `prune`).
                        if let Err(e) = std::fs::File::options()
                            .write(true)
                            .open(&cached)
                            .and_then(|f| f.set_modified(SystemTime::now()))
                        {
                            tracing::debug!(path = %cached.display(), error = %e, "could not mark the cached plugin used");
                        }
                        return Ok((component, true));
                    }
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

/// Removes the artifacts no loaded plugin uses (names not starting with one of `in_use`, the
/// [`prefix`]es of what is loaded) unused for [`KEEP_UNUSED`] — older versions, other engines'
/// artifacts, the pre-digest format — and temporary files a crash left. Other files are not
/// touched. Answers how many files and bytes went.
pub(super) fn prune(dir: &Path, in_use: &[String], now: SystemTime) -> (usize, u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    let (mut files, mut bytes) = (0, 0);
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let keep_for = if name.starts_with('.') && name.ends_with(".tmp") {
            STALE_TEMPORARY
        } else if name.ends_with(".cwasm") && !in_use.iter().any(|p| name.starts_with(p.as_str())) {
            KEEP_UNUSED
        } else {
            continue;
        };
        let Ok(meta) = entry.metadata() else { continue };
        let age = meta.modified().ok().and_then(|m| now.duration_since(m).ok());
        if !meta.is_file() || age.is_none_or(|age| age < keep_for) {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                files += 1;
                bytes += meta.len();
            }
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "could not remove an unused cached plugin"),
        }
    }
    (files, bytes)
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn pruning_removes_what_nothing_loaded_used_for_a_day_and_stale_temporaries_only() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let hours = |h: u64| now - Duration::from_secs(h * 3600);
        let digest = "0123456789abcdef0123456789abcdef";
        let files = [
            (format!("aa-01-{digest}.cwasm"), hours(24 * 30), true), // loaded, however old
            (format!("bb-01-{digest}.cwasm"), hours(2), true),       // unused since two hours
            (format!("bb-01-{digest}.cwasm.x"), hours(48), true),    // not an artifact
            (format!("cc-01-{digest}.cwasm"), hours(25), false),     // an old version
            (format!("aa-02-{digest}.cwasm"), hours(25), false),     // another engine's
            ("aa-01.cwasm".to_string(), hours(48), false),           // the pre-digest format
            (".4242.77.tmp".to_string(), hours(2), false),           // a crashed write
            (".4243.78.tmp".to_string(), hours(0), true),            // a write under way
            ("notes.txt".to_string(), hours(48), true),
        ];
        for (name, modified, _) in &files {
            let file = std::fs::File::create(dir.path().join(name)).unwrap();
            file.set_len(1000).unwrap();
            file.set_modified(*modified).unwrap();
        }
        let (removed, bytes) = prune(dir.path(), &["aa-01-".to_string()], now);
        assert_eq!((removed, bytes), (4, 4000));
        for (name, _, kept) in &files {
            assert_eq!(dir.path().join(name).exists(), *kept, "{name}");
        }
        assert_eq!(prune(&dir.path().join("absent"), &[], now), (0, 0));
    }
}
