//! `cargo xtask plugins`: build every plugin from source — the Rust workspace `plugins/`, the
//! examples in other languages beside it, the hostile fixtures of `tests/fixtures/plugins/` — and
//! publish the plugins into the folder the gateway watches.

mod c;
mod js;
mod publish;
mod python;
mod rust;
mod stamp;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::paths;
use publish::Published;
pub use rust::cargo_in;

/// The world of `plugin-sdk/wit` every plugin targets.
const WORLD: &str = "plugin";

/// Builds every plugin and publishes it into `--out DIR` (default `plugins.d/` at the root).
pub fn run(args: Vec<String>) -> Result<ExitCode> {
    let out = match args.as_slice() {
        [] => default_out(),
        [flag, dir] if flag == "--out" => std::env::current_dir()
            .context("reading the current directory")?
            .join(dir),
        _ => bail!("usage: cargo xtask plugins [--out DIR]"),
    };
    build_and_publish(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// The folder the default config watches: `plugins.d/` at the repository root.
pub fn default_out() -> PathBuf {
    paths::workspace_root().join("plugins.d")
}

/// Builds every plugin, publishes the plugins into `out` and prints what it built, with sizes. A
/// build that fails does not stop the others: what did build is published, then the failures are
/// reported together.
pub fn build_and_publish(out: &Path) -> Result<()> {
    let started = Instant::now();
    let layout = Layout::new();
    let mut failures = Vec::new();
    let mut keep = |result: Result<Vec<Built>>| {
        result.unwrap_or_else(|err| {
            failures.push(format!("{err:#}"));
            Vec::new()
        })
    };
    let mut plugins = keep(rust::build(&layout.root.join("plugins")));
    for example in discover(&layout.root.join("plugins"))? {
        let built = match example.lang {
            Lang::JavaScript => js::build(&layout, &example),
            Lang::Python => python::build(&layout, &example),
            Lang::C => c::build(&layout, &example),
        };
        let context = format!("building plugins/{}", example.name);
        plugins.extend(keep(built.map(|one| vec![one]).context(context)));
    }
    let fixtures = keep(rust::build(&layout.root.join("tests/fixtures/plugins")));

    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    println!("xtask: plugins in {}", out.display());
    for plugin in &plugins {
        let published = publish::publish(&plugin.file, out, &plugin.name)?;
        print_line(
            &format!("{}.wasm", plugin.name),
            &plugin.file,
            plugin.rebuilt,
            published,
        )?;
    }
    if let Some(first) = fixtures.first() {
        let dir = first.file.parent().unwrap_or(Path::new("."));
        println!("xtask: test fixtures in {}", dir.display());
        for fixture in &fixtures {
            let name = fixture.file.file_name().unwrap_or_default().to_string_lossy();
            print_line(&name, &fixture.file, fixture.rebuilt, Published::Unchanged)?;
        }
    }
    println!("xtask: plugins done in {:.1} s", started.elapsed().as_secs_f64());
    if !failures.is_empty() {
        bail!("{} plugin build(s) failed:\n{}", failures.len(), failures.join("\n"));
    }
    Ok(())
}

fn print_line(name: &str, file: &Path, rebuilt: bool, published: Published) -> Result<()> {
    let size = fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    let what = match (rebuilt, published) {
        (true, Published::Copied) => "built, published",
        (true, Published::Unchanged) => "built",
        (false, Published::Copied) => "up to date, published",
        (false, Published::Unchanged) => "up to date",
    };
    println!("  {name:<28} {:>9}  {what}", human_size(size));
    Ok(())
}

fn human_size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// Where the sources are and where builds go.
struct Layout {
    /// The repository root.
    root: PathBuf,
    /// `plugin-sdk/wit`: the WIT package of the plugin world.
    wit: PathBuf,
    /// `<target>/plugins`: one build folder per non-Rust plugin (bindings, core modules, stamps).
    build: PathBuf,
    /// `<target>/tools`: tools installed for the builds (the Python venv).
    tools: PathBuf,
}

impl Layout {
    fn new() -> Self {
        let root = paths::workspace_root();
        let target = paths::target_dir();
        Self {
            wit: root.join("plugin-sdk/wit"),
            build: target.join("plugins"),
            tools: target.join("tools"),
            root,
        }
    }

    /// The build folder of one plugin, created when missing.
    fn build_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.build.join(name);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }
}

/// A component in its build folder, ready to publish.
struct Built {
    /// The plugin's name: its file stem once published.
    name: String,
    /// The component.
    file: PathBuf,
    /// False when it was up to date and this run did not build it.
    rebuilt: bool,
}

/// A plugin in a language other than Rust: a folder of `plugins/`.
struct Example {
    name: String,
    dir: PathBuf,
    lang: Lang,
}

enum Lang {
    /// A `package.json` whose `main` is the module to componentize.
    JavaScript,
    /// A `requirements.txt` with the build tools and an `app.py`.
    Python,
    /// `.c` files.
    C,
}

/// The non-Rust plugins in `dir`, by the file that marks their language; folders with a
/// `Cargo.toml` belong to the Rust workspace.
fn discover(dir: &Path) -> Result<Vec<Example>> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut examples = Vec::new();
    for entry in entries {
        let path = entry.with_context(|| format!("listing {}", dir.display()))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if !path.is_dir() || name.starts_with('.') || name == "target" || path.join("Cargo.toml").exists() {
            continue;
        }
        let lang = if path.join("package.json").exists() {
            Lang::JavaScript
        } else if path.join("requirements.txt").exists() {
            Lang::Python
        } else if !stamp::files_with_extension(&path, "c")?.is_empty() {
            Lang::C
        } else {
            println!("xtask: plugins/{name}: no Cargo.toml, package.json, requirements.txt or .c file; skipped");
            continue;
        };
        examples.push(Example { name, dir: path, lang });
    }
    examples.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(examples)
}

/// Runs a build tool with its output captured: silent when it succeeds, shown when it fails.
fn run_quiet(command: &mut Command) -> Result<()> {
    let output = command.output().with_context(|| format!("starting {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
