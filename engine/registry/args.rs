//! The command-line flags for reaching a registry, shared by every command that pulls images.

use super::{Credentials, RegistryOptions};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::io::Read;

#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Talk to the registry over plain HTTP (no TLS). Registries use HTTPS unless this is given.
    #[arg(long)]
    pub insecure: bool,
    /// Registry user name. Without it, credentials come from $DOCKER_CONFIG/config.json or
    /// ~/.docker/config.json (`auths` entries; credential helpers are not run).
    #[arg(long, env = "ECR_ENGINE_REGISTRY_USERNAME")]
    pub username: Option<String>,
    /// Registry password or token (prefer --password-stdin: arguments show in process lists).
    #[arg(long, env = "ECR_ENGINE_REGISTRY_PASSWORD", hide_env_values = true, requires = "username")]
    pub password: Option<String>,
    /// Read the registry password from standard input.
    #[arg(long, requires = "username", conflicts_with = "password")]
    pub password_stdin: bool,
}

impl RegistryArgs {
    pub fn options(&self) -> Result<RegistryOptions> {
        let credentials = match &self.username {
            None => None,
            Some(username) => {
                let password = if self.password_stdin {
                    let mut password = String::new();
                    std::io::stdin()
                        .read_to_string(&mut password)
                        .context("cannot read the password from standard input")?;
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
        Ok(RegistryOptions { insecure: self.insecure, credentials, ..RegistryOptions::default() })
    }
}
