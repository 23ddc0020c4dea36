//! Registry authentication: credentials from flags or Docker's config file (its `auths` entries
//! or the credential helpers it names), and the challenge a registry answers 401 with (Basic, or
//! Bearer with a token service).

use super::credential_helper;
use crate::regular_file::{SETTINGS_FILE_CEILING, read_regular};
use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    // Never print the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials {{ username: {:?} }}", self.username)
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        format!("Basic {}", BASE64.encode(format!("{}:{}", self.username, self.password)))
    }
}

/// What a registry is logged in with.
#[derive(Clone, PartialEq, Eq)]
pub enum Login {
    Password(Credentials),
    /// An OAuth2 refresh token (Docker's "identity token"), exchanged for access tokens at the
    /// registry's token service.
    IdentityToken(String),
}

impl std::fmt::Debug for Login {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Login::Password(credentials) => credentials.fmt(f),
            Login::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

#[derive(Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, DockerAuth>,
    #[serde(rename = "credHelpers", default)]
    cred_helpers: HashMap<String, String>,
    #[serde(rename = "credsStore", default)]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct DockerAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Docker's config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => dirs::home_dir().map(|home| home.join(".docker").join("config.json")),
    }
}

/// Docker Hub is filed under its v1 index in Docker's config and helpers.
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// The login for `registry` (`host[:port]`) from Docker's config file, as the Docker client
/// finds it: the credential helper `credHelpers[registry]` names, else the `credsStore` one,
/// else the `auths` entry (`auth` or `identitytoken`). `None` when it has none (a missing file is
/// not an error; neither is a helper that holds nothing for the registry). With `run_helpers`
/// false, helpers are skipped and only `auths` is read.
pub fn docker_config_login(path: &Path, registry: &str, run_helpers: bool) -> Result<Option<Login>> {
    let text = match read_regular(path, SETTINGS_FILE_CEILING, "a Docker config file") {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let config: DockerConfig = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a valid Docker config file", path.display()))?;
    let (config_host, server_url) = match registry {
        "docker.io" | "index.docker.io" => ("index.docker.io", DOCKER_HUB_SERVER),
        other => (other, other),
    };
    let helper = config
        .cred_helpers
        .iter()
        .find(|(key, _)| auths_key_host(key) == config_host)
        .map(|(_, helper)| helper)
        .or(config.creds_store.as_ref())
        .filter(|helper| !helper.is_empty());
    if let Some(helper) = helper
        && run_helpers
    {
        let search_path = std::env::var_os("PATH");
        return credential_helper::get(helper, server_url, search_path.as_deref(), credential_helper::HELPER_TIMEOUT)
            .map_err(|error| {
                anyhow!(
                    "{error}; {} names it for {registry}: fix it, or pass --username and --password, or --no-credential-helpers to read only the file's auths entries",
                    path.display()
                )
            });
    }
    let entry = config.auths.iter().find(|(key, _)| auths_key_host(key) == config_host).map(|(_, entry)| entry);
    let Some(entry) = entry else { return Ok(None) };
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(Login::IdentityToken(token.to_string())));
    }
    // Docker writes an empty entry when the secret went to a credential helper.
    let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) else { return Ok(None) };
    let decoded =
        BASE64.decode(auth.trim()).ok().and_then(|bytes| String::from_utf8(bytes).ok()).with_context(|| {
            format!("{}: the auth entry for {registry} is not base64 of USER:PASSWORD", path.display())
        })?;
    let Some((username, password)) = decoded.split_once(':') else {
        bail!("{}: the auth entry for {registry} is not base64 of USER:PASSWORD", path.display());
    };
    Ok(Some(Login::Password(Credentials { username: username.to_string(), password: password.to_string() })))
}

/// `auths` keys come as `host`, `https://host` or `https://host/v1/`.
fn auths_key_host(key: &str) -> &str {
    let rest = key.split_once("://").map_or(key, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

/// What a 401's `WWW-Authenticate` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

impl Challenge {
    /// Parses `Basic realm="..."` or `Bearer realm="...",service="...",scope="..."`. Written by
    /// hand: the grammar is one scheme and quoted parameters (values may hold commas, as in
    /// `scope="repository:a:pull,push"`), and no crate in the tree parses it.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut values: HashMap<String, String> = HashMap::new();
        let mut rest = params.trim();
        while !rest.is_empty() {
            let (key, after) = rest.split_once('=')?;
            let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
            let after = after.trim_start();
            let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            values.insert(key, value.to_string());
            rest = remaining.trim_start().trim_start_matches(',').trim_start();
        }
        Some(Challenge::Bearer {
            realm: values.remove("realm")?,
            service: values.remove("service"),
            scope: values.remove("scope"),
        })
    }
}

/// A token service's answer; registries use either name.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(Challenge::parse("Basic realm=\"Registry Realm\""), Some(Challenge::Basic));
        assert_eq!(
            Challenge::parse(
                "Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\",scope=\"repository:a/b:pull,push\""
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            Challenge::parse("bearer realm=http://127.0.0.1:1/t"),
            Some(Challenge::Bearer { realm: "http://127.0.0.1:1/t".into(), service: None, scope: None })
        );
        assert_eq!(Challenge::parse("Bearer service=\"x\""), None);
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn docker_config_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let auth = BASE64.encode("alice:s3:cret");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths":{{"https://reg.example.com/v1/":{{"auth":"{auth}"}},"stored.example.com":{{}},
                    "oauth.example.com":{{"identitytoken":"refresh-token-1"}},
                    "https://index.docker.io/v1/":{{"auth":"{auth}"}}}}}}"#
            ),
        )
        .unwrap();
        let found = docker_config_login(&path, "reg.example.com", true).unwrap().unwrap();
        let alice = Login::Password(Credentials { username: "alice".into(), password: "s3:cret".into() });
        assert_eq!(found, alice);
        assert_eq!(docker_config_login(&path, "docker.io", true).unwrap(), Some(alice));
        assert_eq!(docker_config_login(&path, "other.example.com", true).unwrap(), None);
        assert_eq!(docker_config_login(&path, "stored.example.com", true).unwrap(), None);
        let token = docker_config_login(&path, "oauth.example.com", true).unwrap().unwrap();
        assert_eq!(token, Login::IdentityToken("refresh-token-1".into()));
        assert_eq!(docker_config_login(&dir.path().join("none.json"), "reg.example.com", true).unwrap(), None);
        assert!(!format!("{found:?} {token:?}").contains("s3:cret") && !format!("{token:?}").contains("refresh"));
    }

    #[test]
    fn helpers_named_in_the_config_win_unless_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let auth = BASE64.encode("alice:pw");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths":{{"reg.example.com":{{"auth":"{auth}"}}}},"credsStore":"ecr-engine-absent-store",
                    "credHelpers":{{"helped.example.com":"../escape"}}}}"#
            ),
        )
        .unwrap();
        // credsStore covers every host without a credHelpers entry (as in the Docker client).
        let error = docker_config_login(&path, "reg.example.com", true).unwrap_err().to_string();
        assert!(
            error.contains("docker-credential-ecr-engine-absent-store is not on PATH") && error.contains("config.json"),
            "{error}"
        );
        let error = docker_config_login(&path, "helped.example.com", true).unwrap_err().to_string();
        assert!(error.contains("not a credential helper name"), "{error}");
        // Skipped helpers leave the auths entries.
        assert!(docker_config_login(&path, "reg.example.com", false).unwrap().is_some());
        assert_eq!(docker_config_login(&path, "helped.example.com", false).unwrap(), None);
    }
}
