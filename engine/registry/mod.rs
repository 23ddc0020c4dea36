//! Pulling images from registries: an OCI Distribution client and the resumable blob download
//! it (and ECR's presigned layer URLs) streams layers through.

pub mod args;
pub mod auth;
pub mod blob;
pub mod client;
pub mod credential_helper;
pub mod metadata_guard;
pub mod reference;

pub use auth::{Credentials, Login};
pub use client::RegistryOptions;
pub use reference::Reference;

use crate::digest::Digest;
use crate::image::{self, Platform, ResolvedImage};
use anyhow::{Context, Result};

/// What the image resolver asks a remote image (registry or ECR) for: `manifests/DIGEST` (read
/// through the registry's manifest call) or `blobs/sha256/HEX`. Whether one exists is learnt by
/// fetching it, where the registry's refusal names it.
pub enum RemoteName<'a> {
    Manifest(&'a str),
    Blob { hex: &'a str },
}

impl RemoteName<'_> {
    pub fn parse(name: &str) -> Option<RemoteName<'_>> {
        if let Some(digest) = name.strip_prefix("manifests/") {
            return Some(RemoteName::Manifest(digest));
        }
        name.strip_prefix("blobs/sha256/").map(|hex| RemoteName::Blob { hex })
    }

    /// The name the resolver uses for a manifest (see `ImageFiles::manifest_name`).
    pub fn manifest(digest: &Digest) -> String {
        format!("manifests/{digest}")
    }
}

/// Resolves a registry image to the asked platform: its manifest, config and layer list. Layers
/// are downloaded later, as the pipeline reads them.
pub fn resolve(reference: &Reference, options: &RegistryOptions, platform: Option<&Platform>) -> Result<ResolvedImage> {
    let (files, digest) = client::open_image(reference, options)?;
    let mut image =
        image::resolve_manifest(Box::new(files), &digest, platform).with_context(|| reference.to_string())?;
    if reference.tag.is_some() {
        image.repo_tags = vec![reference.to_string()];
    }
    Ok(image)
}
