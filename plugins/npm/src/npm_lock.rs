//! npm's `package-lock.json`, `npm-shrinkwrap.json` (same format) and the hidden lockfile
//! `node_modules/.package-lock.json`, lockfile versions 1, 2 and 3.
//!
//! - v2 and v3 list every installed folder in `packages`, keyed by its path from the project
//!   directory (`node_modules/a/node_modules/@s/b`); v2 also carries the v1 tree for old npm, and
//!   `packages` is preferred when present. `""` is the project itself; keys without a
//!   `node_modules/` segment are workspace folders (the project's own code, not dependencies).
//! - v1 has only `dependencies`, a tree where nesting is install location.
//! - `link: true` entries are symlinks npm makes to workspaces and local `file:` dependencies:
//!   the project's own code, so not reported; a link whose target entry is missing is a broken
//!   lockfile and is reported as an error. v1 writes the same as `"version": "file:..."`.
//! - Flags (npm's meaning): `dev` only in the devDependencies tree; `optional` only in the
//!   optional tree; `devOptional` in both the dev and the optional tree but not in production;
//!   `peer` only a peer dependency. `dev` + `optional` (strictly both) counts as dev; `devOptional`
//!   as optional, since an install that omits dev still installs it when optional deps are kept.
//! - An alias (`"x": "npm:real@1.0.0"`) installs `real` under the folder `x`: v2/v3 write the
//!   real name as `name`; v1 writes the version as `npm:real@1.0.0`.
//!
//! Each entry is parsed on its own from the borrowed raw JSON, so one malformed entry is one
//! error and the rest of the file is kept.

use crate::lock::{self, Locked, Parsed, Scope};
use crate::manifest::{self, LicenseField, shown};
use ecr_plugin_kit::fields;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Deepest v1 `dependencies` nesting followed (real trees are a handful of levels deep).
pub const MAX_V1_DEPTH: usize = 64;

type RawMap<'a> = BTreeMap<Cow<'a, str>, &'a RawValue>;

#[derive(Deserialize)]
struct Root<'a> {
    #[serde(borrow)]
    packages: Option<RawMap<'a>>,
    #[serde(borrow)]
    dependencies: Option<RawMap<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Entry {
    name: Option<String>,
    version: Option<String>,
    resolved: Option<String>,
    dev: bool,
    optional: bool,
    #[serde(rename = "devOptional")]
    dev_optional: bool,
    peer: bool,
    link: bool,
    license: Option<LicenseField>,
    licenses: Option<LicenseField>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EntryV1<'a> {
    version: Option<String>,
    dev: bool,
    optional: bool,
    #[serde(borrow)]
    dependencies: Option<RawMap<'a>>,
}

fn scope(dev: bool, optional: bool, dev_optional: bool, peer: bool) -> Option<Scope> {
    if dev {
        Some(Scope::Dev)
    } else if optional || dev_optional {
        Some(Scope::Optional)
    } else if peer {
        Some(Scope::Peer)
    } else {
        None
    }
}

/// The package folder name a `packages` key ends in: what follows its last `node_modules/`.
fn folder_name(key: &str) -> Option<&str> {
    let (_, name) = key.rsplit_once("node_modules/")?;
    let placed = key == format!("node_modules/{name}") || key.ends_with(&format!("/node_modules/{name}"));
    (placed && crate::paths::is_package_name(name)).then_some(name)
}

pub fn parse(content: &[u8]) -> Parsed {
    if let Err(e) = lock::check_size(content) {
        return Parsed::failed(e);
    }
    let text = match fields::text(content) {
        Ok(t) => t,
        Err(e) => return Parsed::failed(e),
    };
    let root: Root = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => return Parsed::failed(format!("invalid lockfile JSON: {e}")),
    };
    let mut out = Parsed::default();
    match (&root.packages, &root.dependencies) {
        (Some(packages), _) => parse_packages(packages, &mut out),
        (None, Some(deps)) => parse_v1(deps, "", 0, &mut out),
        (None, None) => {}
    }
    out
}

fn parse_packages(packages: &RawMap, out: &mut Parsed) {
    for (key, raw) in packages {
        let Some(folder) = folder_name(key) else { continue };
        let entry: Entry = match serde_json::from_str(raw.get()) {
            Ok(e) => e,
            Err(e) => {
                out.error(format!("packages[{}]: {e}; skipped", shown(key)));
                continue;
            }
        };
        if entry.link {
            let target = entry.resolved.as_deref().unwrap_or_default();
            if target.is_empty() || !packages.contains_key(target) {
                out.error(format!(
                    "packages[{}] is a link to {}, which the lockfile does not contain (broken link); skipped",
                    shown(key),
                    shown(target)
                ));
            }
            continue;
        }
        let Some(version) = entry.version.as_deref().map(str::trim) else {
            out.error(format!("packages[{}] has no \"version\"; skipped", shown(key)));
            continue;
        };
        let name = entry.name.as_deref().map(str::trim).unwrap_or(folder);
        if let Err(e) = manifest::check_field("name", name).and_then(|_| manifest::check_field("version", version)) {
            out.error(format!("packages[{}]: {e}; skipped", shown(key)));
            continue;
        }
        out.packages.push(Locked {
            name: name.to_string(),
            version: version.to_string(),
            location: Some(key.to_string()),
            scope: scope(entry.dev, entry.optional, entry.dev_optional, entry.peer),
            licenses: manifest::licenses(entry.license.as_ref(), entry.licenses.as_ref()),
        });
    }
}

fn parse_v1(deps: &RawMap, parent: &str, depth: usize, out: &mut Parsed) {
    for (folder, raw) in deps {
        let location = if parent.is_empty() {
            format!("node_modules/{folder}")
        } else {
            format!("{parent}/node_modules/{folder}")
        };
        let entry: EntryV1 = match serde_json::from_str(raw.get()) {
            Ok(e) => e,
            Err(e) => {
                out.error(format!("dependencies entry {}: {e}; skipped", shown(&location)));
                continue;
            }
        };
        let Some(version) = entry.version.as_deref().map(str::trim) else {
            out.error(format!("dependencies entry {} has no \"version\"; skipped", shown(&location)));
            continue;
        };
        if version.starts_with("file:") || version.starts_with("link:") {
            // A local folder: the project's own code (v1's form of a link).
        } else {
            let (name, version) = match version.strip_prefix("npm:").and_then(lock::split_name_at) {
                Some((real, v)) => (real, v),
                None => (folder.as_ref(), version),
            };
            match manifest::check_field("name", name).and_then(|_| manifest::check_field("version", version)) {
                Ok(()) => out.packages.push(Locked {
                    name: name.to_string(),
                    version: version.to_string(),
                    location: Some(location.clone()),
                    scope: scope(entry.dev, entry.optional, false, false),
                    licenses: Vec::new(),
                }),
                Err(e) => out.error(format!("dependencies entry {}: {e}; skipped", shown(&location))),
            }
        }
        if let Some(nested) = &entry.dependencies {
            if depth + 1 >= MAX_V1_DEPTH {
                out.error(format!(
                    "dependencies entry {}: nested more than {MAX_V1_DEPTH} levels deep; deeper entries skipped",
                    shown(&location)
                ));
            } else {
                parse_v1(nested, &location, depth + 1, out);
            }
        }
    }
}
