//! AWS failures turned into messages that name the resource, the permission involved and what to
//! change. The SDK's errors say what AWS said; users need to know which policy to fix.

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ecr::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use std::error::Error as StdError;

/// What kind of failure an AWS error is, from its error code and transport state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    AccessDenied,
    RepositoryNotFound,
    ImageNotFound,
    LayersNotFound,
    /// The credentials are unknown, expired or signed for another region.
    BadCredentials,
    /// The endpoint could not be reached (network, DNS, a region that does not exist).
    Unreachable,
    /// No credentials to sign with: the default chain found none, or the role chain could not
    /// be assumed again (the error carries why).
    NoCredentials,
    Other,
}

pub fn classify<E, R>(error: &SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::DispatchFailure(_) if credentials_error(error).is_some() => return Failure::NoCredentials,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => return Failure::Unreachable,
        SdkError::ServiceError(_) => {}
        _ => return Failure::Other,
    }
    match error.code().unwrap_or_default() {
        "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => Failure::AccessDenied,
        "RepositoryNotFoundException" => Failure::RepositoryNotFound,
        "ImageNotFoundException" => Failure::ImageNotFound,
        "LayersNotFoundException" | "LayerInaccessibleException" => Failure::LayersNotFound,
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "ExpiredTokenException" => Failure::BadCredentials,
        _ => Failure::Other,
    }
}

/// The credentials provider's failure, when that is why `error`'s request was not sent (the SDK
/// reports it as a failure to send).
fn credentials_error<E, R>(error: &SdkError<E, R>) -> Option<&CredentialsError> {
    let SdkError::DispatchFailure(failure) = error else { return None };
    let connector: &(dyn StdError + 'static) = failure.as_connector_error()?;
    std::iter::successors(Some(connector), |&e| e.source()).find_map(|e| e.downcast_ref::<CredentialsError>())
}

/// The SDK's own account of the error: code, message and the transport cause; or, when there
/// were no credentials to sign with, why the credentials provider failed.
pub fn detail<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: std::fmt::Debug,
{
    if let Some(credentials) = credentials_error(error) {
        let causes = std::iter::successors(Some(credentials as &(dyn StdError + 'static)), |&e| e.source());
        return causes.map(|e| e.to_string()).collect::<Vec<_>>().join(": ");
    }
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => DisplayErrorContext(error).to_string(),
    }
}

/// A failed ECR call as a message: `action` is the IAM action (e.g. `ecr:BatchGetImage`),
/// `resource` what it was called on (a repository, an image, a layer), `region` where.
pub fn ecr_failure<E, R>(error: SdkError<E, R>, action: &str, resource: &str, region: &str) -> anyhow::Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let detail = detail(&error);
    let message = match classify(&error) {
        Failure::AccessDenied => format!(
            "{action} on {resource} was denied: the identity needs permission {action} on this repository \
             (add it to the role's IAM policy, and check that the repository policy does not deny it) [{detail}]"
        ),
        Failure::RepositoryNotFound => format!(
            "repository {resource} does not exist in region {region} of this registry ({action}); \
             check the name, the region and the account [{detail}]"
        ),
        Failure::ImageNotFound => {
            format!("image {resource} not found in region {region} ({action}); check the tag or digest [{detail}]")
        }
        Failure::LayersNotFound => format!(
            "layer {resource} is not available ({action}): the image's manifest names a layer the repository \
             does not hold [{detail}]"
        ),
        Failure::BadCredentials => format!(
            "{action} on {resource}: AWS rejected the credentials (unknown, expired, or not valid in region \
             {region}); check the profile or keys and --region [{detail}]"
        ),
        Failure::Unreachable => format!(
            "{action} on {resource}: cannot reach ECR in region {region}; check --region, --endpoint-url and \
             the network [{detail}]"
        ),
        Failure::NoCredentials => format!("{action} on {resource}: no credentials to sign with [{detail}]"),
        Failure::Other => format!("{action} on {resource} in region {region} failed: {detail}"),
    };
    anyhow::anyhow!(message)
}

/// AssumeRole refused: AWS answers AccessDenied alike for a trust policy that does not name the
/// caller and for a wrong or missing External ID, so the message lists both.
pub fn assume_role_failure<E, R>(error: SdkError<E, R>, role_arn: &str, hop: usize, external_id: bool) -> anyhow::Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let detail = detail(&error);
    let who = if hop == 0 { "the base credentials".to_string() } else { format!("the role of hop {hop}") };
    let message = match classify(&error) {
        Failure::AccessDenied => format!(
            "cannot assume {role_arn} (sts:AssumeRole, hop {} of the chain): either its trust policy does not \
             allow {who} to assume it, or {}; AWS does not say which [{detail}]",
            hop + 1,
            if external_id {
                "the External ID does not match the sts:ExternalId condition of the trust policy"
            } else {
                "the trust policy requires an External ID (pass --external-id)"
            }
        ),
        Failure::BadCredentials => {
            format!("cannot assume {role_arn}: AWS rejected the credentials of {who} (unknown or expired) [{detail}]")
        }
        Failure::Unreachable => {
            format!(
                "cannot assume {role_arn}: cannot reach STS; check --region, --endpoint-url and the network [{detail}]"
            )
        }
        _ => format!("cannot assume {role_arn} (hop {}): {detail}", hop + 1),
    };
    anyhow::anyhow!(message)
}
