//! Sandboxed analyzers: WebAssembly components that implement the contract in `wit/`.
//!
//! [`PluginHost::load`] loads the built-in analyzers embedded in this binary, precompiled when the
//! binary was built (`crates/builtin-plugins`), and compiles, or loads from the artifact cache,
//! every `*.wasm` in the plugins directory (and a built-in whose precompiled code this machine
//! cannot run). It checks the contract version each one was built for (the current one, or an
//! older 1.x minor run through that version's bindings, see [`contract`]), and asks each for its
//! [`PluginDescriptor`] (`describe`). Limits can differ per plugin ([`config`], `plugins.toml`).
//! [`PluginHost::analyze`] then runs all of them on one image, in parallel, each in a fresh
//! sandbox: a new store and instance per call, no filesystem, network, environment or clock, a
//! memory cap and a CPU time limit. A plugin that fails in any way becomes a [`PluginRun`] with the
//! matching [`RunStatus`]; it never takes the scan down.

mod cache;
pub mod config;
mod contract;
mod sandbox;

use crate::model::{Finding, ImageFile, ImageInfo};
use crate::view::distinct_files;
use anyhow::anyhow;
use cache::ArtifactCache;
use contract::{ContractError, FileView, PluginPre};
use ecr_builtin_plugins::{BUILTIN_PLUGINS, BuiltinPlugin};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use rayon::prelude::*;
use sandbox::{EpochTicker, Sandbox};
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wasmtime::Engine;
use wasmtime::component::Linker;

/// A component file larger than this is refused before it is read (analyzers are ~100 KB).
const MAX_COMPONENT_BYTES: u64 = 64 * 1024 * 1024;
/// Longest plugin name accepted from `describe`.
const MAX_NAME_BYTES: usize = 64;
/// Most patterns a plugin may declare (the built-in ones have about ten).
const MAX_PATTERNS: usize = 1024;

/// Resource limits applied to every plugin call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Cap on a plugin's linear memory, per call.
    pub memory_bytes: u64,
    /// CPU time a call may use before it is stopped: the CPU time of the thread running it,
    /// checked every 10 ms at most. Time spent waiting for a core does not count, but a call is
    /// also stopped after 4 times this in wall-clock time (at least this plus 10 s), so that a
    /// machine too busy to run it cannot hold the scan forever.
    pub cpu_time: Duration,
    /// Cap on the data one call may return (the bytes of strings and lists copied out of the
    /// guest, counted while they are lifted), so that one plugin cannot flood host memory, the
    /// report and the store.
    pub max_result_bytes: u64,
    /// Largest file handed to the plugin. A bigger one is cut to this size for plugins of
    /// contract 1.1 and later (which see the real size in `file.size`), and left out for 1.0
    /// plugins; either way the run carries a warning.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    /// 256 MiB of memory, 10 s, 64 MiB of findings, files up to 128 MiB (the scan's own
    /// default `--max-file-size`).
    fn default() -> Self {
        Limits {
            memory_bytes: 256 * 1024 * 1024,
            cpu_time: Duration::from_secs(10),
            max_result_bytes: 64 * 1024 * 1024,
            max_file_bytes: 128 * 1024 * 1024,
        }
    }
}

impl fmt::Display for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memory {}, CPU time {:.1} s, files up to {}",
            human_size(self.memory_bytes),
            self.cpu_time.as_secs_f64(),
            human_size(self.max_file_bytes)
        )
    }
}

/// Where plugins come from and how they are run.
#[derive(Debug, Clone)]
pub struct PluginOptions {
    /// Directory whose `*.wasm` files are loaded; `None` means [`default_plugins_dir`]. A missing
    /// directory just means no extra plugins.
    pub plugins_dir: Option<PathBuf>,
    /// Also load the analyzers built into this binary. A plugin in `plugins_dir` whose name
    /// (from `describe`) equals a built-in one replaces it.
    pub builtin: bool,
    /// More component files to load, as if they were in the plugins directory.
    pub files: Vec<PathBuf>,
    /// Compiled artifacts are kept in `cache_dir/compiled`.
    pub cache_dir: PathBuf,
    /// The limits of every plugin not named in `plugin_limits`.
    pub limits: Limits,
    /// Limits of particular plugins, by name (from the plugins config, see [`config`]).
    pub plugin_limits: BTreeMap<String, Limits>,
}

/// The default plugins directory: `<data dir>/ecr-engine/plugins`, where the data dir is the
/// platform's per-user data directory (`$XDG_DATA_HOME` or `~/.local/share` on Linux,
/// `~/Library/Application Support` on macOS, `%APPDATA%` on Windows). Falls back to
/// `./ecr-engine/plugins` if the platform reports none.
pub fn default_plugins_dir() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("ecr-engine").join("plugins")
}

/// Where a plugin was loaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// Embedded in this binary (built from `plugins/<name>`).
    Builtin,
    /// A `.wasm` file.
    Path(PathBuf),
}

impl fmt::Display for PluginSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginSource::Builtin => f.write_str("builtin"),
            PluginSource::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Serialized as "builtin" or the path.
impl Serialize for PluginSource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A loaded plugin, as it described itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginDescriptor {
    pub name: String,
    pub version: String,
    pub description: String,
    /// Globs over image paths (no leading '/'); `*` stays within a path component.
    pub patterns: Vec<String>,
    /// Hex SHA-256 of the component.
    pub sha256: String,
    /// The contract version the plugin was built for, e.g. "1.1.0".
    pub contract_version: String,
    pub source: PluginSource,
    /// Where its native code came from.
    pub compilation: Compilation,
}

/// Where a loaded plugin's native code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compilation {
    /// Compiled by this run (and stored in the artifact cache).
    Compiled,
    /// Loaded from the artifact cache.
    Cached,
    /// A built-in analyzer's code, compiled when this binary was built.
    Precompiled,
}

impl fmt::Display for Compilation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compilation::Compiled => "compiled",
            Compilation::Cached => "cached",
            Compilation::Precompiled => "precompiled",
        })
    }
}

/// A plugin that could not be loaded. It is reported in every [`PluginHost::analyze`] result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginLoadError {
    /// The built-in's name or the file's stem (the plugin could not tell its own name).
    pub name: String,
    pub source: PluginSource,
    /// [`RunStatus::Incompatible`] or [`RunStatus::LoadFailed`].
    pub status: RunStatus,
    pub error: String,
}

/// How one plugin call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    Ok,
    /// The plugin returned `err`.
    Failed,
    /// The plugin trapped (including panics and stack exhaustion) or otherwise died.
    Trapped,
    /// It used its CPU time limit, or reached the wall-clock backstop first.
    TimedOut,
    /// It tried to grow its memory beyond the limit, or returned more data than
    /// [`Limits::max_result_bytes`].
    OutOfMemory,
    /// It was built for a contract version this host cannot run.
    Incompatible,
    /// It could not be loaded: not a component, not an analyzer, `describe` failed, bad patterns.
    LoadFailed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "error",
            RunStatus::Trapped => "trap",
            RunStatus::TimedOut => "timeout",
            RunStatus::OutOfMemory => "out-of-memory",
            RunStatus::Incompatible => "incompatible",
            RunStatus::LoadFailed => "load-error",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RunStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The outcome of one plugin on one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginRun {
    pub name: String,
    /// "" for a plugin that failed to load.
    pub version: String,
    pub status: RunStatus,
    /// What went wrong, for any status but `Ok`.
    pub error: Option<String>,
    /// Wall-clock time of the run.
    pub duration_ms: u64,
    /// CPU time of the call (what [`Limits::cpu_time`] limits): at most `duration_ms`, less when
    /// the plugin had to wait for a core.
    pub cpu_ms: u64,
    /// What the host did not hand over (files beyond the plugin's max file size).
    pub warnings: Vec<String>,
    /// Empty unless `status` is `Ok`.
    pub findings: Vec<Finding>,
}

/// A plugin that could not load has no run on the image; its load error says why.
impl From<&PluginLoadError> for PluginRun {
    fn from(error: &PluginLoadError) -> PluginRun {
        PluginRun {
            name: error.name.clone(),
            version: String::new(),
            status: error.status,
            error: Some(error.error.clone()),
            duration_ms: 0,
            cpu_ms: 0,
            warnings: Vec::new(),
            findings: Vec::new(),
        }
    }
}

/// The loaded plugins and the engine that runs them.
pub struct PluginHost {
    /// Drives the CPU time checks; its thread stops when the host is dropped.
    _ticker: EpochTicker,
    engine: Engine,
    /// Sorted by name; `runnable[i]` belongs to `plugins[i]`.
    plugins: Vec<PluginDescriptor>,
    runnable: Vec<Runnable>,
    load_errors: Vec<PluginLoadError>,
}

/// What `analyze` needs of a loaded plugin: imports resolved once, patterns compiled once.
struct Runnable {
    pre: PluginPre,
    globs: GlobSet,
    limits: Limits,
}

/// A component to load, before anything is known about it.
enum Candidate {
    Builtin(&'static BuiltinPlugin),
    File(PathBuf),
}

impl Candidate {
    /// The name to report if loading fails: the plugin could not tell its own.
    fn name(&self) -> String {
        match self {
            Candidate::Builtin(builtin) => builtin.name.to_owned(),
            Candidate::File(path) => {
                path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default()
            }
        }
    }

    fn source(&self) -> PluginSource {
        match self {
            Candidate::Builtin(_) => PluginSource::Builtin,
            Candidate::File(path) => PluginSource::Path(path.clone()),
        }
    }

    /// Native code made for this machine when the binary was built (built-ins only).
    fn precompiled(&self) -> Option<&'static [u8]> {
        match self {
            Candidate::Builtin(builtin) => builtin.precompiled,
            Candidate::File(_) => None,
        }
    }

    fn wasm(&self) -> Result<Cow<'static, [u8]>, String> {
        let path = match self {
            Candidate::Builtin(builtin) => return Ok(Cow::Borrowed(builtin.wasm)),
            Candidate::File(path) => path,
        };
        crate::regular_file::read_regular(path, MAX_COMPONENT_BYTES, "a plugin")
            .map(Cow::Owned)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))
    }
}

type Loaded = (PluginDescriptor, Runnable);
/// A load failure: the status to report ([`RunStatus::Incompatible`] or [`RunStatus::LoadFailed`])
/// and why.
type LoadFailure = (RunStatus, String);

impl PluginHost {
    /// Loads the plugins. Fails only if the engine itself cannot start; a plugin that cannot be
    /// loaded is recorded in [`Self::load_errors`] and reported by every [`Self::analyze`].
    pub fn load(opts: &PluginOptions) -> anyhow::Result<PluginHost> {
        let engine = Engine::new(&ecr_wasm_engine::config())
            .map_err(|error| anyhow!("cannot start the WebAssembly engine: {error}"))?;
        let linker = sandbox::linker(&engine).map_err(|error| anyhow!("cannot set up the plugin sandbox: {error}"))?;
        let ticker =
            EpochTicker::start(&engine).map_err(|error| anyhow!("cannot start the plugin deadline thread: {error}"))?;
        let cache = ArtifactCache::new(&opts.cache_dir, &engine);

        let mut load_errors = Vec::new();
        let mut candidates: Vec<Candidate> = Vec::new();
        if opts.builtin {
            candidates.extend(BUILTIN_PLUGINS.iter().map(Candidate::Builtin));
        }
        let plugins_dir = opts.plugins_dir.clone().unwrap_or_else(default_plugins_dir);
        match wasm_files(&plugins_dir) {
            Ok(paths) => candidates.extend(paths.into_iter().map(Candidate::File)),
            Err(error) => load_errors.push(PluginLoadError {
                name: plugins_dir.display().to_string(),
                source: PluginSource::Path(plugins_dir.clone()),
                status: RunStatus::LoadFailed,
                error: format!("cannot list the plugins directory: {error}"),
            }),
        }
        candidates.extend(opts.files.iter().cloned().map(Candidate::File));

        let results: Vec<(Candidate, Result<Loaded, LoadFailure>)> = candidates
            .into_par_iter()
            .map(|candidate| {
                let result = load_one(&engine, &linker, &cache, &opts.limits, &candidate);
                (candidate, result)
            })
            .collect();

        let mut loaded = Vec::new();
        for (candidate, result) in results {
            match result {
                Ok(plugin) => loaded.push(plugin),
                Err((status, error)) => load_errors.push(PluginLoadError {
                    name: candidate.name(),
                    source: candidate.source(),
                    status,
                    error,
                }),
            }
        }
        let by_name = resolve_names(loaded, &mut load_errors);
        load_errors.sort_by(|a, b| (&a.name, a.source.to_string()).cmp(&(&b.name, b.source.to_string())));
        let (plugins, mut runnable): (Vec<PluginDescriptor>, Vec<Runnable>) = by_name.into_values().unzip();
        for (descriptor, runnable) in plugins.iter().zip(&mut runnable) {
            if let Some(limits) = opts.plugin_limits.get(&descriptor.name) {
                runnable.limits = limits.clone();
            }
        }
        Ok(PluginHost { _ticker: ticker, engine, plugins, runnable, load_errors })
    }

    /// Keeps only the plugins, and the load errors, whose name `keep` accepts (e.g. to run one
    /// plugin alone).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let plugins = std::mem::take(&mut self.plugins);
        let runnable = std::mem::take(&mut self.runnable);
        (self.plugins, self.runnable) =
            plugins.into_iter().zip(runnable).filter(|(plugin, _)| keep(&plugin.name)).unzip();
        self.load_errors.retain(|error| keep(&error.name));
    }

    /// The loaded plugins, sorted by name.
    pub fn plugins(&self) -> &[PluginDescriptor] {
        &self.plugins
    }

    /// The plugins that could not be loaded, sorted by name.
    pub fn load_errors(&self) -> &[PluginLoadError] {
        &self.load_errors
    }

    /// All loaded plugins' patterns, sorted and deduplicated: what the layer walk must keep.
    pub fn patterns(&self) -> Vec<String> {
        let mut patterns: Vec<String> =
            self.plugins.iter().flat_map(|plugin| plugin.patterns.iter().cloned()).collect();
        patterns.sort();
        patterns.dedup();
        patterns
    }

    /// Runs every plugin on one image, in parallel, each with only the files matching its own
    /// patterns (a plugin with no matching files still runs: it may only need the config). The
    /// result has one run per loaded plugin and one per load error, sorted by name.
    pub fn analyze(&self, image: &ImageInfo, files: &[ImageFile]) -> Vec<PluginRun> {
        let mut runs: Vec<PluginRun> = self
            .plugins
            .par_iter()
            .zip(self.runnable.par_iter())
            .map(|(descriptor, runnable)| self.run(descriptor, runnable, &runnable.limits, image, files))
            .collect();
        runs.extend(self.load_errors.iter().map(PluginRun::from));
        runs.sort_by(|a, b| a.name.cmp(&b.name));
        runs
    }

    /// A loaded plugin's CPU time limit for one call.
    pub fn cpu_time_limit(&self, name: &str) -> Option<Duration> {
        let index = self.plugins.iter().position(|plugin| plugin.name == name)?;
        Some(self.runnable[index].limits.cpu_time)
    }

    /// Runs again, on other files of the same image, the plugins `cpu_left` names, each with at
    /// most the CPU time left to it there (when less than its own limit) and only if some of the
    /// files are for it: for package-to-layer attribution, whose runs share one budget.
    pub fn rerun(
        &self,
        image: &ImageInfo,
        files: &[ImageFile],
        cpu_left: &HashMap<String, Duration>,
    ) -> Vec<PluginRun> {
        self.plugins
            .par_iter()
            .zip(self.runnable.par_iter())
            .filter_map(|(descriptor, runnable)| {
                let left = *cpu_left.get(&descriptor.name)?;
                files.iter().any(|file| runnable.globs.is_match(&file.path)).then_some((descriptor, runnable, left))
            })
            .map(|(descriptor, runnable, left)| {
                let limits = Limits { cpu_time: left.min(runnable.limits.cpu_time), ..runnable.limits.clone() };
                self.run(descriptor, runnable, &limits, image, files)
            })
            .collect()
    }

    fn run(
        &self,
        descriptor: &PluginDescriptor,
        runnable: &Runnable,
        limits: &Limits,
        image: &ImageInfo,
        files: &[ImageFile],
    ) -> PluginRun {
        let started = Instant::now();
        let mut warnings = Vec::new();
        // Borrowed views: file contents are copied once, straight into the guest's memory.
        let mut selected: Vec<FileView<'_>> = Vec::new();
        for file in distinct_files(files, |path| runnable.globs.is_match(path)) {
            let size = file.content.len() as u64;
            let mut content = file.content.as_slice();
            if size > limits.max_file_bytes {
                let limit = human_size(limits.max_file_bytes);
                if !runnable.pre.sees_file_sizes() {
                    warnings.push(format!(
                        "{} ({}) was not given to the plugin: larger than its max file size of {limit}",
                        file.path,
                        human_size(size)
                    ));
                    continue;
                }
                warnings.push(format!(
                    "{} ({}) was given to the plugin cut to its max file size of {limit}",
                    file.path,
                    human_size(size)
                ));
                content = &content[..usize::try_from(limits.max_file_bytes).unwrap_or(usize::MAX)];
            }
            selected.push(FileView { path: &file.path, mode: file.mode, layer: &file.layer, size, content });
        }
        let mut store = sandbox::new_store(&self.engine, limits);
        let result = runnable.pre.analyze(&mut store, image, &selected);
        let (status, error, findings) = match sandbox::classify(&store, limits, result) {
            Ok(Ok(findings)) => (RunStatus::Ok, None, findings.into_iter().map(Finding::from).collect()),
            Ok(Err(message)) => {
                (RunStatus::Failed, Some(format!("returned an error: {}", contract::bounded(message))), Vec::new())
            }
            Err((status, message)) => (status, Some(message), Vec::new()),
        };
        let cpu_used = sandbox::cpu_used(&store);
        PluginRun {
            name: descriptor.name.clone(),
            version: descriptor.version.clone(),
            status,
            error,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            cpu_ms: u64::try_from(cpu_used.as_millis()).unwrap_or(u64::MAX),
            warnings,
            findings,
        }
    }
}

/// Keeps one plugin per name, in name order. A file in the plugins directory replaces a built-in
/// of the same name; otherwise the first of two plugins with one name is kept (built-ins come
/// first, files in path order) and the other becomes a load error.
fn resolve_names<T>(
    loaded: Vec<(PluginDescriptor, T)>,
    load_errors: &mut Vec<PluginLoadError>,
) -> BTreeMap<String, (PluginDescriptor, T)> {
    let mut by_name: BTreeMap<String, (PluginDescriptor, T)> = BTreeMap::new();
    for (descriptor, plugin) in loaded {
        match by_name.get(&descriptor.name) {
            Some((kept, _))
                if !(kept.source == PluginSource::Builtin && descriptor.source != PluginSource::Builtin) =>
            {
                load_errors.push(PluginLoadError {
                    name: descriptor.name.clone(),
                    source: descriptor.source,
                    status: RunStatus::LoadFailed,
                    error: format!("another plugin named {:?} is already loaded from {}", descriptor.name, kept.source),
                });
            }
            _ => {
                by_name.insert(descriptor.name.clone(), (descriptor, plugin));
            }
        }
    }
    by_name
}

/// A size for messages: "300 bytes", "1.5 KiB", "64.0 MiB", "4.0 GiB".
fn human_size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    match bytes as f64 {
        size if size >= KIB * KIB * KIB => format!("{:.1} GiB", size / (KIB * KIB * KIB)),
        size if size >= KIB * KIB => format!("{:.1} MiB", size / (KIB * KIB)),
        size if size >= KIB => format!("{:.1} KiB", size / KIB),
        _ => format!("{bytes} bytes"),
    }
}

/// A human-readable listing of the loaded plugins and the load errors (`plugins list`); what a
/// plugin says of itself, and its file's path, through [`for_terminal`].
pub fn describe_plugins(host: &PluginHost) -> String {
    use crate::terminal::for_terminal;
    let mut text = String::new();
    if host.plugins.is_empty() {
        text.push_str("no plugins loaded\n");
    }
    for (plugin, runnable) in host.plugins.iter().zip(&host.runnable) {
        let _ = writeln!(
            text,
            "{} {} (contract {}, {}, {}, sha256:{})\n  {}\n  patterns: {}\n  limits: {}",
            for_terminal(&plugin.name),
            for_terminal(&plugin.version),
            plugin.contract_version,
            for_terminal(&plugin.source.to_string()),
            plugin.compilation,
            plugin.sha256,
            for_terminal(&plugin.description),
            if plugin.patterns.is_empty() {
                "(none)".into()
            } else {
                for_terminal(&plugin.patterns.join(", ")).into_owned()
            },
            runnable.limits,
        );
    }
    for error in &host.load_errors {
        let _ = writeln!(
            text,
            "{} ({}): {}: {}",
            for_terminal(&error.name),
            for_terminal(&error.source.to_string()),
            error.status,
            for_terminal(&error.error)
        );
    }
    text
}

/// Compiles, checks and describes one candidate; the error says why it cannot be used.
fn load_one(
    engine: &Engine,
    linker: &Linker<Sandbox>,
    cache: &ArtifactCache,
    limits: &Limits,
    candidate: &Candidate,
) -> Result<Loaded, LoadFailure> {
    let failed = |message: String| (RunStatus::LoadFailed, message);
    let wasm = candidate.wasm().map_err(failed)?;
    let sha256 = hex::encode(Sha256::digest(&wasm));
    let precompiled = candidate.precompiled().and_then(|native| cache::precompiled_component(engine, native));
    let (component, compilation) = match precompiled {
        Some(component) => (component, Compilation::Precompiled),
        None => cache
            .component(engine, &wasm, &sha256)
            .map_err(|error| failed(format!("not a valid WebAssembly component: {error}")))?,
    };
    drop(wasm);

    // Checked on the component's type, before anything of the plugin runs.
    let contract_version = contract::check_exports(engine, &component).map_err(|error| match error {
        ContractError::Incompatible(message) => (RunStatus::Incompatible, message),
        ContractError::NotAnAnalyzer(message) => failed(message),
    })?;
    let pre = linker
        .instantiate_pre(&component)
        .map_err(|error| failed(format!("cannot be linked in the sandbox: {error}")))?;
    let pre = PluginPre::new(contract_version, pre)
        .map_err(|error| failed(format!("does not match the analyzer interface {contract_version}: {error}")))?;

    let mut store = sandbox::new_store(engine, limits);
    let result = pre.describe(&mut store);
    let info = sandbox::classify(&store, limits, result)
        .map_err(|(_, message)| failed(format!("describe() failed: {message}")))?;

    let name = info.name;
    let valid_name = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte));
    if !valid_name {
        return Err(failed(format!(
            "describe() returned the name {name:?}; a plugin name is 1 to {MAX_NAME_BYTES} \
             characters of A-Z, a-z, 0-9, '-', '_', '.'"
        )));
    }
    if info.patterns.len() > MAX_PATTERNS {
        return Err(failed(format!(
            "describe() returned {} patterns, more than the {MAX_PATTERNS} a plugin may have",
            info.patterns.len()
        )));
    }
    let globs = compile_patterns(&info.patterns).map_err(failed)?;
    let descriptor = PluginDescriptor {
        name,
        version: contract::bounded(info.version),
        description: contract::bounded(info.description),
        patterns: info.patterns,
        sha256,
        contract_version: contract_version.to_string(),
        source: candidate.source(),
        compilation,
    };
    Ok((descriptor, Runnable { pre, globs, limits: limits.clone() }))
}

/// Patterns are relative to the image root, and `*` must not cross a '/'.
pub(crate) fn compile_patterns(patterns: &[String]) -> Result<GlobSet, String> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        if pattern.starts_with('/') {
            return Err(format!("pattern {pattern:?} starts with '/'; patterns are relative to the image root"));
        }
        let glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|error| format!("invalid pattern {pattern:?}: {error}"))?;
        set.add(glob);
    }
    set.build().map_err(|error| format!("invalid patterns: {error}"))
}

/// The `*.wasm` names directly in `dir`, sorted; none if `dir` does not exist. Each is loaded,
/// regular file or not: one that is not (a FIFO, a device, a dangling link) is a load error
/// that says so, rather than a plugin silently missing.
fn wasm_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "wasm") {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_strings_are_the_report_contract() {
        let all = [
            (RunStatus::Ok, "ok"),
            (RunStatus::Failed, "error"),
            (RunStatus::Trapped, "trap"),
            (RunStatus::TimedOut, "timeout"),
            (RunStatus::OutOfMemory, "out-of-memory"),
            (RunStatus::Incompatible, "incompatible"),
            (RunStatus::LoadFailed, "load-error"),
        ];
        for (status, text) in all {
            assert_eq!(status.as_str(), text);
            assert_eq!(serde_json::to_string(&status).unwrap(), format!("\"{text}\""));
        }
    }

    fn descriptor(name: &str, source: PluginSource) -> PluginDescriptor {
        PluginDescriptor {
            name: name.into(),
            version: "1".into(),
            description: String::new(),
            patterns: Vec::new(),
            sha256: String::new(),
            contract_version: "1.1.0".into(),
            source,
            compilation: Compilation::Compiled,
        }
    }

    #[test]
    fn a_file_replaces_a_builtin_and_duplicates_are_reported() {
        let file = |path: &str| PluginSource::Path(PathBuf::from(path));
        let loaded = vec![
            (descriptor("dpkg", PluginSource::Builtin), 1),
            (descriptor("npm", PluginSource::Builtin), 2),
            (descriptor("apk", PluginSource::Builtin), 3),
            (descriptor("apk", PluginSource::Builtin), 4),
            (descriptor("dpkg", file("/p/a.wasm")), 5),
            (descriptor("dpkg", file("/p/b.wasm")), 6),
            (descriptor("extra", file("/p/c.wasm")), 7),
        ];
        let mut errors = Vec::new();
        let kept: Vec<(String, String, i32)> = resolve_names(loaded, &mut errors)
            .into_values()
            .map(|(descriptor, tag)| (descriptor.name, descriptor.source.to_string(), tag))
            .collect();
        let expected =
            [("apk", "builtin", 3), ("dpkg", "/p/a.wasm", 5), ("extra", "/p/c.wasm", 7), ("npm", "builtin", 2)];
        let expected: Vec<(String, String, i32)> =
            expected.iter().map(|&(name, source, tag)| (name.into(), source.into(), tag)).collect();
        assert_eq!(kept, expected);
        let errors: Vec<(&str, String, &str)> =
            errors.iter().map(|e| (e.name.as_str(), e.source.to_string(), e.error.as_str())).collect();
        assert_eq!(
            errors,
            [
                ("apk", "builtin".to_owned(), "another plugin named \"apk\" is already loaded from builtin"),
                ("dpkg", "/p/b.wasm".to_owned(), "another plugin named \"dpkg\" is already loaded from /p/a.wasm"),
            ]
        );
    }

    fn builtin_options(cache_dir: &Path) -> PluginOptions {
        PluginOptions {
            plugins_dir: Some(cache_dir.join("no-plugins")),
            builtin: true,
            files: Vec::new(),
            cache_dir: cache_dir.to_owned(),
            limits: Limits::default(),
            plugin_limits: BTreeMap::new(),
        }
    }

    #[test]
    fn builtins_run_their_precompiled_code_and_compile_nothing() {
        let cache_dir = tempfile::tempdir().unwrap();
        let host = PluginHost::load(&builtin_options(cache_dir.path())).unwrap();
        assert!(host.load_errors().is_empty(), "{:?}", host.load_errors());
        assert_eq!(host.plugins().len(), BUILTIN_PLUGINS.len());
        for plugin in host.plugins() {
            assert_eq!(plugin.compilation, Compilation::Precompiled, "{}", plugin.name);
        }
        assert!(!cache_dir.path().join("compiled").exists(), "nothing was compiled, so nothing cached");
    }

    #[test]
    fn precompiled_code_the_engine_cannot_run_is_refused_and_compiled_instead() {
        let native = BUILTIN_PLUGINS[0].precompiled.expect("a native build embeds precompiled code");
        let engine = Engine::new(&ecr_wasm_engine::config()).unwrap();
        assert!(cache::precompiled_component(&engine, native).is_some());
        // Code made for other settings (here without the epoch checks the CPU limit needs), or
        // not code at all, must never run.
        let mut other_config = ecr_wasm_engine::config();
        other_config.epoch_interruption(false);
        let other_engine = Engine::new(&other_config).unwrap();
        assert!(cache::precompiled_component(&other_engine, native).is_none());
        assert!(cache::precompiled_component(&engine, b"\0asm garbage").is_none());

        // The loader then compiles the component, and caches it, like any plugin file.
        let cache_dir = tempfile::tempdir().unwrap();
        let damaged: &'static BuiltinPlugin = Box::leak(Box::new(BuiltinPlugin {
            name: BUILTIN_PLUGINS[0].name,
            wasm: BUILTIN_PLUGINS[0].wasm,
            precompiled: Some(&native[..native.len() / 2]),
        }));
        let linker = sandbox::linker(&engine).unwrap();
        let cache = ArtifactCache::new(cache_dir.path(), &engine);
        let load = || load_one(&engine, &linker, &cache, &Limits::default(), &Candidate::Builtin(damaged));
        let (descriptor, _) = load().unwrap_or_else(|(_, error)| panic!("{error}"));
        assert_eq!(descriptor.compilation, Compilation::Compiled);
        assert_eq!(descriptor.source, PluginSource::Builtin);
        let (descriptor, _) = load().unwrap_or_else(|(_, error)| panic!("{error}"));
        assert_eq!(descriptor.compilation, Compilation::Cached);
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(300), "300 bytes");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(64 * 1024 * 1024), "64.0 MiB");
        assert_eq!(human_size(4 << 30), "4.0 GiB");
    }

    #[test]
    fn star_stays_within_a_path_component() {
        let set = compile_patterns(&["usr/lib/*.conf".into(), "**/package.json".into()]).unwrap();
        assert!(set.is_match("usr/lib/a.conf"));
        assert!(!set.is_match("usr/lib/sub/a.conf"));
        assert!(set.is_match("package.json"));
        assert!(set.is_match("app/node_modules/x/package.json"));
        assert!(compile_patterns(&["/etc/passwd".into()]).is_err());
        assert!(compile_patterns(&["a/[".into()]).is_err());
    }
}
