//! Secrets in free text: well-known token formats, a credential-like variable-name heuristic, and
//! redaction of anything shown to the user.
//!
//! The token formats are public facts about each vendor's credentials (the same facts gitleaks and
//! Trivy encode); the matching is hand-written so the plugin needs no regex engine. A match needs a
//! fixed prefix, a run of body characters of the documented length, and a word boundary on both
//! sides, so a prefix inside a longer identifier does not count.
//!
//! Redaction: a secret is never copied into a finding. Findings name its kind and, for formats
//! whose first four characters are the vendor's fixed marker (`AKIA`, `ghp_`, `npm_`, `xoxb`),
//! those four characters followed by `…`; nothing of a random-looking secret is shown.

/// Text beyond this many bytes of one value is not scanned (a single env value, label or history
/// command longer than this is not a build step a person wrote).
pub const MAX_SCAN_BYTES: usize = 1 << 20;
/// At most this many secrets are reported per scanned text.
pub const MAX_SECRETS_PER_TEXT: usize = 20;

/// A secret found in a text: what it is, where, and how to show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub kind: &'static str,
    pub start: usize,
    pub end: usize,
    /// What may be shown: `AKIA…` or `…`.
    pub shown: String,
}

fn upper_digit(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}
fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}
fn alnum_us(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
fn alnum_us_dash(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}
fn alnum_dash(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}
fn alpha(b: u8) -> bool {
    b.is_ascii_alphabetic()
}
fn base64ish(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'/' || b == b'+'
}

/// One token format: any of `prefixes`, then `min..=max` bytes of `body`, then a non-body byte.
struct Rule {
    kind: &'static str,
    prefixes: &'static [&'static str],
    body: fn(u8) -> bool,
    min: usize,
    max: usize,
    /// Whether the first four characters are a fixed vendor marker that is safe to show.
    show_prefix: bool,
}

const RULES: &[Rule] = &[
    Rule {
        kind: "AWS access key ID",
        prefixes: &["AKIA", "ASIA", "ABIA", "ACCA"],
        body: upper_digit,
        min: 16,
        max: 16,
        show_prefix: true,
    },
    Rule {
        kind: "GitHub token",
        prefixes: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        body: alnum,
        min: 36,
        max: 36,
        show_prefix: true,
    },
    Rule {
        kind: "GitHub fine-grained personal access token",
        prefixes: &["github_pat_"],
        body: alnum_us,
        min: 82,
        max: 82,
        show_prefix: true,
    },
    Rule {
        kind: "GitLab personal access token",
        prefixes: &["glpat-"],
        body: alnum_us_dash,
        min: 20,
        max: 64,
        show_prefix: true,
    },
    Rule { kind: "npm access token", prefixes: &["npm_"], body: alnum, min: 36, max: 36, show_prefix: true },
    Rule {
        kind: "Slack token",
        prefixes: &["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-"],
        body: alnum_dash,
        min: 10,
        max: 255,
        show_prefix: true,
    },
    Rule {
        kind: "Slack webhook URL",
        prefixes: &["https://hooks.slack.com/services/", "https://hooks.slack.com/workflows/"],
        body: base64ish,
        min: 40,
        max: 120,
        show_prefix: false,
    },
    Rule { kind: "Google API key", prefixes: &["AIza"], body: alnum_us_dash, min: 35, max: 35, show_prefix: true },
    Rule {
        kind: "Stripe live API key",
        prefixes: &["sk_live_", "rk_live_"],
        body: alnum,
        min: 24,
        max: 247,
        show_prefix: true,
    },
    Rule {
        kind: "PyPI API token",
        prefixes: &["pypi-AgEIcHlwaS5vcmc"],
        body: alnum_us_dash,
        min: 50,
        max: 1000,
        show_prefix: true,
    },
    Rule {
        kind: "Docker Hub access token",
        prefixes: &["dckr_pat_"],
        body: alnum_us_dash,
        min: 20,
        max: 64,
        show_prefix: true,
    },
    Rule { kind: "Hugging Face token", prefixes: &["hf_"], body: alpha, min: 34, max: 34, show_prefix: true },
];

pub const AWS_SECRET_KIND: &str = "AWS secret access key";
pub const PRIVATE_KEY_KIND: &str = "private key";

/// Length of `body` bytes at `b[from..]`, at most `max + 1` (one more means "too long").
fn body_len(b: &[u8], from: usize, body: fn(u8) -> bool, max: usize) -> usize {
    b.get(from..).unwrap_or_default().iter().take(max + 1).take_while(|&&c| body(c)).count()
}

fn shown_for(text: &str, start: usize, show_prefix: bool) -> String {
    match text.get(start..start + 4) {
        Some(p) if show_prefix => format!("{p}…"),
        _ => "…".to_string(),
    }
}

fn match_rule(text: &str, at: usize) -> Option<Secret> {
    let b = text.as_bytes();
    let rest = b.get(at..)?;
    for rule in RULES {
        for prefix in rule.prefixes {
            if !rest.starts_with(prefix.as_bytes()) {
                continue;
            }
            let n = body_len(b, at + prefix.len(), rule.body, rule.max);
            if n >= rule.min && n <= rule.max {
                return Some(Secret {
                    kind: rule.kind,
                    start: at,
                    end: at + prefix.len() + n,
                    shown: shown_for(text, at, rule.show_prefix),
                });
            }
        }
    }
    None
}

/// `-----BEGIN [WORDS ]PRIVATE KEY[ BLOCK]-----`: PKCS#1/#8, SEC1, OpenSSH, encrypted PKCS#8, PGP.
/// Returns the end of the header and whether the label says the key is encrypted.
pub fn private_key_header(b: &[u8], at: usize) -> Option<(usize, bool)> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let rest = b.get(at..)?.strip_prefix(BEGIN)?;
    let label_len =
        rest.iter().take(64).take_while(|&&c| c.is_ascii_uppercase() || c == b' ' || c.is_ascii_digit()).count();
    let label = rest.get(..label_len)?;
    if !rest.get(label_len..)?.starts_with(b"-----") {
        return None;
    }
    if !(label.ends_with(b"PRIVATE KEY") || label == b"PGP PRIVATE KEY BLOCK") {
        return None;
    }
    Some((at + BEGIN.len() + label_len + 5, label.starts_with(b"ENCRYPTED")))
}

/// `aws_secret_access_key` (any case), optional quote and spaces, `=` or `:`, then 40 characters of
/// base64: the only reliable sign of an AWS secret key, which has no prefix of its own.
fn aws_secret_in_context(text: &str, at: usize) -> Option<Secret> {
    const KEY: &[u8] = b"aws_secret_access_key";
    let b = text.as_bytes();
    if !b.get(at..at + KEY.len())?.eq_ignore_ascii_case(KEY) {
        return None;
    }
    let mut i = at + KEY.len();
    let skip = |i: &mut usize, set: &[u8]| {
        while b.get(*i).is_some_and(|c| set.contains(c)) {
            *i += 1;
        }
    };
    skip(&mut i, b"\"' \t");
    if !matches!(b.get(i), Some(b'=' | b':')) {
        return None;
    }
    i += 1;
    skip(&mut i, b"\"' \t");
    let start = i;
    (body_len(b, start, base64ish, 40) == 40).then(|| Secret {
        kind: AWS_SECRET_KIND,
        start,
        end: start + 40,
        shown: "…".to_string(),
    })
}

fn boundary_before(b: &[u8], at: usize) -> bool {
    at == 0 || b.get(at - 1).is_none_or(|c| !c.is_ascii_alphanumeric())
}

/// Every secret in `text` (its first [`MAX_SCAN_BYTES`]), in order, at most
/// [`MAX_SECRETS_PER_TEXT`].
pub fn find(text: &str) -> Vec<Secret> {
    let b = text.as_bytes();
    let limit = b.len().min(MAX_SCAN_BYTES);
    let mut out = Vec::new();
    let mut i = 0;
    while i < limit && out.len() < MAX_SECRETS_PER_TEXT {
        let found = if let Some((end, _)) = private_key_header(b, i) {
            Some(Secret { kind: PRIVATE_KEY_KIND, start: i, end, shown: "…".to_string() })
        } else if boundary_before(b, i) {
            match_rule(text, i).or_else(|| aws_secret_in_context(text, i))
        } else {
            None
        };
        match found {
            Some(s) => {
                i = s.end;
                out.push(s);
            }
            None => i += 1,
        }
    }
    out
}

/// The secret a whole assignment `NAME=value` holds, when the value has a known format, or when
/// the name says it is an AWS secret key and the value has that key's shape.
pub fn in_assignment(name: &str, value: &str) -> Vec<Secret> {
    let found = find(value);
    if found.is_empty()
        && name.eq_ignore_ascii_case("aws_secret_access_key")
        && value.len() == 40
        && value.bytes().all(base64ish)
    {
        return vec![Secret { kind: AWS_SECRET_KIND, start: 0, end: 40, shown: "…".to_string() }];
    }
    found
}

/// Whether a variable name says it holds a credential: its last word (split on `_`, `-`, `.`) is
/// PASSWORD, PASSWD, PASS, SECRET, TOKEN or APIKEY, or its last two words are API KEY,
/// ACCESS KEY, SECRET KEY, PRIVATE KEY, AUTH KEY or CLIENT SECRET. `GPG_KEY` (a public key
/// fingerprint in official images), `TOKEN_URL` or `PASSWORD_FILE` do not count.
pub fn credential_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let words: Vec<&str> = upper.split(['_', '-', '.']).filter(|w| !w.is_empty()).collect();
    let last = words.last().copied().unwrap_or_default();
    let last_two = match words.as_slice() {
        [.., a, b] => Some((*a, *b)),
        _ => None,
    };
    matches!(last, "PASSWORD" | "PASSWD" | "PASS" | "SECRET" | "TOKEN" | "APIKEY")
        || matches!(last_two, Some(("API" | "ACCESS" | "SECRET" | "PRIVATE" | "AUTH", "KEY") | ("CLIENT", "SECRET")))
}

/// Whether a value is a literal that could be a credential, not a flag (`ALLOW_EMPTY_PASSWORD=yes`),
/// a file path (`/run/secrets/db`) or an unexpanded reference (`$DB_PASSWORD`).
pub fn literal_value(value: &str) -> bool {
    let v = value.trim();
    let flag =
        ["true", "false", "yes", "no", "on", "off", "none", "null", "nil"].iter().any(|f| v.eq_ignore_ascii_case(f));
    v.chars().count() > 1 && !flag && !v.starts_with('/') && !v.starts_with('$')
}

/// Image text made safe to show: control characters replaced, every secret in it replaced by its
/// shown form, and cut to `max` characters.
pub fn redact(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut last = 0;
    for s in find(text) {
        out.push_str(text.get(last..s.start).unwrap_or_default());
        out.push_str(&s.shown);
        last = s.end;
    }
    out.push_str(text.get(last..).unwrap_or_default());
    let mut shown: String = out.chars().take(max).map(|c| if c.is_control() { '?' } else { c }).collect();
    if out.chars().nth(max).is_some() {
        shown.push('…');
    }
    shown
}

/// A URL as it may be shown: scheme, host and path, without user info (`user:token@`), query or
/// fragment (signed URLs carry their signature there), with secrets in the path redacted.
pub fn shown_url(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let url = url.get(..cut).unwrap_or(url);
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(host_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let joined = if scheme.is_empty() { format!("{host}{path}") } else { format!("{scheme}://{host}{path}") };
    redact(&joined, 120)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Well-formed but fake credentials, built at run time so this file holds no token literal.
    fn gh() -> String {
        format!("ghp_{}", "A1b2C3d4E5".repeat(4).get(..36).unwrap())
    }
    fn akia() -> String {
        format!("AKIA{}", "Q7ZX3MPLE5RT2VWY")
    }
    fn aws_secret() -> String {
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY".get(..40).unwrap().to_string()
    }

    fn kinds(text: &str) -> Vec<(&'static str, String)> {
        find(text).into_iter().map(|s| (s.kind, text[s.start..s.end].to_string())).collect()
    }

    #[test]
    fn known_formats_are_found_with_exact_spans() {
        let npm = format!("npm_{}", "x".repeat(36));
        let slack = "xoxb-1234567890-abcdefABCDEF".to_string();
        let glpat = format!("glpat-{}", "a".repeat(20));
        let google = format!("AIza{}", "B".repeat(35));
        let fine = format!("github_pat_{}", "C_".repeat(41));
        let hook = format!("https://hooks.slack.com/services/T0000/B0000/{}", "z".repeat(30));
        let text = format!(
            "export A={} B='{}' && echo {} ; x={} y={} {} {} {}",
            akia(),
            gh(),
            npm,
            slack,
            glpat,
            google,
            fine,
            hook
        );
        assert_eq!(
            kinds(&text),
            vec![
                ("AWS access key ID", akia()),
                ("GitHub token", gh()),
                ("npm access token", npm),
                ("Slack token", slack),
                ("GitLab personal access token", glpat),
                ("Google API key", google),
                ("GitHub fine-grained personal access token", fine),
                ("Slack webhook URL", hook),
            ]
        );
    }

    #[test]
    fn boundaries_and_lengths_are_enforced() {
        // Inside a longer identifier, one character short, one character long: no match.
        assert!(find(&format!("X{}", akia())).is_empty());
        assert!(find(&akia()[..19]).is_empty());
        assert!(find(&format!("{}Z", akia())).is_empty());
        assert!(find(&format!("{}0", gh())).is_empty());
        assert!(find("ghp_short").is_empty());
        // Punctuation around it is a boundary.
        assert_eq!(kinds(&format!("\"{}\"", akia())), vec![("AWS access key ID", akia())]);
        assert_eq!(kinds(&format!("key={}", gh())), vec![("GitHub token", gh())]);
    }

    #[test]
    fn aws_secret_needs_its_key_name() {
        let s = aws_secret();
        assert!(find(&s).is_empty());
        for text in [
            format!("aws_secret_access_key={s}"),
            format!("AWS_SECRET_ACCESS_KEY = \"{s}\""),
            format!("{{\"aws_secret_access_key\": \"{s}\"}}"),
        ] {
            assert_eq!(kinds(&text), vec![(AWS_SECRET_KIND, s.clone())], "{text}");
        }
        assert_eq!(in_assignment("AWS_SECRET_ACCESS_KEY", &s).len(), 1);
        assert!(in_assignment("AWS_SECRET_ACCESS_KEY", "short").is_empty());
        assert!(in_assignment("OTHER", &s).is_empty());
    }

    #[test]
    fn private_key_headers() {
        for (label, encrypted) in [
            ("RSA PRIVATE KEY", false),
            ("OPENSSH PRIVATE KEY", false),
            ("EC PRIVATE KEY", false),
            ("PRIVATE KEY", false),
            ("ENCRYPTED PRIVATE KEY", true),
            ("PGP PRIVATE KEY BLOCK", false),
        ] {
            let text = format!("x\n-----BEGIN {label}-----\nMIIE\n");
            assert_eq!(private_key_header(text.as_bytes(), 2).map(|(_, e)| e), Some(encrypted), "{label}");
            assert_eq!(find(&text).len(), 1);
        }
        for text in
            ["-----BEGIN CERTIFICATE-----", "-----BEGIN PUBLIC KEY-----", "-----BEGIN RSA PRIVATE KEY", "-----BEGIN "]
        {
            assert!(find(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn shown_forms_never_hold_the_secret() {
        let text = format!("curl -H 'Authorization: token {}' https://api.example.com/{}", gh(), akia());
        let secrets = find(&text);
        assert_eq!(secrets.iter().map(|s| s.shown.as_str()).collect::<Vec<_>>(), ["ghp_…", "AKIA…"]);
        let r = redact(&text, 500);
        assert_eq!(r, "curl -H 'Authorization: token ghp_…' https://api.example.com/AKIA…");
        assert_eq!(find(&format!("aws_secret_access_key={}", aws_secret()))[0].shown, "…");
        assert_eq!(redact("a\u{1b}[31mb", 500), "a?[31mb");
        assert_eq!(redact("abcdef", 3), "abc…");
    }

    #[test]
    fn urls_lose_user_info_query_and_tokens() {
        assert_eq!(
            shown_url(&format!("https://user:{}@example.com/a/b.tgz?X-Amz-Signature=abc#f", gh())),
            "https://example.com/a/b.tgz"
        );
        assert_eq!(shown_url(&format!("https://example.com/{}/x", gh())), "https://example.com/ghp_…/x");
        assert_eq!(shown_url("http://example.com"), "http://example.com");
    }

    #[test]
    fn credential_names() {
        for yes in [
            "DB_PASSWORD",
            "password",
            "MYSQL_ROOT_PASSWORD",
            "SMTP_PASS",
            "GITHUB_TOKEN",
            "npm-token",
            "STRIPE_API_KEY",
            "AWS_SECRET_KEY",
            "CLIENT_SECRET",
            "app.secret",
            "JWT_PRIVATE_KEY",
            "APIKEY",
        ] {
            assert!(credential_name(yes), "{yes}");
        }
        for no in ["GPG_KEY", "TOKEN_URL", "PASSWORD_FILE", "PWD", "BYPASS_CACHE", "PATH", "KEY", "SECRETS_DIR", ""] {
            assert!(!credential_name(no), "{no}");
        }
        for yes in ["hunter22", "s3cr3t", "ab"] {
            assert!(literal_value(yes), "{yes}");
        }
        for no in ["", "x", "yes", "NO", "true", "/run/secrets/db", "$DB_PASSWORD", "${X}", "  "] {
            assert!(!literal_value(no), "{no}");
        }
    }

    #[test]
    fn hostile_text_is_bounded() {
        let many = format!("{} ", akia()).repeat(100);
        assert_eq!(find(&many).len(), MAX_SECRETS_PER_TEXT);
        let big = "-----BEGIN ".repeat(200_000);
        assert!(find(&big).is_empty());
        let past = format!("{}{}", " ".repeat(MAX_SCAN_BYTES), akia());
        assert!(find(&past).is_empty());
        // Multi-byte text around a match keeps the spans on character boundaries.
        assert_eq!(redact(&format!("é{}é", gh()), 100), "é…é".replace('…', "ghp_…"));
    }
}
