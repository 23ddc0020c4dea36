//! The `L:` field of the apk database: how one value becomes `Package.licenses`.
//!
//! Decision:
//! - A value with an SPDX operator (`AND`, `OR`, `WITH`, any case) or a parenthesis is one SPDX
//!   expression and stays ONE entry, whitespace normalized (`( Apache-2.0 OR MIT ) AND MPL-2.0`
//!   -> `(Apache-2.0 OR MIT) AND MPL-2.0`). Splitting it would lose the meaning of `OR` (a choice)
//!   versus `AND` (both apply), and the contract's `licenses` holds SPDX expressions. Alpine's
//!   abuild has required SPDX identifiers in `license=` since 3.9, so this is the modern case.
//! - Otherwise the value is the older space-separated list (`MIT BSD GPL2+`, from Alpine 3.8 and
//!   before) and each word is one entry. A word that is only a version number (`MPL 2.0`) belongs
//!   to the word before it, as Trivy also reads it, and is kept joined with a space.
//! - An empty value gives no entries.

fn is_operator(token: &str) -> bool {
    ["AND", "OR", "WITH"].iter().any(|op| token.eq_ignore_ascii_case(op))
}

fn is_bare_version(token: &str) -> bool {
    token.starts_with(|c: char| c.is_ascii_digit()) && token.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// Splits one `L:` value (see the module docs).
pub fn split(raw: &str) -> Vec<String> {
    let spaced = raw.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    if tokens.iter().any(|t| *t == "(" || *t == ")" || is_operator(t)) {
        let mut expr = String::new();
        let mut prev: Option<&str> = None;
        for t in &tokens {
            if prev.is_some_and(|p| p != "(") && *t != ")" {
                expr.push(' ');
            }
            expr.push_str(t);
            prev = Some(t);
        }
        return vec![expr];
    }
    let mut out: Vec<String> = Vec::new();
    for t in tokens {
        match out.last_mut() {
            Some(last) if is_bare_version(t) => {
                last.push(' ');
                last.push_str(t);
            }
            _ => out.push(t.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::split;

    fn s(raw: &str) -> Vec<String> {
        split(raw)
    }

    #[test]
    fn spdx_expressions_stay_whole() {
        assert_eq!(s("GPL-2.0-only"), ["GPL-2.0-only"]);
        assert_eq!(s("MPL-2.0 AND MIT"), ["MPL-2.0 AND MIT"]);
        assert_eq!(s("( Apache-2.0 OR MIT ) AND MPL-2.0"), ["(Apache-2.0 OR MIT) AND MPL-2.0"]);
        assert_eq!(s("(MIT OR  Apache-2.0)"), ["(MIT OR Apache-2.0)"]);
        assert_eq!(
            s("GPL-2.0-or-later WITH Classpath-exception-2.0"),
            ["GPL-2.0-or-later WITH Classpath-exception-2.0"]
        );
        assert_eq!(s("MIT and BSD"), ["MIT and BSD"]);
        assert_eq!(s("((MIT))"), ["((MIT))"]);
        assert_eq!(s(")("), [") ("]);
    }

    #[test]
    fn legacy_lists_are_split() {
        assert_eq!(s("MIT BSD GPL2+"), ["MIT", "BSD", "GPL2+"]);
        assert_eq!(s("  GPL2  "), ["GPL2"]);
        assert_eq!(s("MPL 2.0 GPL2+"), ["MPL 2.0", "GPL2+"]);
        assert_eq!(s("2.0 MIT"), ["2.0", "MIT"]);
        assert!(s("").is_empty());
        assert!(s(" \t ").is_empty());
    }
}
