//! AWS access: settings (flags, `ECR_ENGINE_*` environment variables, a JSON config file), the
//! credentials (the SDK's default chain or explicit keys, then an optional chain of assumed
//! roles, assumed again before they expire), the ECR clients, and the bound on concurrent AWS
//! calls. Nothing is written to disk and secrets never reach a log: they are held in `Secret`,
//! whose Debug and Display redact.

pub mod cli;
pub mod connection;
pub mod discover;
pub mod errors;
pub mod inventory;
pub mod pull;
pub mod role_chain;
pub mod scan_all;
#[cfg(test)]
mod sdk_tests;

use crate::regular_file::{SETTINGS_FILE_CEILING, read_regular};
use anyhow::{Context, Result, bail};
use aws_config::identity::IdentityCache;
use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig};
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider, SharedIdentityCache};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use role_chain::RoleChain;
use serde::Deserialize;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub const DEFAULT_SESSION_DURATION: i32 = 3600;
pub const DEFAULT_MAX_RETRIES: u32 = 10;
pub const DEFAULT_PARALLEL_REQUESTS: usize = 8;
pub const DEFAULT_PAGE_SIZE: i32 = 100;
/// ECR's own ceiling for DescribeRepositories / ListImages / DescribeImages pages.
pub const MAX_PAGE_SIZE: i32 = 1000;
/// AWS requires External IDs of at least 2 characters; 8 is the floor this product enforces so a
/// guessable value is refused up front.
pub const MIN_EXTERNAL_ID_LEN: usize = 8;
const SESSION_NAME: &str = "ecr-engine";
/// How long before credentials expire the identity cache fetches new ones (plus up to half again
/// as jitter): time for a role chain's STS round trips, and for requests signed just before.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// A value that must never be printed: Debug and Display show only that it is set.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Every AWS setting, each optional so that the flag, the environment and the config file can be
/// layered (in that order of precedence) before the defaults apply.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AwsSettings {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    /// One ARN or a comma-separated chain.
    pub role_arn: Option<String>,
    pub external_id: Option<Secret>,
    pub session_duration: Option<i32>,
    pub max_retries: Option<u32>,
    pub parallel_requests: Option<usize>,
    pub page_size: Option<i32>,
}

impl AwsSettings {
    /// Fills what `self` leaves unset from `other`.
    pub fn or(self, other: AwsSettings) -> AwsSettings {
        AwsSettings {
            profile: self.profile.or(other.profile),
            region: self.region.or(other.region),
            endpoint_url: self.endpoint_url.or(other.endpoint_url),
            access_key_id: self.access_key_id.or(other.access_key_id),
            secret_access_key: self.secret_access_key.or(other.secret_access_key),
            session_token: self.session_token.or(other.session_token),
            role_arn: self.role_arn.or(other.role_arn),
            external_id: self.external_id.or(other.external_id),
            session_duration: self.session_duration.or(other.session_duration),
            max_retries: self.max_retries.or(other.max_retries),
            parallel_requests: self.parallel_requests.or(other.parallel_requests),
            page_size: self.page_size.or(other.page_size),
        }
    }

    /// The config file: `path` when given (it must exist), else
    /// `$XDG_CONFIG_HOME/ecr-engine/aws.json` when present.
    pub fn from_file(path: Option<&Path>) -> Result<AwsSettings> {
        let (path, required) = match path {
            Some(path) => (path.to_path_buf(), true),
            None => match default_config_path() {
                Some(path) => (path, false),
                None => return Ok(AwsSettings::default()),
            },
        };
        let text = match read_regular(&path, SETTINGS_FILE_CEILING, "an AWS config file") {
            Ok(text) => text,
            Err(error) if !required && error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(AwsSettings::default());
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read the AWS config file {}", path.display()));
            }
        };
        serde_json::from_slice(&text).with_context(|| {
            format!(
                "{}: not a valid ecr-engine AWS config (a JSON object with keys like \"region\", \"role-arn\", \"external-id\", \"max-retries\")",
                path.display()
            )
        })
    }

    /// Checks ranges and lengths and applies the defaults.
    pub fn resolve(&self) -> Result<ResolvedSettings> {
        let roles: Vec<String> = match &self.role_arn {
            Some(list) => list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
            None => Vec::new(),
        };
        for arn in &roles {
            if !arn.starts_with("arn:") || !arn.contains(":role/") {
                bail!("--role-arn '{arn}' is not a role ARN like arn:aws:iam::123456789012:role/NAME");
            }
        }
        if let Some(external_id) = &self.external_id {
            if external_id.expose().chars().count() < MIN_EXTERNAL_ID_LEN {
                bail!(
                    "--external-id is shorter than {MIN_EXTERNAL_ID_LEN} characters; use the full value from the role's trust policy"
                );
            }
            if roles.is_empty() {
                bail!("--external-id is only used with --role-arn");
            }
        }
        let session_duration = self.session_duration.unwrap_or(DEFAULT_SESSION_DURATION);
        if !(900..=43200).contains(&session_duration) {
            bail!("--session-duration must be between 900 and 43200 seconds, not {session_duration}");
        }
        let page_size = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            bail!("--page-size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}");
        }
        let parallel_requests = self.parallel_requests.unwrap_or(DEFAULT_PARALLEL_REQUESTS);
        if parallel_requests == 0 {
            bail!("--parallel-requests must be at least 1");
        }
        let keys = match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) => Some((id.clone(), secret.clone(), self.session_token.clone())),
            (None, None) => None,
            _ => bail!("explicit keys need both the access key id and the secret access key"),
        };
        Ok(ResolvedSettings {
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            keys,
            roles,
            external_id: self.external_id.clone(),
            session_duration,
            max_retries: self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            parallel_requests,
            page_size,
        })
    }
}

pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join("ecr-engine").join("aws.json"))
}

/// Settings checked and defaulted.
#[derive(Debug, Clone)]
pub struct ResolvedSettings {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    keys: Option<(String, Secret, Option<Secret>)>,
    pub roles: Vec<String>,
    pub external_id: Option<Secret>,
    pub session_duration: i32,
    pub max_retries: u32,
    pub parallel_requests: usize,
    pub page_size: i32,
}

/// The runtime the SDK's futures run on; commands block on it.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime for AWS calls")
}

/// The configuration before any role is assumed: default chain (or explicit keys), profile,
/// region, endpoint, retries, and an HTTPS client on rustls/ring.
pub async fn base_config(settings: &ResolvedSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .retry_config(retry_config(settings))
        .identity_cache(identity_cache());
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some((id, secret, token)) = &settings.keys {
        let credentials = Credentials::new(
            id,
            secret.expose(),
            token.as_ref().map(|t| t.expose().to_string()),
            None,
            "ecr-engine-explicit-keys",
        );
        loader = loader.credentials_provider(credentials);
    }
    loader.load().await
}

/// The credentials cache all clients made from a session's config share: one refresh serves them
/// all, and it happens `REFRESH_BEFORE_EXPIRY` ahead rather than the SDK's default 10 seconds.
fn identity_cache() -> SharedIdentityCache {
    IdentityCache::lazy().buffer_time(REFRESH_BEFORE_EXPIRY).build()
}

/// The SDK's HTTP client: hyper with rustls on ring (HTTPS, and plain HTTP for local endpoints).
pub fn http_client() -> aws_sdk_ecr::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// The SDK's standard retry (exponential backoff with jitter on throttling, 5xx and transport
/// errors); the SDK counts attempts, --max-retries counts the retries after the first.
pub fn retry_config(settings: &ResolvedSettings) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(settings.max_retries.saturating_add(1))
        .with_initial_backoff(Duration::from_millis(200))
}

/// Connected AWS access: the final credentials, the settings, and the limit on calls in flight.
#[derive(Clone)]
pub struct AwsSession {
    config: SdkConfig,
    limiter: Arc<Semaphore>,
    pub settings: ResolvedSettings,
}

impl AwsSession {
    /// Loads the base credentials and assumes the role chain.
    pub async fn connect(settings: ResolvedSettings) -> Result<AwsSession> {
        let base = base_config(&settings).await;
        AwsSession::assume_chain(base, settings).await
    }

    /// Assumes the role chain (see `role_chain`): each role once now, so that a refused hop
    /// fails here with its cause, and again, whole, before the credentials expire (a
    /// `scan --all` may outlast --session-duration).
    pub async fn assume_chain(base: SdkConfig, settings: ResolvedSettings) -> Result<AwsSession> {
        if settings.roles.is_empty() {
            return Ok(AwsSession::from_config(base, settings));
        }
        let chain = RoleChain::assume(base.clone(), &settings).await?;
        let config = base.to_builder().credentials_provider(SharedCredentialsProvider::new(chain)).build();
        Ok(AwsSession::from_config(config, settings))
    }

    pub fn from_config(config: SdkConfig, settings: ResolvedSettings) -> AwsSession {
        let limiter = Arc::new(Semaphore::new(settings.parallel_requests));
        AwsSession { config, limiter, settings }
    }

    pub fn config(&self) -> &SdkConfig {
        &self.config
    }

    /// The region calls go to when none is named: --region, or the SDK's chain.
    pub fn default_region(&self) -> Result<String> {
        self.config.region().map(|r| r.to_string()).ok_or_else(|| {
            anyhow::anyhow!("no AWS region: pass --region, set AWS_REGION, or set a region in the AWS profile")
        })
    }

    /// An ECR client for `region`.
    pub fn ecr(&self, region: &str) -> aws_sdk_ecr::Client {
        let config = aws_sdk_ecr::config::Builder::from(&self.config).region(Region::new(region.to_string())).build();
        aws_sdk_ecr::Client::from_conf(config)
    }

    /// Runs one AWS call while holding a slot of --parallel-requests.
    pub async fn limited<F: Future>(&self, call: F) -> F::Output {
        // The semaphore is never closed, so acquiring only waits.
        let _permit = self.limiter.acquire().await.expect("the request limiter is never closed");
        call.await
    }
}

/// AWS access for scans: connected (role chain assumed) on first use, then shared by every
/// image of the run. Holds the runtime the SDK's calls run on.
pub struct EcrAccess {
    settings: ResolvedSettings,
    connected: std::sync::OnceLock<Result<(tokio::runtime::Runtime, AwsSession), String>>,
}

impl EcrAccess {
    pub fn new(settings: ResolvedSettings) -> EcrAccess {
        EcrAccess { settings, connected: std::sync::OnceLock::new() }
    }

    /// The session and a handle to its runtime (for `block_on` from the scan's threads).
    pub fn connect(&self) -> Result<(&AwsSession, tokio::runtime::Handle)> {
        let connected = self.connected.get_or_init(|| {
            let runtime = runtime().map_err(|e| format!("{e:#}"))?;
            let session = runtime.block_on(AwsSession::connect(self.settings.clone())).map_err(|e| format!("{e:#}"))?;
            Ok((runtime, session))
        });
        match connected {
            Ok((runtime, session)) => Ok((session, runtime.handle().clone())),
            Err(error) => Err(anyhow::anyhow!("{error}")),
        }
    }
}

impl fmt::Debug for EcrAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcrAccess").field("settings", &self.settings).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: &str) -> AwsSettings {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn external_id_length_is_enforced() {
        let short = settings(r#"{"role-arn": "arn:aws:iam::123456789012:role/r", "external-id": "1234567"}"#);
        assert!(short.resolve().unwrap_err().to_string().contains("shorter than 8"));
        let ok = settings(r#"{"role-arn": "arn:aws:iam::123456789012:role/r", "external-id": "12345678"}"#);
        assert_eq!(ok.resolve().unwrap().roles, ["arn:aws:iam::123456789012:role/r"]);
    }

    #[test]
    fn role_chain_and_defaults() {
        let chain = settings(r#"{"role-arn": "arn:aws:iam::1:role/a, arn:aws:iam::2:role/b"}"#).resolve().unwrap();
        assert_eq!(chain.roles, ["arn:aws:iam::1:role/a", "arn:aws:iam::2:role/b"]);
        assert_eq!(
            (chain.session_duration, chain.max_retries, chain.parallel_requests, chain.page_size),
            (3600, 10, 8, 100)
        );
        assert!(settings(r#"{"role-arn": "not-an-arn"}"#).resolve().is_err());
        assert!(settings(r#"{"page-size": 1001}"#).resolve().is_err());
        assert!(settings(r#"{"parallel-requests": 0}"#).resolve().is_err());
        assert!(serde_json::from_str::<AwsSettings>(r#"{"regoin": "x"}"#).is_err());
    }

    #[test]
    fn flags_win_over_the_file() {
        let flags = AwsSettings { region: Some("eu-west-1".into()), ..AwsSettings::default() };
        let file = settings(r#"{"region": "us-east-1", "page-size": 50}"#);
        let merged = flags.or(file);
        assert_eq!(merged.region.as_deref(), Some("eu-west-1"));
        assert_eq!(merged.page_size, Some(50));
    }

    #[test]
    fn secrets_are_redacted() {
        let s = settings(
            r#"{"access-key-id": "AKIDEXAMPLE", "secret-access-key": "wJalrXUtnFEMI", "role-arn": "arn:aws:iam::1:role/a", "external-id": "ext-id-value-1"}"#,
        );
        let shown = format!("{s:?} {:?}", s.resolve().unwrap());
        assert!(!shown.contains("wJalrXUtnFEMI") && !shown.contains("ext-id-value-1"), "{shown}");
    }
}
