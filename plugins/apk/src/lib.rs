//! ecr-engine analyzer for apk-based images (Alpine, Wolfi, ...): installed packages from the apk
//! database (`lib/apk/db/installed`, and `usr/lib/apk/db/installed` where apk-tools 3 keeps it),
//! plus the OS identity (a `distro` finding) so the host can fill the report's `image.os`.
//!
//! Parsing lives in [`installed`] and [`license`] and is plain Rust, tested natively;
//! [`analyze_files`] turns files into findings; the WIT export at the bottom is the only
//! WebAssembly-specific part.
//!
//! What a package carries: `source_name` is the origin (`o:`; the package itself when absent, as
//! apk treats a package without origin) and `source_version` the package version, since every
//! subpackage of an aport is built with the aport's version; Alpine's security data is keyed by
//! origin name and that version. The ecosystem is always `apk`, whatever the image's OS: it names
//! the database the package was read from, and an apk database inside a Debian image still
//! holds apk packages.
//!
//! purl: `pkg:apk/NAMESPACE/NAME@VERSION?arch=ARCH&distro=ID-VERSION_ID`. NAMESPACE is the image's
//! OS id when that OS is an apk distribution ([`APK_DISTROS`], e.g. `wolfi` packages are not
//! Alpine's), and otherwise `alpine`, the family of the apk format, as Trivy and Syft write it.
//! The `distro` qualifier always comes from the image's OS (`distro=debian-12` for an apk
//! database in a Debian image), so it agrees with the report's `image.os`.
//!
//! Properties: `maintainer` (`m:`), `commit` (`c:`, the aports commit), `build-time` (`t:`, Unix
//! seconds) and `checksum` (`C:`, which identifies the exact package build).

pub mod installed;
pub mod license;

use ecr_plugin_kit::{Analyzer, Distro, File, Findings, ImageInfo, Package, relative_path};
use ecr_plugin_kit::{os, purl};

/// The database paths, in order of preference when both hold the same bytes.
pub const DB_PATHS: &[&str] = &["lib/apk/db/installed", "usr/lib/apk/db/installed"];

/// OS ids whose packages are apk packages of their own namespace.
pub const APK_DISTROS: &[&str] = &["alpine", "wolfi", "chainguard", "postmarketos"];

/// The host patterns: the databases and the files the kit reads for OS identity.
pub fn patterns() -> Vec<String> {
    DB_PATHS.iter().chain(os::OS_RELEASE_PATTERNS).map(|s| s.to_string()).collect()
}

fn to_package(e: installed::Entry, path: &str, distro: Option<&Distro>) -> Package {
    let namespace = distro.map(|d| d.id.as_str()).filter(|id| APK_DISTROS.contains(id)).unwrap_or("alpine");
    let purl = purl::os_package(
        "apk",
        namespace,
        &e.name,
        &e.version,
        e.arch.as_deref(),
        distro.map(|d| (d.id.as_str(), d.version_id.as_str())),
    );
    let properties =
        [("maintainer", e.maintainer), ("commit", e.commit), ("build-time", e.build_time), ("checksum", e.checksum)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect();
    Package {
        source_name: Some(e.origin.unwrap_or_else(|| e.name.clone())),
        source_version: Some(e.version.clone()),
        licenses: e.license.as_deref().map(license::split).unwrap_or_default(),
        name: e.name,
        version: e.version,
        ecosystem: "apk".to_string(),
        arch: e.arch,
        purl: Some(purl),
        path: path.to_string(),
        installed_files: e.files,
        properties,
    }
}

/// All findings for one image: the distro (when detected), then the packages of each database
/// in [`DB_PATHS`] order, each followed by one `file-error` per problem found in it. Never fails:
/// a bad file yields errors and the other files' packages.
///
/// When both paths hold the same bytes (one is a link to the other, which the host resolves),
/// the database is read once, under the first path, so no package is reported twice.
pub fn analyze_files(files: &[File]) -> Findings {
    let distro = os::detect(files);
    let mut out = Findings::new();
    out.distro(distro.as_ref());
    let mut read: Vec<&[u8]> = Vec::new();
    for want in DB_PATHS {
        let Some(f) = files.iter().find(|f| relative_path(&f.path) == *want && f.is_regular()) else { continue };
        if read.contains(&f.content.as_slice()) {
            continue;
        }
        read.push(&f.content);
        let parsed = installed::parse(&f.content);
        let packages = parsed.entries.into_iter().map(|e| to_package(e, want, distro.as_ref()));
        out.from_file(want, packages, parsed.errors);
    }
    out
}

pub struct Apk;

impl Analyzer for Apk {
    const NAME: &'static str = "apk";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Alpine (apk) packages from the apk installed database and the OS release";

    fn patterns() -> Vec<String> {
        patterns()
    }

    fn analyze(_image: &ImageInfo, files: &[File]) -> Result<Findings, String> {
        Ok(analyze_files(files))
    }
}

ecr_plugin_kit::export!(Apk);

#[cfg(test)]
mod tests;
