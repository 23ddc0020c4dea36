//! The command line: `scan`, `rescan`, `history`, `diff`, `db`, `cache` and `plugins` (in
//! [`plugins`]).

mod plugins;

use crate::history;
use crate::image::Platform;
use crate::layer::LayerLimits;
use crate::plugin::config::{self as plugins_config, PluginsConfig};
use crate::plugin::{self, Limits, PluginHost, PluginOptions};
use crate::policy::{self, Policy};
use crate::report::{Format, Report};
use crate::scan::{ScanOptions, Scanner};
use crate::store::cache::{LayerCache, SqliteLayerCache};
use crate::store::history::{ScanHistory, ScanRecord};
use crate::store::{self, AdvisorySource, Store};
use crate::terminal;
use crate::vuln::{self, import, matcher::MatchOptions};
use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Exit code of a scan whose report is partial (a layer or a plugin failed).
pub const EXIT_INCOMPLETE: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "ecr-engine",
    version,
    about = "Scans container images for vulnerable packages and risky configuration"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan one image: docker-archive:PATH, oci-archive:PATH, oci:DIR[:REF], dir:PATH, a bare path,
    /// or a registry image HOST[:PORT]/REPO[:TAG|@DIGEST] (also docker://REF).
    ///
    /// Exit status: 0 complete; 1 the scan could not run; 3 the report is incomplete (a layer or
    /// a plugin failed; the report says which); --exit-code N when findings remain.
    // Boxed: the scan flags dwarf the other commands' (clippy::large_enum_variant).
    Scan(Box<ScanArgs>),
    /// Manage the vulnerability data (OSV records) in the store.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    #[command(flatten)]
    Aws(crate::aws::cli::AwsCommand),
    /// Write, build, inspect and try analyzer plugins.
    Plugins {
        #[command(subcommand)]
        command: plugins::PluginsCommand,
    },
    /// Match the recorded package inventories of scanned images (the latest scan of each) against
    /// the current vulnerability data again, without reading any image; records the results.
    ///
    /// The history records every finding; --severity, --ignore-unfixed, the ignore file and
    /// --skip-check shape what is shown and counted: both sides of each comparison, and the
    /// issues found now (end of life only: configuration checks need the image).
    ///
    /// Exit status: 0 done; 1 the rescan could not run; --exit-code N when findings remain in any
    /// image.
    Rescan {
        /// Only images of this repository (or scanned under this target).
        repository: Option<String>,
        /// Also match development dependencies that are only declared in lockfiles.
        #[arg(long)]
        include_dev_deps: bool,
        #[arg(long, short = 'f', value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List recorded scans, oldest first, with vulnerability counts by severity.
    History {
        /// Only scans of this repository (or of this target).
        repository: Option<String>,
        #[arg(long, short = 'f', value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        #[command(flatten)]
        db: DbArgs,
    },
    /// What changed between two scans: vulnerabilities introduced and fixed, packages added,
    /// removed and changed. A and B are scan ids, image digests, targets or repo:tag references
    /// (the latest scan of each).
    Diff {
        a: String,
        b: String,
        #[arg(long, short = 'f', value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manage the layer cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
}

/// How the commands that show stored data print it; they have no SARIF or CycloneDX form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum CacheCommand {
    /// Show how many layers are cached and how much space they take.
    Status {
        #[arg(long, short = 'f', value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Remove cached layers: those unused for a while, or the least recently used beyond a size.
    #[command(group(clap::ArgGroup::new("rule").required(true).multiple(true)))]
    Prune {
        /// Remove layers not used for this long: 30d, 12h, 90m, 2w.
        #[arg(long, value_parser = parse_duration, group = "rule")]
        older_than: Option<u64>,
        /// Keep at most this much (stored size), removing least recently used layers: 2G.
        #[arg(long, value_parser = parse_size, group = "rule")]
        max_size: Option<u64>,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Import OSV records: JSON files, directories of them, or osv.dev's per-ecosystem all.zip.
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Download osv.dev's dumps for the ecosystems ecr-engine matches and import them.
    Update {
        /// Where the dumps are: <URL>/<ecosystem>/all.zip.
        #[arg(long, env = "ECR_ENGINE_DB_URL", default_value = import::DEFAULT_BASE_URL)]
        base_url: String,
        /// Only these OSV ecosystems (repeatable), e.g. --ecosystem Debian --ecosystem npm.
        #[arg(long = "ecosystem")]
        ecosystems: Vec<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Show what vulnerability data is loaded and when it was imported.
    Status {
        #[arg(long, short = 'f', value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Args)]
struct DbArgs {
    /// The store (vulnerability data, layer cache, scan history). Default:
    /// $XDG_DATA_HOME/ecr-engine/ecr-engine.db.
    #[arg(long, env = "ECR_ENGINE_DB")]
    db: Option<PathBuf>,
}

impl DbArgs {
    fn path(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(store::default_path)
    }
}

#[derive(Debug, Args)]
struct ScanArgs {
    /// What to scan, in skopeo's syntax (an ECR image: ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG).
    #[arg(required_unless_present = "all")]
    target: Option<String>,
    /// Platform to pick from a multi-platform image: os/arch[/variant]. Default: linux/amd64, or
    /// the image's only platform.
    #[arg(long)]
    platform: Option<String>,
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Ceiling on the uncompressed size of one layer (decompression-bomb guard), e.g. 32G.
    #[arg(long, value_parser = parse_size, default_value = "32G")]
    max_layer_size: u64,
    /// Largest file handed to analyzers; bigger files are skipped with a warning, e.g. 128M.
    #[arg(long, value_parser = parse_size, default_value = "128M")]
    max_file_size: u64,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Also match development dependencies that are only declared in lockfiles.
    #[arg(long)]
    include_dev_deps: bool,
    /// Read every layer even when the layer cache has it (and do not cache what is read).
    #[arg(long)]
    no_cache: bool,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    plugins: PluginArgs,
    #[command(flatten)]
    registry: crate::registry::args::RegistryArgs,
    #[command(flatten)]
    ecr: crate::aws::cli::EcrScanArgs,
}

/// What `scan` and `rescan` leave out of what they show, and when they fail a pipeline.
#[derive(Debug, Args)]
struct PolicyArgs {
    /// Leave out issues with this check id (e.g. CFG-001); repeat or comma-separate for several.
    #[arg(long, value_delimiter = ',')]
    skip_check: Vec<String>,
    /// Report only these severities, e.g. HIGH,CRITICAL.
    #[arg(long)]
    severity: Option<String>,
    /// Leave out vulnerabilities that have no fixed version yet.
    #[arg(long)]
    ignore_unfixed: bool,
    /// Ids to leave out, one per line: `ID [exp:YYYY-MM-DD] [# reason]`. Default:
    /// .ecr-engine-ignore in the current directory, if present.
    #[arg(long)]
    ignore_file: Option<PathBuf>,
    /// Exit with this status when vulnerabilities or issues remain after filtering.
    #[arg(long, default_value_t = 0)]
    exit_code: u8,
}

/// Read when present and no --ignore-file is given, like .trivyignore.
const DEFAULT_IGNORE_FILE: &str = ".ecr-engine-ignore";

impl PolicyArgs {
    fn policy(&self) -> Result<Policy> {
        let ignore = match &self.ignore_file {
            Some(path) => policy::read_ignore_file(path)?,
            // `exists`: one there that is not a regular file is refused, not passed over.
            None if Path::new(DEFAULT_IGNORE_FILE).exists() => {
                policy::read_ignore_file(Path::new(DEFAULT_IGNORE_FILE))?
            }
            None => Vec::new(),
        };
        Ok(Policy {
            severities: match &self.severity {
                Some(list) => policy::parse_severities(list).map_err(anyhow::Error::msg)?,
                None => Vec::new(),
            },
            ignore_unfixed: self.ignore_unfixed,
            ignore,
            skip_checks: self.skip_check.clone(),
        })
    }

    /// The exit status --exit-code asks for when findings remain after filtering.
    fn failing(&self, findings_remain: bool) -> Option<ExitCode> {
        (self.exit_code != 0 && findings_remain).then(|| ExitCode::from(self.exit_code))
    }
}

#[derive(Debug, Args)]
pub(crate) struct PluginArgs {
    /// Directory of extra analyzer plugins (*.wasm); a plugin named like a built-in replaces it.
    /// Default: $XDG_DATA_HOME/ecr-engine/plugins (~/.local/share/ecr-engine/plugins).
    #[arg(long, env = "ECR_ENGINE_PLUGINS_DIR")]
    plugins_dir: Option<PathBuf>,
    /// Do not load the built-in analyzers (dpkg, ...); only those in the plugins directory.
    #[arg(long)]
    no_builtin_plugins: bool,
    /// Where compiled plugins are cached. Default: $XDG_CACHE_HOME/ecr-engine (~/.cache/ecr-engine).
    #[arg(long, env = "ECR_ENGINE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Per-plugin limits (memory, cpu-time, max-file-size), TOML. Default: plugins.toml in the
    /// plugins directory, if present.
    #[arg(long, env = "ECR_ENGINE_PLUGINS_CONFIG")]
    plugins_config: Option<PathBuf>,
    /// Memory each plugin may use while analyzing one image, e.g. 256M (default 256M, or the
    /// config's [defaults]); a [plugins.NAME] section in the config beats it.
    #[arg(long, value_parser = parse_size)]
    plugin_memory: Option<u64>,
    /// CPU time each plugin may use while analyzing one image, in seconds (default 10, or the
    /// config's [defaults]); a [plugins.NAME] section in the config beats it.
    #[arg(long)]
    plugin_timeout: Option<f64>,
}

impl PluginArgs {
    /// The plugins directory a scan reads.
    fn plugins_dir(&self) -> PathBuf {
        self.plugins_dir.clone().unwrap_or_else(plugin::default_plugins_dir)
    }

    /// Where plugins come from and their limits: built-in defaults (files up to
    /// `max_file_bytes`, the scan's own ceiling), then the config's [defaults], then the
    /// command line, then the config's per-plugin sections.
    fn options(&self, max_file_bytes: u64) -> Result<(PluginOptions, PluginsConfig)> {
        let plugins_dir = self.plugins_dir();
        let config = match &self.plugins_config {
            Some(path) => PluginsConfig::load(path, true)?,
            None => PluginsConfig::load(&plugins_dir.join(plugins_config::FILE_NAME), false)?,
        };
        let mut limits = config.defaults().apply(&Limits { max_file_bytes, ..Limits::default() });
        if let Some(memory) = self.plugin_memory {
            limits.memory_bytes = memory;
        }
        if let Some(seconds) = self.plugin_timeout {
            if !(seconds > 0.0 && seconds.is_finite()) {
                bail!("--plugin-timeout must be a positive number of seconds");
            }
            limits.cpu_time = Duration::from_secs_f64(seconds);
        }
        let cache_dir = match &self.cache_dir {
            Some(dir) => dir.clone(),
            None => dirs::cache_dir().context("no cache directory for this user; pass --cache-dir")?.join("ecr-engine"),
        };
        let options = PluginOptions {
            plugins_dir: Some(plugins_dir),
            builtin: !self.no_builtin_plugins,
            files: Vec::new(),
            cache_dir,
            plugin_limits: config.plugin_limits(&limits),
            limits,
        };
        Ok((options, config))
    }

    /// Loads one component file alone (no built-ins, nothing from the plugins directory), with
    /// the limits the config gives it.
    fn load_only(&self, file: &Path, max_file_bytes: u64) -> Result<PluginHost> {
        let (mut options, _) = self.options(max_file_bytes)?;
        let nothing = tempfile::tempdir().context("cannot create a temporary directory")?;
        options.plugins_dir = Some(nothing.path().to_owned());
        options.builtin = false;
        options.files = vec![file.to_owned()];
        PluginHost::load(&options)
    }

    /// Loads the plugins; warns about config sections that name no loaded plugin (a typo there
    /// would otherwise silently leave the real plugin on the default limits).
    fn load(&self, max_file_bytes: u64) -> Result<PluginHost> {
        let (options, config) = self.options(max_file_bytes)?;
        let host = PluginHost::load(&options)?;
        for name in config.plugin_names() {
            let known =
                host.plugins().iter().any(|p| p.name == name) || host.load_errors().iter().any(|e| e.name == name);
            if !known {
                let path = config.path.as_deref().unwrap_or(Path::new(plugins_config::FILE_NAME));
                terminal::message(&format!(
                    "warning: {} has limits for plugin {name:?}, but no plugin of that name is loaded",
                    path.display()
                ));
            }
        }
        Ok(host)
    }
}

/// `512M`, `32G`, `1024`: sizes in bytes with an optional binary unit.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("'{text}' is not a size like 512M or 32G"))?;
    let shift = match unit.trim().to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("'{text}': unknown unit '{unit}' (use K, M, G or T)")),
    };
    number.checked_mul(1 << shift).ok_or_else(|| format!("'{text}' is too large"))
}

/// `30d`, `12h`, `90m`, `45s`, `2w`: a duration in seconds. Written here because it is this
/// small; a crate for it would be the only one in the tree.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("'{text}' is not a duration like 30d or 12h"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => return Err(format!("'{text}': give a unit: s, m, h, d or w (e.g. 30d)")),
    };
    number.checked_mul(seconds).ok_or_else(|| format!("'{text}' is too long"))
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            terminal::message(&format!("error: {error:#}"));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => run_scan(*args),
        Command::Db { command } => run_db(command),
        Command::Aws(command) => crate::aws::cli::run(command),
        Command::Plugins { command } => plugins::run(command),
        Command::Rescan { repository, include_dev_deps, format, policy, db } => {
            let rules = policy.policy()?;
            let store = existing_store(&db)?;
            let today = time::OffsetDateTime::now_utc().date();
            let options = MatchOptions { include_dev: include_dev_deps };
            let results = history::rescan(&store, repository.as_deref(), options, &rules, today)?;
            for warning in rules.expired_warnings(today) {
                terminal::message(&format!("warning: {warning}"));
            }
            print_listing(format, &results[..], history::rescan_table)?;
            Ok(policy.failing(results.iter().any(history::Rescanned::has_findings)).unwrap_or(ExitCode::SUCCESS))
        }
        Command::History { repository, format, db } => {
            let scans = existing_store(&db)?.list(repository.as_deref())?;
            print_listing(format, &scans[..], history::history_table)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff { a, b, format, db } => {
            let store = existing_store(&db)?;
            let diff = history::diff(&history::find_scan(&store, &a)?, &history::find_scan(&store, &b)?);
            print_listing(format, &diff, history::diff_table)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Cache { command } => run_cache(command),
    }
}

/// What the listing commands print: the exact JSON, or the table for people.
fn print_listing<T: serde::Serialize + ?Sized>(
    format: ListFormat,
    data: &T,
    table: impl Fn(&T) -> String,
) -> Result<()> {
    match format {
        ListFormat::Json => terminal::print_exact(&(serde_json::to_string_pretty(data)? + "\n")),
        ListFormat::Table => terminal::print(&table(data)),
    }
}

/// The store for commands that only read what earlier commands wrote.
fn existing_store(db: &DbArgs) -> Result<Store> {
    let path = db.path();
    Store::open_existing(&path)?
        .with_context(|| format!("no store at {}: nothing was scanned with it yet", path.display()))
}

fn run_cache(command: CacheCommand) -> Result<ExitCode> {
    match command {
        CacheCommand::Status { format, db } => {
            let status = SqliteLayerCache::open(existing_store(&db)?.path())?.status()?;
            print_listing(format, &status, |status| {
                format!(
                    "Store:        {}\nLayers:       {}\nStored size:  {} bytes\nBlob bytes:   {} bytes a scan need not read\n",
                    terminal::for_terminal(&db.path().to_string_lossy()),
                    status.entries,
                    status.stored_bytes,
                    status.blob_bytes
                )
            })?;
        }
        CacheCommand::Prune { older_than, max_size, db } => {
            let cache = SqliteLayerCache::open(existing_store(&db)?.path())?;
            let mut removed = 0;
            if let Some(age) = older_than {
                removed += cache.prune_older_than(age)?;
            }
            if let Some(size) = max_size {
                removed += cache.prune_to_size(size)?;
            }
            let status = cache.status()?;
            terminal::print(&format!(
                "removed {removed} cached layers; {} left, {} bytes\n",
                status.entries, status.stored_bytes
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_scan(args: ScanArgs) -> Result<ExitCode> {
    let host = args.plugins.load(args.max_file_size)?;
    let options = ScanOptions {
        platform: args.platform.as_deref().map(Platform::parse).transpose()?,
        limits: LayerLimits { max_layer_bytes: args.max_layer_size, max_file_bytes: args.max_file_size },
        registry: args.registry.options()?,
        ecr: args.ecr.access(args.target.as_deref())?,
    };
    let policy = args.policy.policy()?;
    let today = time::OffsetDateTime::now_utc().date();
    let store = Store::open(&args.db.path())?;
    let cache = if args.no_cache { None } else { Some(SqliteLayerCache::open(store.path())?) };
    // One scanner for all the images of a run (`scan --all` scans several at once), so a layer
    // they share is read once.
    let scanner = Scanner::new(&host, cache.as_ref().map(|c| c as &dyn LayerCache));
    let data_version = store.data_version()?;
    // One connection, shared by the images of `scan --all` one at a time.
    let store = std::sync::Mutex::new(store);
    // The one-image scan: `scan --all` runs it per image.
    let scan_one = |target: &str| -> Result<Report> {
        let mut report = scanner.scan(target, &options)?;
        let store = store.lock().map_err(|_| anyhow::anyhow!("the store lock is poisoned"))?;
        vuln::assess(
            &mut report,
            data_version.is_some().then_some(&*store as &dyn AdvisorySource),
            today,
            MatchOptions { include_dev: args.include_dev_deps },
        )?;
        // The history keeps every finding; policy filters only shape this report.
        if let Err(error) = store.record(&ScanRecord::from_report(&report, "scan", data_version.clone())) {
            terminal::message(&format!(
                "warning: the scan of {} could not be recorded in the history: {error:#}",
                terminal::for_terminal(target)
            ));
        }
        policy.apply(&mut report, today);
        Ok(report)
    };
    let Some(target) = args.target.as_deref() else {
        let access = options.ecr.as_deref().context("scan needs a TARGET or --all")?;
        let outcomes =
            crate::aws::cli::run_scan_all(&args.ecr, access, matches!(args.format, Format::Json), &scan_one)?;
        // As for one image, --exit-code wins: a pipeline asked to fail on findings fails on them.
        let findings_remain = outcomes.iter().any(|o| o.vulnerabilities > 0 || o.issues > 0);
        if let Some(code) = args.policy.failing(findings_remain) {
            return Ok(code);
        }
        return Ok(if outcomes.iter().any(crate::aws::scan_all::ImageOutcome::failed) {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    };
    let report = scan_one(target)?;
    let rendered = report.render(args.format);
    match &args.output {
        Some(path) => {
            std::fs::write(path, &rendered)
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
            terminal::message(&format!(
                "{}: {} packages, {} issues{}; report written to {}",
                terminal::for_terminal(target),
                report.packages.len(),
                report.issues.len(),
                if report.complete { "" } else { " (INCOMPLETE)" },
                terminal::for_terminal(&path.to_string_lossy())
            ));
        }
        None if args.format == Format::Table => terminal::print(&rendered)?,
        None => terminal::print_exact(&rendered)?,
    }
    for error in &report.errors {
        terminal::message(&format!("error: {}", terminal::for_terminal(error)));
    }
    if let Some(code) = args.policy.failing(!report.vulnerabilities.is_empty() || !report.issues.is_empty()) {
        return Ok(code);
    }
    if !report.complete {
        return Ok(ExitCode::from(EXIT_INCOMPLETE));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_db(command: DbCommand) -> Result<ExitCode> {
    match command {
        DbCommand::Import { paths, db } => {
            let mut store = Store::open(&db.path())?;
            let report = import::import_paths(&mut store, &paths)?;
            print_import(&report, store.path())?;
        }
        DbCommand::Update { base_url, ecosystems, db } => {
            let ecosystems = if ecosystems.is_empty() {
                import::ECOSYSTEMS.iter().map(|e| e.to_string()).collect()
            } else {
                ecosystems
            };
            let path = db.path();
            let mut store = Store::open(&path)?;
            let work_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let (report, notes) = import::update(&mut store, &base_url, &ecosystems, &work_dir)?;
            for note in notes {
                terminal::message(&format!("note: {note}"));
            }
            print_import(&report, store.path())?;
        }
        DbCommand::Status { format, db } => {
            let path = db.path();
            let Some(store) = Store::open_existing(&path)? else {
                bail!(
                    "no vulnerability data at {}; run `ecr-engine db update` or `ecr-engine db import PATH`",
                    path.display()
                );
            };
            let status = store.status()?;
            print_listing(format, &status, |status| {
                let mut text = format!(
                    "Store:      {}\nAdvisories: {}\n",
                    terminal::for_terminal(&status.path.to_string_lossy()),
                    status.advisories
                );
                match &status.last_import {
                    Some((when, sources)) => {
                        text += &format!("Imported:   {when} from {}\n", terminal::for_terminal(sources))
                    }
                    None => text += "Imported:   never\n",
                }
                for ecosystem in &status.ecosystems {
                    text += &format!(
                        "  {:<24} {:>8} advisories  {:>7} packages\n",
                        terminal::for_terminal(&ecosystem.key),
                        ecosystem.advisories,
                        ecosystem.packages
                    );
                }
                text
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_import(report: &import::ImportReport, path: &Path) -> Result<()> {
    for rejection in &report.rejections {
        terminal::message(&format!("skipped: {}", terminal::for_terminal(rejection)));
    }
    terminal::print(&format!(
        "{}: read {} records in {:.1}s ({:.0}/s): {} stored, {} unchanged, {} withdrawn, {} rejected\n",
        terminal::for_terminal(&path.to_string_lossy()),
        report.read,
        report.seconds,
        report.read as f64 / report.seconds.max(1e-9),
        report.stored,
        report.unchanged,
        report.withdrawn,
        report.rejected
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("32GiB"), Ok(32 << 30));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("G").is_err());
    }
}
