//! The role chain (`--role-arn A,B`): each hop is an STS AssumeRole signed with the previous
//! hop's temporary credentials (the first with the base credentials), with the External ID and
//! the session duration on every hop. `RoleChain` is the credentials provider a session signs
//! with: it assumes the chain once when the session connects and hands those credentials out on
//! first use; the SDK's identity cache asks it again before they expire, and it then assumes the
//! whole chain again.

use crate::aws::{ResolvedSettings, SESSION_NAME, Secret, errors};
use anyhow::anyhow;
use aws_config::SdkConfig;
use aws_config::identity::IdentityCache;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_sdk_sts::error::SdkError;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// Credentials from the first assumption are handed out only if they stay valid at least this
/// long; older ones are replaced by assuming the chain again.
const FIRST_USE_MIN_VALIDITY: Duration = Duration::from_secs(60);

/// One hop: AssumeRole with `config`'s credentials, failing with STS's own error (which
/// `errors::assume_role_failure` explains). Returns the temporary credentials with their expiry.
pub async fn assume_role(
    config: &SdkConfig,
    role_arn: &str,
    external_id: Option<&Secret>,
    duration_seconds: i32,
) -> Result<Credentials, SdkError<AssumeRoleError>> {
    let output = aws_sdk_sts::Client::new(config)
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(SESSION_NAME)
        .set_external_id(external_id.map(|e| e.expose().to_string()))
        .duration_seconds(duration_seconds)
        .send()
        .await?;
    let Some(issued) = output.credentials() else {
        // STS always returns credentials on success; treat their absence as a malformed reply.
        return Err(SdkError::construction_failure("AssumeRole returned no credentials"));
    };
    Ok(Credentials::new(
        issued.access_key_id(),
        issued.secret_access_key(),
        Some(issued.session_token().to_string()),
        SystemTime::try_from(*issued.expiration()).ok(),
        "ecr-engine-assume-role",
    ))
}

/// `config` signing with fixed `credentials` (one hop's temporary credentials). Fixed
/// credentials need no cache, so none of the session's shared cache is spent on them.
pub fn signing_with(config: &SdkConfig, credentials: Credentials) -> SdkConfig {
    config
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .identity_cache(IdentityCache::no_cache())
        .build()
}

/// The chain as a credentials provider. Its Debug shows the roles, never the External ID or
/// any credentials.
pub struct RoleChain {
    /// Signs the first hop; every hop's STS client is made from it.
    base: SdkConfig,
    roles: Vec<String>,
    external_id: Option<Secret>,
    duration_seconds: i32,
    /// The last hop's credentials from `RoleChain::assume`, taken by the first request so that
    /// starting a run assumes each role once.
    assumed_at_start: Mutex<Option<Credentials>>,
}

impl RoleChain {
    /// Assumes every role of `settings.roles` (not empty) once, in order, so that a refused hop
    /// fails here with its cause.
    pub async fn assume(base: SdkConfig, settings: &ResolvedSettings) -> anyhow::Result<RoleChain> {
        let chain = RoleChain {
            base,
            roles: settings.roles.clone(),
            external_id: settings.external_id.clone(),
            duration_seconds: settings.session_duration,
            assumed_at_start: Mutex::new(None),
        };
        let credentials = chain.assume_every_hop().await?;
        *chain.assumed_at_start.lock().unwrap_or_else(PoisonError::into_inner) = Some(credentials);
        Ok(chain)
    }

    /// The last hop's credentials, each hop signed with the previous hop's.
    async fn assume_every_hop(&self) -> anyhow::Result<Credentials> {
        let mut previous: Option<Credentials> = None;
        for (hop, arn) in self.roles.iter().enumerate() {
            let config = match previous.take() {
                Some(credentials) => signing_with(&self.base, credentials),
                None => self.base.clone(),
            };
            let assumed = assume_role(&config, arn, self.external_id.as_ref(), self.duration_seconds)
                .await
                .map_err(|error| errors::assume_role_failure(error, arn, hop, self.external_id.is_some()))?;
            previous = Some(assumed);
        }
        previous.ok_or_else(|| anyhow!("the role chain names no role"))
    }

    /// The credentials assumed at start, once, while they stay valid long enough.
    fn take_assumed_at_start(&self) -> Option<Credentials> {
        let credentials = self.assumed_at_start.lock().unwrap_or_else(PoisonError::into_inner).take()?;
        let now = self.base.time_source().map_or_else(SystemTime::now, |clock| clock.now());
        match credentials.expiry() {
            Some(expiry) if expiry < now + FIRST_USE_MIN_VALIDITY => None,
            _ => Some(credentials),
        }
    }
}

impl ProvideCredentials for RoleChain {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            if let Some(credentials) = self.take_assumed_at_start() {
                return Ok(credentials);
            }
            self.assume_every_hop().await.map_err(CredentialsError::provider_error)
        })
    }
}

impl fmt::Debug for RoleChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoleChain")
            .field("roles", &self.roles)
            .field("external_id", &self.external_id.as_ref().map(|_| "<redacted>"))
            .field("session_duration", &self.duration_seconds)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_the_roles_but_not_the_external_id_or_credentials() {
        let base = signing_with(
            &SdkConfig::builder().build(),
            Credentials::new("AKIDBASE", "base-secret-key", Some("base-token".into()), None, "test"),
        );
        let chain = RoleChain {
            base,
            roles: vec!["arn:aws:iam::1:role/hub".into(), "arn:aws:iam::2:role/reader".into()],
            external_id: Some(Secret::from("customer-ext-42".to_string())),
            duration_seconds: 900,
            assumed_at_start: Mutex::new(Some(Credentials::new(
                "ASIAHOP2",
                "hop-secret-key",
                Some("hop-token".into()),
                None,
                "test",
            ))),
        };
        let shown = format!("{chain:?}");
        assert!(shown.contains("arn:aws:iam::1:role/hub") && shown.contains("arn:aws:iam::2:role/reader"), "{shown}");
        for secret in ["customer-ext-42", "base-secret-key", "base-token", "hop-secret-key", "hop-token"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}
