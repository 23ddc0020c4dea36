//! Pulling from ECR with the ECR API only: manifests through BatchGetImage (asking for OCI and
//! Docker media types), blobs through GetDownloadUrlForLayer and a plain GET of the presigned
//! URL (no AWS credentials sent to it), streamed by `registry::blob::ResumableBlob`.

use crate::aws::errors::ecr_failure;
use crate::aws::{AwsSession, EcrAccess};
use crate::digest::Digest;
use crate::image::{self, Platform, ResolvedImage};
use crate::registry::RemoteName;
use crate::registry::blob::{BlobRequest, ResumableBlob, RetryPolicy, UrlSource, http_agent};
use crate::registry::reference::Reference;
use crate::source::ImageFiles;
use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_ecr::types::{ImageFailureCode, ImageIdentifier};
use std::io::Read;

/// Manifest media types a scan can read, sent as BatchGetImage's acceptedMediaTypes: without
/// them ECR converts OCI manifests to Docker schema 2 (or refuses), and indexes are not returned.
pub const ACCEPTED_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// Where an ECR image is: the registry (account), its region, the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrRepository {
    pub registry_id: String,
    pub region: String,
    pub repository: String,
}

/// `ACCOUNT.dkr.ecr.REGION.amazonaws.com` (also `.amazonaws.com.cn` and the FIPS form
/// `ACCOUNT.dkr.ecr-fips.REGION.amazonaws.com`): the account and the region, or None for any
/// other host.
pub fn parse_ecr_host(host: &str) -> Option<(String, String)> {
    let host = host.strip_suffix(".amazonaws.com").or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let mut parts = host.split('.');
    let (account, dkr, ecr, region) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let valid = parts.next().is_none()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && dkr == "dkr"
        && (ecr == "ecr" || ecr == "ecr-fips")
        && !region.is_empty();
    valid.then(|| (account.to_string(), region.to_string()))
}

/// A manifest as ECR returned it, digest-checked.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub digest: Digest,
    pub media_type: Option<String>,
    pub bytes: Vec<u8>,
}

impl EcrRepository {
    fn image_name(&self, id: &ImageIdentifier) -> String {
        match (id.image_digest(), id.image_tag()) {
            (Some(digest), _) => format!("{}@{digest}", self.repository),
            (None, Some(tag)) => format!("{}:{tag}", self.repository),
            _ => self.repository.clone(),
        }
    }

    /// BatchGetImage for one image (tag or digest) with the accepted media types. A digest asked
    /// for must match; by tag, the digest ECR reports must match the bytes.
    pub async fn fetch_manifest(&self, session: &AwsSession, id: ImageIdentifier) -> Result<FetchedManifest> {
        let ecr = session.ecr(&self.region);
        let name = self.image_name(&id);
        let mut call = ecr
            .batch_get_image()
            .registry_id(&self.registry_id)
            .repository_name(&self.repository)
            .image_ids(id.clone());
        for media_type in ACCEPTED_MEDIA_TYPES {
            call = call.accepted_media_types(media_type);
        }
        let output =
            session.limited(call.send()).await.map_err(|e| ecr_failure(e, "ecr:BatchGetImage", &name, &self.region))?;
        if let Some(failure) = output.failures().first() {
            let reason = failure.failure_reason().unwrap_or("no reason given");
            return Err(match failure.failure_code() {
                Some(ImageFailureCode::ImageNotFound | ImageFailureCode::ImageTagDoesNotMatchDigest) => anyhow!(
                    "image {name} not found in registry {} region {} (ecr:BatchGetImage): {reason}; check the tag or digest",
                    self.registry_id,
                    self.region
                ),
                code => anyhow!("image {name}: ecr:BatchGetImage failed ({code:?}): {reason}"),
            });
        }
        let image = output
            .images()
            .first()
            .ok_or_else(|| anyhow!("image {name}: ecr:BatchGetImage returned neither the image nor a failure"))?;
        let bytes = image
            .image_manifest()
            .ok_or_else(|| anyhow!("image {name}: ecr:BatchGetImage returned no manifest"))?
            .as_bytes()
            .to_vec();
        let digest = Digest::of(&bytes);
        let reported = image.image_id().and_then(|i| i.image_digest()).or(id.image_digest());
        if let Some(reported) = reported
            && reported != digest.as_str()
        {
            bail!("image {name}: the manifest ECR returned hashes to {digest}, not {reported}; refusing it");
        }
        Ok(FetchedManifest { digest, media_type: image.image_manifest_media_type().map(str::to_string), bytes })
    }

    /// GetDownloadUrlForLayer: the presigned URL of one blob (layer or config).
    pub async fn download_url(&self, session: &AwsSession, digest: &Digest) -> Result<String> {
        let ecr = session.ecr(&self.region);
        let output = session
            .limited(
                ecr.get_download_url_for_layer()
                    .registry_id(&self.registry_id)
                    .repository_name(&self.repository)
                    .layer_digest(digest.as_str())
                    .send(),
            )
            .await
            .map_err(|e| {
                ecr_failure(e, "ecr:GetDownloadUrlForLayer", &format!("{}@{digest}", self.repository), &self.region)
            })?;
        output
            .download_url()
            .map(str::to_string)
            .with_context(|| format!("{}: ecr:GetDownloadUrlForLayer returned no URL for {digest}", self.repository))
    }
}

/// The presigned URL of one blob, asked for again when the previous one was refused (expired).
/// The request carries no headers: the URL holds its own signature, and AWS credentials must not
/// reach the storage behind it.
pub struct PresignedUrl {
    pub session: AwsSession,
    pub runtime: tokio::runtime::Handle,
    pub repository: EcrRepository,
    pub digest: Digest,
    url: Option<String>,
}

impl PresignedUrl {
    pub fn new(
        session: AwsSession,
        runtime: tokio::runtime::Handle,
        repository: EcrRepository,
        digest: Digest,
    ) -> Self {
        PresignedUrl { session, runtime, repository, digest, url: None }
    }
}

impl UrlSource for PresignedUrl {
    fn request(&mut self, refresh: bool) -> Result<BlobRequest> {
        if refresh || self.url.is_none() {
            // Called from the layer pipeline's threads, never from inside the runtime.
            let url = self.runtime.block_on(self.repository.download_url(&self.session, &self.digest))?;
            self.url = Some(url);
        }
        Ok(BlobRequest { url: self.url.clone().unwrap_or_default(), headers: Vec::new() })
    }
}

/// Resolves an ECR image reference: its manifest by tag or digest, then the platform's manifest
/// and config through `image::resolve_manifest`, with every blob read from a presigned URL and
/// retried as `retry` says.
pub fn resolve(
    reference: &Reference,
    access: &EcrAccess,
    platform: Option<&Platform>,
    retry: &RetryPolicy,
) -> Result<ResolvedImage> {
    let (registry_id, region) = parse_ecr_host(&reference.registry)
        .ok_or_else(|| anyhow!("{} is not an Amazon ECR registry host", reference.registry))?;
    let (session, runtime) = access.connect()?;
    let repository = EcrRepository { registry_id, region, repository: reference.repository.clone() };
    let id = match (&reference.digest, &reference.tag) {
        (Some(digest), _) => ImageIdentifier::builder().image_digest(digest.as_str()).build(),
        (None, tag) => ImageIdentifier::builder().image_tag(tag.as_deref().unwrap_or("latest")).build(),
    };
    let top = runtime.block_on(repository.fetch_manifest(session, id))?;
    let digest = top.digest.clone();
    let files = EcrFiles { session: session.clone(), runtime: runtime.clone(), repository, top, retry: retry.clone() };
    let mut image =
        image::resolve_manifest(Box::new(files), &digest, platform).with_context(|| reference.to_string())?;
    if reference.tag.is_some() {
        image.repo_tags = vec![reference.to_string()];
    }
    Ok(image)
}

/// An ECR image's files under the resolver's names: `manifests/sha256:HEX` through
/// BatchGetImage (the one fetched first is kept), `blobs/sha256/HEX` through presigned URLs.
struct EcrFiles {
    session: AwsSession,
    runtime: tokio::runtime::Handle,
    repository: EcrRepository,
    top: FetchedManifest,
    retry: RetryPolicy,
}

impl ImageFiles for EcrFiles {
    fn open(&self, name: &str) -> Result<Box<dyn Read + Send + '_>> {
        if let Some(RemoteName::Manifest(digest)) = RemoteName::parse(name) {
            if digest == self.top.digest.as_str() {
                return Ok(Box::new(self.top.bytes.as_slice()));
            }
            let id = ImageIdentifier::builder().image_digest(digest).build();
            let manifest = self.runtime.block_on(self.repository.fetch_manifest(&self.session, id))?;
            return Ok(Box::new(std::io::Cursor::new(manifest.bytes)));
        }
        if let Some(RemoteName::Blob { hex }) = RemoteName::parse(name) {
            let digest = Digest::parse(&format!("sha256:{hex}"))?;
            let what = format!("blob {digest} of {}", self.repository.repository);
            let source = PresignedUrl::new(self.session.clone(), self.runtime.clone(), self.repository.clone(), digest);
            // No host is trusted: the presigned URL's host is whatever ECR (or its endpoint) says.
            let agent = http_agent(&self.retry, None);
            return Ok(Box::new(ResumableBlob::new(agent, Box::new(source), what, None, self.retry.clone())));
        }
        bail!("'{name}' is not an ECR blob or manifest name")
    }

    /// Whether it exists is learnt by asking for it (LayersNotFound then names it).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_hosts() {
        assert_eq!(
            parse_ecr_host("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
            Some(("123456789012".into(), "eu-west-1".into()))
        );
        assert_eq!(
            parse_ecr_host("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"),
            Some(("123456789012".into(), "cn-north-1".into()))
        );
        assert_eq!(
            parse_ecr_host("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com"),
            Some(("123456789012".into(), "us-east-1".into()))
        );
        assert_eq!(parse_ecr_host("1234.dkr.ecr.eu-west-1.amazonaws.com"), None);
        assert_eq!(parse_ecr_host("registry.example.com"), None);
        assert_eq!(parse_ecr_host("public.ecr.aws"), None);
    }
}
