//! ecr-engine analyzer for RPM-based images: installed packages from the rpmdb in any of its
//! three formats, plus the OS identity (a `distro` finding) so the host can fill `image.os`.
//!
//! Databases read, in each of `usr/lib/sysimage/rpm` (rpm >= 4.16's home), `var/lib/rpm` (the
//! classic one, often a link to the former) and `usr/share/rpm` (old SUSE):
//! - `Packages`: Berkeley DB hash ([`bdb`]);
//! - `Packages.db`: NDB ([`ndb`]);
//! - `rpmdb.sqlite`: SQLite ([`sqlite`]).
//!
//! The format is recognized by content (the file name only names it in messages), and all three
//! readers are hand-written pure Rust: they run inside the wasm sandbox, where neither libdb nor
//! SQLite's C library is built, and each needs only a small read-only subset of its format. Each
//! yields header blobs, decoded by [`header`]. gpg-pubkey entries (imported signing keys, which
//! rpm stores as pseudo-packages) are not packages and are skipped.
//!
//! Version decision: `Package.version` is rpm's own EVR, `[EPOCH:]VERSION-RELEASE`, with the
//! epoch whenever the header has an EPOCH tag (what `rpm -q --qf '%{EVR}'` prints, and the form
//! OSV's Red Hat / AlmaLinux / Rocky records use); rpm compares a missing epoch as 0, so a matcher
//! needs nothing else. The epoch is also given as the `epoch` property, the release as `release`.
//! `source_name`/`source_version` come from the SOURCERPM file name
//! (`NAME-VERSION-RELEASE.src.rpm`); the source version carries the binary's epoch, as Trivy
//! does, since the file name has none and a source package's epoch is its binaries'.
//!
//! purl: `pkg:rpm/NAMESPACE/NAME@VERSION-RELEASE?arch=ARCH&distro=ID-VERSION_ID&epoch=N` (the
//! kit's `os_package`: a 0 epoch is left out). The namespace is the vendor family of the detected
//! OS ([`namespace`]); under an OS that is not RPM-based, or an unknown one, there is none (the
//! purl spec allows that for rpm), while the ecosystem stays `rpm` and `distro` still names the
//! image's OS, so purls agree with `image.os`.

pub mod bdb;
pub mod header;
pub mod ndb;
pub mod sqlite;

use ecr_plugin_kit::{Analyzer, Distro, File, FileProblems, Findings, ImageInfo, Package, relative_path};
use ecr_plugin_kit::{os, purl};
use std::borrow::Cow;

/// The directories rpm keeps its database in, most current first.
pub const DB_DIRS: &[&str] = &["usr/lib/sysimage/rpm", "var/lib/rpm", "usr/share/rpm"];
/// The database file names: Berkeley DB, NDB, SQLite.
pub const DB_FILES: &[&str] = &["Packages", "Packages.db", "rpmdb.sqlite"];

/// Bytes of installed-file paths kept per image (all databases together). Real databases stay far below (a full
/// Fedora workstation lists about 25 MB of paths across all packages); a hostile header can make
/// its paths much larger than itself (every file naming the longest directory), and the plugin
/// has a memory cap.
pub const FILE_LIST_BUDGET: usize = 32 << 20;

/// What a database reader found: header blobs keyed by header number, and the problems met.
#[derive(Debug, Default)]
pub struct Records<'a> {
    pub blobs: Vec<(u64, Cow<'a, [u8]>)>,
    pub errors: Vec<String>,
}

pub fn patterns() -> Vec<String> {
    let mut p: Vec<String> = DB_DIRS.iter().flat_map(|d| DB_FILES.iter().map(move |f| format!("{d}/{f}"))).collect();
    p.extend(os::OS_RELEASE_PATTERNS.iter().map(|s| s.to_string()));
    p
}

/// Sort key of a database path (directory preference, file name), `None` if it is not one.
fn db_rank(path: &str) -> Option<(usize, usize)> {
    let (dir, name) = relative_path(path).rsplit_once('/')?;
    Some((DB_DIRS.iter().position(|d| *d == dir)?, DB_FILES.iter().position(|f| *f == name)?))
}

/// Reads the header blobs of a database, by its content; when the content matches no format,
/// `file_name` picks the reader, so the error says what was expected.
pub fn read_database<'a>(data: &'a [u8], file_name: &str) -> Result<Records<'a>, String> {
    if sqlite::sniff(data) {
        sqlite::read(data)
    } else if ndb::sniff(data) {
        ndb::read(data)
    } else if bdb::sniff(data) {
        bdb::read(data)
    } else {
        let what = match file_name {
            "Packages.db" => ndb::read(data),
            "rpmdb.sqlite" => sqlite::read(data),
            _ => bdb::read(data),
        };
        what.map_err(|e| format!("unrecognized database format: {e}"))
    }
}

/// The purl namespace for an os-release ID: the vendor family for RPM-based systems, the ID itself
/// for RPM-based systems not listed here, `None` for systems whose own packages are not RPMs.
pub fn namespace(os_id: &str) -> Option<&str> {
    Some(match os_id {
        "rhel" => "redhat",
        "ol" => "oracle",
        "amzn" => "amzn",
        "sles" | "sled" | "sles_sap" | "sle-micro" | "sl-micro" => "suse",
        id if id.starts_with("opensuse") => "opensuse",
        "debian" | "ubuntu" | "alpine" | "wolfi" | "chainguard" | "arch" | "gentoo" | "linux" | "" => return None,
        id => id,
    })
}

/// `NAME-VERSION-RELEASE.src.rpm` (or `.nosrc.rpm`) split into its three parts.
pub fn split_source_rpm(file: &str) -> Option<(&str, &str, &str)> {
    let stem = file.strip_suffix(".src.rpm").or_else(|| file.strip_suffix(".nosrc.rpm"))?;
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    (!name.is_empty() && !version.is_empty() && !release.is_empty()).then_some((name, version, release))
}

fn to_package(h: header::Header, path: &str, distro: Option<&Distro>) -> Package {
    let epoch = h.epoch.map(|e| format!("{e}:")).unwrap_or_default();
    let version = format!("{epoch}{}-{}", h.version, h.release);
    let purl = purl::os_package(
        "rpm",
        distro.and_then(|d| namespace(&d.id)).unwrap_or(""),
        &h.name,
        &version,
        h.arch.as_deref(),
        distro.map(|d| (d.id.as_str(), d.version_id.as_str())),
    );
    let (source_name, source_version) = match h.source_rpm.as_deref().and_then(split_source_rpm) {
        Some((n, v, r)) => (Some(n.to_string()), Some(format!("{epoch}{v}-{r}"))),
        None => (None, None),
    };
    let mut properties = vec![("release".to_string(), h.release)];
    if let Some(e) = h.epoch {
        properties.push(("epoch".to_string(), e.to_string()));
    }
    if let Some(v) = h.vendor {
        properties.push(("vendor".to_string(), v));
    }
    if let Some(m) = h.modularity_label {
        properties.push(("modularitylabel".to_string(), m));
    }
    Package {
        name: h.name,
        version,
        ecosystem: "rpm".to_string(),
        source_name,
        source_version,
        arch: h.arch,
        licenses: h.license.into_iter().collect(),
        purl: Some(purl),
        path: path.to_string(),
        installed_files: h.files,
        properties,
    }
}

/// The packages and problems of one database file, packages in header-number order.
/// `file_budget`: bytes of installed-file paths still accepted (see [`FILE_LIST_BUDGET`]).
pub fn analyze_database(
    path: &str,
    content: &[u8],
    distro: Option<&Distro>,
    file_budget: &mut usize,
) -> (Vec<Package>, Vec<String>) {
    let name = path.rsplit('/').next().unwrap_or(path);
    let mut records = match read_database(content, name) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), vec![e]),
    };
    records.blobs.sort_by_key(|(n, _)| *n);
    let mut errors = FileProblems::default();
    for e in records.errors {
        errors.push(e);
    }
    let mut packages = Vec::new();
    let mut truncated = false;
    for (hnum, blob) in &records.blobs {
        match header::parse(blob, file_budget) {
            Ok(h) if h.name == "gpg-pubkey" => {}
            Ok(h) => {
                truncated |= h.files_truncated;
                packages.push(to_package(h, path, distro));
            }
            Err(e) => errors.push(format!("header #{hnum}: {e}")),
        }
    }
    let mut errors = errors.finish();
    if truncated {
        // Listed whatever the cap: it explains every package's short file list.
        errors.push(format!("installed-file lists exceed {} MiB; the rest are left out", FILE_LIST_BUDGET >> 20));
    }
    (packages, errors)
}

/// All findings for one image: the distro (when detected), then each database's packages
/// (directories in [`DB_DIRS`] order, formats in [`DB_FILES`] order) and one `file-error` per
/// problem. Never fails: a bad file yields errors and the other files' packages. An empty file is
/// an empty database, as SQLite and rpm treat it.
pub fn analyze_files(files: &[File]) -> Findings {
    let distro = os::detect(files);
    let mut out = Findings::new();
    out.distro(distro.as_ref());
    let mut dbs: Vec<(&File, (usize, usize))> =
        files.iter().filter(|f| f.is_regular()).filter_map(|f| Some((f, db_rank(&f.path)?))).collect();
    dbs.sort_by_key(|(_, rank)| *rank);
    let mut file_budget = FILE_LIST_BUDGET;
    for (f, _) in dbs {
        if f.content.is_empty() {
            continue;
        }
        let path = relative_path(&f.path);
        let (packages, errors) = analyze_database(path, &f.content, distro.as_ref(), &mut file_budget);
        out.from_file(path, packages, errors);
    }
    out
}

pub struct Rpm;

impl Analyzer for Rpm {
    const NAME: &'static str = "rpm";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "RPM packages from the rpmdb (Berkeley DB, NDB, SQLite) and the OS release";

    fn patterns() -> Vec<String> {
        patterns()
    }

    fn analyze(_image: &ImageInfo, files: &[File]) -> Result<Findings, String> {
        Ok(analyze_files(files))
    }
}

ecr_plugin_kit::export!(Rpm);

#[cfg(test)]
mod tests;
