//! ecr-engine analyzer for Node.js packages: every package installed under a `node_modules`
//! folder anywhere in the image, and the packages declared by lockfiles (`package-lock.json` v1-v3,
//! `npm-shrinkwrap.json`, `yarn.lock` v1 and berry, `pnpm-lock.yaml` v5-v9).
//!
//! How the two sources combine, per project (the directory holding a lockfile and/or the first
//! `node_modules`, see [`paths`]):
//!
//! - Every installed package folder's package.json is one package, at that path, as Trivy and
//!   Syft report images. The lockfiles of its project (and npm's hidden
//!   `node_modules/.package-lock.json`) only add what they know: the scope (`dev`, `optional`,
//!   `peer`) and which lockfile said so. npm lockfiles are matched by install location, the
//!   others by name and version; a lockfile entry for another version is stale and not used.
//! - When a project has installed packages, they are the truth: lockfile entries with no
//!   installed copy (pruned dev dependencies, optional packages for another platform, packages a
//!   later layer deleted) are not reported.
//! - When a project has none (an image that ships sources only), its lockfile's packages are
//!   reported once per name and version, at the lockfile's path, marked `declared-only`. With
//!   several lockfiles the first by npm's preference wins; `npm-shrinkwrap.json` hides
//!   `package-lock.json` as it does for npm.
//! - Workspace folders and `link:`/`file:` packages are the project's own code and are not
//!   reported: they are not third-party dependencies, and their names could collide with
//!   unrelated registry packages in vulnerability matching.
//!
//! Properties set on packages: `scope` = `dev` | `optional` | `peer` where a lockfile says so,
//! `declared-only` = `true` for lockfile-only packages, `lockfile` = the lockfile's path.
//!
//! Every input is untrusted; one bad file is a `file-error` finding and the other files' packages
//! are still returned. Parsing is plain Rust, tested natively; the WIT export is at the bottom.

pub mod lock;
pub mod manifest;
pub mod npm_lock;
pub mod paths;
pub mod pnpm_lock;
pub mod yarn_lock;

use ecr_plugin_kit::purl::PackageUrl;
use ecr_plugin_kit::{Analyzer, File, Findings, ImageInfo, Package, relative_path};
use lock::{Locked, Parsed, Scope};
use paths::{Kind, LOCKFILE_NAMES};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// `pkg:npm/%40scope/name@version`, or `pkg:npm/name@version`.
pub fn purl(name: &str, version: &str) -> String {
    let p = match name.split_once('/') {
        Some((scope, short)) if scope.starts_with('@') => PackageUrl::new("npm", short).with_namespace(scope),
        _ => PackageUrl::new("npm", name),
    };
    p.with_version(version).to_string()
}

fn package(
    name: String,
    version: String,
    licenses: Vec<String>,
    path: &str,
    properties: Vec<(String, String)>,
) -> Package {
    Package {
        purl: Some(purl(&name, &version)),
        name,
        version,
        ecosystem: "npm".to_string(),
        source_name: None,
        source_version: None,
        arch: None,
        licenses,
        path: path.to_string(),
        installed_files: Vec::new(),
        properties,
    }
}

fn properties(scope: Option<Scope>, lockfile: Option<&str>, declared_only: bool) -> Vec<(String, String)> {
    let mut p = Vec::new();
    if let Some(s) = scope {
        p.push(("scope".to_string(), s.as_str().to_string()));
    }
    if declared_only {
        p.push(("declared-only".to_string(), "true".to_string()));
    }
    if let Some(l) = lockfile {
        p.push(("lockfile".to_string(), l.to_string()));
    }
    p
}

/// What a lockfile knows of one name and version: the scope merged over every copy, and the
/// first copy's licenses.
type IdInfo<'a> = (Option<Scope>, &'a [String]);

/// A lockfile found in the image: (rank in [`LOCKFILE_NAMES`], path, content).
type LockFile<'a> = (usize, &'a str, &'a [u8]);

/// One parsed lockfile with lookups by install location and by name and version.
struct Index<'a> {
    path: &'a str,
    /// npm's hidden lockfile: describes node_modules, never declares packages on its own.
    hidden: bool,
    by_location: HashMap<&'a str, &'a Locked>,
    by_id: HashMap<(&'a str, &'a str), IdInfo<'a>>,
    /// Names and versions in file order, each once.
    order: Vec<(&'a str, &'a str)>,
}

impl<'a> Index<'a> {
    fn new(path: &'a str, hidden: bool, parsed: &'a Parsed) -> Self {
        let mut index = Index { path, hidden, by_location: HashMap::new(), by_id: HashMap::new(), order: Vec::new() };
        for l in &parsed.packages {
            if let Some(loc) = &l.location {
                index.by_location.insert(loc.as_str(), l);
            }
            let id = (l.name.as_str(), l.version.as_str());
            match index.by_id.get_mut(&id) {
                Some((scope, _)) => *scope = Scope::merge(*scope, l.scope),
                None => {
                    index.by_id.insert(id, (l.scope, l.licenses.as_slice()));
                    index.order.push(id);
                }
            }
        }
        index
    }
}

struct Installed<'a> {
    project: &'a str,
    location: &'a str,
    path: &'a str,
    manifest: manifest::Manifest,
}

/// All findings for one image (see the crate docs). Never fails as a whole.
pub fn analyze_files(files: &[File]) -> Findings {
    let mut out = Findings::new();

    let mut sorted: Vec<(&str, &File)> =
        files.iter().filter(|f| f.is_regular()).map(|f| (relative_path(&f.path), f)).collect();
    sorted.sort_by_key(|(p, _)| *p);

    let mut installed: Vec<Installed> = Vec::new();
    let mut lock_files: BTreeMap<&str, Vec<LockFile>> = BTreeMap::new();
    for (path, f) in &sorted {
        match paths::classify(path) {
            Kind::Installed { project, location } => match manifest::parse(&f.content) {
                Ok(manifest) => installed.push(Installed { project, location, path, manifest }),
                Err(message) => out.file_error(path, message),
            },
            Kind::Lockfile { project, rank } => lock_files.entry(project).or_default().push((rank, path, &f.content)),
            Kind::Ignored => {}
        }
    }

    // Parse every project's lockfiles, most preferred first.
    let shrinkwrap = 0;
    let package_lock = 1;
    let mut parsed: BTreeMap<&str, Vec<(&str, bool, Parsed)>> = BTreeMap::new();
    for (project, mut list) in lock_files {
        list.sort_by_key(|(rank, path, _)| (*rank, *path));
        if list.iter().any(|(rank, ..)| *rank == shrinkwrap) {
            list.retain(|(rank, ..)| *rank != package_lock);
        }
        let entry = parsed.entry(project).or_default();
        for (rank, path, content) in list {
            let result = match LOCKFILE_NAMES.get(rank).copied() {
                Some("yarn.lock") => yarn_lock::parse(content),
                Some("pnpm-lock.yaml") => pnpm_lock::parse(content),
                _ => npm_lock::parse(content),
            };
            for message in &result.errors {
                out.file_error(path, message.clone());
            }
            entry.push((path, rank == LOCKFILE_NAMES.len(), result));
        }
    }
    let indexes: BTreeMap<&str, Vec<Index>> = parsed
        .iter()
        .map(|(project, list)| (*project, list.iter().map(|(path, hidden, p)| Index::new(path, *hidden, p)).collect()))
        .collect();

    // Installed packages, with what their project's lockfiles know about them.
    let mut projects_with_installed: BTreeSet<&str> = BTreeSet::new();
    for inst in installed {
        projects_with_installed.insert(inst.project);
        let m = inst.manifest;
        let id = (m.name.as_str(), m.version.as_str());
        let indexes = indexes.get(inst.project).map(Vec::as_slice).unwrap_or_default();
        let by_location = indexes.iter().find_map(|ix| {
            let l = ix.by_location.get(inst.location)?;
            (l.name == m.name && l.version == m.version).then_some((ix.path, l.scope, l.licenses.as_slice()))
        });
        let known =
            by_location.or_else(|| indexes.iter().find_map(|ix| ix.by_id.get(&id).map(|(s, lic)| (ix.path, *s, *lic))));
        let (lockfile, scope, lock_licenses) = match known {
            Some((path, scope, lic)) => (Some(path), scope, lic),
            None => (None, None, &[][..]),
        };
        let licenses = if m.licenses.is_empty() { lock_licenses.to_vec() } else { m.licenses };
        out.package(package(m.name, m.version, licenses, inst.path, properties(scope, lockfile, false)));
    }

    // Projects with nothing installed: what their lockfiles declare.
    for (project, indexes) in &indexes {
        if projects_with_installed.contains(project) {
            continue;
        }
        let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
        for ix in indexes.iter().filter(|ix| !ix.hidden) {
            for id in &ix.order {
                if !seen.insert(*id) {
                    continue;
                }
                let (scope, licenses) = ix.by_id.get(id).map(|(s, l)| (*s, l.to_vec())).unwrap_or_default();
                let props = properties(scope, Some(ix.path), true);
                out.package(package(id.0.to_string(), id.1.to_string(), licenses, ix.path, props));
            }
        }
    }
    out
}

pub struct Npm;

impl Analyzer for Npm {
    const NAME: &'static str = "npm";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Node.js packages installed in node_modules, and those declared by \
                                       package-lock.json, npm-shrinkwrap.json, yarn.lock and pnpm-lock.yaml";

    fn patterns() -> Vec<String> {
        paths::patterns()
    }

    fn analyze(_image: &ImageInfo, files: &[File]) -> Result<Findings, String> {
        Ok(analyze_files(files))
    }
}

ecr_plugin_kit::export!(Npm);

#[cfg(test)]
mod tests;
