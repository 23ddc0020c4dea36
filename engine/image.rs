//! From a target to one image: index -> the asked platform's manifest -> config and layers.
//! Every manifest and config is digest-checked as it is read; layers are checked as they stream
//! (see `layer`).

use crate::digest::{Digest, read_verified};
use crate::source::{ArchiveFiles, DirFiles, ImageFiles, Target, blob_location};
use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// Manifests and indexes are small; anything bigger is hostile.
pub(crate) const MANIFEST_CEILING: u64 = 4 << 20;
const CONFIG_CEILING: u64 = 32 << 20;
/// Indexes may nest (an index naming another index); real ones go one level deep.
const MAX_INDEX_DEPTH: usize = 4;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// `os/arch[/variant]`, e.g. `linux/arm64/v8`.
    pub fn parse(text: &str) -> Result<Platform> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(Platform::new(os, arch, Some(variant)))
            }
            _ => bail!("platform '{text}' is not of the form os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8"),
        }
    }

    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        // Normalize the aliases tools write (uname names) to the OCI names.
        let architecture = match architecture {
            "x86_64" | "x86-64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        let variant = variant.filter(|v| !v.is_empty()).map(str::to_string);
        Platform { os: os.to_string(), architecture: architecture.to_string(), variant }
    }

    fn default_variant(&self) -> Option<&'static str> {
        match self.architecture.as_str() {
            "arm64" => Some("v8"),
            "arm" => Some("v7"),
            _ => None,
        }
    }

    fn effective_variant(&self) -> Option<&str> {
        self.variant.as_deref().or(self.default_variant())
    }

    /// Whether an image for `self` satisfies a request for `wanted`. A request without a variant
    /// takes any variant; a variant left out means the architecture's default (arm64 = v8).
    fn satisfies(&self, wanted: &Platform) -> bool {
        self.os == wanted.os
            && self.architecture == wanted.architecture
            && (wanted.variant.is_none() || self.effective_variant() == wanted.effective_variant())
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// One layer as the image describes it.
#[derive(Debug, Clone)]
pub struct LayerRef {
    /// The layer's identity in reports: the blob digest, or for `docker save` archives (which do
    /// not record blob digests) the diff_id.
    pub digest: Digest,
    /// The raw blob must hash to this (OCI layouts, registries).
    pub blob_digest: Option<Digest>,
    /// The uncompressed tar hashes to this (from the config's rootfs.diff_ids).
    pub diff_id: Option<Digest>,
    pub size: Option<u64>,
    pub media_type: Option<String>,
    /// `None`: not declared (docker-archive); sniffed from the first bytes.
    pub compression: Option<Compression>,
    /// Where the source finds the blob.
    pub location: String,
}

/// The image a target resolved to.
pub struct ResolvedImage {
    pub manifest_digest: Option<Digest>,
    pub config_digest: Digest,
    pub config_json: String,
    pub config: ImageConfig,
    pub platform: Platform,
    pub layers: Vec<LayerRef>,
    pub repo_tags: Vec<String>,
    pub files: Box<dyn ImageFiles>,
}

impl ResolvedImage {
    /// The digest users know the image by: the manifest's, or for docker archives the config's
    /// (Docker's image ID).
    pub fn digest(&self) -> &Digest {
        self.manifest_digest.as_ref().unwrap_or(&self.config_digest)
    }
}

/// The parts of the image config the host needs; plugins get the whole JSON.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default)]
    pub history: Vec<History>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct History {
    #[serde(default)]
    pub empty_layer: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    digest: String,
    size: Option<u64>,
    #[serde(default)]
    platform: Option<DescriptorPlatform>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
struct DescriptorPlatform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl DescriptorPlatform {
    fn to_platform(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, self.variant.as_deref())
    }
}

/// Index and manifest in one shape: which fields are present says which it is when the
/// (optional) mediaType is absent.
#[derive(Debug, Deserialize)]
struct ManifestDoc {
    #[serde(rename = "schemaVersion", default)]
    schema_version: Option<u32>,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

const INDEX_TYPES: [&str; 2] =
    ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];
const MANIFEST_TYPES: [&str; 2] =
    ["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"];
const CONFIG_TYPES: [&str; 2] =
    ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];

/// Compression a layer media type declares; `None` for a media type that is not a layer we read.
pub fn layer_compression(media_type: &str) -> Option<Compression> {
    match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Compression::Gzip),
        "application/vnd.oci.image.layer.v1.tar+zstd"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

/// Resolves an image target (not `dir:`) to one image for the platform.
/// `platform`: what the user asked for; `None` means linux/amd64, or the only platform there is.
pub fn resolve(target: &Target, platform: Option<&Platform>) -> Result<ResolvedImage> {
    match target {
        Target::DockerArchive { path, reference } => {
            let files = ArchiveFiles::open(path)?;
            resolve_docker_archive(Box::new(files), reference.as_deref())
                .with_context(|| format!("docker-archive {}", path.display()))
        }
        Target::OciArchive { path, reference } => {
            let files = ArchiveFiles::open(path)?;
            resolve_oci_layout(Box::new(files), reference.as_deref(), platform)
                .with_context(|| format!("oci-archive {}", path.display()))
        }
        Target::OciDir { path, reference } => {
            if !path.join("index.json").exists() {
                bail!("{} is not an OCI image layout: it has no index.json", path.display());
            }
            resolve_oci_layout(Box::new(DirFiles::new(path)), reference.as_deref(), platform)
                .with_context(|| format!("oci layout {}", path.display()))
        }
        Target::RootFs { .. } => bail!("a root filesystem has no manifest"),
        Target::Registry(reference) | Target::Ecr(reference) => {
            bail!("{reference} is in a registry: registry::resolve reads it")
        }
    }
}

fn read_small(
    files: &dyn ImageFiles,
    location: &str,
    expected: Option<&Digest>,
    size: Option<u64>,
    ceiling: u64,
    what: &str,
) -> Result<Vec<u8>> {
    if !files.contains(location) {
        match expected {
            Some(digest) => bail!("{what} {digest} is missing: the image names a blob it does not contain"),
            None => bail!("{what} is missing ({location})"),
        }
    }
    let blob = files.open(location).with_context(|| match expected {
        Some(digest) => format!("{what} {digest}"),
        None => what.to_string(),
    })?;
    read_verified(blob, expected, size, ceiling, what)
}

fn resolve_oci_layout(
    files: Box<dyn ImageFiles>,
    reference: Option<&str>,
    platform: Option<&Platform>,
) -> Result<ResolvedImage> {
    let index_bytes = read_small(&*files, "index.json", None, None, MANIFEST_CEILING, "index.json")?;
    let index: ManifestDoc = serde_json::from_slice(&index_bytes).context("index.json is not a valid image index")?;
    let all = index.manifests.unwrap_or_default();
    let candidates: Vec<Descriptor> = match reference {
        Some(reference) => {
            let found: Vec<Descriptor> = all
                .iter()
                .filter(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(reference))
                .cloned()
                .collect();
            if found.is_empty() {
                let refs: Vec<&str> =
                    all.iter().filter_map(|d| d.annotations.get(REF_NAME).map(String::as_str)).collect();
                bail!("no image with reference '{reference}' in the layout; it has: {}", list_or_none(&refs));
            }
            found
        }
        None => {
            let refs: std::collections::BTreeSet<&str> =
                all.iter().filter_map(|d| d.annotations.get(REF_NAME).map(String::as_str)).collect();
            if refs.len() > 1 {
                let refs: Vec<&str> = refs.into_iter().collect();
                bail!("the layout holds several images; name one with :REF, one of: {}", refs.join(", "));
            }
            all
        }
    };
    let descriptor = match candidates.len() {
        0 => bail!("index.json lists no images"),
        1 => candidates.into_iter().next().expect("one candidate"),
        // Several platform variants listed directly in index.json (no nested index).
        _ => choose_platform(&candidates, platform)?,
    };
    resolve_descriptor(files, descriptor, platform, 0)
}

/// Resolves the image whose top manifest (or index) is `digest`, as a registry names it: the
/// same index, platform and config handling as for layouts.
pub fn resolve_manifest(
    files: Box<dyn ImageFiles>,
    digest: &Digest,
    platform: Option<&Platform>,
) -> Result<ResolvedImage> {
    let descriptor = Descriptor {
        media_type: None,
        digest: digest.to_string(),
        size: None,
        platform: None,
        annotations: BTreeMap::new(),
    };
    resolve_descriptor(files, descriptor, platform, 0)
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() { "no named references".to_string() } else { items.join(", ") }
}

/// Picks the manifest for the asked platform out of an index's entries.
fn choose_platform(entries: &[Descriptor], wanted: Option<&Platform>) -> Result<Descriptor> {
    let available: Vec<(Platform, &Descriptor)> = entries
        .iter()
        .filter_map(|d| d.platform.as_ref().map(|p| (p.to_platform(), d)))
        // Attestation manifests (buildx) sit in indexes as unknown/unknown.
        .filter(|(p, _)| p.os != "unknown")
        .collect();
    let default = Platform::new("linux", "amd64", None);
    let asked = wanted.unwrap_or(&default);
    let matching: Vec<&(Platform, &Descriptor)> = available.iter().filter(|(p, _)| p.satisfies(asked)).collect();
    let chosen = matching
        .iter()
        .find(|(p, _)| p.effective_variant() == asked.effective_variant())
        .or(matching.first())
        .map(|(_, d)| (*d).clone());
    match chosen {
        Some(descriptor) => Ok(descriptor),
        // Without an explicit --platform, an image built for a single platform is that platform.
        None if wanted.is_none() && available.len() == 1 => Ok(available[0].1.clone()),
        None if wanted.is_none() && available.is_empty() && entries.len() == 1 => Ok(entries[0].clone()),
        None => {
            let names: Vec<String> = available.iter().map(|(p, _)| p.to_string()).collect();
            bail!(
                "the image has no {asked} variant; available platforms: {} (choose one with --platform)",
                if names.is_empty() { "none declared".to_string() } else { names.join(", ") }
            )
        }
    }
}

fn resolve_descriptor(
    files: Box<dyn ImageFiles>,
    descriptor: Descriptor,
    platform: Option<&Platform>,
    depth: usize,
) -> Result<ResolvedImage> {
    if depth > MAX_INDEX_DEPTH {
        bail!("image indexes nest more than {MAX_INDEX_DEPTH} levels deep");
    }
    let digest = Digest::parse(&descriptor.digest).context("manifest descriptor")?;
    let bytes = read_small(
        &*files,
        &files.manifest_name(&digest),
        Some(&digest),
        descriptor.size,
        MANIFEST_CEILING,
        "manifest",
    )?;
    let doc: ManifestDoc = serde_json::from_slice(&bytes)
        .with_context(|| format!("manifest {digest} is not valid JSON of an image manifest or index"))?;
    let media_type = doc.media_type.clone().or(descriptor.media_type.clone());
    let is_index = match media_type.as_deref() {
        Some(t) if INDEX_TYPES.contains(&t) => true,
        Some(t) if MANIFEST_TYPES.contains(&t) => false,
        Some(t) if t.contains("distribution.manifest.v1") => {
            bail!(
                "manifest {digest} is Docker schema 1 ({t}), which is deprecated and not supported; re-push the image with a current Docker or skopeo"
            )
        }
        Some(t) => bail!("manifest {digest} has unsupported media type '{t}'"),
        None => doc.manifests.is_some(),
    };
    if is_index {
        let entries = doc.manifests.unwrap_or_default();
        let chosen = choose_platform(&entries, platform).with_context(|| format!("index {digest}"))?;
        return resolve_descriptor(files, chosen, platform, depth + 1);
    }
    if doc.schema_version != Some(2) {
        bail!("manifest {digest} has schemaVersion {:?}; only schema 2 manifests are supported", doc.schema_version);
    }
    let config_descriptor = doc.config.ok_or_else(|| anyhow!("manifest {digest} has no config"))?;
    let layer_descriptors = doc.layers.unwrap_or_default();
    let config_digest = Digest::parse(&config_descriptor.digest).context("config descriptor")?;
    if let Some(t) = config_descriptor.media_type.as_deref()
        && !CONFIG_TYPES.contains(&t)
    {
        bail!("manifest {digest} is not a container image: its config has media type '{t}'");
    }
    let config_bytes = read_small(
        &*files,
        &blob_location(&config_digest),
        Some(&config_digest),
        config_descriptor.size,
        CONFIG_CEILING,
        "config",
    )?;
    let (config_json, config) = parse_config(config_bytes, &config_digest)?;
    if config.rootfs.diff_ids.len() != layer_descriptors.len() {
        bail!(
            "manifest {digest} lists {} layers but its config lists {} diff_ids",
            layer_descriptors.len(),
            config.rootfs.diff_ids.len()
        );
    }
    let mut layers = Vec::with_capacity(layer_descriptors.len());
    for (index, (layer, diff_id)) in layer_descriptors.iter().zip(&config.rootfs.diff_ids).enumerate() {
        let blob = Digest::parse(&layer.digest).with_context(|| format!("layer {} descriptor", index + 1))?;
        let media_type = layer.media_type.clone().unwrap_or_default();
        let compression = layer_compression(&media_type).ok_or_else(|| {
            anyhow!("layer {} ({blob}) has unsupported media type '{media_type}'; ecr-engine reads tar layers (uncompressed, gzip, zstd)", index + 1)
        })?;
        layers.push(LayerRef {
            digest: blob.clone(),
            location: blob_location(&blob),
            blob_digest: Some(blob),
            diff_id: Some(Digest::parse(diff_id).with_context(|| format!("config diff_id {}", index + 1))?),
            size: layer.size,
            media_type: Some(media_type),
            compression: Some(compression),
        });
    }
    Ok(ResolvedImage {
        manifest_digest: Some(digest),
        config_digest,
        platform: config_platform(&config),
        config_json,
        config,
        layers,
        repo_tags: Vec::new(),
        files,
    })
}

fn parse_config(bytes: Vec<u8>, digest: &Digest) -> Result<(String, ImageConfig)> {
    let json = String::from_utf8(bytes).map_err(|_| anyhow!("config {digest} is not UTF-8 JSON"))?;
    let config: ImageConfig =
        serde_json::from_str(&json).with_context(|| format!("config {digest} is not a valid image config"))?;
    Ok((json, config))
}

fn config_platform(config: &ImageConfig) -> Platform {
    Platform::new(&config.os, &config.architecture, config.variant.as_deref())
}

#[derive(Debug, Deserialize)]
struct DockerArchiveEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// `docker save` archives: manifest.json names the config and the layer tars by path. Classic
/// archives (`<id>/layer.tar`) carry no blob digests, so layers are checked against the
/// config's diff_ids; Docker 25+ archives (`blobs/sha256/<hex>`) are checked by their names too.
fn resolve_docker_archive(files: Box<dyn ImageFiles>, reference: Option<&str>) -> Result<ResolvedImage> {
    let manifest_bytes = read_small(&*files, "manifest.json", None, None, MANIFEST_CEILING, "manifest.json")?;
    let entries: Vec<DockerArchiveEntry> =
        serde_json::from_slice(&manifest_bytes).context("manifest.json is not a docker-archive manifest")?;
    let entry = match reference {
        Some(reference) => {
            let wanted = normalize_docker_ref(reference);
            entries
                .iter()
                .find(|e| e.repo_tags.iter().flatten().any(|t| normalize_docker_ref(t) == wanted))
                .ok_or_else(|| {
                    let tags: Vec<&str> =
                        entries.iter().flat_map(|e| e.repo_tags.iter().flatten()).map(String::as_str).collect();
                    anyhow!("no image tagged '{reference}' in the archive; it has: {}", list_or_none(&tags))
                })?
        }
        None => match entries.as_slice() {
            [] => bail!("manifest.json lists no images"),
            [one] => one,
            several => {
                let tags: Vec<&str> =
                    several.iter().flat_map(|e| e.repo_tags.iter().flatten()).map(String::as_str).collect();
                bail!(
                    "the archive holds {} images; name one as docker-archive:PATH:REPO:TAG, one of: {}",
                    several.len(),
                    list_or_none(&tags)
                )
            }
        },
    };
    let config_digest = digest_from_name(&entry.config);
    let config_bytes = read_small(
        &*files,
        &entry.config,
        config_digest.as_ref(),
        files.size(&entry.config),
        CONFIG_CEILING,
        "config",
    )?;
    let config_digest = config_digest.unwrap_or_else(|| Digest::of(&config_bytes));
    let (config_json, config) = parse_config(config_bytes, &config_digest)?;
    if config.rootfs.diff_ids.len() != entry.layers.len() {
        bail!(
            "manifest.json lists {} layers but the config lists {} diff_ids",
            entry.layers.len(),
            config.rootfs.diff_ids.len()
        );
    }
    let mut layers = Vec::with_capacity(entry.layers.len());
    for (index, (location, diff_id)) in entry.layers.iter().zip(&config.rootfs.diff_ids).enumerate() {
        let diff_id = Digest::parse(diff_id).with_context(|| format!("config diff_id {}", index + 1))?;
        if !files.contains(location) {
            bail!("layer {} ({location}) named in manifest.json is missing from the archive", index + 1);
        }
        let blob_digest = digest_from_name(location);
        layers.push(LayerRef {
            digest: blob_digest.clone().unwrap_or_else(|| diff_id.clone()),
            blob_digest,
            diff_id: Some(diff_id),
            size: files.size(location),
            media_type: None,
            compression: None,
            location: location.clone(),
        });
    }
    Ok(ResolvedImage {
        manifest_digest: None,
        config_digest,
        platform: config_platform(&config),
        config_json,
        config,
        layers,
        repo_tags: entry.repo_tags.clone().unwrap_or_default(),
        files,
    })
}

/// `blobs/sha256/<hex>` or `<hex>.json` name their content's digest.
fn digest_from_name(name: &str) -> Option<Digest> {
    let hex = name.strip_prefix("blobs/sha256/").or_else(|| name.strip_suffix(".json"))?;
    Digest::parse(&format!("sha256:{hex}")).ok()
}

/// `docker save` records `nginx:1.25` for Docker Hub images; users may type either form.
fn normalize_docker_ref(reference: &str) -> String {
    let stripped = reference.strip_prefix("docker.io/").unwrap_or(reference);
    stripped.strip_prefix("library/").unwrap_or(stripped).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_parsing_and_matching() {
        let arm = Platform::parse("linux/arm64").unwrap();
        assert!(Platform::new("linux", "aarch64", Some("v8")).satisfies(&arm));
        assert!(Platform::new("linux", "arm64", None).satisfies(&Platform::parse("linux/arm64/v8").unwrap()));
        assert!(!Platform::new("linux", "arm", Some("v6")).satisfies(&Platform::parse("linux/arm/v7").unwrap()));
        assert!(Platform::parse("linux").is_err());
        assert_eq!(Platform::parse("linux/arm/v7").unwrap().to_string(), "linux/arm/v7");
    }

    #[test]
    fn media_types() {
        assert_eq!(layer_compression("application/vnd.oci.image.layer.v1.tar+zstd"), Some(Compression::Zstd));
        assert_eq!(layer_compression("application/vnd.docker.image.rootfs.diff.tar.gzip"), Some(Compression::Gzip));
        assert_eq!(layer_compression("application/vnd.example.unknown"), None);
    }
}
