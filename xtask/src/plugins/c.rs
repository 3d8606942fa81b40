//! C plugins: bindings from `wit-bindgen-c`, Debian's clang 14 and wasi-libc for a WASI
//! preview 1 reactor module, then `wit-component` with the preview 1 → preview 2 adapter for the
//! component — all but clang as library calls, so no CLI needs installing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_bindgen_core::wit_parser::Resolve;
use wit_component::ComponentEncoder;

use super::stamp::{self, Stamp};
use super::{Built, Example, Layout, WORLD};
use crate::prereqs::{self, Prereq};

/// The compiler, linker, libc and compiler runtime for `wasm32-wasi` (bookworm's LLVM 14).
const TOOLCHAIN: Prereq = Prereq::apt_packages(&["clang-14", "lld-14", "wasi-libc", "libclang-rt-14-dev-wasm32"]);
const CLANG: &str = "clang-14";

/// A reactor (a library called through its exports, no `main`) against Debian's wasi-libc, whose
/// debug info (two thirds of the module) is dropped at link time.
const CFLAGS: &[&str] = &[
    "--target=wasm32-wasi",
    "--sysroot=/usr",
    "-mexec-model=reactor",
    "-std=c11",
    "-Os",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wl,--strip-debug",
];

/// Versions of the library steps, part of the up-to-date check.
const TOOLS: &str = "wit-bindgen-c 0.63.0, wit-component 0.262.0, adapter 48.0.8";

/// Builds `plugins/NAME/` from every `.c` file in it.
pub fn build(layout: &Layout, example: &Example) -> Result<Built> {
    prereqs::ensure_one(&TOOLCHAIN)?;
    let build_dir = layout.build_dir(&example.name)?;
    let output = build_dir.join(format!("{}.wasm", example.name));
    let sources = stamp::files_with_extension(&example.dir, "c")?;
    let mut inputs = stamp::source_files(&example.dir)?;
    inputs.extend(stamp::source_files(&layout.wit)?);
    let mut settings = CFLAGS.to_vec();
    settings.push(TOOLS);
    let stamp = Stamp::new(&build_dir, &inputs, &settings)?;
    let rebuilt = stamp.build_unless_current(&output, || {
        let bindings = build_dir.join("bindings");
        generate_bindings(&layout.wit, &bindings)?;
        let core = build_dir.join(format!("{}.core.wasm", example.name));
        compile(&sources, &bindings, &core)?;
        let module = fs::read(&core).with_context(|| format!("reading {}", core.display()))?;
        let component = componentize(&module)?;
        fs::write(&output, component).with_context(|| format!("writing {}", output.display()))
    })?;
    Ok(Built {
        name: example.name.clone(),
        file: output,
        rebuilt,
    })
}

/// Writes `plugin.h`, `plugin.c` and `plugin_component_type.o` (the world's type, which the
/// component step reads back from the linked module) into `dir`.
fn generate_bindings(wit: &Path, dir: &Path) -> Result<()> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_dir(wit)
        .with_context(|| format!("reading the WIT in {}", wit.display()))?;
    let world = resolve.select_world(&[package], Some(WORLD))?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .context("generating C bindings")?;
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, contents) in files.iter() {
        fs::write(dir.join(name), contents).with_context(|| format!("writing {}", dir.join(name).display()))?;
    }
    Ok(())
}

/// Compiles and links the plugin's sources with the bindings into a core module.
fn compile(sources: &[PathBuf], bindings: &Path, core: &Path) -> Result<()> {
    let mut command = Command::new(CLANG);
    command
        .args(CFLAGS)
        .arg("-I")
        .arg(bindings)
        .args(sources)
        .arg(bindings.join(format!("{WORLD}.c")))
        .arg(bindings.join(format!("{WORLD}_component_type.o")))
        .arg("-o")
        .arg(core);
    let status = command.status().with_context(|| format!("starting {CLANG}"))?;
    anyhow::ensure!(status.success(), "{command:?} failed ({status})");
    Ok(())
}

/// Wraps the core module into a component; its WASI preview 1 imports, if any, go through the adapter.
fn componentize(module: &[u8]) -> Result<Vec<u8>> {
    ComponentEncoder::default()
        .validate(true)
        .module(module)
        .context("reading the core module's component type")?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .context("adding the WASI preview 1 adapter")?
        .encode()
        .context("encoding the component")
}
