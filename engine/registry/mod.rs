//! Pulling images from registries: an OCI Distribution client and the resumable blob download
//! it (and ECR's presigned layer URLs) streams layers through.

pub mod args;
pub mod auth;
pub mod blob;
pub mod client;
pub mod reference;

pub use auth::Credentials;
pub use client::RegistryOptions;
pub use reference::Reference;

use crate::image::{self, Platform, ResolvedImage};
use anyhow::{Context, Result};

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
