//! ecr-engine analyzer for Debian-family images: installed packages from the dpkg status
//! database (`var/lib/dpkg/status`, and distroless `var/lib/dpkg/status.d/*`), plus the OS
//! identity (a `distro` finding) so the host can fill the report's `image.os`.
//!
//! Parsing lives in [`status`] and is plain Rust, tested natively; [`analyze_files`] turns files
//! into findings; the WIT export at the bottom is the only WebAssembly-specific part.
//!
//! purl: `pkg:deb/<distro id, default debian>/NAME@VERSION?arch=ARCH&distro=ID-VERSION_ID`. An
//! epoch is moved out of the purl version into an `epoch=N` qualifier
//! (`pkg:deb/debian/attr@2.5.1-4?arch=amd64&distro=debian-12&epoch=1`), as Trivy does and as
//! the purl spec prescribes for rpm; `Package.version` keeps the full `1:2.5.1-4` for matching,
//! and the epoch is also given as an `epoch` property.

pub mod status;

use ecr_plugin_kit::{Analyzer, Distro, File, Findings, ImageInfo, Package, relative_path};
use ecr_plugin_kit::{os, purl};

pub const STATUS_PATH: &str = "var/lib/dpkg/status";
pub const STATUS_D_DIR: &str = "var/lib/dpkg/status.d";

/// dpkg control-member and info-file suffixes that can sit next to the stanza files in
/// `status.d/` (distroless writes `NAME` and `NAME.md5sums`); they are not stanzas.
const SIDECAR_SUFFIXES: &[&str] = &[
    ".md5sums",
    ".sha256sums",
    ".list",
    ".conffiles",
    ".shlibs",
    ".symbols",
    ".triggers",
    ".templates",
    ".config",
    ".preinst",
    ".postinst",
    ".prerm",
    ".postrm",
];

/// The host patterns: the status database, the distroless per-package files, and the files the
/// kit reads for OS identity.
pub fn patterns() -> Vec<String> {
    let mut p = vec![STATUS_PATH.to_string(), format!("{STATUS_D_DIR}/*")];
    p.extend(os::OS_RELEASE_PATTERNS.iter().map(|s| s.to_string()));
    p
}

/// Whether `path` is a package database this plugin reads.
pub fn is_database(path: &str) -> bool {
    let path = relative_path(path);
    if path == STATUS_PATH {
        return true;
    }
    let Some(name) = path.strip_prefix(STATUS_D_DIR).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    !name.is_empty()
        && !name.contains('/')
        && !name.starts_with('.')
        && !SIDECAR_SUFFIXES.iter().any(|s| name.ends_with(s))
}

fn to_package(e: status::Entry, path: &str, distro: Option<&Distro>) -> Package {
    let namespace = distro.map(|d| d.id.as_str()).filter(|s| !s.is_empty()).unwrap_or("debian");
    let purl = purl::os_package(
        "deb",
        namespace,
        &e.name,
        &e.version,
        e.arch.as_deref(),
        distro.map(|d| (d.id.as_str(), d.version_id.as_str())),
    );
    let mut properties = Vec::new();
    if let (Some(epoch), _) = purl::split_epoch(&e.version) {
        properties.push(("epoch".to_string(), epoch.to_string()));
    }
    if let Some(state) = e.state.filter(|s| s != "installed") {
        properties.push(("dpkg-status".to_string(), state));
    }
    Package {
        name: e.name,
        version: e.version,
        ecosystem: "deb".to_string(),
        source_name: Some(e.source_name),
        source_version: Some(e.source_version),
        arch: e.arch,
        licenses: Vec::new(),
        purl: Some(purl),
        path: path.to_string(),
        installed_files: Vec::new(),
        properties,
    }
}

/// All findings for one image: the distro (when detected), then the packages of each database
/// file (the `status` file first, then `status.d/` files by name), with one `file-error` per
/// problem found. Never fails: a bad file yields errors and the other files' packages.
pub fn analyze_files(files: &[File]) -> Findings {
    let distro = os::detect(files);
    let mut out = Findings::new();
    out.distro(distro.as_ref());
    let mut dbs: Vec<&File> = files.iter().filter(|f| is_database(&f.path) && f.is_regular()).collect();
    dbs.sort_by(|a, b| {
        let key = |f: &File| (relative_path(&f.path) != STATUS_PATH, relative_path(&f.path).to_string());
        key(a).cmp(&key(b))
    });
    for f in dbs {
        let path = relative_path(&f.path);
        let parsed = status::parse(&f.content);
        let packages = parsed.entries.into_iter().map(|e| to_package(e, path, distro.as_ref()));
        out.from_file(path, packages, parsed.errors);
    }
    out
}

pub struct Dpkg;

impl Analyzer for Dpkg {
    const NAME: &'static str = "dpkg";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Debian packages from the dpkg status database (status, distroless status.d) and the OS release";

    fn patterns() -> Vec<String> {
        patterns()
    }

    fn analyze(_image: &ImageInfo, files: &[File]) -> Result<Findings, String> {
        Ok(analyze_files(files))
    }
}

ecr_plugin_kit::export!(Dpkg);

#[cfg(test)]
mod tests;
