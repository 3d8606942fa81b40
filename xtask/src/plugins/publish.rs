//! Publishing into the watched folder: only a component that exports the plugin world's functions
//! gets there, and it arrives by temp file + rename, so a watching gateway never reads half a file.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use wit_bindgen_core::wit_parser::{WorldItem, WorldKey};
use wit_component::DecodedWasm;

/// The functions every plugin exports (`plugin-sdk/wit/plugin.wit`, world `plugin`).
const EXPORTS: &[&str] = &["describe", "template", "filter", "on-event"];

/// The only interfaces a plugin may import: the host's, and WASI (which the host links granting nothing).
const IMPORT_PREFIXES: &[&str] = &["wapi:plugin/", "wasi:"];

/// What publishing did.
#[derive(Clone, Copy)]
pub enum Published {
    /// The file was new or different and now is in the folder.
    Copied,
    /// The folder already had these exact bytes; nothing was written (a gateway does not reload).
    Unchanged,
}

/// Checks `file` is a plugin component, then places it in `out` as `<name>.wasm`.
pub fn publish(file: &Path, out: &Path, name: &str) -> Result<Published> {
    let bytes = fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let dest = out.join(format!("{name}.wasm"));
    if fs::read(&dest).is_ok_and(|old| old == bytes) {
        return Ok(Published::Unchanged);
    }
    check_plugin(&bytes).with_context(|| format!("{} is not a wapi plugin", file.display()))?;
    // A dot-file: the gateway's watcher ignores those, so it only sees the finished rename.
    let tmp = out.join(format!(".{name}.wasm.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &dest)
    };
    write().with_context(|| format!("writing {}", dest.display()))?;
    Ok(Published::Copied)
}

/// Fails unless `bytes` is a component exporting every function of `EXPORTS` and importing
/// nothing but `IMPORT_PREFIXES`.
fn check_plugin(bytes: &[u8]) -> Result<()> {
    let DecodedWasm::Component(resolve, world) = wit_component::decode(bytes)? else {
        bail!("it is a WIT package, not a component");
    };
    let world = &resolve.worlds[world];
    let exported = |name: &str| {
        world
            .exports
            .iter()
            .any(|(key, item)| matches!(item, WorldItem::Function(_)) && matches!(key, WorldKey::Name(n) if n == name))
    };
    let missing: Vec<&str> = EXPORTS.iter().copied().filter(|name| !exported(name)).collect();
    if !missing.is_empty() {
        bail!("it does not export {}", missing.join(", "));
    }
    for (key, item) in &world.imports {
        let name = match item {
            WorldItem::Interface { id, .. } => resolve.id_of(*id).unwrap_or_else(|| resolve.name_world_key(key)),
            WorldItem::Function(function) => function.name.clone(),
            WorldItem::Type { .. } => continue,
        };
        if !IMPORT_PREFIXES.iter().any(|prefix| name.starts_with(prefix)) {
            bail!("it imports {name}, which the host does not provide");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest core module: a header and nothing else.
    const CORE_MODULE: &[u8] = b"\0asm\x01\0\0\0";

    #[test]
    fn a_core_module_is_not_published() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("core.wasm");
        fs::write(&file, CORE_MODULE)?;
        let out = dir.path().join("plugins.d");
        fs::create_dir(&out)?;
        assert!(publish(&file, &out, "core").is_err());
        assert_eq!(
            fs::read_dir(&out)?.count(),
            0,
            "nothing left behind, not even the temp file"
        );
        Ok(())
    }

    #[test]
    fn identical_bytes_are_not_written_again() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("built.wasm");
        fs::write(&file, CORE_MODULE)?;
        fs::write(dir.path().join("same.wasm"), CORE_MODULE)?;
        // Unchanged is decided before any check: the folder already serves these bytes.
        assert!(matches!(publish(&file, dir.path(), "same")?, Published::Unchanged));
        Ok(())
    }
}
