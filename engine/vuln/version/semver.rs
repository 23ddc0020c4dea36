//! npm version ordering: SemVer 2.0.0 precedence, which is what node-semver's `compare` applies to
//! two versions.
//!
//! A version is `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]` exactly as the SemVer 2.0.0 grammar says:
//! numeric parts are `0` or have no leading zero; prerelease identifiers are non-empty runs of
//! `[0-9A-Za-z-]`, numeric ones without leading zeros; build identifiers are non-empty runs of
//! `[0-9A-Za-z-]`. Like npm we tolerate surrounding whitespace, and a leading `v` (`v1.2.3`, which
//! node-semver accepts even in strict mode) optionally preceded by `=` (`=1.2.3`, `=v1.2.3`: the
//! exact-version spellings of npm ranges, which `semver.clean` reduces to `1.2.3`). Anything looser
//! (`1.2`, `01.2.3`, `1.2.3beta`) is not a version: npm's registry never holds such versions.
//!
//! Precedence: MAJOR, MINOR and PATCH numerically; a version with a prerelease sorts before the
//! same version without one; prerelease identifiers are compared left to right, numeric ones
//! numerically, alphanumeric ones by ASCII byte order, a numeric identifier before an alphanumeric
//! one, and a shorter list before a longer one it prefixes. Build metadata is ignored, so
//! `1.2.3+a` and `1.2.3+b` compare equal.
//!
//! Numbers of any length compare exactly: SemVer sets no limit. (node-semver refuses numbers above
//! 2^53 - 1 in MAJOR.MINOR.PATCH, and compares prerelease numbers as floating point; the two orders
//! agree wherever node-semver's is exact.)
//!
//! We do not use the `semver` crate: it implements Cargo's flavour (its `Ord` also orders build
//! metadata, which SemVer precedence ignores, it stops at u64, and it rejects the `v` npm accepts).
//!
//! Text that is not a version sorts before every version, and such texts compare among themselves
//! by their bytes. So OSV's `"0"` ("introduced: since the start") sorts first, as it should.

use std::cmp::Ordering;

use super::cmp_digit_runs;

/// A parsed SemVer version, borrowing from the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemVer<'a> {
    /// MAJOR digits.
    pub major: &'a str,
    /// MINOR digits.
    pub minor: &'a str,
    /// PATCH digits.
    pub patch: &'a str,
    /// Prerelease identifiers (empty when there is no prerelease).
    pub prerelease: Vec<&'a str>,
    /// Build metadata after `+`, if any (ignored by [`compare`]).
    pub build: Option<&'a str>,
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

/// `0` or digits without a leading zero.
fn is_numeric_identifier(s: &str) -> bool {
    is_numeric(s) && (s == "0" || !s.starts_with('0'))
}

/// Parses a SemVer 2.0.0 version, with npm's tolerated prefixes (see the module documentation).
pub fn parse(version: &str) -> Option<SemVer<'_>> {
    let s = version.trim_matches(|c: char| c.is_ascii_whitespace());
    let s = s.strip_prefix('=').unwrap_or(s);
    let s = s.strip_prefix('v').unwrap_or(s);
    let (s, build) = match s.split_once('+') {
        Some((s, build)) => (s, Some(build)),
        None => (s, None),
    };
    if let Some(build) = build
        && !build.split('.').all(|id| !id.is_empty() && id.bytes().all(is_ident_char))
    {
        return None;
    }
    let (core, prerelease) = match s.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (s, None),
    };
    let prerelease: Vec<&str> = match prerelease {
        Some(pre) => {
            let ids: Vec<&str> = pre.split('.').collect();
            let ok = ids.iter().all(|id| {
                !id.is_empty() && id.bytes().all(is_ident_char) && (!is_numeric(id) || is_numeric_identifier(id))
            });
            if !ok {
                return None;
            }
            ids
        }
        None => Vec::new(),
    };
    let mut parts = core.split('.');
    let (Some(major), Some(minor), Some(patch), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    if ![major, minor, patch].iter().all(|p| is_numeric_identifier(p)) {
        return None;
    }
    Some(SemVer { major, minor, patch, prerelease, build })
}

/// Whether the text is a SemVer 2.0.0 version (npm's tolerated prefixes allowed).
pub fn is_valid(version: &str) -> bool {
    parse(version).is_some()
}

/// Orders two npm versions by SemVer precedence; text that is not a version sorts first (see the
/// module documentation).
pub fn compare(a: &str, b: &str) -> Ordering {
    super::unparsed_first(a, b, parse, compare_parsed)
}

/// SemVer 2.0.0 precedence of two parsed versions.
pub fn compare_parsed(a: &SemVer<'_>, b: &SemVer<'_>) -> Ordering {
    let num = |x: &str, y: &str| cmp_digit_runs(x.as_bytes(), y.as_bytes());
    num(a.major, b.major).then_with(|| num(a.minor, b.minor)).then_with(|| num(a.patch, b.patch)).then_with(|| {
        match (a.prerelease.is_empty(), b.prerelease.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                for (x, y) in a.prerelease.iter().zip(&b.prerelease) {
                    let ord = match (is_numeric(x), is_numeric(y)) {
                        (true, true) => num(x, y),
                        (true, false) => Ordering::Less,
                        (false, true) => Ordering::Greater,
                        (false, false) => x.as_bytes().cmp(y.as_bytes()),
                    };
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
                a.prerelease.len().cmp(&b.prerelease.len())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn validity() {
        for ok in ["1.2.3", "v1.2.3", "=1.2.3", "=v1.2.3", " 1.2.3 ", "1.2.3-0", "1.2.3-a-b.0.x--", "1.2.3+001.z"] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in
            ["1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.3-01", "1.2.3-", "1.2.3+", "1.2.3-a..b", "V1.2.3", "vv1.2.3"]
        {
            assert!(!is_valid(bad), "{bad}");
        }
        assert!(!is_valid("0"));
    }

    #[test]
    fn precedence() {
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
        ];
        for w in chain.windows(2) {
            assert_eq!(compare(w[0], w[1]), Less, "{} < {}", w[0], w[1]);
            assert_eq!(compare(w[1], w[0]), Greater);
        }
        assert_eq!(compare("1.2.3+a", "1.2.3+b"), Equal);
        assert_eq!(compare("v1.2.3", "=1.2.3"), Equal);
        assert_eq!(compare("0", "0.0.0"), Less);
        assert_eq!(compare("1.0.0-9", "1.0.0-a"), Less);
        let big = format!("{}.0.0", "9".repeat(40));
        assert_eq!(compare(&big, "1.0.0"), Greater);
    }
}
