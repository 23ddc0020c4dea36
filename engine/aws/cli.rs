//! The AWS subcommands (`repos`, `test-connection`) and the AWS flags they share with
//! `scan`. Every flag also reads an `ECR_ENGINE_*` environment variable and a key of the JSON
//! config file (`--aws-config`, default `$XDG_CONFIG_HOME/ecr-engine/aws.json`); the flag wins
//! over the variable, the variable over the file.

use crate::aws::discover::{self, Filters};
use crate::aws::scan_all::{self, ImageOutcome};
use crate::aws::{self, AwsSession, AwsSettings, EcrAccess, Secret, connection, inventory, pull};
use crate::cli::EXIT_INCOMPLETE;
use crate::report::Report;
use crate::terminal;
use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub enum AwsCommand {
    /// Inventory of the ECR repositories: settings, policy, tags, public exposure.
    ///
    /// Exit status: 0 when every row is complete, 3 when a call failed for some repositories
    /// or regions (their rows say which; the others are complete), 1 when nothing was listed.
    Repos(ReposArgs),
    /// Check the credentials, the role chain and each ECR permission ecr-engine uses.
    ///
    /// Exit status: 0 when every check passes, 1 otherwise.
    TestConnection(ConnectionArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ReposArgs {
    /// Regions to inventory (repeat or comma-separate); default: the one --region or the AWS
    /// configuration names.
    #[arg(long = "regions", value_delimiter = ',')]
    regions: Vec<String>,
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
    #[command(flatten)]
    aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct ConnectionArgs {
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
    #[command(flatten)]
    aws: AwsArgs,
}

/// `scan`'s ECR flags: `--all` and its filters, and the AWS access flags.
#[derive(Debug, Args)]
pub struct EcrScanArgs {
    /// Scan every tagged image of every ECR repository in the region (see --repo, --tag,
    /// --newest). Exit status 1 when any image failed or is incomplete.
    #[arg(long, conflicts_with = "target")]
    pub all: bool,
    /// With --all: only repositories matching this glob (repeatable; `*` does not cross '/').
    #[arg(long, requires = "all")]
    repo: Vec<String>,
    /// With --all: only images with a tag matching this glob (repeatable).
    #[arg(long, requires = "all")]
    tag: Vec<String>,
    /// With --all: only the N most recently pushed images of each repository.
    #[arg(long, requires = "all")]
    newest: Option<usize>,
    /// With --all: images scanned at once.
    #[arg(long, default_value_t = 2, requires = "all")]
    jobs: usize,
    #[command(flatten)]
    aws: AwsArgs,
}

impl EcrScanArgs {
    /// AWS access when the scan needs it: --all, or a target on an ECR host.
    pub fn access(&self, target: Option<&str>) -> Result<Option<Arc<EcrAccess>>> {
        let ecr_target = target.is_some_and(|t| {
            let t = t.strip_prefix("docker://").unwrap_or(t);
            t.split_once('/').is_some_and(|(host, _)| pull::parse_ecr_host(host).is_some())
        });
        if !self.all && !ecr_target {
            return Ok(None);
        }
        Ok(Some(Arc::new(EcrAccess::new(self.aws.settings()?.resolve()?))))
    }
}

/// `scan --all`: discovers the images, scans each with `scan_one` (the single-image scan, so
/// any cache or shared context it uses applies per image), prints the summary table (or the
/// outcomes with their reports as JSON), and returns the outcomes for the caller's exit status.
pub fn run_scan_all(
    args: &EcrScanArgs,
    access: &EcrAccess,
    json: bool,
    scan_one: &(dyn Fn(&str) -> Result<Report> + Sync),
) -> Result<Vec<ImageOutcome>> {
    let filters = Filters::new(&args.repo, &args.tag, args.newest)?;
    let (session, runtime) = access.connect()?;
    let region = session.default_region()?;
    let images = runtime.block_on(discover::discover(session, &region, &filters))?;
    if images.is_empty() {
        bail!("no tagged images in region {region} match the filters");
    }
    let outcomes: Vec<ImageOutcome> = scan_all::scan_all(&images, args.jobs, json, scan_one);
    if json {
        terminal::print_exact(&(serde_json::to_string_pretty(&outcomes)? + "\n"))?;
    } else {
        terminal::print(&scan_all::summary_table(&outcomes))?;
    }
    Ok(outcomes)
}

/// AWS access flags.
#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// JSON file with any of the settings below by flag name (e.g. {"region": "eu-west-1",
    /// "role-arn": "...", "external-id": "..."}). Default: $XDG_CONFIG_HOME/ecr-engine/aws.json.
    #[arg(long, env = "ECR_ENGINE_AWS_CONFIG")]
    aws_config: Option<PathBuf>,
    /// Named profile of the shared AWS config/credentials files.
    #[arg(long, env = "ECR_ENGINE_PROFILE")]
    profile: Option<String>,
    /// AWS region. Default: the SDK's chain (AWS_REGION, the profile).
    #[arg(long, env = "ECR_ENGINE_REGION")]
    region: Option<String>,
    /// Endpoint for all AWS calls (emulators, private endpoints).
    #[arg(long, env = "ECR_ENGINE_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// Explicit access key id instead of the default credential chain. Its secret key (and a
    /// session token) come only from ECR_ENGINE_SECRET_ACCESS_KEY (ECR_ENGINE_SESSION_TOKEN) or
    /// the config file, never a flag, which would show in `ps`.
    #[arg(long, env = "ECR_ENGINE_ACCESS_KEY_ID")]
    access_key_id: Option<String>,
    /// Role to assume, or a comma-separated chain assumed in order.
    #[arg(long, env = "ECR_ENGINE_ROLE_ARN")]
    role_arn: Option<String>,
    /// External ID the role's trust policy requires (at least 8 characters), sent on every hop.
    #[arg(long, env = "ECR_ENGINE_EXTERNAL_ID", hide_env_values = true)]
    external_id: Option<String>,
    /// Lifetime of assumed-role sessions in seconds (900..43200; AWS caps chained roles at 3600).
    #[arg(long, env = "ECR_ENGINE_SESSION_DURATION")]
    session_duration: Option<i32>,
    /// Retries of a throttled or failed (5xx) AWS call, with backoff. Default 10.
    #[arg(long, env = "ECR_ENGINE_MAX_RETRIES")]
    max_retries: Option<u32>,
    /// AWS calls in flight at once. Default 8.
    #[arg(long, env = "ECR_ENGINE_PARALLEL_REQUESTS")]
    parallel_requests: Option<usize>,
    /// Items per page of list calls (1..1000). Default 100.
    #[arg(long, env = "ECR_ENGINE_PAGE_SIZE")]
    page_size: Option<i32>,
}

impl AwsArgs {
    /// Flags and environment over the config file.
    pub fn settings(&self) -> Result<AwsSettings> {
        let file = AwsSettings::from_file(self.aws_config.as_deref())?;
        let environment_secret = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty()).map(Secret::from);
        let flags = AwsSettings {
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: environment_secret("ECR_ENGINE_SECRET_ACCESS_KEY"),
            session_token: environment_secret("ECR_ENGINE_SESSION_TOKEN"),
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone().map(Secret::from),
            session_duration: self.session_duration,
            max_retries: self.max_retries,
            parallel_requests: self.parallel_requests,
            page_size: self.page_size,
        };
        Ok(flags.or(file))
    }
}

pub fn run(command: AwsCommand) -> Result<ExitCode> {
    let runtime = aws::runtime()?;
    match command {
        AwsCommand::Repos(args) => {
            let settings = args.aws.settings()?.resolve()?;
            let inventory = runtime.block_on(async {
                let session = AwsSession::connect(settings).await?;
                let regions =
                    if args.regions.is_empty() { vec![session.default_region()?] } else { args.regions.clone() };
                inventory::inventory(&session, &regions).await
            })?;
            match args.format {
                Format::Json => terminal::print_exact(&(serde_json::to_string_pretty(&inventory.rows)? + "\n"))?,
                Format::Table => terminal::print(&inventory::render_table(&inventory.rows))?,
            }
            for line in inventory.problems() {
                terminal::message(&line);
            }
            Ok(if inventory.is_complete() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_INCOMPLETE) })
        }
        AwsCommand::TestConnection(args) => {
            let settings = args.aws.settings()?.resolve()?;
            let steps = runtime.block_on(connection::test_connection(settings));
            match args.format {
                Format::Json => terminal::print_exact(&(serde_json::to_string_pretty(&steps)? + "\n"))?,
                Format::Table => terminal::print(&connection::render(&steps))?,
            }
            Ok(if connection::all_passed(&steps) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}
