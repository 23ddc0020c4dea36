//! Debian version ordering, as `dpkg --compare-versions` decides it (dpkg 1.21).
//!
//! A version is `[epoch:]upstream[-revision]`:
//! - surrounding whitespace is ignored; whitespace inside is an error;
//! - the epoch is everything before the first `:`, a decimal number from 0 to 2147483647 (an
//!   optional sign is tolerated as C's `strtol` does: `+1` is 1, `-0` is 0, `-1` is an error);
//!   a missing epoch is 0;
//! - the revision is everything after the last `-` of the rest; it may not be empty when the `-`
//!   is there; a missing revision is the empty string, which the comparison below makes equal to
//!   `0` (so `1.0`, `1.0-0` and `1.0-00` are all equal, exactly as in dpkg);
//! - the upstream part is what remains and may not be empty.
//!
//! Epochs compare numerically; then upstream parts, then revisions, each with dpkg's `verrevcmp`:
//! the strings are split into alternating non-digit and digit runs. Non-digit runs are compared
//! character by character where `~` sorts before everything, even the end of the run, then the
//! end of the run, then ASCII letters, then every other character (by byte value, bytes 128-255 as
//! the signed `char` of dpkg's amd64 build, which puts them between letters and ASCII punctuation).
//! Digit runs compare by numeric value, computed without overflow however long the run.
//!
//! dpkg only warns about an upstream part that does not start with a digit or about characters
//! outside `[A-Za-z0-9.+~:-]` (`[A-Za-z0-9.+~]` in the revision), and still compares such
//! versions; so do we, and [`is_valid`] accepts them.
//!
//! Text dpkg rejects with an error (empty, embedded space, bad or too big epoch, nothing after the
//! colon, empty upstream or empty revision) sorts before every version dpkg accepts, and such texts
//! compare among themselves by their bytes.

use std::cmp::Ordering;

use super::{cmp_digit_runs, run_len};

/// A version split the way dpkg's `parseversion` splits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebVersion<'a> {
    /// The epoch's digits (no sign); empty when the version has no epoch.
    pub epoch: &'a str,
    /// The upstream version (never empty).
    pub upstream: &'a str,
    /// The Debian revision; empty when absent.
    pub revision: &'a str,
}

/// Splits a version as dpkg does; `Err` carries dpkg's reason for rejecting it.
pub fn parse(version: &str) -> Result<DebVersion<'_>, &'static str> {
    let s = version.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{b}');
    if s.is_empty() {
        return Err("version string is empty");
    }
    if s.bytes().any(|c| c.is_ascii_whitespace() || c == 0x0b) {
        return Err("version string has embedded spaces");
    }
    let (epoch, rest) = match s.split_once(':') {
        Some((epoch, rest)) => {
            let (negative, digits) = match epoch.as_bytes().first() {
                Some(b'-') => (true, &epoch[1..]),
                Some(b'+') => (false, &epoch[1..]),
                _ => (false, epoch),
            };
            if digits.is_empty() {
                return Err("epoch in version is empty");
            }
            if !digits.bytes().all(|c| c.is_ascii_digit()) {
                return Err("epoch in version is not number");
            }
            let digits = digits.trim_start_matches('0');
            if negative && !digits.is_empty() {
                return Err("epoch in version is negative");
            }
            if cmp_digit_runs(digits.as_bytes(), b"2147483647") == Ordering::Greater {
                return Err("epoch in version is too big");
            }
            if rest.is_empty() {
                return Err("nothing after colon in version number");
            }
            (digits, rest)
        }
        None => ("", s),
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((_, "")) => return Err("revision number is empty"),
        Some((upstream, revision)) => (upstream, revision),
        None => (rest, ""),
    };
    if upstream.is_empty() {
        return Err("version number is empty");
    }
    Ok(DebVersion { epoch, upstream, revision })
}

/// Whether dpkg accepts the text as a version (possibly with a warning, as for an upstream part
/// that does not start with a digit: dpkg still compares those).
pub fn is_valid(version: &str) -> bool {
    parse(version).is_ok()
}

/// Whether dpkg accepts the version without even a warning (Debian policy's syntax).
pub fn is_strictly_valid(version: &str) -> bool {
    let Ok(v) = parse(version) else { return false };
    v.upstream.as_bytes()[0].is_ascii_digit()
        && v.upstream.bytes().all(|c| c.is_ascii_alphanumeric() || b".-+~:".contains(&c))
        && v.revision.bytes().all(|c| c.is_ascii_alphanumeric() || b".+~".contains(&c))
}

/// Orders two Debian versions exactly as `dpkg --compare-versions` does; text dpkg rejects sorts
/// first (see the module documentation).
pub fn compare(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (Ok(x), Ok(y)) => compare_parsed(&x, &y),
        (Err(_), Ok(_)) => Ordering::Less,
        (Ok(_), Err(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.as_bytes().cmp(b.as_bytes()),
    }
}

/// Orders two parsed versions: epoch, then upstream, then revision.
pub fn compare_parsed(a: &DebVersion<'_>, b: &DebVersion<'_>) -> Ordering {
    cmp_digit_runs(a.epoch.as_bytes(), b.epoch.as_bytes())
        .then_with(|| verrevcmp(a.upstream.as_bytes(), b.upstream.as_bytes()))
        .then_with(|| verrevcmp(a.revision.as_bytes(), b.revision.as_bytes()))
}

/// The weight of one character of a non-digit run; `None` is the end of the run (a digit or the
/// end of the string).
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        // dpkg computes `c + 256` on a signed char: bytes >= 128 end up as their own value.
        Some(c) => i32::from(c as i8) + 256,
    }
}

/// dpkg's comparison of one upstream version or one revision.
pub fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit runs, character by character.
        loop {
            let ca = a.get(i).copied();
            let cb = b.get(j).copied();
            let a_in = ca.is_some_and(|c| !c.is_ascii_digit());
            let b_in = cb.is_some_and(|c| !c.is_ascii_digit());
            if !a_in && !b_in {
                break;
            }
            let (oa, ob) = (order(ca), order(cb));
            if oa != ob {
                return oa.cmp(&ob);
            }
            i += 1;
            j += 1;
        }
        // Digit runs, by numeric value.
        let la = run_len(&a[i..], |c| c.is_ascii_digit());
        let lb = run_len(&b[j..], |c| c.is_ascii_digit());
        let ord = cmp_digit_runs(&a[i..i + la], &b[j..j + lb]);
        if ord != Ordering::Equal {
            return ord;
        }
        i += la;
        j += lb;
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn parse_like_dpkg() {
        assert_eq!(parse("1:2.0-3"), Ok(DebVersion { epoch: "1", upstream: "2.0", revision: "3" }));
        assert_eq!(parse(" 2.0 "), Ok(DebVersion { epoch: "", upstream: "2.0", revision: "" }));
        assert_eq!(parse("1:2:3-4-5").map(|v| (v.upstream, v.revision)), Ok(("2:3-4", "5")));
        assert_eq!(parse("+1:2").map(|v| v.epoch), Ok("1"));
        assert_eq!(parse("-0:2").map(|v| v.epoch), Ok(""));
        assert!(parse("-1:2").is_err());
        assert!(parse("a:1").is_err());
        assert!(parse(":1").is_err());
        assert!(parse("1:").is_err());
        assert!(parse("1-").is_err());
        assert!(parse("-1").is_err());
        assert!(parse("1:-1").is_err());
        assert!(parse("").is_err());
        assert!(parse("1 2").is_err());
        assert!(parse("2147483648:1").is_err());
        assert!(parse("2147483647:1").is_ok());
        assert!(is_valid("a"));
        assert!(!is_strictly_valid("a"));
        assert!(is_strictly_valid("1:2.0~rc1+dfsg-3ubuntu0.1"));
        assert!(!is_strictly_valid("1.0_1"));
    }

    #[test]
    fn ordering() {
        assert_eq!(compare("1.0", "1.0-0"), Equal);
        assert_eq!(compare("1.0", "1.00"), Equal);
        assert_eq!(compare("1.0~rc1", "1.0"), Less);
        assert_eq!(compare("1.0~", "1.0"), Less);
        assert_eq!(compare("1.0~~", "1.0~"), Less);
        assert_eq!(compare("1.0a", "1.0+"), Less);
        assert_eq!(compare("1.0", "1.0a"), Less);
        assert_eq!(compare("1:0.1", "2.0"), Greater);
        assert_eq!(compare("0:2.0", "2.0"), Equal);
        assert_eq!(compare("1.é", "1.z"), Greater);
        assert_eq!(compare("1.é", "1.+"), Less);
        let long_a = format!("1.{}", "9".repeat(60));
        let long_b = format!("1.1{}", "0".repeat(60));
        assert_eq!(compare(&long_a, &long_b), Less);
        // Unparsable text sorts first, by bytes.
        assert_eq!(compare("1-", "0"), Less);
        assert_eq!(compare("a:1", "1-"), Greater);
    }
}
