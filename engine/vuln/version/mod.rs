//! Exact version ordering for the ecosystems the matcher understands.
//!
//! Each scheme reimplements the ordering of the tool that owns the ecosystem, so that "is the
//! installed version older than the fix" gets the answer the package manager itself would give:
//!
//! | scheme | rules of | OSV ecosystems |
//! | --- | --- | --- |
//! | [`Scheme::Dpkg`] | `dpkg --compare-versions` (see [`dpkg`]) | Debian, Ubuntu |
//! | [`Scheme::Apk`] | apk-tools' `apk version -t` (see [`apk`]) | Alpine, Wolfi, Chainguard, ... |
//! | [`Scheme::Rpm`] | rpm's `rpmvercmp` over epoch:version-release (see [`rpm`]) | Red Hat, SUSE, ... |
//! | [`Scheme::Semver`] | SemVer 2.0.0 precedence as node-semver applies it (see [`semver`]) | npm |
//! | [`Scheme::Pep440`] | PEP 440 as Python's `packaging` (pip) applies it (see [`pep440`]) | PyPI |
//!
//! Every [`Scheme::compare`] is a total order (strictly: a total preorder, since distinct texts
//! such as `1.0` and `1.00` may compare equal) over *all* strings, including ones the scheme
//! rejects, so that sorting and range checks never panic and never depend on argument order.
//! How each scheme places text it cannot parse is documented on its module; [`Scheme::is_valid`]
//! says whether a text is a well-formed version, for reporting bad records, and the matcher does
//! not match an installed version that is not (it reports the package instead).
//!
//! OSV's `"introduced": "0"` sentinel means "since the first version"; the matcher should treat it
//! as such rather than compare it (under npm it is not even a valid version).

use std::cmp::Ordering;

pub mod apk;
pub mod dpkg;
pub mod pep440;
pub mod rpm;
pub mod semver;

/// A version ordering scheme: which rules decide whether one version is older than another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Debian packages: `[epoch:]upstream[-revision]` compared as `dpkg` does.
    Dpkg,
    /// Alpine packages: `number{.number}{letter}{_suffix{number}}{~hash}{-rN}` compared as apk-tools does.
    Apk,
    /// RPM packages: `[epoch:]version[-release]` compared with `rpmvercmp`.
    Rpm,
    /// npm packages: SemVer 2.0.0.
    Semver,
    /// PyPI packages: PEP 440.
    Pep440,
}

impl Scheme {
    /// The scheme OSV uses for an ecosystem name as it appears in OSV records ("Debian:12",
    /// "Ubuntu:22.04:LTS", "Alpine:v3.19", "npm", "Red Hat:enterprise_linux:9::appstream",
    /// "AlmaLinux:9", "Rocky Linux:9", "SUSE:Linux Enterprise Server 15 SP5", "openSUSE:Leap 15.5",
    /// "Mageia:9", "Amazon Linux:2023", ...); `None` for ecosystems we do not match.
    ///
    /// Only the part before the first `:` names the ecosystem (the rest is the release), and it is
    /// matched exactly, as OSV ecosystem names are case-sensitive.
    pub fn for_osv_ecosystem(ecosystem: &str) -> Option<Scheme> {
        let base = ecosystem.split(':').next().unwrap_or("");
        match base {
            "Debian" | "Ubuntu" => Some(Scheme::Dpkg),
            // Alpaquita and BellSoft Hardened Containers are apk-based, as are Wolfi, Chainguard
            // and MinimOS (Wolfi-derived).
            "Alpine" | "Alpaquita" | "BellSoft Hardened Containers" | "Chainguard" | "MinimOS" | "Wolfi" => {
                Some(Scheme::Apk)
            }
            "Red Hat" | "AlmaLinux" | "Rocky Linux" | "SUSE" | "openSUSE" | "Mageia" | "openEuler" | "Azure Linux"
            | "Photon OS" | "Amazon Linux" => Some(Scheme::Rpm),
            "npm" => Some(Scheme::Semver),
            "PyPI" => Some(Scheme::Pep440),
            _ => None,
        }
    }

    /// Total order of two versions under this scheme.
    ///
    /// Versions that do not parse still compare deterministically: see [`dpkg::compare`],
    /// [`apk::compare`], [`rpm::compare`], [`semver::compare`] and [`pep440::compare`] for where
    /// each scheme puts them.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            Scheme::Dpkg => dpkg::compare(a, b),
            Scheme::Apk => apk::compare(a, b),
            Scheme::Rpm => rpm::compare(a, b),
            Scheme::Semver => semver::compare(a, b),
            Scheme::Pep440 => pep440::compare(a, b),
        }
    }

    /// Whether the text is a valid version in this scheme (for reporting bad records).
    pub fn is_valid(self, version: &str) -> bool {
        match self {
            Scheme::Dpkg => dpkg::is_valid(version),
            Scheme::Apk => apk::is_valid(version),
            Scheme::Rpm => rpm::is_valid(version),
            Scheme::Semver => semver::is_valid(version),
            Scheme::Pep440 => pep440::is_valid(version),
        }
    }

    /// The name of the rules, for messages ("not a valid PEP 440 version").
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Dpkg => "Debian",
            Scheme::Apk => "Alpine",
            Scheme::Rpm => "RPM",
            Scheme::Semver => "SemVer",
            Scheme::Pep440 => "PEP 440",
        }
    }
}

/// Orders two texts by a scheme's `order` of what `parse` makes of them; a text that does not
/// parse sorts before every version, and two such texts by their bytes (how SemVer and PEP 440
/// place what they reject).
fn unparsed_first<'a, T>(
    a: &'a str,
    b: &'a str,
    parse: impl Fn(&'a str) -> Option<T>,
    order: impl Fn(&T, &T) -> Ordering,
) -> Ordering {
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => order(&x, &y),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => a.as_bytes().cmp(b.as_bytes()),
    }
}

/// Compares two runs of ASCII digits by numeric value, without converting them to a machine
/// integer, so arbitrarily long runs cannot overflow. Leading zeros are ignored; an empty run is 0.
pub(crate) fn cmp_digit_runs(a: &[u8], b: &[u8]) -> Ordering {
    let a = strip_leading_zeros(a);
    let b = strip_leading_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn strip_leading_zeros(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| c != b'0').unwrap_or(s.len());
    &s[start..]
}

/// Length of the run at the start of `s` whose bytes all satisfy `pred`.
pub(crate) fn run_len(s: &[u8], pred: impl Fn(u8) -> bool) -> usize {
    s.iter().position(|&c| !pred(c)).unwrap_or(s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystems() {
        assert_eq!(Scheme::for_osv_ecosystem("Debian:12"), Some(Scheme::Dpkg));
        assert_eq!(Scheme::for_osv_ecosystem("Debian"), Some(Scheme::Dpkg));
        assert_eq!(Scheme::for_osv_ecosystem("Ubuntu:22.04:LTS"), Some(Scheme::Dpkg));
        assert_eq!(Scheme::for_osv_ecosystem("Ubuntu:Pro:18.04:LTS"), Some(Scheme::Dpkg));
        assert_eq!(Scheme::for_osv_ecosystem("Alpine:v3.19"), Some(Scheme::Apk));
        assert_eq!(Scheme::for_osv_ecosystem("Wolfi"), Some(Scheme::Apk));
        assert_eq!(Scheme::for_osv_ecosystem("npm"), Some(Scheme::Semver));
        assert_eq!(Scheme::for_osv_ecosystem("Red Hat:enterprise_linux:9::appstream"), Some(Scheme::Rpm));
        assert_eq!(Scheme::for_osv_ecosystem("AlmaLinux:9"), Some(Scheme::Rpm));
        assert_eq!(Scheme::for_osv_ecosystem("Rocky Linux:9"), Some(Scheme::Rpm));
        assert_eq!(Scheme::for_osv_ecosystem("SUSE:Linux Enterprise Server 15 SP5"), Some(Scheme::Rpm));
        assert_eq!(Scheme::for_osv_ecosystem("openSUSE:Leap 15.5"), Some(Scheme::Rpm));
        assert_eq!(Scheme::for_osv_ecosystem("Mageia:9"), Some(Scheme::Rpm));
        assert_eq!(Scheme::for_osv_ecosystem("Amazon Linux:2023"), Some(Scheme::Rpm));
        assert_eq!(Scheme::for_osv_ecosystem("PyPI"), Some(Scheme::Pep440));
        assert_eq!(Scheme::for_osv_ecosystem("pypi"), None);
        assert_eq!(Scheme::for_osv_ecosystem("Go"), None);
        assert_eq!(Scheme::for_osv_ecosystem("NPM"), None);
        assert_eq!(Scheme::for_osv_ecosystem(""), None);
    }

    #[test]
    fn digit_runs() {
        assert_eq!(cmp_digit_runs(b"", b"0"), Ordering::Equal);
        assert_eq!(cmp_digit_runs(b"007", b"7"), Ordering::Equal);
        assert_eq!(cmp_digit_runs(b"10", b"9"), Ordering::Greater);
        let big = "9".repeat(100);
        let bigger = format!("1{}", "0".repeat(100));
        assert_eq!(cmp_digit_runs(big.as_bytes(), bigger.as_bytes()), Ordering::Less);
    }
}
