//! Reading the small text formats analyzers meet everywhere: email-style header files (Python's
//! `METADATA`/`PKG-INFO`, RFC 822), UTF-8 text, and JSON documents.
//!
//! The header reader is written here rather than taken from a mail crate: these files are not
//! mail (no encoded words, no MIME, no line-length rules), and the parts that matter (repeated
//! keys kept in order, continuation lines, the body after the first blank line) are a few lines.
//! os-release files, which use shell quoting instead, are read by [`crate::os::parse_os_release`].

use serde::de::DeserializeOwned;

/// `content` as UTF-8 text, without a leading byte-order mark; the error names the first bad byte.
pub fn text(content: &[u8]) -> Result<&str, String> {
    let content = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content);
    std::str::from_utf8(content).map_err(|e| format!("not UTF-8 text (invalid byte at offset {})", e.valid_up_to()))
}

/// Parses a JSON document into `T`; the error says it is `what` (e.g. "package.json") and
/// where the problem is (serde_json names a line and column, never the content).
pub fn json<T: DeserializeOwned>(content: &[u8], what: &str) -> Result<T, String> {
    serde_json::from_str(text(content)?).map_err(|e| format!("invalid {what}: {e}"))
}

/// The header fields of an email-style file, in file order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Headers {
    /// `(Key, value)`: a key may repeat (`Classifier`, `License-File`); a value that continued
    /// on indented lines has them joined with `\n`, each without its indentation.
    pub fields: Vec<(String, String)>,
    /// Lines that are neither `Key: value` nor a continuation, by line number.
    pub problems: Vec<String>,
}

impl Headers {
    /// Reads the headers up to the first blank line (the body, e.g. a long description, is not
    /// read).
    pub fn parse(text: &str) -> Headers {
        let mut headers = Headers::default();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                break;
            }
            if line.starts_with([' ', '\t']) {
                match headers.fields.last_mut() {
                    Some((_, value)) => {
                        value.push('\n');
                        value.push_str(line.trim());
                    }
                    None => headers.problems.push(format!("line {}: continuation line before any field", index + 1)),
                }
                continue;
            }
            match line.split_once(':') {
                Some((key, value)) if !key.is_empty() && !key.contains(char::is_whitespace) => {
                    headers.fields.push((key.to_string(), value.trim().to_string()));
                }
                _ => headers.problems.push(format!("line {}: not a `Key: value` field", index + 1)),
            }
        }
        headers
    }

    /// The first value of `key` (compared without regard to ASCII case, as mail headers are).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> {
        self.fields.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_order_repeats_and_continuations_and_stop_at_the_body() {
        let text = "Metadata-Version: 2.1\nName: demo\nClassifier: A\nclassifier: B\nLicense: line one\n        line two\n\nName: body-not-read\n";
        let h = Headers::parse(text);
        assert_eq!(h.get("name"), Some("demo"));
        assert_eq!(h.all("Classifier").collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(h.get("License"), Some("line one\nline two"));
        assert!(h.problems.is_empty());
        assert_eq!(h.fields.len(), 5);
    }

    #[test]
    fn bad_lines_are_named() {
        let h = Headers::parse("  stray\nName: x\nno colon here\n: empty key\n");
        assert_eq!(h.fields, [("Name".to_string(), "x".to_string())]);
        assert_eq!(
            h.problems,
            [
                "line 1: continuation line before any field",
                "line 3: not a `Key: value` field",
                "line 4: not a `Key: value` field"
            ]
        );
    }

    #[test]
    fn text_and_json_errors_say_where() {
        assert_eq!(text(b"\xEF\xBB\xBFok"), Ok("ok"));
        assert_eq!(text(b"ab\xff").unwrap_err(), "not UTF-8 text (invalid byte at offset 2)");
        let err = json::<serde_json::Value>(b"{\n  \"a\": }", "demo.json").unwrap_err();
        assert!(err.starts_with("invalid demo.json: ") && err.contains("line 2"), "{err}");
        let v: Vec<u32> = json(b"[1,2]", "x").unwrap();
        assert_eq!(v, [1, 2]);
    }
}
