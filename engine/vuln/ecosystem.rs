//! Which advisories apply to which packages: OSV names ecosystems per distribution release
//! ("Debian:12", "Ubuntu:22.04:LTS", "Alpine:v3.19", "Red Hat:enterprise_linux:9::appstream"),
//! while an image tells us its OS release and each package's database family. Both sides are
//! reduced to one key ("debian:12", "alpine:3.19", "rhel:9", "npm", "pypi") so lookups are exact.
//! Package names are compared as the ecosystem compares them (see [`package_name`]).

use std::borrow::Cow;

/// A package as the matcher looks it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub key: String,
    /// The name advisories use: the source package for Debian and Ubuntu, the origin for Alpine,
    /// the normal form for PyPI ([`package_name`]).
    pub name: String,
    /// The version advisories' ranges are about (the source version for Debian and Ubuntu).
    pub version: String,
}

/// The key of an OSV ecosystem, or `None` for ecosystems ecr-engine does not match.
pub fn key_for_osv(ecosystem: &str) -> Option<String> {
    let mut parts = ecosystem.split(':');
    let family = parts.next()?;
    let rest: Vec<&str> = parts.collect();
    match (family, rest.as_slice()) {
        ("npm", []) => Some("npm".into()),
        ("PyPI", []) => Some("pypi".into()),
        ("Debian", [release, ..]) => Some(format!("debian:{release}")),
        // Ubuntu Pro (ESM) advisories cover packages a plain image does not have.
        ("Ubuntu", [release, ..]) if *release != "Pro" => Some(format!("ubuntu:{release}")),
        ("Alpine", [release]) => Some(format!("alpine:{}", release.trim_start_matches('v'))),
        ("AlmaLinux", [release]) => Some(format!("almalinux:{}", major(release))),
        ("Rocky Linux", [release]) => Some(format!("rocky:{}", major(release))),
        ("Red Hat", ["enterprise_linux", release, ..]) => Some(format!("rhel:{}", major(release))),
        ("SUSE", [product]) => suse_key(product, "Linux Enterprise Server ", "sles"),
        ("openSUSE", [product]) => suse_key(product, "Leap ", "opensuse-leap"),
        _ => None,
    }
}

/// "Linux Enterprise Server 15 SP5" -> sles:15.5; "Leap 15.5" -> opensuse-leap:15.5.
fn suse_key(product: &str, prefix: &str, id: &str) -> Option<String> {
    let release = product.strip_prefix(prefix)?;
    let release = match release.split_once(" SP") {
        Some((major, sp)) => format!("{major}.{sp}"),
        None => release.to_string(),
    };
    Some(format!("{id}:{release}"))
}

fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

fn major_minor(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// The key for a package of database family `ecosystem` (deb, apk, rpm, npm, pypi) in an image
/// whose OS is `os_id` `os_version`. A database of another family than the OS (an apk database in
/// a Debian image) has no release to match against, so it gets none. Language ecosystems (npm,
/// PyPI) are the same whatever the OS.
pub fn key_for_package(ecosystem: &str, os: Option<(&str, &str)>) -> Option<String> {
    if matches!(ecosystem, "npm" | "pypi") {
        return Some(ecosystem.into());
    }
    let (id, version) = os?;
    if version.is_empty() {
        return None;
    }
    let key = match (ecosystem, id) {
        ("deb", "debian") => format!("debian:{}", major(version)),
        ("deb", "ubuntu") => format!("ubuntu:{}", major_minor(version)),
        ("apk", "alpine") => format!("alpine:{}", major_minor(version)),
        ("rpm", "almalinux") => format!("almalinux:{}", major(version)),
        ("rpm", "rocky") => format!("rocky:{}", major(version)),
        ("rpm", "rhel") => format!("rhel:{}", major(version)),
        ("rpm", "sles" | "sled") => format!("sles:{}", major_minor(version)),
        ("rpm", "opensuse-leap") => format!("opensuse-leap:{}", major_minor(version)),
        _ => return None,
    };
    Some(key)
}

/// A package name as stored and looked up under ecosystem key `key`, so that spellings the
/// ecosystem treats as one package meet: PyPI names in their PEP 503 normal form (lower case, each
/// run of `-`, `_` and `.` one `-`: `Zope.Interface` and `zope_interface` are `zope-interface`).
/// Other ecosystems' names are kept as they are. (Changing what this stores needs the store's
/// `SCHEMA_VERSION` raised, with a step that stores older records again.)
pub fn package_name<'a>(key: &str, name: &'a str) -> Cow<'a, str> {
    if key != "pypi" {
        return Cow::Borrowed(name);
    }
    let mut normal = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !normal.ends_with('-') {
                normal.push('-');
            }
        } else {
            normal.extend(c.to_lowercase());
        }
    }
    Cow::Owned(normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osv_ecosystems() {
        assert_eq!(key_for_osv("Debian:12").as_deref(), Some("debian:12"));
        assert_eq!(key_for_osv("Ubuntu:22.04:LTS").as_deref(), Some("ubuntu:22.04"));
        assert_eq!(key_for_osv("Ubuntu:Pro:18.04:LTS"), None);
        assert_eq!(key_for_osv("Alpine:v3.19").as_deref(), Some("alpine:3.19"));
        assert_eq!(key_for_osv("Red Hat:enterprise_linux:9::appstream").as_deref(), Some("rhel:9"));
        assert_eq!(key_for_osv("Rocky Linux:8").as_deref(), Some("rocky:8"));
        assert_eq!(key_for_osv("SUSE:Linux Enterprise Server 15 SP5").as_deref(), Some("sles:15.5"));
        assert_eq!(key_for_osv("openSUSE:Leap 15.5").as_deref(), Some("opensuse-leap:15.5"));
        assert_eq!(key_for_osv("PyPI").as_deref(), Some("pypi"));
        assert_eq!(key_for_osv("PyPI:extra"), None);
    }

    #[test]
    fn image_packages() {
        assert_eq!(key_for_package("deb", Some(("debian", "12"))).as_deref(), Some("debian:12"));
        assert_eq!(key_for_package("apk", Some(("alpine", "3.19.1"))).as_deref(), Some("alpine:3.19"));
        assert_eq!(key_for_package("rpm", Some(("rhel", "9.3"))).as_deref(), Some("rhel:9"));
        assert_eq!(key_for_package("apk", Some(("debian", "12"))), None);
        assert_eq!(key_for_package("npm", None).as_deref(), Some("npm"));
        assert_eq!(key_for_package("deb", None), None);
        assert_eq!(key_for_package("pypi", None).as_deref(), Some("pypi"));
        assert_eq!(key_for_package("pypi", Some(("alpine", "3.19.1"))).as_deref(), Some("pypi"));
    }

    #[test]
    fn package_names() {
        assert_eq!(package_name("pypi", "Requests"), "requests");
        assert_eq!(package_name("pypi", "requests_toolbelt"), "requests-toolbelt");
        assert_eq!(package_name("pypi", "Zope.._-Interface"), "zope-interface");
        assert_eq!(package_name("npm", "@Scope/Pkg_x"), "@Scope/Pkg_x");
        assert_eq!(package_name("debian:12", "libc6"), "libc6");
    }
}
