//! PyPI version ordering: PEP 440 (the "Version specifiers" specification), as Python's
//! `packaging.version.Version` (what pip uses) parses and orders versions.
//!
//! A version is `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, read the way `packaging` reads it:
//! - case-insensitive, surrounding whitespace and a leading `v` ignored;
//! - an epoch `N!` (default 0) decides first;
//! - release segments compare numerically, the shorter padded with zeros (`1.0 == 1.0.0`);
//! - pre-releases `a`, `b`, `rc`, also spelled `alpha`, `beta`, `c`, `pre`, `preview`, with an
//!   optional separator (`-`, `_`, `.`) before and after the label and an optional number (0);
//! - post releases `.postN`, also spelled `rev` or `r`, with the same separators, or `-N`;
//! - dev releases `.devN`, on a release, a pre-release or a post release;
//! - a local version `+label`, segments separated by `-`, `_` or `.`, compared one by one: numeric
//!   segments by value and after alphanumeric ones, alphanumeric ones case-insensitively, and a
//!   shorter local version before a longer one it prefixes.
//!
//! Order within one release: `1.0.dev0 < 1.0a1.dev0 < 1.0a1 < 1.0a1.post1.dev0 < 1.0a1.post1 <
//! 1.0b1 < 1.0rc1 < 1.0 < 1.0+local < 1.0.post1.dev0 < 1.0.post1`. Numbers of any length compare
//! exactly (Python's integers are unbounded too).
//!
//! Text that is not PEP 440 (`packaging` raises `InvalidVersion`) sorts before every version, and
//! such texts compare among themselves by their bytes, so the order stays total; [`is_valid`] says
//! which texts those are, and the matcher reports a package whose version is one of them as not
//! matched instead of placing it. Labels, `v` and the separators are matched as ASCII only.
//!
//! Written here rather than taken from the `pep440_rs` crate: we need only parsing and ordering
//! (about two hundred lines, checked against `packaging` itself in tests/version_order.rs), while
//! that crate brings its specifier language, serde and further dependencies of its own.

use std::cmp::Ordering;

use super::{cmp_digit_runs, run_len};

/// A pre-release phase, in PEP 440 order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Alpha,
    Beta,
    ReleaseCandidate,
}

/// A parsed PEP 440 version, borrowing its numbers (runs of ASCII digits, `""` meaning 0) from
/// the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pep440<'a> {
    pub epoch: &'a str,
    pub release: Vec<&'a str>,
    pub pre: Option<(Phase, &'a str)>,
    pub post: Option<&'a str>,
    pub dev: Option<&'a str>,
    /// Local version segments (empty when there is no `+local`).
    pub local: Vec<&'a str>,
}

/// Spellings of each label, longer before the shorter ones they start with.
const PRE_LABELS: [(&str, Phase); 8] = [
    ("alpha", Phase::Alpha),
    ("a", Phase::Alpha),
    ("beta", Phase::Beta),
    ("b", Phase::Beta),
    ("preview", Phase::ReleaseCandidate),
    ("pre", Phase::ReleaseCandidate),
    ("rc", Phase::ReleaseCandidate),
    ("c", Phase::ReleaseCandidate),
];
const POST_LABELS: [(&str, ()); 3] = [("post", ()), ("rev", ()), ("r", ())];
const DEV_LABELS: [(&str, ()); 1] = [("dev", ())];

fn is_separator(c: u8) -> bool {
    matches!(c, b'-' | b'_' | b'.')
}

/// A left-to-right reader over the version text.
struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a [u8] {
        &self.text.as_bytes()[self.at..]
    }

    fn peek(&self) -> Option<u8> {
        self.rest().first().copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.at += usize::from(hit);
        hit
    }

    fn eat_separator(&mut self) -> bool {
        let hit = self.peek().is_some_and(is_separator);
        self.at += usize::from(hit);
        hit
    }

    /// One or more ASCII digits.
    fn digits(&mut self) -> Option<&'a str> {
        let len = run_len(self.rest(), |c| c.is_ascii_digit());
        (len > 0).then(|| {
            self.at += len;
            &self.text[self.at - len..self.at]
        })
    }

    fn label<T: Copy>(&mut self, labels: &[(&str, T)]) -> Option<T> {
        let rest = self.rest();
        let (spelling, value) = labels.iter().find(|(spelling, _)| {
            rest.len() >= spelling.len() && rest[..spelling.len()].eq_ignore_ascii_case(spelling.as_bytes())
        })?;
        self.at += spelling.len();
        Some(*value)
    }

    /// `[-_.]? LABEL [-_.]? N?`: the label's value and its number (`""` when absent), or nothing
    /// read at all.
    fn labelled<T: Copy>(&mut self, labels: &[(&str, T)]) -> Option<(T, &'a str)> {
        let start = self.at;
        self.eat_separator();
        let Some(value) = self.label(labels) else {
            self.at = start;
            return None;
        };
        // The separator after the label may stand alone (`1.0a.` is valid); a number after it
        // belongs to this label.
        self.eat_separator();
        Some((value, self.digits().unwrap_or("")))
    }
}

/// Parses a PEP 440 version as `packaging.version.Version` does.
pub fn parse(version: &str) -> Option<Pep440<'_>> {
    // Python's `\s`: Unicode whitespace, with the ASCII information separators.
    let text = version.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c));
    let mut r = Reader { text, at: 0 };
    if !r.eat(b'v') {
        r.eat(b'V');
    }
    let start = r.at;
    let epoch = match r.digits() {
        Some(epoch) if r.eat(b'!') => epoch,
        _ => {
            r.at = start;
            ""
        }
    };
    let mut release = vec![r.digits()?];
    loop {
        let before = r.at;
        match (r.eat(b'.'), r.digits()) {
            (true, Some(segment)) => release.push(segment),
            _ => {
                r.at = before;
                break;
            }
        }
    }
    let pre = r.labelled(&PRE_LABELS);
    let implicit_post = {
        let before = r.at;
        match (r.eat(b'-'), r.digits()) {
            (true, Some(n)) => Some(n),
            _ => {
                r.at = before;
                None
            }
        }
    };
    let post = implicit_post.or_else(|| r.labelled(&POST_LABELS).map(|(_, n)| n));
    let dev = r.labelled(&DEV_LABELS).map(|(_, n)| n);
    let mut local = Vec::new();
    if r.eat(b'+') {
        let rest = &text[r.at..];
        local = rest.split(|c: char| c.is_ascii() && is_separator(c as u8)).collect();
        if !local.iter().all(|part| !part.is_empty() && part.bytes().all(|c| c.is_ascii_alphanumeric())) {
            return None;
        }
        r.at = text.len();
    }
    (r.at == text.len()).then_some(Pep440 { epoch, release, pre, post, dev, local })
}

/// Whether `packaging` accepts the text as a version.
pub fn is_valid(version: &str) -> bool {
    parse(version).is_some()
}

/// Orders two PyPI versions by PEP 440; text that is not a version sorts first (see the module
/// documentation).
pub fn compare(a: &str, b: &str) -> Ordering {
    super::unparsed_first(a, b, parse, compare_parsed)
}

fn num(a: &str, b: &str) -> Ordering {
    cmp_digit_runs(a.as_bytes(), b.as_bytes())
}

/// Where a version stands before, among or after the pre-releases of its release.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PreRank<'a> {
    /// A dev release of the final release (`1.0.dev1`) comes before its pre-releases.
    DevOfRelease,
    PreRelease(Phase, Number<'a>),
    Release,
}

/// Digits ordered by value.
#[derive(Debug, PartialEq, Eq)]
struct Number<'a>(&'a str);

impl Ord for Number<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        num(self.0, other.0)
    }
}

impl PartialOrd for Number<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn pre_rank<'a>(v: &Pep440<'a>) -> PreRank<'a> {
    match (v.pre, v.post, v.dev) {
        (Some((phase, n)), _, _) => PreRank::PreRelease(phase, Number(n)),
        (None, None, Some(_)) => PreRank::DevOfRelease,
        (None, _, _) => PreRank::Release,
    }
}

/// One local segment: numeric ones by value and after alphanumeric ones, which compare
/// case-insensitively.
fn compare_local_segment(a: &str, b: &str) -> Ordering {
    let numeric = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    match (numeric(a), numeric(b)) {
        (true, true) => num(a, b),
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase())),
    }
}

/// PEP 440 order of two parsed versions (`packaging`'s `_cmpkey`).
pub fn compare_parsed(a: &Pep440<'_>, b: &Pep440<'_>) -> Ordering {
    let release = || {
        let len = a.release.len().max(b.release.len());
        // A missing segment is 0: `1.0` equals `1.0.0`.
        (0..len)
            .map(|i| num(a.release.get(i).copied().unwrap_or(""), b.release.get(i).copied().unwrap_or("")))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    };
    // No post release sorts before any; no dev release sorts after any.
    let post = || a.post.map(Number).cmp(&b.post.map(Number));
    let dev = || match (a.dev, b.dev) {
        (Some(x), Some(y)) => num(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    let local = || {
        let pairs = a.local.iter().zip(&b.local);
        let first_difference = pairs.map(|(x, y)| compare_local_segment(x, y)).find(|o| o.is_ne());
        first_difference.unwrap_or_else(|| a.local.len().cmp(&b.local.len()))
    };
    num(a.epoch, b.epoch)
        .then_with(release)
        .then_with(|| pre_rank(a).cmp(&pre_rank(b)))
        .then_with(post)
        .then_with(dev)
        .then_with(local)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn validity() {
        for ok in [
            "0",
            "1.0",
            "v1.0",
            " V1.0\n",
            "1!2.0",
            "1.0a",
            "1.0.a1",
            "1.0-alpha-1",
            "1.0_BETA2",
            "1.0c1",
            "1.0pre",
            "1.0preview3",
            "1.0-1",
            "1.0.post",
            "1.0rev2",
            "1.0r",
            "1.0.dev",
            "1.0a1.dev2",
            "1.0.post1.dev3",
            "1.0a.",
            "1.0+abc.5",
            "1.0+A-b_C",
            "1.0a1-1",
        ] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "",
            "v",
            "1.",
            ".1",
            "1..0",
            "1.0-",
            "1.0+",
            "1.0+a..b",
            "1.0+a!",
            "1.0x",
            "1!",
            "!1",
            "1.0-dev-1-2",
            "1.0a1a2",
            "1.0.dev1.post1",
            "1.0 a1",
            "1.0prev",
            "01-",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn order() {
        let chain = [
            "0.9",
            "1.0.dev0",
            "1.0.dev1",
            "1.0a1.dev0",
            "1.0a1",
            "1.0a1.post1.dev0",
            "1.0a1.post1",
            "1.0a2",
            "1.0b1",
            "1.0rc1",
            "1.0",
            "1.0+abc",
            "1.0+abc.1",
            "1.0+1",
            "1.0+2",
            "1.0+10",
            "1.0.post1.dev0",
            "1.0.post1",
            "1.0.1",
            "1.1.dev0",
            "2.0",
            "1!0.1",
        ];
        for w in chain.windows(2) {
            assert_eq!(compare(w[0], w[1]), Less, "{} < {}", w[0], w[1]);
            assert_eq!(compare(w[1], w[0]), Greater);
        }
        for (a, b) in [
            ("1.0", "1.0.0"),
            ("1.0", "v1.0.0.0"),
            ("1.0a", "1.0a0"),
            ("1.0alpha1", "1.0a1"),
            ("1.0c1", "1.0rc1"),
            ("1.0pre1", "1.0RC1"),
            ("1.0-1", "1.0.post1"),
            ("1.0r", "1.0.post0"),
            ("1.0.dev", "1.0dev0"),
            ("0!1.0", "1.0"),
            ("1.0+ABC.007", "1.0+abc-7"),
            ("1.0", "1.0\n"),
        ] {
            assert_eq!(compare(a, b), Equal, "{a} = {b}");
        }
        assert_eq!(compare("not a version", "0"), Less);
        let big = format!("{}.0", "9".repeat(40));
        assert_eq!(compare(&big, "1.0"), Greater);
    }
}
