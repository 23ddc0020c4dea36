//! `ecr-engine plugins ...`: list what a scan would load, create a plugin crate from the
//! template, build and install one, and run one alone on an image.

use super::{EXIT_INCOMPLETE, PluginArgs, parse_size};
use crate::image::Platform;
use crate::layer::LayerLimits;
use crate::plugin::{self, Limits, RunStatus};
use crate::scan::{self, ScanOptions};
use crate::terminal::{self, for_terminal};
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

#[derive(Debug, Subcommand)]
pub(crate) enum PluginsCommand {
    /// List the plugins a scan would use: version, contract version, patterns, limits, hash,
    /// and why any could not be loaded.
    List(PluginArgs),
    /// Create a plugin crate, ready to build: an Analyzer implementation with a test, the guest
    /// kit and the contract (vendored, so it builds anywhere).
    New {
        /// The plugin's name: 1 to 64 of a-z, 0-9, '-', '_', starting with a letter.
        name: String,
        /// Directory to create. Default: ./NAME.
        #[arg(long)]
        path: Option<PathBuf>,
    },
    /// Build a plugin crate for wasm32-wasip2 (cargo, profile `plugin`), check that it loads,
    /// and install it into the plugins directory as NAME.wasm.
    Build {
        /// The crate's directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// Run one plugin alone on an image and print what it returned, before any report shaping,
    /// as JSON. PLUGIN is a loaded plugin's name or a .wasm file.
    Test {
        plugin: String,
        /// What to scan, as for `scan`.
        target: String,
        #[arg(long)]
        platform: Option<String>,
        /// Largest file read from the image, e.g. 128M.
        #[arg(long, value_parser = parse_size, default_value = "128M")]
        max_file_size: u64,
        #[command(flatten)]
        plugins: PluginArgs,
    },
}

pub(super) fn run(command: PluginsCommand) -> Result<ExitCode> {
    match command {
        PluginsCommand::List(args) => {
            let host = args.load(Limits::default().max_file_bytes)?;
            terminal::print(&plugin::describe_plugins(&host))?;
        }
        PluginsCommand::New { name, path } => {
            let dir = path.unwrap_or_else(|| PathBuf::from(&name));
            create_crate(&name, &dir)?;
            let dir = for_terminal(&dir.to_string_lossy()).into_owned();
            terminal::print(&format!(
                "created plugin {name} in {dir}\n  cargo test                        # its tests, natively\n  \
                 ecr-engine plugins build {dir}   # build it and install it into the plugins directory\n"
            ))?;
        }
        PluginsCommand::Build { dir, plugins } => build(&dir, &plugins)?,
        PluginsCommand::Test { plugin, target, platform, max_file_size, plugins } => {
            return test(&plugin, &target, platform.as_deref(), max_file_size, &plugins);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The template's files, with `{{name}}` standing for the plugin's name.
const TEMPLATE: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("template/Cargo.toml.in")),
    ("src/lib.rs", include_str!("template/lib.rs.in")),
    (".gitignore", "/target\n"),
    // The contract, where the vendored kit's bindings read it (`../../wit` from the kit).
    ("wit/plugin.wit", include_str!("../../wit/plugin.wit")),
    // The versions this release was built and tested with (cargo drops the entries the plugin
    // does not use): the first build resolves nothing new, and works offline from cargo's cache.
    ("Cargo.lock", include_str!("../../Cargo.lock")),
];

/// The guest kit this binary was built with, copied into `vendor/ecr-plugin-kit/`: a generated
/// crate then needs neither this repository nor a registry release of the kit, and it speaks
/// exactly the contract of the ecr-engine that created it.
const KIT_SOURCES: &[(&str, &str)] = &[
    ("src/lib.rs", include_str!("../../plugins/kit/src/lib.rs")),
    ("src/analyzer.rs", include_str!("../../plugins/kit/src/analyzer.rs")),
    ("src/fields.rs", include_str!("../../plugins/kit/src/fields.rs")),
    ("src/findings.rs", include_str!("../../plugins/kit/src/findings.rs")),
    ("src/os.rs", include_str!("../../plugins/kit/src/os.rs")),
    ("src/purl.rs", include_str!("../../plugins/kit/src/purl.rs")),
];
const KIT_MANIFEST: &str = include_str!("../../plugins/kit/Cargo.toml");
const KIT_DIR: &str = "vendor/ecr-plugin-kit";

/// The kit's manifest without this workspace: inherited fields get this workspace's values.
fn standalone_kit_manifest() -> String {
    KIT_MANIFEST
        .replace("edition.workspace = true", "edition = \"2024\"")
        .replace("rust-version.workspace = true", "rust-version = \"1.95\"")
        .replace("license.workspace = true", "license = \"Apache-2.0\"")
}

fn valid_crate_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn create_crate(name: &str, dir: &Path) -> Result<()> {
    if !valid_crate_name(name) {
        bail!("{name:?} cannot name a plugin: use 1 to 64 of a-z, 0-9, '-', '_', starting with a letter");
    }
    if dir.exists() && dir.read_dir().map(|mut entries| entries.next().is_some()).unwrap_or(true) {
        bail!("{} already exists and is not empty; choose another --path", dir.display());
    }
    let kit_manifest = standalone_kit_manifest();
    let files = TEMPLATE
        .iter()
        .map(|(path, text)| (PathBuf::from(path), text.replace("{{name}}", name)))
        .chain(std::iter::once((Path::new(KIT_DIR).join("Cargo.toml"), kit_manifest)))
        .chain(KIT_SOURCES.iter().map(|(path, text)| (Path::new(KIT_DIR).join(path), text.to_string())));
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Builds the crate in `dir`, loads the result the way a scan would, and copies it into the
/// plugins directory under the name it describes itself with.
fn build(dir: &Path, args: &PluginArgs) -> Result<()> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!("{} has no Cargo.toml; give the plugin crate's directory", dir.display());
    }
    let wasm = cargo_build(&manifest)?;
    // Loaded alone (an installed older build must not get in the way), with the limits and
    // cache a scan would use.
    let host = args.load_only(&wasm, Limits::default().max_file_bytes)?;
    if let Some(error) = host.load_errors().first() {
        bail!("{} was built but cannot be used as a plugin: {}: {}", wasm.display(), error.status, error.error);
    }
    let Some(descriptor) = host.plugins().first() else {
        bail!("{} was built but did not load", wasm.display());
    };
    let plugins_dir = args.plugins_dir();
    std::fs::create_dir_all(&plugins_dir).with_context(|| format!("cannot create {}", plugins_dir.display()))?;
    let installed = plugins_dir.join(format!("{}.wasm", descriptor.name));
    std::fs::copy(&wasm, &installed)
        .with_context(|| format!("cannot copy {} to {}", wasm.display(), installed.display()))?;
    terminal::print(&format!(
        "installed {} {} (contract {}) as {}\n",
        for_terminal(&descriptor.name),
        for_terminal(&descriptor.version),
        descriptor.contract_version,
        for_terminal(&installed.to_string_lossy())
    ))?;
    Ok(())
}

/// `cargo build --profile plugin --target wasm32-wasip2` of one crate; the component it made.
fn cargo_build(manifest: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(&cargo)
        .args(["build", "--profile", "plugin", "--target", "wasm32-wasip2"])
        .args(["--message-format", "json-render-diagnostics", "--manifest-path"])
        .arg(manifest)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}; is a Rust toolchain installed?", cargo.to_string_lossy()))?;
    let mut components = Vec::new();
    let stdout = child.stdout.take().context("cargo's output")?;
    for line in std::io::BufReader::new(stdout).lines() {
        let message: serde_json::Value = match serde_json::from_str(&line?) {
            Ok(message) => message,
            Err(_) => continue,
        };
        let is_cdylib = message["target"]["kind"].as_array().is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"));
        if message["reason"] == "compiler-artifact" && is_cdylib {
            let files = message["filenames"].as_array().into_iter().flatten().filter_map(|f| f.as_str());
            components.extend(files.filter(|f| f.ends_with(".wasm")).map(PathBuf::from));
        }
    }
    if !child.wait()?.success() {
        bail!(
            "cargo could not build {} (its messages are above); if it says the wasm32-wasip2 target \
             is missing, run `rustup target add wasm32-wasip2`",
            manifest.display()
        );
    }
    match <[PathBuf; 1]>::try_from(components) {
        Ok([wasm]) => Ok(wasm),
        Err(found) => bail!(
            "expected the build of {} to make one component (a cdylib), it made {}: {found:?}",
            manifest.display(),
            found.len()
        ),
    }
}

/// Runs one plugin (by name, or a .wasm file) alone on `target` and prints its run as JSON.
fn test(plugin: &str, target: &str, platform: Option<&str>, max_file_size: u64, args: &PluginArgs) -> Result<ExitCode> {
    let file = Path::new(plugin);
    let host = if plugin.ends_with(".wasm") || file.is_file() {
        args.load_only(file, max_file_size)?
    } else {
        let mut host = args.load(max_file_size)?;
        let all: Vec<String> = host.plugins().iter().map(|p| p.name.clone()).collect();
        host.retain(|name| name == plugin);
        if host.plugins().is_empty() && host.load_errors().is_empty() {
            bail!("no plugin {plugin:?} is loaded; the loaded ones are: {}", all.join(", "));
        }
        host
    };
    let options = ScanOptions {
        platform: platform.map(Platform::parse).transpose()?,
        limits: LayerLimits { max_file_bytes: max_file_size, ..LayerLimits::default() },
        ..ScanOptions::default()
    };
    let (report, mut runs) = scan::scan_keeping_runs(target, &host, &options, true)?;
    // A plugin that could not load has no run on the view; its load error says why.
    runs.extend(host.load_errors().iter().map(plugin::PluginRun::from));
    for warning in &report.warnings {
        terminal::message(&format!("warning: {}", for_terminal(warning)));
    }
    terminal::print_exact(&(serde_json::to_string_pretty(&runs)? + "\n"))?;
    let ok = runs.iter().all(|run| run.status == RunStatus::Ok);
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(EXIT_INCOMPLETE) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_kit_is_the_whole_kit() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/kit/src");
        let mut on_disk: Vec<String> = std::fs::read_dir(&src)
            .unwrap()
            .map(|entry| format!("src/{}", entry.unwrap().file_name().to_string_lossy()))
            .collect();
        on_disk.sort();
        let mut vendored: Vec<String> = KIT_SOURCES.iter().map(|(path, _)| path.to_string()).collect();
        vendored.sort();
        assert_eq!(vendored, on_disk, "KIT_SOURCES must list every file of plugins/kit/src");
        let manifest = standalone_kit_manifest();
        assert!(!manifest.contains("workspace"), "{manifest}");
    }

    #[test]
    fn plugin_names_are_checked_and_existing_directories_kept() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "Caps", "1st", "a b", "../x", &"a".repeat(65)] {
            assert!(create_crate(bad, &dir.path().join("x")).is_err(), "{bad:?}");
        }
        std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
        let error = create_crate("fine", dir.path()).unwrap_err().to_string();
        assert!(error.contains("already exists and is not empty"), "{error}");
        assert_eq!(std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(), "mine");
    }
}
