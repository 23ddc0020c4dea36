//! Builds real container images on disk for the integration tests.
//!
//! Everything here follows the published formats byte for byte, so the images can be read by
//! real tools (skopeo, tar, gzip, zstd) as well as by `ecr-engine`:
//!
//! * OCI image-spec v1.1: image layout (`oci-layout`, `index.json`, `blobs/sha256/<hex>`),
//!   image index, image manifest, image config, layer media types.
//! * Docker image manifest v2 schema 2 and manifest list (optional, [`ManifestFormat::Docker`]).
//! * `docker save` archives: the classic layout (`manifest.json`, `<hex>.json`,
//!   `<id>/layer.tar`, `repositories`) and the Docker 25+ layout (an OCI layout plus
//!   `manifest.json`).
//!
//! Output is deterministic: tar headers have mtime 0, uid/gid 0, owner `root`, and the JSON
//! documents are serialized with a fixed key order, so the same spec always gives the same
//! digests.
//!
//! Typical use:
//!
//! ```ignore
//! let spec = ImageSpec::new(vec![Layer::gzip(vec![
//!     Entry::file("etc/os-release", os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)")),
//!     Entry::file("var/lib/dpkg/status",
//!         dpkg_status_stanza("bash", "5.2.15-2+b2", "amd64", None, "install ok installed")),
//! ])]);
//! let dir = tempfile::tempdir().unwrap();
//! let built = write_oci_layout(&[(&spec, Some("latest"))], dir.path(), false);
//! // target: format!("oci:{}:latest", dir.path().display())
//! ```
//!
//! Tampering helpers ([`corrupt_blob`], [`remove_blob`], [`rewrite_manifest`],
//! [`set_layer_media_type`], [`truncate_layer`], [`rewrite_config`], ...) edit a layout
//! directory after it was written; [`tar_dir`] then turns a (tampered) layout or docker-save
//! directory into an archive.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// Media types
// ---------------------------------------------------------------------------------------------

pub const OCI_LAYOUT_VERSION: &str = "1.0.0";
pub const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MT_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MT_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MT_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MT_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MT_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const MT_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const MT_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// `org.opencontainers.image.ref.name`: the tag of a manifest in an OCI layout's index.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// What Docker 25+ / containerd put next to the ref name: the full image name.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Timestamp used for `created` everywhere (the epoch keeps output reproducible).
pub const EPOCH: &str = "1970-01-01T00:00:00Z";

// ---------------------------------------------------------------------------------------------
// Spec types
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// One tar entry of a layer. Paths are relative to the root; a leading `/` or `./` is dropped
/// (use [`Entry::RawName`] to write exactly the bytes you want). Parent directories are added
/// automatically (once per layer) for every kind except `RawName`.
#[derive(Clone, Debug)]
pub enum Entry {
    File {
        path: String,
        content: Vec<u8>,
        mode: u32,
    },
    Dir {
        path: String,
    },
    Symlink {
        path: String,
        target: String,
    },
    /// `target` is the archive path of the linked file (made relative like `path`).
    Hardlink {
        path: String,
        target: String,
    },
    /// Writes an empty `<dir>/.wh.<name>` file that deletes `path` from lower layers.
    Whiteout {
        path: String,
    },
    /// Writes an empty `<dir>/.wh..wh..opq` file that hides everything lower layers put in `dir`.
    Opaque {
        dir: String,
    },
    /// Hostile or unusual entries: `name` and `link` are written into the header as given
    /// (absolute paths, `..` components, non-UTF-8 bytes). Names or links over 100 bytes get a
    /// GNU long-name (`L`) / long-link (`K`) entry first, as GNU tar does. `kind` is the tar
    /// typeflag (`b'0'` file, `b'1'` hard link, `b'2'` symlink, `b'5'` directory, ...).
    RawName {
        name: Vec<u8>,
        content: Vec<u8>,
        kind: u8,
        link: Option<Vec<u8>>,
    },
    /// Bytes written into the tar stream exactly as given, padded to whole 512-byte blocks:
    /// headers (see [`tar_header`]) that declare more data than follows, PAX records, sparse maps.
    Verbatim(Vec<u8>),
}

impl Entry {
    /// Regular file with mode 0644.
    pub fn file(path: &str, content: impl Into<Vec<u8>>) -> Entry {
        Entry::File { path: path.into(), content: content.into(), mode: 0o644 }
    }
    pub fn file_mode(path: &str, content: impl Into<Vec<u8>>, mode: u32) -> Entry {
        Entry::File { path: path.into(), content: content.into(), mode }
    }
    pub fn dir(path: &str) -> Entry {
        Entry::Dir { path: path.into() }
    }
    pub fn symlink(path: &str, target: &str) -> Entry {
        Entry::Symlink { path: path.into(), target: target.into() }
    }
    pub fn hardlink(path: &str, target: &str) -> Entry {
        Entry::Hardlink { path: path.into(), target: target.into() }
    }
    pub fn whiteout(path: &str) -> Entry {
        Entry::Whiteout { path: path.into() }
    }
    pub fn opaque(dir: &str) -> Entry {
        Entry::Opaque { dir: dir.into() }
    }
    pub fn raw(name: impl Into<Vec<u8>>, content: impl Into<Vec<u8>>, kind: u8, link: Option<&[u8]>) -> Entry {
        Entry::RawName { name: name.into(), content: content.into(), kind, link: link.map(|l| l.to_vec()) }
    }
}

#[derive(Clone, Debug)]
pub struct Layer {
    pub entries: Vec<Entry>,
    pub compression: Compression,
}

#[derive(Clone, Debug)]
pub struct ImageSpec {
    pub layers: Vec<Layer>,
    /// The config's `config` object (Env, User, ExposedPorts, Healthcheck, Labels, Cmd, ...).
    /// `Value::Null` means `{}`.
    pub config: Value,
    /// The config's `history`; `None` gives one entry per layer.
    pub history: Option<Vec<Value>>,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// What was written, with the digests a test can assert on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltImage {
    /// Digest of the image manifest. For a classic `docker save` archive (which holds no
    /// manifest) this is the digest of the schema 2 manifest skopeo synthesizes for it.
    pub manifest_digest: String,
    pub config_digest: String,
    /// Blob digests as listed in the manifest (for a classic docker archive: the diff IDs).
    pub layer_digests: Vec<String>,
    /// `rootfs.diff_ids`: sha256 of each uncompressed layer tar.
    pub diff_ids: Vec<String>,
    // --- extras, not part of the original brief ---
    pub manifest_media_type: String,
    pub manifest_size: u64,
    pub config_size: u64,
    pub layer_sizes: Vec<u64>,
    pub layer_media_types: Vec<String>,
    /// The nested index (manifest list) this manifest is listed in, when there is one.
    pub index_digest: Option<String>,
    /// `os/architecture[/variant]`, e.g. `linux/arm64/v8`.
    pub platform: String,
}

// ---------------------------------------------------------------------------------------------
// Convenience constructors
// ---------------------------------------------------------------------------------------------

impl Layer {
    pub fn new(compression: Compression, entries: Vec<Entry>) -> Layer {
        Layer { entries, compression }
    }
    pub fn plain(entries: Vec<Entry>) -> Layer {
        Layer::new(Compression::None, entries)
    }
    pub fn gzip(entries: Vec<Entry>) -> Layer {
        Layer::new(Compression::Gzip, entries)
    }
    pub fn zstd(entries: Vec<Entry>) -> Layer {
        Layer::new(Compression::Zstd, entries)
    }
}

impl Default for ImageSpec {
    fn default() -> Self {
        ImageSpec {
            layers: Vec::new(),
            config: json!({}),
            history: None,
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl ImageSpec {
    /// linux/amd64, empty config, default history.
    pub fn new(layers: Vec<Layer>) -> ImageSpec {
        ImageSpec { layers, ..Default::default() }
    }
    /// Same spec for another platform, e.g. `.with_platform("linux", "arm64", Some("v8"))`.
    pub fn with_platform(mut self, os: &str, architecture: &str, variant: Option<&str>) -> ImageSpec {
        self.os = os.into();
        self.architecture = architecture.into();
        self.variant = variant.map(Into::into);
        self
    }
    /// Sets the config's `config` object (Env, User, ...).
    pub fn with_config(mut self, config: Value) -> ImageSpec {
        self.config = config;
        self
    }
    pub fn with_history(mut self, history: Vec<Value>) -> ImageSpec {
        self.history = Some(history);
        self
    }
    pub fn platform_string(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{}", self.os, self.architecture, v),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// One `/var/lib/dpkg/status` stanza, terminated by the blank line that separates stanzas, so
/// stanzas can simply be concatenated. `source` is written verbatim (`"glibc"` or
/// `"glibc (2.36-9)"`); `status` is e.g. `"install ok installed"` or
/// `"deinstall ok config-files"`.
pub fn dpkg_status_stanza(name: &str, version: &str, arch: &str, source: Option<&str>, status: &str) -> String {
    let mut s = String::new();
    s.push_str(&format!("Package: {name}\n"));
    s.push_str(&format!("Status: {status}\n"));
    s.push_str("Priority: optional\n");
    s.push_str("Section: misc\n");
    s.push_str("Installed-Size: 100\n");
    s.push_str("Maintainer: Test Maintainer <test@example.invalid>\n");
    s.push_str(&format!("Architecture: {arch}\n"));
    if let Some(src) = source {
        s.push_str(&format!("Source: {src}\n"));
    }
    s.push_str(&format!("Version: {version}\n"));
    s.push_str(&format!("Description: test package {name}\n"));
    s.push_str(" Built by the ecr-engine test image builder.\n");
    s.push('\n');
    s
}

/// An `/etc/os-release` in the usual shell-assignment format.
pub fn os_release(id: &str, version_id: &str, pretty: &str) -> String {
    let name = pretty.split_whitespace().next().unwrap_or(id);
    format!(
        "PRETTY_NAME=\"{pretty}\"\nNAME=\"{name}\"\nVERSION_ID=\"{version_id}\"\nID={id}\n\
         HOME_URL=\"https://example.invalid/\"\n"
    )
}

/// `"sha256:<hex>"` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The hex part of a `sha256:<hex>` digest.
pub fn digest_hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or_else(|| panic!("not a sha256 digest: {digest}"))
}

// ---------------------------------------------------------------------------------------------
// Layers: tar and compression
// ---------------------------------------------------------------------------------------------

/// Relative archive path: drops leading `/` and `./`, collapses duplicate slashes.
fn rel_path(p: &str) -> String {
    p.split('/').filter(|c| !c.is_empty() && *c != ".").collect::<Vec<_>>().join("/")
}

fn split_parent(p: &str) -> (&str, &str) {
    match p.rfind('/') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => ("", p),
    }
}

/// Appends one entry with the header name/link bytes written directly (no path checks),
/// preceded by GNU `L`/`K` extension entries when name or link exceed 100 bytes.
fn append_raw(b: &mut tar::Builder<Vec<u8>>, name: &[u8], kind: u8, mode: u32, content: &[u8], link: Option<&[u8]>) {
    fn long(b: &mut tar::Builder<Vec<u8>>, flag: u8, value: &[u8]) {
        let mut data = value.to_vec();
        data.push(0);
        let mut h = base_header(tar::EntryType::new(flag), 0o644, data.len() as u64);
        let n = b"././@LongLink";
        h.as_old_mut().name[..n.len()].copy_from_slice(n);
        h.set_cksum();
        b.append(&h, data.as_slice()).expect("append long-name entry");
    }
    if name.len() > 100 {
        long(b, b'L', name);
    }
    if let Some(l) = link
        && l.len() > 100
    {
        long(b, b'K', l);
    }
    let mut h = base_header(tar::EntryType::new(kind), mode, content.len() as u64);
    let n = name.len().min(100);
    h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
    if let Some(l) = link {
        let n = l.len().min(100);
        h.as_old_mut().linkname[..n].copy_from_slice(&l[..n]);
    }
    h.set_cksum();
    b.append(&h, content).expect("append tar entry");
}

/// A GNU header of typeflag `kind` named `name` (at most 100 bytes) that declares `size` bytes of
/// data, checksum set: the start of an [`Entry::Verbatim`].
pub fn tar_header(kind: u8, name: &[u8], size: u64) -> tar::Header {
    let mut h = base_header(tar::EntryType::new(kind), 0o644, size);
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    h
}

/// One PAX extended-header record, `LENGTH key=value\n` (the length counts its own digits).
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = [b" ", key.as_bytes(), b"=", value, b"\n"].concat();
    let mut length = body.len() + 1;
    while length.to_string().len() + body.len() != length {
        length += 1;
    }
    [length.to_string().as_bytes(), &body].concat()
}

fn base_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(size);
    h.set_username("root").unwrap();
    h.set_groupname("root").unwrap();
    h
}

impl Layer {
    /// The uncompressed layer tar (its sha256 is the diff ID).
    pub fn tar_bytes(&self) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut dirs: BTreeSet<String> = BTreeSet::new();
        // Emits "a/", "a/b/" for every ancestor of `path` not yet in the archive.
        let parents = |b: &mut tar::Builder<Vec<u8>>, dirs: &mut BTreeSet<String>, path: &str| {
            let comps: Vec<&str> = path.split('/').collect();
            for i in 1..comps.len() {
                let d = comps[..i].join("/");
                if dirs.insert(d.clone()) {
                    append_raw(b, format!("{d}/").as_bytes(), b'5', 0o755, &[], None);
                }
            }
        };
        for e in &self.entries {
            match e {
                Entry::File { path, content, mode } => {
                    let p = rel_path(path);
                    parents(&mut b, &mut dirs, &p);
                    append_raw(&mut b, p.as_bytes(), b'0', *mode, content, None);
                }
                Entry::Dir { path } => {
                    let p = rel_path(path);
                    parents(&mut b, &mut dirs, &p);
                    if !p.is_empty() && dirs.insert(p.clone()) {
                        append_raw(&mut b, format!("{p}/").as_bytes(), b'5', 0o755, &[], None);
                    }
                }
                Entry::Symlink { path, target } => {
                    let p = rel_path(path);
                    parents(&mut b, &mut dirs, &p);
                    append_raw(&mut b, p.as_bytes(), b'2', 0o777, &[], Some(target.as_bytes()));
                }
                Entry::Hardlink { path, target } => {
                    let p = rel_path(path);
                    parents(&mut b, &mut dirs, &p);
                    append_raw(&mut b, p.as_bytes(), b'1', 0o644, &[], Some(rel_path(target).as_bytes()));
                }
                Entry::Whiteout { path } => {
                    let p = rel_path(path);
                    let (dir, name) = split_parent(&p);
                    assert!(!name.is_empty(), "whiteout of an empty path");
                    let wh = if dir.is_empty() { format!(".wh.{name}") } else { format!("{dir}/.wh.{name}") };
                    parents(&mut b, &mut dirs, &wh);
                    append_raw(&mut b, wh.as_bytes(), b'0', 0o644, &[], None);
                }
                Entry::Opaque { dir } => {
                    let d = rel_path(dir);
                    let opq = if d.is_empty() { ".wh..wh..opq".to_string() } else { format!("{d}/.wh..wh..opq") };
                    parents(&mut b, &mut dirs, &opq);
                    append_raw(&mut b, opq.as_bytes(), b'0', 0o644, &[], None);
                }
                Entry::RawName { name, content, kind, link } => {
                    let mode = match kind {
                        b'5' => 0o755,
                        b'2' => 0o777,
                        _ => 0o644,
                    };
                    append_raw(&mut b, name, *kind, mode, content, link.as_deref());
                }
                Entry::Verbatim(bytes) => {
                    let stream = b.get_mut();
                    stream.extend_from_slice(bytes);
                    stream.resize(stream.len().next_multiple_of(512), 0);
                }
            }
        }
        b.into_inner().expect("finish tar")
    }

    /// The blob as stored: the tar compressed with `self.compression`.
    pub fn blob_bytes(&self) -> Vec<u8> {
        compress(&self.tar_bytes(), self.compression)
    }

    /// The OCI media type for this layer's blob.
    pub fn oci_media_type(&self) -> &'static str {
        match self.compression {
            Compression::None => MT_OCI_LAYER,
            Compression::Gzip => MT_OCI_LAYER_GZIP,
            Compression::Zstd => MT_OCI_LAYER_ZSTD,
        }
    }

    /// The Docker schema 2 media type. Panics for zstd, which schema 2 cannot express.
    pub fn docker_media_type(&self) -> &'static str {
        match self.compression {
            Compression::None => MT_DOCKER_LAYER,
            Compression::Gzip => MT_DOCKER_LAYER_GZIP,
            Compression::Zstd => {
                panic!("Docker schema 2 has no zstd layer media type; use ManifestFormat::Oci")
            }
        }
    }
}

/// Compresses `data` (gzip level 6 with a zero-mtime header; zstd level 3 with a checksum).
pub fn compress(data: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => {
            let mut e = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
            e.include_checksum(true).unwrap();
            e.set_pledged_src_size(Some(data.len() as u64)).unwrap();
            e.include_contentsize(true).unwrap();
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON documents
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestFormat {
    /// OCI image manifest / index / config media types.
    Oci,
    /// Docker schema 2 manifest / manifest list / container config media types.
    Docker,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Serialize, Clone, Debug)]
struct Platform {
    architecture: String,
    os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    media_type: String,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    media_type: String,
    manifests: Vec<Descriptor>,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<String>,
}

#[derive(Serialize)]
struct ConfigDoc<'a> {
    created: &'static str,
    architecture: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    os: &'a str,
    config: Value,
    rootfs: RootFs,
    history: Vec<Value>,
}

fn to_json(v: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(v).expect("serialize json")
}

/// All blobs of one image, in memory, ready to be written to a layout or pushed to a registry.
#[derive(Clone, Debug)]
pub struct ImageBlobs {
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    /// Layer blobs (compressed as the spec says) in manifest order.
    pub layers: Vec<Vec<u8>>,
    pub built: BuiltImage,
}

impl ImageBlobs {
    /// `(digest, bytes)` for the config and every layer (the manifest not included).
    pub fn blobs(&self) -> Vec<(String, &[u8])> {
        let mut v = vec![(self.built.config_digest.clone(), self.config.as_slice())];
        for (d, b) in self.built.layer_digests.iter().zip(&self.layers) {
            v.push((d.clone(), b.as_slice()));
        }
        v
    }
}

/// The image config document for `spec` given its diff IDs.
pub fn config_json(spec: &ImageSpec, diff_ids: &[String]) -> Vec<u8> {
    let history = spec.history.clone().unwrap_or_else(|| {
        (0..spec.layers.len())
            .map(|i| json!({"created": EPOCH, "created_by": format!("/bin/sh -c #(nop) test layer {i}")}))
            .collect()
    });
    let config = if spec.config.is_null() { json!({}) } else { spec.config.clone() };
    to_json(&ConfigDoc {
        created: EPOCH,
        architecture: &spec.architecture,
        variant: spec.variant.as_deref(),
        os: &spec.os,
        config,
        rootfs: RootFs { kind: "layers", diff_ids: diff_ids.to_vec() },
        history,
    })
}

/// Builds config, layers and manifest of one image.
pub fn build_image(spec: &ImageSpec, format: ManifestFormat) -> ImageBlobs {
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut descs = Vec::new();
    for l in &spec.layers {
        let tar = l.tar_bytes();
        diff_ids.push(sha256_digest(&tar));
        let blob = compress(&tar, l.compression);
        let mt = match format {
            ManifestFormat::Oci => l.oci_media_type(),
            ManifestFormat::Docker => l.docker_media_type(),
        };
        descs.push(Descriptor {
            media_type: mt.into(),
            digest: sha256_digest(&blob),
            size: blob.len() as u64,
            platform: None,
            annotations: None,
        });
        layers.push(blob);
    }
    let config = config_json(spec, &diff_ids);
    let (mt_manifest, mt_config) = match format {
        ManifestFormat::Oci => (MT_OCI_MANIFEST, MT_OCI_CONFIG),
        ManifestFormat::Docker => (MT_DOCKER_MANIFEST, MT_DOCKER_CONFIG),
    };
    let config_desc = Descriptor {
        media_type: mt_config.into(),
        digest: sha256_digest(&config),
        size: config.len() as u64,
        platform: None,
        annotations: None,
    };
    let manifest = to_json(&Manifest {
        schema_version: 2,
        media_type: mt_manifest.into(),
        config: config_desc.clone(),
        layers: descs.clone(),
    });
    let built = BuiltImage {
        manifest_digest: sha256_digest(&manifest),
        config_digest: config_desc.digest,
        layer_digests: descs.iter().map(|d| d.digest.clone()).collect(),
        diff_ids,
        manifest_media_type: mt_manifest.into(),
        manifest_size: manifest.len() as u64,
        config_size: config.len() as u64,
        layer_sizes: descs.iter().map(|d| d.size).collect(),
        layer_media_types: descs.iter().map(|d| d.media_type.clone()).collect(),
        index_digest: None,
        platform: spec.platform_string(),
    };
    ImageBlobs { config, manifest, layers, built }
}

fn platform_of(spec: &ImageSpec) -> Platform {
    Platform { architecture: spec.architecture.clone(), os: spec.os.clone(), variant: spec.variant.clone() }
}

fn ref_annotations(r: Option<&str>) -> Option<BTreeMap<String, String>> {
    r.map(|r| BTreeMap::from([(ANNOTATION_REF_NAME.to_string(), r.to_string())]))
}

/// A multi-platform index (OCI image index or Docker manifest list) over already built images.
pub fn build_index(images: &[(&ImageSpec, &ImageBlobs)], format: ManifestFormat) -> Vec<u8> {
    let mt = match format {
        ManifestFormat::Oci => MT_OCI_INDEX,
        ManifestFormat::Docker => MT_DOCKER_LIST,
    };
    to_json(&Index {
        schema_version: 2,
        media_type: mt.into(),
        manifests: images
            .iter()
            .map(|(spec, b)| Descriptor {
                media_type: b.built.manifest_media_type.clone(),
                digest: b.built.manifest_digest.clone(),
                size: b.built.manifest_size,
                platform: Some(platform_of(spec)),
                annotations: None,
            })
            .collect(),
    })
}

// ---------------------------------------------------------------------------------------------
// OCI image layout
// ---------------------------------------------------------------------------------------------

/// How [`write_oci_layout_with`] lays images out.
#[derive(Clone, Copy, Debug)]
pub struct LayoutOptions {
    /// false: every image's manifest is listed directly in `index.json` (with its platform and
    /// ref annotation). true: images are grouped by ref name, and each group becomes one nested
    /// image index (manifest list) blob that `index.json` lists under that ref. This is how a
    /// multi-arch image lives under one tag.
    pub as_index: bool,
    pub format: ManifestFormat,
}

/// Path of a blob inside an OCI layout directory.
pub fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs").join("sha256").join(digest_hex(digest))
}

/// Stores `bytes` as a blob of the layout; returns `(digest, size)`.
pub fn write_blob(layout: &Path, bytes: &[u8]) -> (String, u64) {
    let d = sha256_digest(bytes);
    let p = blob_path(layout, &d);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, bytes).unwrap();
    (d, bytes.len() as u64)
}

pub fn read_blob(layout: &Path, digest: &str) -> Vec<u8> {
    fs::read(blob_path(layout, digest)).unwrap_or_else(|e| panic!("read blob {digest}: {e}"))
}

pub fn read_json_blob(layout: &Path, digest: &str) -> Value {
    serde_json::from_slice(&read_blob(layout, digest)).expect("blob is json")
}

/// Writes an OCI image layout into `dir` (created if needed). See [`LayoutOptions::as_index`]
/// for what `as_index` does; a multi-arch image under one ref is
/// `write_oci_layout(&[(&amd64, Some("latest")), (&arm64_v8, Some("latest"))], dir, true)`.
/// Returns one [`BuiltImage`] per input, in input order.
pub fn write_oci_layout(images: &[(&ImageSpec, Option<&str>)], dir: &Path, as_index: bool) -> Vec<BuiltImage> {
    write_oci_layout_with(images, dir, &LayoutOptions { as_index, format: ManifestFormat::Oci })
}

pub fn write_oci_layout_with(
    images: &[(&ImageSpec, Option<&str>)],
    dir: &Path,
    opts: &LayoutOptions,
) -> Vec<BuiltImage> {
    write_oci_layout_annotated(images, dir, opts, &|r| ref_annotations(r))
}

/// Annotations for an `index.json` entry, given the image's ref.
type AnnotateFn = dyn Fn(Option<&str>) -> Option<BTreeMap<String, String>>;

fn write_oci_layout_annotated(
    images: &[(&ImageSpec, Option<&str>)],
    dir: &Path,
    opts: &LayoutOptions,
    annotate: &AnnotateFn,
) -> Vec<BuiltImage> {
    fs::create_dir_all(dir.join("blobs").join("sha256")).unwrap();
    fs::write(dir.join("oci-layout"), format!("{{\"imageLayoutVersion\":\"{OCI_LAYOUT_VERSION}\"}}")).unwrap();
    let mut built: Vec<ImageBlobs> = Vec::new();
    for (spec, _) in images {
        let b = build_image(spec, opts.format);
        for (_, bytes) in b.blobs() {
            write_blob(dir, bytes);
        }
        write_blob(dir, &b.manifest);
        built.push(b);
    }
    let mut top: Vec<Descriptor> = Vec::new();
    if opts.as_index {
        // Group by ref, keeping first-appearance order.
        let mut groups: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
        for (i, (_, r)) in images.iter().enumerate() {
            match groups.iter_mut().find(|(g, _)| g == r) {
                Some((_, v)) => v.push(i),
                None => groups.push((*r, vec![i])),
            }
        }
        for (r, idxs) in groups {
            let members: Vec<(&ImageSpec, &ImageBlobs)> = idxs.iter().map(|&i| (images[i].0, &built[i])).collect();
            let index = build_index(&members, opts.format);
            let (digest, size) = write_blob(dir, &index);
            for &i in &idxs {
                built[i].built.index_digest = Some(digest.clone());
            }
            top.push(Descriptor {
                media_type: match opts.format {
                    ManifestFormat::Oci => MT_OCI_INDEX.into(),
                    ManifestFormat::Docker => MT_DOCKER_LIST.into(),
                },
                digest,
                size,
                platform: None,
                annotations: annotate(r),
            });
        }
    } else {
        for ((spec, r), b) in images.iter().zip(&built) {
            top.push(Descriptor {
                media_type: b.built.manifest_media_type.clone(),
                digest: b.built.manifest_digest.clone(),
                size: b.built.manifest_size,
                platform: Some(platform_of(spec)),
                annotations: annotate(*r),
            });
        }
    }
    let index = to_json(&Index { schema_version: 2, media_type: MT_OCI_INDEX.into(), manifests: top });
    fs::write(dir.join("index.json"), index).unwrap();
    built.into_iter().map(|b| b.built).collect()
}

/// An `oci-archive:` file: a tar of the layout (`oci-layout`, `index.json`, `blobs/...`), as
/// `skopeo copy ... oci-archive:PATH` writes it.
pub fn write_oci_archive(images: &[(&ImageSpec, Option<&str>)], path: &Path, as_index: bool) -> Vec<BuiltImage> {
    write_oci_archive_with(images, path, &LayoutOptions { as_index, format: ManifestFormat::Oci })
}

pub fn write_oci_archive_with(
    images: &[(&ImageSpec, Option<&str>)],
    path: &Path,
    opts: &LayoutOptions,
) -> Vec<BuiltImage> {
    let tmp = tempfile::tempdir().unwrap();
    let built = write_oci_layout_with(images, tmp.path(), opts);
    tar_dir(tmp.path(), path);
    built
}

/// Tars the contents of `dir` (paths relative to it, sorted, directories as `name/`, symlinks as
/// links, no `./` prefix, deterministic headers) into `out`. Turns a (possibly tampered) layout or
/// docker-save directory into an archive.
pub fn tar_dir(dir: &Path, out: &Path) {
    fn walk(b: &mut tar::Builder<Vec<u8>>, root: &Path, cur: &Path) {
        let mut entries: Vec<_> = fs::read_dir(cur).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(root).unwrap().to_str().expect("utf-8 path").replace('\\', "/");
            let ft = fs::symlink_metadata(&p).unwrap().file_type();
            if ft.is_dir() {
                append_raw(b, format!("{rel}/").as_bytes(), b'5', 0o755, &[], None);
                walk(b, root, &p);
            } else if ft.is_file() {
                let data = fs::read(&p).unwrap();
                append_raw(b, rel.as_bytes(), b'0', 0o644, &data, None);
            } else if ft.is_symlink() {
                let target = fs::read_link(&p).unwrap();
                append_raw(b, rel.as_bytes(), b'2', 0o777, &[], Some(target.as_os_str().as_encoded_bytes()));
            } else {
                panic!("tar_dir: unsupported file type at {}", p.display());
            }
        }
    }
    let mut b = tar::Builder::new(Vec::new());
    walk(&mut b, dir, dir);
    fs::write(out, b.into_inner().unwrap()).unwrap();
}

// ---------------------------------------------------------------------------------------------
// docker save archives
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DockerArchiveStyle {
    /// Docker <= 24: `manifest.json`, `<config-hex>.json`, `<layer-id>/{layer.tar,json,VERSION}`,
    /// `repositories`. Layers are always stored uncompressed.
    Classic,
    /// Docker 25+: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`) plus
    /// `manifest.json` and `repositories` pointing into `blobs/`. Layers keep the spec's
    /// compression (Docker itself writes them uncompressed: use `Compression::None` for that).
    OciLayout,
}

/// Classic `docker save` archive (Docker <= 24).
pub fn write_docker_archive(spec: &ImageSpec, repo_tags: &[&str], path: &Path) -> BuiltImage {
    write_docker_archive_with(spec, repo_tags, path, DockerArchiveStyle::Classic)
}

/// Docker 25+ `docker save` archive (OCI layout inside).
pub fn write_docker_archive_oci(spec: &ImageSpec, repo_tags: &[&str], path: &Path) -> BuiltImage {
    write_docker_archive_with(spec, repo_tags, path, DockerArchiveStyle::OciLayout)
}

pub fn write_docker_archive_with(
    spec: &ImageSpec,
    repo_tags: &[&str],
    path: &Path,
    style: DockerArchiveStyle,
) -> BuiltImage {
    let tmp = tempfile::tempdir().unwrap();
    let b = write_docker_archive_dir(spec, repo_tags, tmp.path(), style);
    tar_dir(tmp.path(), path);
    b
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

/// `name:tag` -> (`repo`, `tag`), defaulting the tag to `latest`.
fn split_tag(t: &str) -> (&str, &str) {
    let slash = t.rfind('/').map_or(0, |i| i + 1);
    match t[slash..].rfind(':') {
        Some(i) => (&t[..slash + i], &t[slash + i + 1..]),
        None => (t, "latest"),
    }
}

/// `busybox:1` -> `docker.io/library/busybox:1`, `me/app:1` -> `docker.io/me/app:1`.
fn normalize_name(t: &str) -> String {
    let (repo, tag) = split_tag(t);
    let first = repo.split('/').next().unwrap_or("");
    let full = if !repo.contains('/') {
        format!("docker.io/library/{repo}")
    } else if first.contains('.') || first.contains(':') || first == "localhost" {
        repo.to_string()
    } else {
        format!("docker.io/{repo}")
    };
    format!("{full}:{tag}")
}

/// Writes the unpacked contents of a `docker save` archive into `dir`; [`tar_dir`] makes the
/// archive. Useful for tampering (e.g. editing a `layer.tar`) before archiving.
pub fn write_docker_archive_dir(
    spec: &ImageSpec,
    repo_tags: &[&str],
    dir: &Path,
    style: DockerArchiveStyle,
) -> BuiltImage {
    fs::create_dir_all(dir).unwrap();
    let tags: Vec<String> = repo_tags.iter().map(|s| s.to_string()).collect();
    match style {
        DockerArchiveStyle::Classic => {
            let tars: Vec<Vec<u8>> = spec.layers.iter().map(|l| l.tar_bytes()).collect();
            let diff_ids: Vec<String> = tars.iter().map(|t| sha256_digest(t)).collect();
            let config = config_json(spec, &diff_ids);
            let config_digest = sha256_digest(&config);
            let config_name = format!("{}.json", digest_hex(&config_digest));
            fs::write(dir.join(&config_name), &config).unwrap();
            // Legacy v1 layer IDs: a chain hash (so directory names differ from diff IDs, as in
            // real archives), with a v1 `json` and a `VERSION` file in each layer directory.
            let mut layer_paths = Vec::new();
            let mut parent: Option<String> = None;
            for (i, (tar, diff_id)) in tars.iter().zip(&diff_ids).enumerate() {
                let id = digest_hex(&sha256_digest(
                    format!("{}|{}|{}", parent.as_deref().unwrap_or(""), diff_id, i).as_bytes(),
                ))
                .to_string();
                let ldir = dir.join(&id);
                fs::create_dir_all(&ldir).unwrap();
                fs::write(ldir.join("layer.tar"), tar).unwrap();
                fs::write(ldir.join("VERSION"), "1.0").unwrap();
                let mut v1 = json!({
                    "id": id,
                    "created": EPOCH,
                    "container_config": {"Hostname": "", "Cmd": null},
                    "os": spec.os,
                });
                if let Some(p) = &parent {
                    v1["parent"] = json!(p);
                }
                fs::write(ldir.join("json"), to_json(&v1)).unwrap();
                layer_paths.push(format!("{id}/layer.tar"));
                parent = Some(id);
            }
            let manifest = to_json(&vec![DockerManifestEntry {
                config: config_name,
                repo_tags: tags.clone(),
                layers: layer_paths,
            }]);
            fs::write(dir.join("manifest.json"), manifest).unwrap();
            write_repositories(dir, &tags, parent.as_deref().unwrap_or(""));
            // What skopeo synthesizes for a docker-archive: schema 2 with the diff IDs as layer
            // digests and the tar sizes. Go's struct order: mediaType, size, digest.
            let layers_json: Vec<String> = tars
                .iter()
                .zip(&diff_ids)
                .map(|(t, d)| {
                    format!("{{\"mediaType\":\"{MT_DOCKER_LAYER_GZIP}\",\"size\":{},\"digest\":\"{d}\"}}", t.len())
                })
                .collect();
            let synth = format!(
                "{{\"schemaVersion\":2,\"mediaType\":\"{MT_DOCKER_MANIFEST}\",\"config\":{{\"mediaType\":\"{MT_DOCKER_CONFIG}\",\"size\":{},\"digest\":\"{config_digest}\"}},\"layers\":[{}]}}",
                config.len(),
                layers_json.join(",")
            );
            BuiltImage {
                manifest_digest: sha256_digest(synth.as_bytes()),
                config_digest,
                layer_digests: diff_ids.clone(),
                diff_ids,
                manifest_media_type: MT_DOCKER_MANIFEST.into(),
                manifest_size: synth.len() as u64,
                config_size: config.len() as u64,
                layer_sizes: tars.iter().map(|t| t.len() as u64).collect(),
                layer_media_types: vec![MT_DOCKER_LAYER_GZIP.into(); tars.len()],
                index_digest: None,
                platform: spec.platform_string(),
            }
        }
        DockerArchiveStyle::OciLayout => {
            // One index.json entry per tag (all the same manifest), annotated as Docker 25 does.
            let entries: Vec<(&ImageSpec, Option<&str>)> = if repo_tags.is_empty() {
                vec![(spec, None)]
            } else {
                repo_tags.iter().map(|t| (spec, Some(*t))).collect()
            };
            let opts = LayoutOptions { as_index: false, format: ManifestFormat::Oci };
            let built = write_oci_layout_annotated(&entries, dir, &opts, &|r| {
                r.map(|t| {
                    BTreeMap::from([
                        (ANNOTATION_CONTAINERD_NAME.to_string(), normalize_name(t)),
                        (ANNOTATION_REF_NAME.to_string(), split_tag(t).1.to_string()),
                    ])
                })
            });
            let b = built.into_iter().next().unwrap();
            let manifest = to_json(&vec![DockerManifestEntry {
                config: format!("blobs/sha256/{}", digest_hex(&b.config_digest)),
                repo_tags: tags.clone(),
                layers: b.layer_digests.iter().map(|d| format!("blobs/sha256/{}", digest_hex(d))).collect(),
            }]);
            fs::write(dir.join("manifest.json"), manifest).unwrap();
            let top = b.layer_digests.last().map(|d| digest_hex(d).to_string()).unwrap_or_default();
            write_repositories(dir, &tags, &top);
            b
        }
    }
}

fn write_repositories(dir: &Path, tags: &[String], top: &str) {
    if tags.is_empty() {
        return;
    }
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for t in tags {
        let (r, tag) = split_tag(t);
        repos.entry(r.to_string()).or_default().insert(tag.to_string(), top.to_string());
    }
    fs::write(dir.join("repositories"), to_json(&repos)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Tampering (on an OCI layout directory; archive afterwards with `tar_dir`)
// ---------------------------------------------------------------------------------------------

/// Flips one byte in the middle of a blob: same size, digest no longer matches.
pub fn corrupt_blob(layout: &Path, digest: &str) {
    let p = blob_path(layout, digest);
    let mut b = fs::read(&p).unwrap();
    assert!(!b.is_empty(), "cannot corrupt an empty blob");
    let i = b.len() / 2;
    b[i] ^= 0xff;
    fs::write(&p, b).unwrap();
}

/// Replaces a blob's content in place (digest and probably size no longer match).
pub fn overwrite_blob(layout: &Path, digest: &str, bytes: &[u8]) {
    fs::write(blob_path(layout, digest), bytes).unwrap();
}

/// Deletes a blob: its manifest now references a missing blob.
pub fn remove_blob(layout: &Path, digest: &str) {
    fs::remove_file(blob_path(layout, digest)).unwrap();
}

fn is_index_media_type(mt: &str) -> bool {
    mt == MT_OCI_INDEX || mt == MT_DOCKER_LIST
}

/// Re-points every reference to `old` (in `index.json` and nested indexes, rewriting those as
/// needed) to `new`/`size`.
pub fn repoint(layout: &Path, old: &str, new: &str, size: u64) {
    fn fix(layout: &Path, idx: &mut Value, old: &str, new: &str, size: u64) -> bool {
        let mut changed = false;
        for m in idx["manifests"].as_array_mut().into_iter().flatten() {
            let d = m["digest"].as_str().unwrap_or("").to_string();
            if d == old {
                m["digest"] = json!(new);
                m["size"] = json!(size);
                changed = true;
            } else if is_index_media_type(m["mediaType"].as_str().unwrap_or("")) && blob_path(layout, &d).exists() {
                let mut nested = read_json_blob(layout, &d);
                if fix(layout, &mut nested, old, new, size) {
                    let (nd, ns) = write_blob(layout, &to_json(&nested));
                    m["digest"] = json!(nd);
                    m["size"] = json!(ns);
                    changed = true;
                }
            }
        }
        changed
    }
    let p = layout.join("index.json");
    let mut top: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    if fix(layout, &mut top, old, new, size) {
        fs::write(&p, to_json(&top)).unwrap();
    }
}

/// Edits a manifest (as JSON), stores it as a new blob, re-points the indexes at it and
/// returns its digest. The old manifest blob is left in place (unreferenced).
pub fn rewrite_manifest(layout: &Path, manifest_digest: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut m = read_json_blob(layout, manifest_digest);
    edit(&mut m);
    let (d, s) = write_blob(layout, &to_json(&m));
    repoint(layout, manifest_digest, &d, s);
    d
}

/// Gives layer `layer` an unknown/different media type. Returns the new manifest digest.
pub fn set_layer_media_type(layout: &Path, manifest_digest: &str, layer: usize, media_type: &str) -> String {
    rewrite_manifest(layout, manifest_digest, |m| m["layers"][layer]["mediaType"] = json!(media_type))
}

/// Replaces layer `layer` with `bytes`, stored as a new blob whose descriptor (digest, size)
/// matches, so only decoding can notice anything wrong. Returns the new manifest digest.
pub fn replace_layer_blob(layout: &Path, manifest_digest: &str, layer: usize, bytes: &[u8]) -> String {
    let (d, s) = write_blob(layout, bytes);
    rewrite_manifest(layout, manifest_digest, |m| {
        m["layers"][layer]["digest"] = json!(d);
        m["layers"][layer]["size"] = json!(s);
    })
}

/// Truncates layer `layer`'s blob to its first `keep` bytes (a cut-off gzip/zstd stream) with a
/// matching descriptor. Returns the new manifest digest.
pub fn truncate_layer(layout: &Path, manifest_digest: &str, layer: usize, keep: usize) -> String {
    let m = read_json_blob(layout, manifest_digest);
    let old = m["layers"][layer]["digest"].as_str().expect("layer digest").to_string();
    let bytes = read_blob(layout, &old);
    assert!(keep < bytes.len(), "keep {keep} >= blob size {}", bytes.len());
    replace_layer_blob(layout, manifest_digest, layer, &bytes[..keep])
}

/// Edits the config (as JSON; e.g. break `rootfs.diff_ids`), stores it as a new blob, updates
/// the manifest's config descriptor and the indexes. Returns the new manifest digest.
pub fn rewrite_config(layout: &Path, manifest_digest: &str, edit: impl FnOnce(&mut Value)) -> String {
    let m = read_json_blob(layout, manifest_digest);
    let old = m["config"]["digest"].as_str().expect("config digest").to_string();
    let mut c = read_json_blob(layout, &old);
    edit(&mut c);
    let (d, s) = write_blob(layout, &to_json(&c));
    rewrite_manifest(layout, manifest_digest, |m| {
        m["config"]["digest"] = json!(d);
        m["config"]["size"] = json!(s);
    })
}

/// Every descriptor reachable from `index.json`: `(mediaType, digest, size)`, depth first.
/// Missing blobs are listed but not descended into.
pub fn layout_descriptors(layout: &Path) -> Vec<(String, String, u64)> {
    fn visit(layout: &Path, doc: &Value, out: &mut Vec<(String, String, u64)>) {
        let mut descs: Vec<&Value> = Vec::new();
        if let Some(ms) = doc["manifests"].as_array() {
            descs.extend(ms);
        }
        if doc["config"].is_object() {
            descs.push(&doc["config"]);
        }
        if let Some(ls) = doc["layers"].as_array() {
            descs.extend(ls);
        }
        for d in descs {
            let mt = d["mediaType"].as_str().unwrap_or("").to_string();
            let dg = d["digest"].as_str().unwrap_or("").to_string();
            let sz = d["size"].as_u64().unwrap_or(0);
            out.push((mt.clone(), dg.clone(), sz));
            let p = blob_path(layout, &dg);
            let descend = is_index_media_type(&mt) || mt == MT_OCI_MANIFEST || mt == MT_DOCKER_MANIFEST;
            if descend && p.exists() {
                visit(layout, &read_json_blob(layout, &dg), out);
            }
        }
    }
    let top: Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut out = Vec::new();
    visit(layout, &top, &mut out);
    out
}

/// A Rocky Linux 9.3 `/etc/os-release`.
pub const ROCKY_OS_RELEASE: &str = "NAME=\"Rocky Linux\"\nVERSION=\"9.3 (Blue Onyx)\"\nID=\"rocky\"\n\
ID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\nPRETTY_NAME=\"Rocky Linux 9.3 (Blue Onyx)\"\n";

/// rpmdbs made by real rpm (`plugins/rpm/testdata/make.sh`): v1 holds ecr-alpha 1.0 and
/// ecr-beta; v2 holds ecr-alpha 1.1, ecr-beta, ecr-big and ecr-libs.
pub fn rpm_testdata(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/rpm/testdata").join(rel))
        .expect("plugins/rpm/testdata")
}
