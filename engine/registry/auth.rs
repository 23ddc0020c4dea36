//! Registry authentication: credentials from flags or Docker's config file, and the challenge a
//! registry answers 401 with (Basic, or Bearer with a token service).

use anyhow::{Context, Result, bail};
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
}

/// Docker's config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => dirs::home_dir().map(|home| home.join(".docker").join("config.json")),
    }
}

/// Credentials for `registry` (`host[:port]`) from Docker's config file; `None` when it has none
/// (a missing file is not an error). Credential helpers are not run: a config that keeps this
/// registry's credentials in one is an error saying so.
pub fn docker_config_credentials(path: &Path, registry: &str) -> Result<Option<Credentials>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let config: DockerConfig =
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid Docker config file", path.display()))?;
    let helper_error = |helper: &str| {
        anyhow::anyhow!(
            "{} keeps the credentials for {registry} in the credential helper 'docker-credential-{helper}', which ecr-engine does not run; pass --username and --password (or --password-stdin) instead",
            path.display()
        )
    };
    if let Some(helper) = config.cred_helpers.get(registry) {
        return Err(helper_error(helper));
    }
    let entry = config.auths.iter().find(|(key, _)| auths_key_host(key) == registry).map(|(_, entry)| entry);
    let Some(entry) = entry else { return Ok(None) };
    let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) else {
        // Docker writes an empty entry when the secret went to the credentials store.
        return match &config.creds_store {
            Some(store) => Err(helper_error(store)),
            None => Ok(None),
        };
    };
    let decoded =
        BASE64.decode(auth.trim()).ok().and_then(|bytes| String::from_utf8(bytes).ok()).with_context(|| {
            format!("{}: the auth entry for {registry} is not base64 of USER:PASSWORD", path.display())
        })?;
    let Some((username, password)) = decoded.split_once(':') else {
        bail!("{}: the auth entry for {registry} is not base64 of USER:PASSWORD", path.display());
    };
    Ok(Some(Credentials { username: username.to_string(), password: password.to_string() }))
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
                r#"{{"auths":{{"https://reg.example.com/v1/":{{"auth":"{auth}"}},"stored.example.com":{{}}}},
                    "credsStore":"desktop","credHelpers":{{"helped.example.com":"ecr-login"}}}}"#
            ),
        )
        .unwrap();
        let found = docker_config_credentials(&path, "reg.example.com").unwrap().unwrap();
        assert_eq!((found.username.as_str(), found.password.as_str()), ("alice", "s3:cret"));
        assert_eq!(docker_config_credentials(&path, "other.example.com").unwrap(), None);
        let error = docker_config_credentials(&path, "helped.example.com").unwrap_err().to_string();
        assert!(error.contains("docker-credential-ecr-login") && error.contains("--username"), "{error}");
        let error = docker_config_credentials(&path, "stored.example.com").unwrap_err().to_string();
        assert!(error.contains("docker-credential-desktop"), "{error}");
        assert_eq!(docker_config_credentials(&dir.path().join("none.json"), "reg.example.com").unwrap(), None);
        assert!(!format!("{found:?}").contains("s3:cret"));
    }
}
