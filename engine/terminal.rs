//! What reaches a person's terminal. Image content (package fields, os-release, tar entry names,
//! paths) may hold escape sequences and carriage returns that would let an image rewrite what the
//! user sees (clear the screen, set the title, hide a finding, fake a clean summary), or bidi
//! controls that reorder it ("Trojan Source"). Everything written for people goes through this
//! module, which shows such characters as escapes; machine formats (JSON, SARIF, CycloneDX) are
//! written exactly, as their own escaping keeps them valid and the values stay the image's.
//!
//! The crate denies `print!`/`eprint!` and friends (clippy::print_stdout, print_stderr, in
//! lib.rs), so a new output cannot bypass this module by accident.
//!
//! Written here: the escaping is a character filter over std's `char::escape_default`; the
//! crates that exist strip ANSI sequences (losing what the image said) and leave C1 and bidi
//! controls alone.

use anyhow::{Context, Result};
use std::borrow::Cow;
use std::io::Write;

/// Whether a terminal would act on `c` instead of showing it: C0 controls (tab and line feed
/// too), DEL, C1 controls, and the Unicode Bidi_Control characters (embeddings, overrides,
/// isolates and marks).
fn acts_on_terminal(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// One value (a table cell, a name, a path, one warning) as a terminal should get it: every
/// character a terminal would act on shown as its escape (`\u{1b}`, `\r`, `\n`, `\t`,
/// `\u{9b}`, `\u{202e}`), so the value stays on its line and shows what the image holds.
/// Backslashes are left as they are: paths and versions read as usual.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts_on_terminal) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if acts_on_terminal(c) {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// Text of several lines: each line through [`for_terminal`], the line breaks kept, and each line
/// after the first prefixed with `continuation`.
fn lines_for_terminal<'a>(text: &'a str, continuation: &str) -> Cow<'a, str> {
    if !text.chars().any(|c| c != '\n' && acts_on_terminal(c)) && (continuation.is_empty() || !text.contains('\n')) {
        return Cow::Borrowed(text);
    }
    let lines: Vec<Cow<str>> = text.split('\n').map(for_terminal).collect();
    Cow::Owned(lines.join(&format!("\n{continuation}")))
}

/// Appends a table to `out`: a header line, then one line per row, each line after `indent`,
/// columns padded to their widest cell. Each cell goes through [`for_terminal`], before its width
/// is measured.
pub fn table(out: &mut String, indent: &str, headers: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<Cow<str>>> = rows.iter().map(|row| row.iter().map(|cell| for_terminal(cell)).collect()).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(indent);
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(|cell| cell.as_ref()).collect());
    }
}

/// A document for people on standard output: a table, a listing, a summary. Its renderer escapes
/// each value with [`for_terminal`] (so a value cannot break a row); this is the guarantee that
/// nothing else in it reaches the terminal raw: its line breaks are kept, every other control is
/// shown as an escape.
pub fn print(document: &str) -> Result<()> {
    write_stdout(&lines_for_terminal(document, ""))
}

/// A machine-readable document (JSON, SARIF, CycloneDX) on standard output, exactly as given: its
/// format escapes what needs escaping, and the values must stay the image's.
pub fn print_exact(document: &str) -> Result<()> {
    write_stdout(document)
}

fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).context("cannot write to standard output")
}

/// A message for people (`error: ...`, `warning: ...`) as standard error should get it: every
/// control but the line break shown as an escape. A message's own line breaks are kept (a TOML
/// parse error shows the offending line under it), and every line after the first is indented,
/// so no text inside a message can start a line of its own that passes for another message or a
/// summary.
pub fn message_for_terminal(message: &str) -> Cow<'_, str> {
    lines_for_terminal(message, "  ")
}

/// Writes one message to standard error (see [`message_for_terminal`]). A failed write is
/// ignored: there is nowhere left to report it.
pub fn message(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}", message_for_terminal(message));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_show_controls_as_escapes() {
        assert!(matches!(for_terminal("libc6 2.36-9+deb12u4 /usr/lib/x.so"), Cow::Borrowed(_)));
        assert!(matches!(for_terminal("ünïcödé ✓ C:\\path"), Cow::Borrowed(_)));
        assert_eq!(for_terminal("a\u{1b}]0;pwned\u{7}b"), "a\\u{1b}]0;pwned\\u{7}b");
        assert_eq!(for_terminal("\u{1b}[2J\r\n\t\0\u{7f}"), "\\u{1b}[2J\\r\\n\\t\\u{0}\\u{7f}");
        assert_eq!(for_terminal("\u{9b}31m\u{85}"), "\\u{9b}31m\\u{85}");
        assert_eq!(
            for_terminal("evil\u{202e}txt.exe\u{2066}\u{2069}\u{200f}\u{61c}"),
            "evil\\u{202e}txt.exe\\u{2066}\\u{2069}\\u{200f}\\u{61c}"
        );
        // Neighbours of the bidi controls that terminals only show.
        assert!(matches!(for_terminal("\u{2029}\u{202f}\u{2065}\u{206a}\u{a0}"), Cow::Borrowed(_)));
    }

    #[test]
    fn table_cells_stay_on_their_row_and_in_their_column() {
        let mut out = String::new();
        let rows =
            vec![vec!["a\nb".to_string(), "x".to_string()], vec!["long-name".to_string(), "\u{1b}[2J".to_string()]];
        table(&mut out, "  ", &["NAME", "V"], &rows);
        assert_eq!(out, "  NAME       V\n  a\\nb       x\n  long-name  \\u{1b}[2J\n");
    }

    #[test]
    fn documents_keep_line_breaks_and_messages_indent_theirs() {
        assert!(matches!(lines_for_terminal("Target: x\n  a  b\n", ""), Cow::Borrowed(_)));
        assert_eq!(lines_for_terminal("a\u{1b}[2J\nb\r\n", ""), "a\\u{1b}[2J\nb\\r\n");
        assert!(matches!(message_for_terminal("warning: one line"), Cow::Borrowed(_)));
        assert_eq!(message_for_terminal("error: x\nScan complete.\u{7}"), "error: x\n  Scan complete.\\u{7}");
    }
}
