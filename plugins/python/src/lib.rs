//! ecr-engine analyzer for Python: the distributions installed in `site-packages` and
//! `dist-packages` directories (virtualenvs, `/usr/local/lib/python3.*`, Debian's
//! `/usr/lib/python3/dist-packages`), read from their core metadata:
//!
//! - `NAME-VERSION.dist-info/METADATA` (wheels, pip, PEP 376/627);
//! - `NAME.egg-info/PKG-INFO` (setuptools `develop`/legacy installs, Debian's python3-* packages);
//! - a single-file `NAME.egg-info` (distutils).
//!
//! Both are email-style header files (core metadata 1.0 to 2.4), read with the kit's
//! [`fields::Headers`]. Each distribution is one package of ecosystem `pypi` named and versioned
//! as its metadata says (`Name`, `Version`), with purl `pkg:pypi/NAME@VERSION` (the purl spec's
//! name normalization: lower case, `_` -> `-`). Licenses: the SPDX `License-Expression`
//! (metadata 2.4) if present, else a one-line `License` field (a multi-line one is the license
//! text itself, not a name), else the `License ::` trove classifiers' last part. Properties:
//! `metadata-version` and `format` (`dist-info` or `egg-info`).
//!
//! What this reports is exactly what Python itself would list: `importlib.metadata.distributions()` over
//! the same directory (checked by `tests/analyzer_python.rs` against the real interpreter).

use ecr_plugin_kit::fields::{self, Headers};
use ecr_plugin_kit::purl::PackageUrl;
use ecr_plugin_kit::{Analyzer, File, FileProblems, Findings, ImageInfo, Package, relative_path};

/// The directories Python installs distributions into.
pub const PACKAGE_DIRS: &[&str] = &["site-packages", "dist-packages"];

/// A metadata file larger than this is not read (real ones are under 100 KiB; the long
/// description body, which can be large, is not needed).
pub const MAX_METADATA_BYTES: usize = 4 << 20;

/// The host patterns: the metadata files in any site-packages or dist-packages directory.
pub fn patterns() -> Vec<String> {
    PACKAGE_DIRS
        .iter()
        .flat_map(|dir| {
            [
                format!("**/{dir}/*.dist-info/METADATA"),
                format!("**/{dir}/*.egg-info/PKG-INFO"),
                format!("**/{dir}/*.egg-info"),
            ]
        })
        .collect()
}

/// `dist-info` or `egg-info` when `path` is a metadata file this plugin reads.
pub fn metadata_format(path: &str) -> Option<&'static str> {
    let (parent, name) = path.rsplit_once('/')?;
    let (grandparent, dir) = parent.rsplit_once('/').unwrap_or(("", parent));
    let in_packages = |d: &str| PACKAGE_DIRS.contains(&d.rsplit('/').next().unwrap_or(d));
    if name == "METADATA" && dir.ends_with(".dist-info") && in_packages(grandparent) {
        Some("dist-info")
    } else if (name == "PKG-INFO" && dir.ends_with(".egg-info") && in_packages(grandparent))
        || (name.ends_with(".egg-info") && in_packages(parent))
    {
        Some("egg-info")
    } else {
        None
    }
}

/// The licenses the metadata declares (see the crate docs for the order of preference).
pub fn licenses(headers: &Headers) -> Vec<String> {
    if let Some(expression) = headers.get("License-Expression").filter(|e| !e.is_empty()) {
        return vec![expression.to_string()];
    }
    let license = headers.get("License").map(str::trim).unwrap_or("");
    if !license.is_empty() && !license.contains('\n') && !license.eq_ignore_ascii_case("UNKNOWN") {
        return vec![license.to_string()];
    }
    headers
        .all("Classifier")
        .filter(|c| c.starts_with("License ::"))
        .filter_map(|c| c.rsplit("::").next().map(str::trim))
        .filter(|name| !name.is_empty() && *name != "OSI Approved")
        .map(str::to_string)
        .collect()
}

/// The distribution described by one metadata file, and the problems met reading it.
pub fn read_metadata(path: &str, format: &str, content: &[u8]) -> (Option<Package>, Vec<String>) {
    let mut problems = FileProblems::default();
    if content.len() > MAX_METADATA_BYTES {
        problems.push(format!(
            "metadata is {} bytes, over the {} MiB limit for a metadata file; not read",
            content.len(),
            MAX_METADATA_BYTES >> 20
        ));
        return (None, problems.finish());
    }
    let text = match fields::text(content) {
        Ok(text) => text,
        Err(error) => {
            problems.push(error);
            return (None, problems.finish());
        }
    };
    let headers = Headers::parse(text);
    for problem in &headers.problems {
        problems.push(problem.clone());
    }
    let name = headers.get("Name").unwrap_or("");
    let version = headers.get("Version").unwrap_or("");
    if name.is_empty() || version.is_empty() {
        let missing = if name.is_empty() { "Name" } else { "Version" };
        problems.push(format!("no {missing} field, so this is not a distribution's metadata; skipped"));
        return (None, problems.finish());
    }
    let mut package = Package::new("pypi", name, version, path);
    package.purl = Some(PackageUrl::new("pypi", name).with_version(version).to_string());
    package.licenses = licenses(&headers);
    if let Some(metadata_version) = headers.get("Metadata-Version") {
        package.properties.push(("metadata-version".to_string(), metadata_version.to_string()));
    }
    package.properties.push(("format".to_string(), format.to_string()));
    (Some(package), problems.finish())
}

/// All findings for one image: one package per metadata file, in path order, and one
/// `file-error` per problem. Never fails as a whole.
pub fn analyze_files(files: &[File]) -> Findings {
    let mut metadata: Vec<(&str, &'static str, &File)> = files
        .iter()
        .filter(|f| f.is_regular())
        .filter_map(|f| {
            let path = relative_path(&f.path);
            Some((path, metadata_format(path)?, f))
        })
        .collect();
    metadata.sort_by_key(|(path, ..)| *path);
    let mut out = Findings::new();
    for (path, format, f) in metadata {
        if f.is_truncated() {
            let message = format!(
                "only {} of {} bytes were given (the plugin's max file size); not read",
                f.content.len(),
                f.size
            );
            out.file_error(path, message);
            continue;
        }
        let (package, problems) = read_metadata(path, format, &f.content);
        out.from_file(path, package, problems);
    }
    out
}

pub struct Python;

impl Analyzer for Python {
    const NAME: &'static str = "python";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Python packages installed in site-packages and dist-packages (dist-info METADATA, egg-info PKG-INFO)";

    fn patterns() -> Vec<String> {
        patterns()
    }

    fn analyze(_image: &ImageInfo, files: &[File]) -> Result<Findings, String> {
        Ok(analyze_files(files))
    }
}

ecr_plugin_kit::export!(Python);

#[cfg(test)]
mod tests;
