//! The command-line flags for reaching a registry, shared by every command that pulls images.

use super::blob::{MinProgress, RetryPolicy};
use super::{Credentials, RegistryOptions};
use crate::cli::{parse_duration, parse_size};
use crate::regular_file::read_bounded;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::time::Duration;

/// `--password-stdin` reads at most this: tokens are a few KiB.
const MAX_PASSWORD_BYTES: u64 = 64 << 10;

#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Talk to the registry over plain HTTP (no TLS). Registries use HTTPS unless this is given.
    #[arg(long)]
    pub insecure: bool,
    /// Registry user name. Without it, credentials come from $DOCKER_CONFIG/config.json or
    /// ~/.docker/config.json: the credential helper it names for the registry (`credHelpers`,
    /// `credsStore`; run from PATH), else its `auths` entry.
    #[arg(long, env = "ECR_ENGINE_REGISTRY_USERNAME")]
    pub username: Option<String>,
    /// Registry password or token (prefer --password-stdin: arguments show in process lists).
    #[arg(long, env = "ECR_ENGINE_REGISTRY_PASSWORD", hide_env_values = true, requires = "username")]
    pub password: Option<String>,
    /// Read the registry password from standard input.
    #[arg(long, requires = "username", conflicts_with = "password")]
    pub password_stdin: bool,
    /// Never run the docker-credential-* programs Docker's config file names; only its `auths`
    /// entries are read.
    #[arg(long, env = "ECR_ENGINE_NO_CREDENTIAL_HELPERS", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_credential_helpers: bool,
    /// Retries of a blob or manifest download (registry and ECR) after a failed attempt (429,
    /// 5xx, lost connection, idle or too slow) without progress in between, with backoff.
    /// Default 7.
    #[arg(long, env = "ECR_ENGINE_DOWNLOAD_RETRIES")]
    pub download_retries: Option<u32>,
    /// A download attempt during which no byte arrives for this long ends (then it is retried),
    /// e.g. 60s, 2m. Default 60s.
    #[arg(long, env = "ECR_ENGINE_DOWNLOAD_IDLE_TIMEOUT", value_parser = parse_limit)]
    pub download_idle_timeout: Option<u64>,
    /// SIZE/DURATION: a download attempt that receives less than SIZE in DURATION ends (then it
    /// is retried), e.g. 10K/30s. Default 10K/30s.
    #[arg(long, env = "ECR_ENGINE_DOWNLOAD_MIN_PROGRESS", value_parser = parse_min_progress)]
    pub download_min_progress: Option<MinProgress>,
    /// The most time one blob or manifest download may take, every retry and wait included
    /// (time spent decoding what arrived does not count), e.g. 30m, 2h. Default 30m.
    #[arg(long, env = "ECR_ENGINE_DOWNLOAD_DEADLINE", value_parser = parse_limit)]
    pub download_deadline: Option<u64>,
}

/// `10K/30s`: a size and a duration (see `--download-min-progress`).
fn parse_min_progress(text: &str) -> Result<MinProgress, String> {
    let (size, window) =
        text.split_once('/').ok_or_else(|| format!("'{text}' is not a size per duration like 10K/30s"))?;
    Ok(MinProgress { bytes: parse_size(size)?, window: Duration::from_secs(parse_limit(window)?) })
}

/// A duration of at least a second (`parse_duration`): a zero limit would end every download.
fn parse_limit(text: &str) -> Result<u64, String> {
    match parse_duration(text)? {
        0 => Err(format!("'{text}': give at least 1s")),
        seconds => Ok(seconds),
    }
}

impl RegistryArgs {
    pub fn options(&self) -> Result<RegistryOptions> {
        let credentials = match &self.username {
            None => None,
            Some(username) => {
                let password = if self.password_stdin {
                    // Bounded: standard input may be a device or a never-ending pipe.
                    let password = read_bounded(std::io::stdin(), MAX_PASSWORD_BYTES, "a password")
                        .context("cannot read the password from standard input")?;
                    let password =
                        String::from_utf8(password).context("the password on standard input is not UTF-8")?;
                    password.trim_end_matches(['\r', '\n']).to_string()
                } else {
                    match &self.password {
                        Some(password) => password.clone(),
                        None => bail!("--username needs --password or --password-stdin"),
                    }
                };
                Some(Credentials { username: username.clone(), password })
            }
        };
        Ok(RegistryOptions {
            insecure: self.insecure,
            credentials,
            skip_credential_helpers: self.no_credential_helpers,
            retry: self.retry_policy(),
        })
    }

    fn retry_policy(&self) -> RetryPolicy {
        let seconds = |flag: Option<u64>, default: Duration| flag.map_or(default, Duration::from_secs);
        RetryPolicy {
            max_attempts: self.download_retries.unwrap_or(RetryPolicy::DEFAULT_RETRIES).saturating_add(1),
            idle_timeout: seconds(self.download_idle_timeout, RetryPolicy::DEFAULT_IDLE_TIMEOUT),
            min_progress: self.download_min_progress.unwrap_or(RetryPolicy::DEFAULT_MIN_PROGRESS),
            deadline: seconds(self.download_deadline, RetryPolicy::DEFAULT_DEADLINE),
            ..RetryPolicy::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_limits_parse() {
        assert_eq!(parse_min_progress("10K/30s"), Ok(RetryPolicy::DEFAULT_MIN_PROGRESS));
        assert!(parse_min_progress("10K").unwrap_err().contains("like 10K/30s"));
        assert!(parse_min_progress("10K/0s").unwrap_err().contains("at least 1s"));
        assert_eq!(parse_limit("2m"), Ok(120));
        assert!(parse_limit("0s").is_err() && parse_limit("30").is_err());
    }
}
