//! What flows between the stages: files selected from an image, and what analyzers found in them.
//!
//! These are the host's own types, independent of the WIT contract version a plugin was built
//! for, so the report and the store never change shape when the contract grows.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A file of the image handed to analyzers: the merged view's copy, with the layer it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFile {
    /// Relative to the image root, no leading '/'.
    pub path: String,
    /// The path of the regular file whose bytes these are: `path` itself, or where the links on
    /// the way lead (for hard links, the path the layer stored the bytes under). Files with the
    /// same `resolved` are one file seen under several paths (see `view::distinct_files`).
    pub resolved: String,
    pub mode: u32,
    /// Digest of the layer that holds this copy, "" for an unpacked root filesystem.
    pub layer: String,
    pub content: Vec<u8>,
}

/// What analyzers learn about the image besides its files.
#[derive(Debug, Clone, Default)]
pub struct ImageInfo {
    pub config_json: String,
    pub os: String,
    pub architecture: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    #[default]
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub ecosystem: String,
    pub source_name: Option<String>,
    pub source_version: Option<String>,
    pub arch: Option<String>,
    pub licenses: Vec<String>,
    pub purl: Option<String>,
    pub path: String,
    pub installed_files: Vec<String>,
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distro {
    pub id: String,
    pub version_id: String,
    pub pretty_name: Option<String>,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub id: String,
    pub severity: Severity,
    pub title: String,
    pub description: String,
    pub remediation: Option<String>,
    pub path: Option<String>,
    pub history_index: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileError {
    pub path: String,
    pub message: String,
}

/// Serialized as `{"package": {...}}`, `{"distro": {...}}`, ... (`plugins test` prints them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Finding {
    Package(Package),
    Distro(Distro),
    Issue(Issue),
    FileError(FileError),
}
