//! Which advisories apply to which packages: OSV names ecosystems per distribution release
//! ("Debian:12", "Ubuntu:22.04:LTS", "Alpine:v3.19", "Red Hat:enterprise_linux:9::appstream"),
//! while an image tells us its OS release and each package's database family. Both sides are
//! reduced to one key ("debian:12", "alpine:3.19", "rhel:9", "wolfi", "npm", "pypi") so lookups
//! are exact. Package names are compared as the ecosystem compares them (see [`package_name`]).
//!
//! Ecosystem strings and their release suffixes follow osv-schema's list of ecosystems
//! (<https://ossf.github.io/osv-schema/#affectedpackage-field>): Wolfi and Chainguard have no
//! release (rolling), Azure Linux and Mageia end in the numeric release ("Azure Linux:3",
//! "Mageia:9"). CBL-Mariner is Azure Linux before its rename: OSV files Mariner 2.0 under
//! "Azure Linux:2" (osv.dev's Azure Linux converter, which maps Microsoft's OVAL data).
//!
//! openEuler ("openEuler:22.03-LTS-SP3", "openEuler:24.03-LTS", as openEuler's own OSV records
//! name them) keys on the long-term-support stream and service pack, which os-release's
//! `VERSION_ID` ("22.03") lacks and `PRETTY_NAME` ("openEuler 22.03 (LTS-SP3)") has: see
//! [`release_for_matching`].
//!
//! Not matched, although OSV has them: Alpaquita and BellSoft Hardened Containers
//! ("Alpaquita:23", "Alpaquita:stream") name their release streams in a way we could not tie to
//! os-release from their documentation.

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
        ("Wolfi", []) => Some("wolfi".into()),
        ("Chainguard", []) => Some("chainguard".into()),
        ("Debian", [release, ..]) => Some(format!("debian:{release}")),
        // Ubuntu Pro (ESM) advisories cover packages a plain image does not have.
        ("Ubuntu", [release, ..]) if *release != "Pro" => Some(format!("ubuntu:{release}")),
        ("Alpine", [release]) => Some(format!("alpine:{}", release.trim_start_matches('v'))),
        ("AlmaLinux", [release]) => Some(format!("almalinux:{}", major(release))),
        ("Rocky Linux", [release]) => Some(format!("rocky:{}", major(release))),
        ("Red Hat", ["enterprise_linux", release, ..]) => Some(format!("rhel:{}", major(release))),
        ("SUSE", [product]) => suse_key(product, "Linux Enterprise Server ", "sles"),
        ("openSUSE", [product]) => suse_key(product, "Leap ", "opensuse-leap"),
        ("Azure Linux", [release]) => Some(format!("azurelinux:{}", major(release))),
        ("Mageia", [release]) => Some(format!("mageia:{}", major(release))),
        ("openEuler", [release]) => Some(format!("openeuler:{release}")),
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
/// PyPI) are the same whatever the OS; so are rolling distributions (Wolfi, Chainguard), whose
/// os-release `VERSION_ID` is a date or absent rather than a release.
pub fn key_for_package(ecosystem: &str, os: Option<(&str, &str)>) -> Option<String> {
    if matches!(ecosystem, "npm" | "pypi") {
        return Some(ecosystem.into());
    }
    let (id, version) = os?;
    // Chainguard OS says ID=chainguard; Wolfi, and Chainguard images built on it, ID=wolfi.
    if ecosystem == "apk" && matches!(id, "wolfi" | "chainguard") {
        return Some(id.into());
    }
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
        // CBL-Mariner (ID=mariner, VERSION_ID=2.0) was renamed Azure Linux (ID=azurelinux) at 3.0.
        ("rpm", "azurelinux" | "mariner") => format!("azurelinux:{}", major(version)),
        ("rpm", "mageia") => format!("mageia:{}", major(version)),
        ("rpm", "openeuler") => format!("openeuler:{version}"),
        _ => return None,
    };
    Some(key)
}

/// The release an image's OS packages are matched against: os-release's `VERSION_ID`, except for
/// openEuler, whose advisories are per long-term-support stream and service pack that only
/// `PRETTY_NAME` tells: "openEuler 22.03 (LTS-SP3)" gives "22.03-LTS-SP3", "openEuler 24.03
/// (LTS)" "24.03-LTS", "openEuler 23.09" "23.09". A pretty name that does not spell out the same
/// version leaves `VERSION_ID`, which then matches no LTS advisory rather than a wrong one.
pub fn release_for_matching<'a>(id: &str, version_id: &'a str, pretty_name: Option<&str>) -> Cow<'a, str> {
    if id != "openeuler" || version_id.is_empty() {
        return Cow::Borrowed(version_id);
    }
    let stream = pretty_name
        .and_then(|pretty| pretty.split_once(' '))
        .and_then(|(_, release)| release.trim().strip_prefix(version_id))
        .and_then(|rest| rest.trim().strip_prefix('('))
        .and_then(|rest| rest.strip_suffix(')'))
        .filter(|stream| !stream.is_empty() && !stream.contains(char::is_whitespace));
    match stream {
        Some(stream) => Cow::Owned(format!("{version_id}-{stream}")),
        None => Cow::Borrowed(version_id),
    }
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
        assert_eq!(key_for_osv("Wolfi").as_deref(), Some("wolfi"));
        assert_eq!(key_for_osv("Chainguard").as_deref(), Some("chainguard"));
        assert_eq!(key_for_osv("Wolfi:extra"), None);
        assert_eq!(key_for_osv("Azure Linux:3").as_deref(), Some("azurelinux:3"));
        assert_eq!(key_for_osv("Azure Linux:2").as_deref(), Some("azurelinux:2"));
        assert_eq!(key_for_osv("Mageia:9").as_deref(), Some("mageia:9"));
        // Not matched (see the module documentation).
        assert_eq!(key_for_osv("Alpaquita:23"), None);
        assert_eq!(key_for_osv("MinimOS"), None);
    }

    /// Each distribution's own os-release meets the key of its OSV ecosystem, and no other.
    #[test]
    fn added_distributions_meet_their_advisories() {
        let both = |osv: &str, family: &str, id: &str, version: &str| {
            let advisory = key_for_osv(osv);
            assert!(advisory.is_some(), "{osv}");
            assert_eq!(key_for_package(family, Some((id, version))), advisory, "{osv} / {id} {version}");
        };
        both("Wolfi", "apk", "wolfi", "20230201");
        both("Wolfi", "apk", "wolfi", "");
        both("Chainguard", "apk", "chainguard", "20230214");
        both("Azure Linux:3", "rpm", "azurelinux", "3.0");
        both("Azure Linux:2", "rpm", "mariner", "2.0");
        both("Mageia:9", "rpm", "mageia", "9");
        both("openEuler:22.03-LTS-SP3", "rpm", "openeuler", "22.03-LTS-SP3");
        both("openEuler:24.03-LTS", "rpm", "openeuler", "24.03-LTS");
        // Wolfi and Alpine are both apk, but neither's advisories apply to the other.
        assert_ne!(key_for_package("apk", Some(("wolfi", "20230201"))), key_for_osv("Alpine:v3.18"));
        assert_ne!(key_for_package("apk", Some(("alpine", "3.18.4"))), key_for_osv("Wolfi"));
        assert_ne!(key_for_package("apk", Some(("wolfi", "20230201"))), key_for_osv("Chainguard"));
        // Only their own package family: an rpm database in a Wolfi image has no release.
        assert_eq!(key_for_package("rpm", Some(("wolfi", "20230201"))), None);
        assert_eq!(key_for_package("apk", Some(("azurelinux", "3.0"))), None);
        assert_eq!(key_for_package("rpm", Some(("azurelinux", ""))), None);
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
    fn openeuler_releases_from_the_pretty_name() {
        let release =
            |pretty: Option<&str>, version_id: &str| release_for_matching("openeuler", version_id, pretty).into_owned();
        assert_eq!(release(Some("openEuler 22.03 (LTS-SP3)"), "22.03"), "22.03-LTS-SP3");
        assert_eq!(release(Some("openEuler 24.03 (LTS)"), "24.03"), "24.03-LTS");
        assert_eq!(release(Some("openEuler 23.09"), "23.09"), "23.09");
        // Not the same version, or not the shape openEuler writes: VERSION_ID as it is.
        assert_eq!(release(Some("openEuler 20.03 (LTS-SP4)"), "22.03"), "22.03");
        assert_eq!(release(Some("openEuler 22.03 (LTS SP3)"), "22.03"), "22.03");
        assert_eq!(release(Some("openEuler 22.03 ()"), "22.03"), "22.03");
        assert_eq!(release(None, "22.03"), "22.03");
        assert_eq!(release(Some("openEuler 22.03 (LTS)"), ""), "");
        // Other distributions keep VERSION_ID whatever their pretty name says.
        assert_eq!(release_for_matching("debian", "12", Some("Debian GNU/Linux 12 (bookworm)")), "12");
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
