//! RPM version ordering: rpm's `rpmvercmp` applied to epoch, version and release, as rpm 4.18's
//! `labelCompare` does with an EVR string split by rpm's own EVR parser.
//!
//! Splitting `[epoch:]version[-release]`:
//! - the epoch is the run of digits at the start when a `:` follows it (an empty run means 0);
//!   otherwise there is no epoch and a missing epoch is 0. So `a:1` has no epoch: its version is
//!   `a:1`;
//! - the release is everything after the last `-`, the version everything before it;
//! - a missing release sorts before any release, even an empty one (`1 < 1-` `< 1-0`), which is
//!   what rpm 4.18's `labelCompare` does and keeps the order total.
//!
//! Epochs compare numerically (any length). Versions and releases compare with `rpmvercmp`: each
//! string is read as a sequence of segments, skipping every byte that is not an ASCII letter, an
//! ASCII digit, `~` or `^`:
//! - a `~` sorts before anything, even the end of the string (`1.0~rc1 < 1.0`);
//! - a `^` sorts after the end of the string but before any other segment
//!   (`1.0 < 1.0^git1 < 1.0.1`);
//! - a digit run is a numeric segment, compared by value with leading zeros ignored (any length);
//! - a letter run is an alphabetic segment, compared byte by byte (a shorter prefix is smaller);
//! - a numeric segment is newer than an alphabetic one;
//! - when one string runs out of segments first, it is the older one.
//!
//! Separators only separate: `1.0`, `1_0` and `1+0` are equal, as are `1.1.α` and `1.1.β` (non-ASCII
//! bytes are separators too). `rpmvercmp` accepts any string, so every text has a place in this
//! order; [`is_valid`] is stricter and says whether the text is a version rpm would build.

use std::cmp::Ordering;

use super::{cmp_digit_runs, run_len};

/// An EVR split the way rpm splits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evr<'a> {
    /// The epoch's digits; `None` when there is no epoch (which compares as 0).
    pub epoch: Option<&'a str>,
    /// The version (may be empty for malformed input).
    pub version: &'a str,
    /// The release; `None` when there is no `-`.
    pub release: Option<&'a str>,
}

/// Splits `[epoch:]version[-release]` as rpm's EVR parser does. Never fails.
pub fn parse(evr: &str) -> Evr<'_> {
    let digits = run_len(evr.as_bytes(), |c| c.is_ascii_digit());
    let (epoch, rest) = if evr.as_bytes().get(digits) == Some(&b':') {
        (Some(if digits == 0 { "0" } else { &evr[..digits] }), &evr[digits + 1..])
    } else {
        (None, evr)
    };
    let (version, release) = match rest.rsplit_once('-') {
        Some((version, release)) => (version, Some(release)),
        None => (rest, None),
    };
    Evr { epoch, version, release }
}

/// Whether the text is an EVR rpm would produce: a non-empty version and, when there is a `-`, a
/// non-empty release, both made of ASCII letters, digits and `._+~^` only.
pub fn is_valid(evr: &str) -> bool {
    let v = parse(evr);
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"._+~^".contains(&c));
    ok(v.version) && v.release.is_none_or(ok)
}

/// Orders two `[epoch:]version[-release]` strings as rpm does (see the module documentation).
pub fn compare(a: &str, b: &str) -> Ordering {
    compare_evr(&parse(a), &parse(b))
}

/// Orders two split EVRs: epoch, then version, then release.
pub fn compare_evr(a: &Evr<'_>, b: &Evr<'_>) -> Ordering {
    let ea = a.epoch.unwrap_or("0");
    let eb = b.epoch.unwrap_or("0");
    cmp_digit_runs(ea.as_bytes(), eb.as_bytes()).then_with(|| rpmvercmp(a.version, b.version)).then_with(|| {
        match (a.release, b.release) {
            (Some(x), Some(y)) => rpmvercmp(x, y),
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    })
}

/// rpm's comparison of two version (or release) strings.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let is_sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    let (mut i, mut j) = (0, 0);
    loop {
        i += run_len(&a[i..], is_sep);
        j += run_len(&b[j..], is_sep);
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        // `~` sorts before everything, even the end.
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        // `^` sorts after the end but before anything else.
        if ca == Some(b'^') || cb == Some(b'^') {
            match (ca, cb) {
                (None, _) => return Ordering::Less,
                (_, None) => return Ordering::Greater,
                (Some(b'^'), Some(b'^')) => {}
                (Some(b'^'), _) => return Ordering::Less,
                _ => return Ordering::Greater,
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else { break };
        if ca.is_ascii_digit() {
            let la = run_len(&a[i..], |c| c.is_ascii_digit());
            let lb = run_len(&b[j..], |c| c.is_ascii_digit());
            // A numeric segment is newer than an alphabetic one.
            if lb == 0 {
                return Ordering::Greater;
            }
            let ord = cmp_digit_runs(&a[i..i + la], &b[j..j + lb]);
            if ord != Ordering::Equal {
                return ord;
            }
            i += la;
            j += lb;
        } else {
            let la = run_len(&a[i..], |c| c.is_ascii_alphabetic());
            let lb = run_len(&b[j..], |c| c.is_ascii_alphabetic());
            if lb == 0 {
                return Ordering::Less;
            }
            let ord = a[i..i + la].cmp(&b[j..j + lb]);
            if ord != Ordering::Equal {
                return ord;
            }
            i += la;
            j += lb;
        }
    }
    // Whichever still has a segment left is newer.
    match (i < a.len(), j < b.len()) {
        (false, false) => Ordering::Equal,
        (false, true) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn split() {
        assert_eq!(parse("1:2.0-3.el9"), Evr { epoch: Some("1"), version: "2.0", release: Some("3.el9") });
        assert_eq!(parse(":2"), Evr { epoch: Some("0"), version: "2", release: None });
        assert_eq!(parse("a:1"), Evr { epoch: None, version: "a:1", release: None });
        assert_eq!(parse("1:2:3-4"), Evr { epoch: Some("1"), version: "2:3", release: Some("4") });
        assert_eq!(parse("1-2-3"), Evr { epoch: None, version: "1-2", release: Some("3") });
        assert!(is_valid("1:2.0^git1~rc1-3.el9_2"));
        assert!(!is_valid("1-"));
        assert!(!is_valid(""));
        assert!(!is_valid("a:1"));
    }

    #[test]
    fn vercmp() {
        assert_eq!(rpmvercmp("1.0", "1.0"), Equal);
        assert_eq!(rpmvercmp("1.0", "1_0"), Equal);
        assert_eq!(rpmvercmp("1.0~rc1", "1.0"), Less);
        assert_eq!(rpmvercmp("1.0~rc1", "1.0~rc1~git"), Greater);
        assert_eq!(rpmvercmp("1.0^", "1.0"), Greater);
        assert_eq!(rpmvercmp("1.0^git1", "1.0.1"), Less);
        assert_eq!(rpmvercmp("1.0^git1", "1.0~rc"), Greater);
        assert_eq!(rpmvercmp("1a", "1.1"), Less);
        assert_eq!(rpmvercmp("a", "1"), Less);
        assert_eq!(rpmvercmp("10.0001", "10.1"), Equal);
        assert_eq!(rpmvercmp("1.1.α", "1.1.β"), Equal);
        assert_eq!(rpmvercmp("1.0aa", "1.0a"), Greater);
        let long = format!("1.{}", "9".repeat(80));
        assert_eq!(rpmvercmp(&long, &format!("1.1{}", "0".repeat(80))), Less);
    }

    #[test]
    fn evr() {
        assert_eq!(compare("1", "1-"), Less);
        assert_eq!(compare("1-", "1-0"), Less);
        assert_eq!(compare("1", "0:1"), Equal);
        assert_eq!(compare("01:2", "1:2"), Equal);
        assert_eq!(compare("3", "1:2"), Less);
        assert_eq!(compare("1:1.0-1", "2.0-1"), Greater);
    }
}
