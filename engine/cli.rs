//! The command line: `ecr-engine scan TARGET` and `ecr-engine plugins list`.

use crate::image::Platform;
use crate::layer::LayerLimits;
use crate::plugin::{self, Limits, PluginHost, PluginOptions};
use crate::policy::{self, Policy};
use crate::report::{Format, Report};
use crate::scan::{self, ScanOptions};
use crate::store::{self, AdvisorySource, Store};
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
    /// Inspect analyzer plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
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
        #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
        format: Format,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Args)]
struct DbArgs {
    /// The store (vulnerability data). Default: $XDG_DATA_HOME/ecr-engine/ecr-engine.db.
    #[arg(long, env = "ECR_ENGINE_DB")]
    db: Option<PathBuf>,
}

impl DbArgs {
    fn path(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(store::default_path)
    }
}

#[derive(Debug, Subcommand)]
enum PluginsCommand {
    /// List the plugins a scan would use, with version, patterns and load errors.
    List(PluginArgs),
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
    /// Also match development dependencies that are only declared in lockfiles.
    #[arg(long)]
    include_dev_deps: bool,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    plugins: PluginArgs,
    #[command(flatten)]
    registry: crate::registry::args::RegistryArgs,
    #[command(flatten)]
    ecr: crate::aws::cli::EcrScanArgs,
}

#[derive(Debug, Args)]
struct PluginArgs {
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
    /// Memory one plugin may use while analyzing one image, e.g. 256M.
    #[arg(long, value_parser = parse_size, default_value = "256M")]
    plugin_memory: u64,
    /// CPU time one plugin may use while analyzing one image, in seconds.
    #[arg(long, default_value_t = 10.0)]
    plugin_timeout: f64,
}

impl PluginArgs {
    fn options(&self) -> Result<PluginOptions> {
        if !(self.plugin_timeout > 0.0 && self.plugin_timeout.is_finite()) {
            bail!("--plugin-timeout must be a positive number of seconds");
        }
        let cache_dir = match &self.cache_dir {
            Some(dir) => dir.clone(),
            None => dirs::cache_dir().context("no cache directory for this user; pass --cache-dir")?.join("ecr-engine"),
        };
        Ok(PluginOptions {
            plugins_dir: self.plugins_dir.clone(),
            builtin: !self.no_builtin_plugins,
            cache_dir,
            limits: Limits {
                memory_bytes: self.plugin_memory,
                cpu_time: Duration::from_secs_f64(self.plugin_timeout),
                ..Limits::default()
            },
        })
    }
}

/// `512M`, `32G`, `1024`: sizes in bytes with an optional binary unit.
fn parse_size(text: &str) -> Result<u64, String> {
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

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => run_scan(*args),
        Command::Db { command } => run_db(command),
        Command::Aws(command) => crate::aws::cli::run(command),
        Command::Plugins { command: PluginsCommand::List(args) } => {
            let host = PluginHost::load(&args.options()?)?;
            print!("{}", plugin::describe_plugins(&host));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_scan(args: ScanArgs) -> Result<ExitCode> {
    let host = PluginHost::load(&args.plugins.options()?)?;
    let options = ScanOptions {
        platform: args.platform.as_deref().map(Platform::parse).transpose()?,
        limits: LayerLimits { max_layer_bytes: args.max_layer_size, max_file_bytes: args.max_file_size },
        registry: args.registry.options()?,
        ecr: args.ecr.access(args.target.as_deref())?,
    };
    let ignore = match &args.ignore_file {
        Some(path) => policy::read_ignore_file(path)?,
        None if Path::new(DEFAULT_IGNORE_FILE).is_file() => policy::read_ignore_file(Path::new(DEFAULT_IGNORE_FILE))?,
        None => Vec::new(),
    };
    let policy = Policy {
        severities: match &args.severity {
            Some(list) => policy::parse_severities(list).map_err(anyhow::Error::msg)?,
            None => Vec::new(),
        },
        ignore_unfixed: args.ignore_unfixed,
        ignore,
        skip_checks: args.skip_check.clone(),
    };
    let today = time::OffsetDateTime::now_utc().date();
    // One connection, shared by the images of `scan --all` one at a time.
    let store = std::sync::Mutex::new(Store::open_existing(&args.db.path())?);
    // The one-image scan: `scan --all` runs it per image.
    let scan_one = |target: &str| -> Result<Report> {
        let mut report = scan::scan(target, &host, &options)?;
        let store = store.lock().map_err(|_| anyhow::anyhow!("the store lock is poisoned"))?;
        vuln::assess(
            &mut report,
            store.as_ref().map(|s| s as &dyn AdvisorySource),
            today,
            MatchOptions { include_dev: args.include_dev_deps },
        )?;
        policy.apply(&mut report, today);
        Ok(report)
    };
    let Some(target) = args.target.as_deref() else {
        let access = options.ecr.as_deref().context("scan needs a TARGET or --all")?;
        return crate::aws::cli::run_scan_all(&args.ecr, access, matches!(args.format, Format::Json), &scan_one);
    };
    let report = scan_one(target)?;
    let rendered = report.render(args.format);
    match &args.output {
        Some(path) => {
            std::fs::write(path, &rendered)
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
            eprintln!(
                "{}: {} packages, {} issues{}; report written to {}",
                target,
                report.packages.len(),
                report.issues.len(),
                if report.complete { "" } else { " (INCOMPLETE)" },
                path.display()
            );
        }
        None => print!("{rendered}"),
    }
    for error in &report.errors {
        eprintln!("error: {error}");
    }
    if args.exit_code != 0 && (!report.vulnerabilities.is_empty() || !report.issues.is_empty()) {
        return Ok(ExitCode::from(args.exit_code));
    }
    if !report.complete {
        return Ok(ExitCode::from(EXIT_INCOMPLETE));
    }
    Ok(ExitCode::SUCCESS)
}

/// Read when present and no --ignore-file is given, like .trivyignore.
const DEFAULT_IGNORE_FILE: &str = ".ecr-engine-ignore";

fn run_db(command: DbCommand) -> Result<ExitCode> {
    match command {
        DbCommand::Import { paths, db } => {
            let mut store = Store::open(&db.path())?;
            let report = import::import_paths(&mut store, &paths)?;
            print_import(&report, store.path());
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
                eprintln!("note: {note}");
            }
            print_import(&report, store.path());
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
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&status)?),
                _ => {
                    println!("Store:      {}", status.path.display());
                    println!("Advisories: {}", status.advisories);
                    match &status.last_import {
                        Some((when, sources)) => println!("Imported:   {when} from {sources}"),
                        None => println!("Imported:   never"),
                    }
                    for ecosystem in &status.ecosystems {
                        println!(
                            "  {:<24} {:>8} advisories  {:>7} packages",
                            ecosystem.key, ecosystem.advisories, ecosystem.packages
                        );
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_import(report: &import::ImportReport, path: &Path) {
    for rejection in &report.rejections {
        eprintln!("skipped: {rejection}");
    }
    println!(
        "{}: read {} records in {:.1}s ({:.0}/s): {} stored, {} unchanged, {} withdrawn, {} rejected",
        path.display(),
        report.read,
        report.seconds,
        report.read as f64 / report.seconds.max(1e-9),
        report.stored,
        report.unchanged,
        report.withdrawn,
        report.rejected
    );
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
