//! An OCI Distribution client for one repository: the `/v2/` handshake that learns how the
//! registry authenticates, tokens, and the manifest and blob requests the image resolver makes
//! (through `RegistryFiles`, an `ImageFiles` whose reads are downloads).

use super::RemoteName;
use super::auth::{Challenge, Credentials, Login, TokenResponse, docker_config_login, docker_config_path};
use super::blob::{
    BlobRequest, ResumableBlob, RetryPolicy, UrlSource, describe, error_body, http_agent, retry_after, transient,
};
use super::reference::Reference;
use crate::digest::Digest;
use crate::source::ImageFiles;
use anyhow::{Context, Result, anyhow, bail};
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The manifest media types asked for, best first: indexes so the platform can be chosen here.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Plain HTTP instead of HTTPS.
    pub insecure: bool,
    /// From the command line; when absent, Docker's config file is consulted.
    pub credentials: Option<Credentials>,
    /// Do not run the credential helpers Docker's config file names (`--no-credential-helpers`).
    pub skip_credential_helpers: bool,
    pub retry: RetryPolicy,
}

/// One repository on one registry, shared by every download of a scan.
pub struct Client {
    agent: ureq::Agent,
    /// `https://host[:port]` (or `http://` with `--insecure`).
    base: String,
    host: String,
    repository: String,
    login: Option<Login>,
    retry: RetryPolicy,
    /// How the registry's `/v2/` answered: `None` means it needs no authentication.
    challenge: Option<Challenge>,
    /// Bearer tokens by scope.
    tokens: Mutex<HashMap<String, String>>,
}

impl Client {
    /// Checks the registry speaks the Distribution API and learns how it authenticates, fetching
    /// a token or checking Basic credentials up front so a wrong password is reported as such.
    /// Docker's config (and any credential helper it names) is consulted only when the registry
    /// asks for authentication and no credentials were given.
    pub fn connect(reference: &Reference, options: &RegistryOptions) -> Result<Arc<Client>> {
        let host = reference.api_host().to_string();
        let scheme = if options.insecure { "http" } else { "https" };
        let mut client = Client {
            agent: http_agent(&options.retry, Some(&host)),
            base: format!("{scheme}://{host}"),
            host,
            repository: reference.repository.clone(),
            login: options.credentials.clone().map(Login::Password),
            retry: options.retry.clone(),
            challenge: None,
            tokens: Mutex::new(HashMap::new()),
        };
        let ping = client.ping(None)?;
        if ping.status().as_u16() == 401 {
            let header = ping.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("");
            let challenge = Challenge::parse(header).ok_or_else(|| {
                anyhow!("{} requires authentication with an unsupported scheme ('{header}'); ecr-engine supports Basic and Bearer", client.host)
            })?;
            client.challenge = Some(challenge);
            if client.login.is_none()
                && let Some(path) = docker_config_path()
            {
                client.login = docker_config_login(&path, &reference.registry, !options.skip_credential_helpers)?;
            }
            match client.challenge.as_ref().expect("set above") {
                Challenge::Basic => client.check_basic()?,
                Challenge::Bearer { .. } => {
                    client.token(true)?;
                }
            }
        } else if !ping.status().is_success() {
            let status = ping.status().as_u16();
            let detail = error_body(ping);
            bail!("{}/v2/ answered HTTP {status}{detail}; it does not look like an OCI registry", client.base);
        }
        Ok(Arc::new(client))
    }

    /// `GET /v2/`, retried on throttling and server errors.
    fn ping(&self, authorization: Option<&str>) -> Result<ureq::http::Response<ureq::Body>> {
        let url = format!("{}/v2/", self.base);
        self.send(|agent| match authorization {
            Some(value) => agent.get(&url).header("Authorization", value).call(),
            None => agent.get(&url).call(),
        })
        .map_err(|error| {
            if self.base.starts_with("https:") {
                error.context(format!(
                    "cannot reach the registry at {url}; if it serves plain HTTP (no TLS), pass --insecure"
                ))
            } else {
                error.context(format!("cannot reach the registry at {url}"))
            }
        })
    }

    /// One request (`call` makes it with the agent) with bounded retries for 429, 5xx and
    /// connection failures, all within the download deadline.
    fn send(
        &self,
        call: impl Fn(&ureq::Agent) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let started = Instant::now();
        let mut failures = 0;
        loop {
            let (reason, wait) = match call(&self.agent) {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if status != 429 && status < 500 {
                        return Ok(response);
                    }
                    let wait = retry_after(&response);
                    (format!("HTTP {status}{}", error_body(response)), wait)
                }
                Err(error) if transient(&error) => (describe(&error, &self.retry), None),
                Err(error) => bail!(describe(&error, &self.retry)),
            };
            failures += 1;
            let wait =
                self.retry.wait_before_retry(failures, wait, started.elapsed(), &reason).map_err(|why| anyhow!(why))?;
            std::thread::sleep(wait);
        }
    }

    fn check_basic(&self) -> Result<()> {
        let credentials = match &self.login {
            Some(Login::Password(credentials)) => credentials,
            Some(Login::IdentityToken(_)) => bail!(
                "{} requires a username and password (HTTP Basic), but Docker's config holds an identity token for it, which only a Bearer token service accepts; pass --username and --password (or --password-stdin)",
                self.host
            ),
            None => bail!(
                "{} requires a username and password (HTTP Basic); pass --username and --password (or --password-stdin), or log in with docker login",
                self.host
            ),
        };
        let response = self.ping(Some(&credentials.basic_header()))?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            status @ (401 | 403) => bail!(
                "{} rejected the username and password for '{}' (HTTP {status}); check the credentials",
                self.host,
                credentials.username
            ),
            status => bail!("{}/v2/ answered HTTP {status}{} to the credentials", self.base, error_body(response)),
        }
    }

    fn scope(&self) -> String {
        format!("repository:{}:pull", self.repository)
    }

    /// The Bearer token for this repository's pull scope, from the cache unless `fresh`.
    fn token(&self, fresh: bool) -> Result<String> {
        let scope = self.scope();
        if !fresh && let Some(token) = self.tokens.lock().expect("token cache").get(&scope) {
            return Ok(token.clone());
        }
        let Some(Challenge::Bearer { realm, service, .. }) = &self.challenge else {
            bail!("{} did not ask for a Bearer token", self.host);
        };
        let response = match &self.login {
            // OAuth2 refresh, as the Docker client does with identity tokens.
            Some(Login::IdentityToken(refresh_token)) => self.send(|agent| {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token.as_str()),
                    ("client_id", "ecr-engine"),
                    ("scope", scope.as_str()),
                ];
                if let Some(service) = service {
                    form.push(("service", service.as_str()));
                }
                agent.post(realm).send_form(form)
            }),
            login => self.send(|agent| {
                let mut request = agent.get(realm).query("scope", &scope);
                if let Some(service) = service {
                    request = request.query("service", service);
                }
                match login {
                    Some(Login::Password(credentials)) => {
                        request.header("Authorization", credentials.basic_header()).call()
                    }
                    _ => request.call(),
                }
            }),
        }
        .with_context(|| format!("cannot get a token from {realm}"))?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            let detail = error_body(response);
            return Err(match &self.login {
                Some(Login::Password(credentials)) => anyhow!(
                    "the token service {realm} rejected the username and password for '{}' (HTTP {status}){detail}; check the credentials",
                    credentials.username
                ),
                Some(Login::IdentityToken(_)) => anyhow!(
                    "the token service {realm} rejected the identity token from Docker's config (HTTP {status}){detail}; log in again, or pass --username and --password"
                ),
                None => anyhow!(
                    "the token service {realm} refused an anonymous token for {scope} (HTTP {status}){detail}; pass --username and --password"
                ),
            });
        }
        if !response.status().is_success() {
            bail!("the token service {realm} answered HTTP {status}{}", error_body(response));
        }
        let answer: TokenResponse = response
            .into_body()
            .into_with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(anyhow::Error::from)
            .and_then(|bytes| Ok(serde_json::from_slice(&bytes)?))
            .with_context(|| format!("the token service {realm} answered something that is not a token"))?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| anyhow!("the token service {realm} answered without a token"))?;
        self.tokens.lock().expect("token cache").insert(scope, token.clone());
        Ok(token)
    }

    /// The `Authorization` header for this repository, if the registry wants one.
    fn authorization(&self, refresh: bool) -> Result<Option<String>> {
        match &self.challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(match &self.login {
                Some(Login::Password(credentials)) => Some(credentials.basic_header()),
                _ => None,
            }),
            Some(Challenge::Bearer { .. }) => Ok(Some(format!("Bearer {}", self.token(refresh)?))),
        }
    }

    /// A download of `/v2/REPO/{kind}/{reference}` as a resumable stream.
    fn download(self: &Arc<Self>, kind: &str, reference: &str, what: String) -> ResumableBlob {
        let source = RepositorySource {
            client: self.clone(),
            url: format!("{}/v2/{}/{kind}/{reference}", self.base, self.repository),
            accept: (kind == "manifests").then_some(MANIFEST_ACCEPT),
        };
        ResumableBlob::new(self.agent.clone(), Box::new(source), what, None, self.retry.clone())
    }
}

/// Requests against the client's repository, with its current authorization.
struct RepositorySource {
    client: Arc<Client>,
    url: String,
    accept: Option<&'static str>,
}

impl UrlSource for RepositorySource {
    fn request(&mut self, refresh: bool) -> Result<BlobRequest> {
        let mut headers = Vec::new();
        if let Some(authorization) = self.client.authorization(refresh)? {
            headers.push(("Authorization".to_string(), authorization));
        }
        if let Some(accept) = self.accept {
            headers.push(("Accept".to_string(), accept.to_string()));
        }
        Ok(BlobRequest { url: self.url.clone(), headers })
    }
}

/// The image's files as the resolver names them (`blobs/sha256/HEX`, `manifests/sha256:HEX`),
/// each read a download from the registry. The manifest fetched by tag is kept, so resolving it
/// by digest does not download it again.
pub struct RegistryFiles {
    client: Arc<Client>,
    top: (Digest, Vec<u8>),
}

impl ImageFiles for RegistryFiles {
    fn open(&self, name: &str) -> Result<Box<dyn Read + Send + '_>> {
        if let Some(RemoteName::Manifest(digest)) = RemoteName::parse(name) {
            if digest == self.top.0.as_str() {
                return Ok(Box::new(self.top.1.as_slice()));
            }
            let what = format!("manifest {}@{digest}", self.client.repository);
            return Ok(Box::new(self.client.download("manifests", digest, what)));
        }
        if let Some(RemoteName::Blob { hex }) = RemoteName::parse(name) {
            let what = format!("blob sha256:{hex} of {}", self.client.repository);
            return Ok(Box::new(self.client.download("blobs", &format!("sha256:{hex}"), what)));
        }
        bail!("'{name}' is not a registry blob or manifest name")
    }

    /// Whether it exists is learnt by downloading it (a 404 then names it).
    fn contains(&self, name: &str) -> bool {
        RemoteName::parse(name).is_some()
    }

    fn size(&self, _name: &str) -> Option<u64> {
        None
    }

    fn manifest_name(&self, digest: &Digest) -> String {
        RemoteName::manifest(digest)
    }
}

/// Connects, fetches the reference's manifest (by tag or digest) and returns the files of the
/// image plus the manifest's digest, for `image::resolve_manifest`.
pub fn open_image(reference: &Reference, options: &RegistryOptions) -> Result<(RegistryFiles, Digest)> {
    let client = Client::connect(reference, options)?;
    let wanted = reference.manifest_reference();
    let mut bytes = Vec::new();
    client
        .download("manifests", &wanted, format!("manifest {reference}"))
        .take(crate::image::MANIFEST_CEILING + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| {
            anyhow!(
                "{error}; check that repository '{}' exists on {} and has {}",
                reference.repository,
                reference.registry,
                match &reference.digest {
                    Some(digest) => format!("manifest {digest}"),
                    None => format!("tag '{wanted}'"),
                }
            )
        })?;
    if bytes.len() as u64 > crate::image::MANIFEST_CEILING {
        bail!("the manifest of {reference} is larger than {} bytes; refusing it", crate::image::MANIFEST_CEILING);
    }
    let digest = Digest::of(&bytes);
    if let Some(expected) = &reference.digest
        && *expected != digest
    {
        bail!(
            "digest mismatch: {} answered a manifest hashing to {digest} when asked for {expected}; the registry or a proxy altered it",
            reference.registry
        );
    }
    Ok((RegistryFiles { client, top: (digest.clone(), bytes) }, digest))
}
