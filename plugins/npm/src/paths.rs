//! Which image paths are installed packages and which are lockfiles, and the project each
//! belongs to.
//!
//! A package folder is exactly `node_modules/<name>` or `node_modules/@scope/<name>`, nested to
//! any depth (`node_modules/a/node_modules/@s/b`), plus pnpm's store layout
//! (`node_modules/.pnpm/<id>/node_modules/<name>`). A package.json anywhere else under
//! node_modules (`node_modules/x/lib/package.json`, `node_modules/x/test/fixtures/...`) belongs to
//! a package's own files and is not a package. The project is the directory holding the first
//! `node_modules`.

/// Lockfile names, in the order npm and the other tools prefer them when several are present.
pub const LOCKFILE_NAMES: &[&str] = &["npm-shrinkwrap.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml"];
/// npm 7+ records what it installed in this file inside node_modules.
pub const HIDDEN_LOCKFILE: &str = ".package-lock.json";

/// The host patterns. Lockfiles are asked for anywhere, as packages ship them too; those inside
/// node_modules are dropped by [`classify`] (they describe a package's development, not the
/// image).
pub fn patterns() -> Vec<String> {
    let mut p = vec!["**/node_modules/**/package.json".to_string(), format!("**/node_modules/{HIDDEN_LOCKFILE}")];
    p.extend(LOCKFILE_NAMES.iter().map(|n| format!("**/{n}")));
    p
}

/// A folder name npm could have made for a package (one segment of a name).
fn is_segment(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('.') && s != "node_modules"
}

/// `name` or `@scope/name`.
pub fn is_package_name(name: &str) -> bool {
    match name.split_once('/') {
        Some((scope, rest)) => scope.strip_prefix('@').is_some_and(is_segment) && is_segment(rest),
        None => is_segment(name),
    }
}

/// What a file handed to the plugin is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind<'a> {
    /// An installed package's package.json: the project directory ("" for the image root) and
    /// the package folder relative to it (`node_modules/a/node_modules/b`).
    Installed {
        project: &'a str,
        location: &'a str,
    },
    /// A project's lockfile; `rank` is its index in [`LOCKFILE_NAMES`], or `LOCKFILE_NAMES.len()`
    /// for the hidden lockfile.
    Lockfile {
        project: &'a str,
        rank: usize,
    },
    Ignored,
}

pub fn classify(path: &str) -> Kind<'_> {
    let comps: Vec<&str> = path.split('/').collect();
    let first_nm = comps.iter().position(|c| *c == "node_modules");
    let project_of = |i: usize| -> &str {
        // Byte length of the first `i` components and their separators.
        let len: usize = comps.iter().take(i).map(|c| c.len() + 1).sum();
        path.get(..len.saturating_sub(1)).unwrap_or_default()
    };
    let Some((file, dirs)) = comps.split_last() else { return Kind::Ignored };
    match first_nm {
        None => match LOCKFILE_NAMES.iter().position(|n| n == file) {
            Some(rank) => Kind::Lockfile { project: project_of(dirs.len()), rank },
            None => Kind::Ignored,
        },
        Some(i) if *file == HIDDEN_LOCKFILE && i + 1 == dirs.len() => {
            Kind::Lockfile { project: project_of(i), rank: LOCKFILE_NAMES.len() }
        }
        Some(i) if *file == "package.json" && is_package_chain(dirs.get(i..).unwrap_or_default()) => {
            let start = if i == 0 { 0 } else { project_of(i).len() + 1 };
            match path.strip_suffix("/package.json").and_then(|dir| dir.get(start..)) {
                Some(location) => Kind::Installed { project: project_of(i), location },
                None => Kind::Ignored,
            }
        }
        Some(_) => Kind::Ignored,
    }
}

/// `node_modules NAME` / `node_modules @SCOPE NAME` / `node_modules .pnpm ID` repeated, ending in
/// a package.
fn is_package_chain(dirs: &[&str]) -> bool {
    let mut rest = dirs;
    let mut ends_in_package = false;
    loop {
        match rest {
            [] => return ends_in_package,
            ["node_modules", ".pnpm", id, tail @ ..] if !id.is_empty() && tail.first() == Some(&"node_modules") => {
                rest = tail;
                ends_in_package = false;
            }
            ["node_modules", scope, name, tail @ ..]
                if scope.starts_with('@') && is_package_name(&format!("{scope}/{name}")) =>
            {
                rest = tail;
                ends_in_package = true;
            }
            ["node_modules", name, tail @ ..] if is_segment(name) && !name.starts_with('@') => {
                rest = tail;
                ends_in_package = true;
            }
            _ => return false,
        }
    }
}
