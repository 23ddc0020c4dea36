//! The command line: `ecr-engine scan TARGET` and `ecr-engine plugins list`.

use crate::image::Platform;
use crate::layer::LayerLimits;
use crate::plugin::{self, Limits, PluginHost, PluginOptions};
use crate::report::Format;
use crate::scan::{self, ScanOptions};
use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Exit code of a scan whose report is partial (a layer or a plugin failed).
pub const EXIT_INCOMPLETE: u8 = 3;

#[derive(Debug, Parser)]
#[command(name = "ecr-engine", version, about = "Scans container images for vulnerable packages and risky configuration")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan one image: docker-archive:PATH, oci-archive:PATH, oci:DIR[:REF], dir:PATH, or a bare path.
    ///
    /// Exit status: 0 complete, 1 the scan could not run, 3 the report is incomplete (a layer or
    /// a plugin failed; the report says which).
    Scan(ScanArgs),
    /// Inspect analyzer plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum PluginsCommand {
    /// List the plugins a scan would use, with version, patterns and load errors.
    List(PluginArgs),
}

#[derive(Debug, Args)]
struct ScanArgs {
    /// What to scan, in skopeo's syntax.
    target: String,
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
    #[command(flatten)]
    plugins: PluginArgs,
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
        Command::Scan(args) => run_scan(args),
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
    };
    let mut report = scan::scan(&args.target, &host, &options)?;
    report.skip_checks(&args.skip_check);
    let rendered = report.render(args.format);
    match &args.output {
        Some(path) => {
            std::fs::write(path, &rendered).with_context(|| format!("cannot write the report to {}", path.display()))?;
            eprintln!(
                "{}: {} packages, {} issues{}; report written to {}",
                args.target,
                report.packages.len(),
                report.issues.len(),
                if report.complete { "" } else { " (INCOMPLETE)" },
                path.display()
            );
        }
        None => print!("{rendered}"),
    }
    if !report.complete {
        for error in &report.errors {
            eprintln!("error: {error}");
        }
        return Ok(ExitCode::from(EXIT_INCOMPLETE));
    }
    Ok(ExitCode::SUCCESS)
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
