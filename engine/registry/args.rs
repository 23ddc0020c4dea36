//! The command-line flags for reaching a registry, shared by every command that pulls images.

use super::blob::RetryPolicy;
use super::{Credentials, RegistryOptions};
use crate::regular_file::read_bounded;
use anyhow::{Context, Result, bail};
use clap::Args;

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
    /// 5xx, lost connection) without progress in between, with backoff. Default 7.
    #[arg(long, env = "ECR_ENGINE_DOWNLOAD_RETRIES")]
    pub download_retries: Option<u32>,
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
            retry: RetryPolicy::with_retries(self.download_retries.unwrap_or(RetryPolicy::DEFAULT_RETRIES)),
        })
    }
}
