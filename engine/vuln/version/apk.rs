//! Alpine version ordering, as apk-tools (`apk version -t`, apk-tools 2.14/3.x) decides it.
//!
//! A version is `number{.number}...{letter}{_suffix{number}}...{~hash}{-rN}`:
//! - the first number is compared numerically (leading zeros do not matter: `006 > 1.0.0`);
//! - each further `.number` is compared numerically, unless either side starts with `0`, in which
//!   case the two are compared as strings (Gentoo's rule: `1.02 < 1.1`, `1.01 < 1.010`);
//! - an optional single lower-case letter, compared by its byte (`1.2a < 1.2b`);
//! - suffixes `_alpha`, `_beta`, `_pre`, `_rc` sort before the release and `_cvs`, `_svn`, `_git`,
//!   `_hg`, `_p` after it, in that order, each with an optional number (`1.2_rc1 < 1.2 < 1.2_p1`);
//! - an optional `~hash` of lower-case hex digits (a commit), compared as a string;
//! - an optional `-rN` package revision, compared numerically.
//!
//! The two versions are read token by token, left to right; the first token that differs decides.
//! When the two token kinds differ at some point (one version goes on where the other stops, or has
//! something else there), the version with a pre-release suffix there is older; otherwise the one
//! with the *earlier-placed* kind in the grammar above is newer: a further `.number` > a letter >
//! a post-release suffix > a suffix number > a hash > a revision > the end of the version. So
//! `1.2 < 1.2.1`, `1.2 < 1.2a`, `1.2a < 1.2.1`, `1.2 < 1.2-r1` and `1.2_alpha < 1.2`.
//!
//! All numbers compare by value however long they are (apk-tools reads them into 64 bits).
//!
//! Text apk-tools rejects ([`is_valid`] is false) still gets a place, consistent with apk-tools as
//! far as apk-tools orders it: apk-tools reads the version up to the first character it cannot
//! accept and treats that point as an "invalid" token, which sorts after a pre-release suffix and
//! before everything else, the end of the version included (`1.2_blah < 1.2`, `1.2.0A < 1.2.0d`).
//! apk-tools calls two versions that become invalid at the same point equal; we refine that tie
//! deterministically instead, so the order stays total and useful:
//! - the revision is split off first, at the first `-`: if what follows is not `-r` and digits,
//!   the whole `-...` tail is one invalid token, whatever its content (`1-r0-1 = 1-ruff = 1--x`,
//!   all older than `1`); `-r` with no digits is read as revision 0 (`1-r = 1-r0`), as apk-tools 2.x
//!   did;
//! - an invalid point inside the version proper compares the rest of the text byte by byte
//!   (`6.6.2p1 < 6.6.2p2`, `a < b`), then the revisions.
//!
//! This reproduces osv-scalibr's Alpine test vectors, including its rows for malformed versions.

use std::cmp::Ordering;

use super::{cmp_digit_runs, run_len};

/// Suffixes in sort order; [`NONE`] (the release itself) sits between the pre- and post-release ones.
const SUFFIXES: [&str; 9] = ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"];
/// Rank of "no suffix": suffix ranks below it are pre-release.
const NONE: u8 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    /// The first number.
    Initial(&'a [u8]),
    /// A `.number` after the first one (digits only).
    Digit(&'a [u8]),
    /// The single letter.
    Letter(u8),
    /// A suffix, by its index in [`SUFFIXES`] with [`NONE`] skipped (0..=3 pre, 5..=9 post).
    Suffix(u8),
    /// The number after a suffix.
    SuffixNo(&'a [u8]),
    /// The hex digits after `~`.
    Hash(&'a [u8]),
    /// The digits after `-r`.
    Revision(&'a [u8]),
    /// The end of a version with no revision.
    End,
    /// A `-` tail that is not `-rN`.
    BadRevision,
    /// The point where the version proper stops being valid, with the rest of it.
    Invalid(&'a [u8]),
}

impl Token<'_> {
    /// Where a kind of token sorts when the other version has a different kind at that point.
    fn rank(&self) -> u8 {
        match self {
            Token::Suffix(s) if *s < NONE => 0,
            Token::BadRevision | Token::Invalid(_) => 1,
            Token::End => 2,
            Token::Revision(_) => 3,
            Token::Hash(_) => 4,
            Token::SuffixNo(_) => 5,
            Token::Suffix(_) => 6,
            Token::Letter(_) => 7,
            Token::Digit(_) => 8,
            Token::Initial(_) => 9,
        }
    }

    fn cmp_token(&self, other: &Self) -> Ordering {
        use Token::*;
        self.rank().cmp(&other.rank()).then_with(|| match (self, other) {
            (Initial(a), Initial(b)) | (SuffixNo(a), SuffixNo(b)) | (Revision(a), Revision(b)) => cmp_digit_runs(a, b),
            (Digit(a), Digit(b)) => {
                if a[0] == b'0' || b[0] == b'0' {
                    a.cmp(b)
                } else {
                    cmp_digit_runs(a, b)
                }
            }
            (Letter(a), Letter(b)) | (Suffix(a), Suffix(b)) => a.cmp(b),
            (Hash(a), Hash(b)) | (Invalid(a), Invalid(b)) => a.cmp(b),
            (BadRevision, Invalid(_)) => Ordering::Less,
            (Invalid(_), BadRevision) => Ordering::Greater,
            _ => Ordering::Equal,
        })
    }
}

/// Kind order of apk-tools' tokenizer, for "may this token follow that one".
fn kind(t: &Token<'_>) -> u8 {
    match t {
        Token::Initial(_) => 0,
        Token::Digit(_) => 1,
        Token::Letter(_) => 2,
        Token::Suffix(_) => 3,
        Token::SuffixNo(_) => 4,
        Token::Hash(_) => 5,
        _ => 6,
    }
}

/// Reads a version into tokens; the flag says whether apk-tools would accept it.
fn tokenize(version: &str) -> (Vec<Token<'_>>, bool) {
    let bytes = version.as_bytes();
    let (body, tail) = match bytes.iter().position(|&c| c == b'-') {
        Some(i) => (&bytes[..i], Some(&bytes[i..])),
        None => (bytes, None),
    };
    let mut tokens = Vec::new();
    let mut valid = tokenize_body(body, &mut tokens);
    match tail {
        None => tokens.push(Token::End),
        Some(tail) => {
            let digits = tail.strip_prefix(b"-r").filter(|d| d.iter().all(u8::is_ascii_digit));
            match digits {
                Some(d) => {
                    // apk-tools 3 rejects `-r` without digits; we read it as -r0 (see above).
                    valid &= !d.is_empty();
                    tokens.push(Token::Revision(d));
                }
                None => {
                    valid = false;
                    tokens.push(Token::BadRevision);
                }
            }
        }
    }
    (tokens, valid)
}

/// Tokenizes the part before the revision as apk-tools does; on the first character it cannot
/// accept, pushes [`Token::Invalid`] with the rest and returns false.
fn tokenize_body<'a>(body: &'a [u8], tokens: &mut Vec<Token<'a>>) -> bool {
    let first = run_len(body, |c| c.is_ascii_digit());
    if first == 0 {
        tokens.push(Token::Invalid(body));
        return false;
    }
    tokens.push(Token::Initial(&body[..first]));
    let mut pos = first;
    while pos < body.len() {
        let start = pos;
        let prev = kind(tokens.last().expect("at least the initial token"));
        let c = body[pos];
        let token = match c {
            b'a'..=b'z' if prev <= 1 => {
                pos += 1;
                Some(Token::Letter(c))
            }
            b'.' if prev <= 1 => {
                let n = run_len(&body[pos + 1..], |c| c.is_ascii_digit());
                let digits = &body[pos + 1..pos + 1 + n];
                pos += 1 + n;
                (n > 0).then_some(Token::Digit(digits))
            }
            b'0'..=b'9' if prev == 3 => {
                let n = run_len(&body[pos..], |c| c.is_ascii_digit());
                let digits = &body[pos..pos + n];
                pos += n;
                Some(Token::SuffixNo(digits))
            }
            b'_' if prev <= 4 => {
                let n = run_len(&body[pos + 1..], |c| c.is_ascii_lowercase());
                let name = &body[pos + 1..pos + 1 + n];
                pos += 1 + n;
                SUFFIXES.iter().position(|s| s.as_bytes() == name).map(|i| {
                    let i = i as u8;
                    Token::Suffix(if i < NONE { i } else { i + 1 })
                })
            }
            b'~' if prev < 5 => {
                let n = run_len(&body[pos + 1..], |c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
                let hash = &body[pos + 1..pos + 1 + n];
                pos += 1 + n;
                (n > 0).then_some(Token::Hash(hash))
            }
            _ => None,
        };
        match token {
            Some(t) => tokens.push(t),
            None => {
                tokens.push(Token::Invalid(&body[start..]));
                return false;
            }
        }
    }
    true
}

/// Whether apk-tools accepts the text as a version (`apk_version_validate`).
pub fn is_valid(version: &str) -> bool {
    tokenize(version).1
}

/// Orders two Alpine versions as apk-tools does, with a deterministic refinement for text
/// apk-tools rejects (see the module documentation).
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ta, _) = tokenize(a);
    let (tb, _) = tokenize(b);
    for (x, y) in ta.iter().zip(&tb) {
        let ord = x.cmp_token(y);
        if ord != Ordering::Equal {
            return ord;
        }
    }
    // Every token list ends with End, a revision or a bad revision, so when all shared tokens
    // are equal the lists have the same length; this is for completeness.
    ta.len().cmp(&tb.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn validity() {
        for ok in ["1", "1.2.3", "1.2.3a", "1.2_alpha", "1.2_alpha1_p2", "1.2a_rc3~0af1-r12", "006", "1.02-r0"] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in
            ["", "a", ".1", "1.", "1..2", "1.2A", "1_foo", "1_", "1~", "1~g", "1-r", "1-x", "1-r1-r2", "1a1", "1.2b.3"]
        {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn ordering() {
        let chain = [
            "1.2_alpha",
            "1.2_alpha1",
            "1.2_beta",
            "1.2_pre2",
            "1.2_rc1",
            "1.2",
            "1.2-r1",
            "1.2-r10",
            "1.2~abc",
            "1.2_cvs",
            "1.2_svn",
            "1.2_git",
            "1.2_hg",
            "1.2_p1",
            "1.2_p1-r1",
            "1.2a",
            "1.2b",
            "1.2.01",
            "1.2.1",
            "1.2.10",
            "1.10",
        ];
        for w in chain.windows(2) {
            assert_eq!(compare(w[0], w[1]), Less, "{} < {}", w[0], w[1]);
            assert_eq!(compare(w[1], w[0]), Greater, "{} > {}", w[1], w[0]);
        }
        assert_eq!(compare("1.02", "1.1"), Less);
        assert_eq!(compare("01.2", "1.2"), Equal);
        assert_eq!(compare("1-r01", "1-r1"), Equal);
        let long = format!("1.{}", "9".repeat(40));
        assert_eq!(compare(&long, &format!("1.1{}", "0".repeat(40))), Less);
        // Malformed text.
        assert_eq!(compare("1.2_blah", "1.2"), Less);
        assert_eq!(compare("1.2_blah", "1.2_alpha"), Greater);
        assert_eq!(compare("1-ruff", "1"), Less);
        assert_eq!(compare("1-r", "1-r0"), Equal);
        assert_eq!(compare("a", "b"), Less);
        assert_eq!(compare("", "0"), Less);
    }
}
