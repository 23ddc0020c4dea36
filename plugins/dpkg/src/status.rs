//! The dpkg status database: deb822 stanzas ("paragraphs") of `Field: value` lines.
//!
//! Plain Rust over untrusted bytes: one linear pass, no indexing that can panic, memory
//! proportional to the kept fields of the packages found.
//!
//! Format handled (deb822(5), dpkg's own parser):
//! - lines end in `\n`; a trailing `\r` is dropped (CRLF files);
//! - stanzas are separated by lines that are empty or only spaces/tabs;
//! - a line starting with a space or tab continues the previous field (multi-line fields such as
//!   `Description` and `Conffiles`; none of the fields read here is multi-line);
//! - field names are case-insensitive; the value is the rest of the line after `:`, trimmed;
//!   the first occurrence of a field in a stanza wins;
//! - `#` comment lines (allowed in deb822 control files, not written by dpkg) are ignored.
//!
//! Installed states (`Status: WANT FLAG STATE`, the third word decides):
//! - kept: `installed`; `triggers-pending` and `triggers-awaited` (fully unpacked and configured,
//!   only trigger processing is outstanding); `half-configured` and `unpacked` (all files are on
//!   disk, configuration has not finished). A scanner reports code that is present in the image,
//!   whether or not its maintainer scripts have run, so these count as installed; the state is
//!   passed on as a `dpkg-status` property when it is not plain `installed`.
//! - dropped: `not-installed` (only a record in the database), `config-files` (removed, only
//!   conffiles remain, no executable code), `half-installed` (an unpack that did not complete:
//!   which files and which version are on disk is unknown, and dpkg itself requires a reinstall).
//! - no `Status` field at all: installed. Distroless images write one stanza per package into
//!   `status.d/` without Status, and image builders that write a minimal `status` do the same.
//! - a `Status` that is not three words or has an unknown state: kept (err towards reporting
//!   present code) and reported as a file error.
//!
//! `Source: NAME (VERSION)` gives the source package and its version; `Source: NAME` alone means the
//! source version is the binary version; no `Source` means the source is the package itself
//! (as `dpkg-query`'s `${source:Package}` / `${source:Version}` define it).

/// One package read from a status database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub version: String,
    pub arch: Option<String>,
    pub source_name: String,
    pub source_version: String,
    /// The third word of `Status`, when present.
    pub state: Option<String>,
    /// 1-based line of the stanza's first field.
    pub line: usize,
}

/// Everything read from one file: the packages kept and the problems found, in file order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub entries: Vec<Entry>,
    /// Human-readable problems, each naming the line it is about.
    pub errors: Vec<String>,
}

use ecr_plugin_kit::FileProblems;
pub use ecr_plugin_kit::MAX_ERRORS_PER_FILE;

/// States whose packages have their files on disk (see the module docs).
pub const KEPT_STATES: &[&str] = &["installed", "triggers-pending", "triggers-awaited", "half-configured", "unpacked"];
/// States that are dropped without complaint.
pub const DROPPED_STATES: &[&str] = &["not-installed", "config-files", "half-installed"];

#[derive(Default)]
struct Field {
    value: String,
    line: usize,
    lossy: bool,
}

#[derive(Default)]
struct Stanza {
    start: usize,
    package: Option<Field>,
    version: Option<Field>,
    status: Option<Field>,
    source: Option<Field>,
    arch: Option<Field>,
    /// Set once the stanza has seen any field line, so a continuation line is legal.
    has_field: bool,
}

impl Stanza {
    fn is_empty(&self) -> bool {
        !self.has_field
    }
}

/// A value quoted in a message: control characters (terminal escapes from a hostile file)
/// replaced, and cut to a sensible length.
fn shown(s: &str) -> String {
    const MAX: usize = 80;
    let mut out: String = s.chars().take(MAX).map(|c| if c.is_control() { '?' } else { c }).collect();
    if s.chars().nth(MAX).is_some() {
        out.push_str("...");
    }
    out
}

/// Parses the deb822 `Source` value into (name, version).
fn parse_source(value: &str, binary_version: &str) -> (String, String) {
    let value = value.trim();
    let split = value.find(|c: char| c.is_whitespace() || c == '(').unwrap_or(value.len());
    let (name, rest) = value.split_at(split);
    let ver = rest.trim().trim_start_matches('(').trim_end_matches(')').trim();
    let ver = if ver.is_empty() { binary_version } else { ver };
    (name.to_string(), ver.to_string())
}

fn finish_stanza(st: Stanza, out: &mut Vec<Entry>, errs: &mut FileProblems) {
    if st.is_empty() {
        return;
    }
    let state = match &st.status {
        None => None,
        Some(f) => {
            let words: Vec<&str> = f.value.split_whitespace().collect();
            match words.as_slice() {
                [_, _, state] if KEPT_STATES.contains(state) => Some(state.to_string()),
                [_, _, state] if DROPPED_STATES.contains(state) => return,
                _ => {
                    errs.push(format!(
                        "line {}: unrecognized Status '{}' (expected 'WANT FLAG STATE'); \
                         package kept",
                        f.line,
                        shown(&f.value)
                    ));
                    words.get(2).map(|s| s.to_string())
                }
            }
        }
    };
    let Some(package) = st.package.filter(|f| !f.value.is_empty()) else {
        errs.push(format!("line {}: stanza has no Package field; skipped", st.start));
        return;
    };
    let Some(version) = st.version.filter(|f| !f.value.is_empty()) else {
        errs.push(format!("line {}: package '{}' has no Version field; skipped", st.start, shown(&package.value)));
        return;
    };
    for (name, f) in [
        ("Package", Some(&package)),
        ("Version", Some(&version)),
        ("Source", st.source.as_ref()),
        ("Architecture", st.arch.as_ref()),
    ] {
        if let Some(f) = f
            && f.lossy
        {
            errs.push(format!(
                "line {}: {name} field is not valid UTF-8; package '{}' skipped",
                f.line,
                shown(&package.value)
            ));
            return;
        }
    }
    let (source_name, source_version) = match &st.source {
        Some(s) if !s.value.is_empty() => parse_source(&s.value, &version.value),
        _ => (package.value.clone(), version.value.clone()),
    };
    out.push(Entry {
        name: package.value,
        version: version.value,
        arch: st.arch.map(|f| f.value).filter(|a| !a.is_empty()),
        source_name,
        source_version,
        state,
        line: st.start,
    });
}

/// Parses one status database (the `status` file or one `status.d/` file).
///
/// Never fails as a whole: bad stanzas are skipped and reported in [`Parsed::errors`], and the
/// valid packages are returned. Input that is not a status database at all (binary data, text
/// with no `Field: value` line) gives a single error.
pub fn parse(content: &[u8]) -> Parsed {
    let mut entries = Vec::new();
    let mut errs = FileProblems::default();
    let mut st = Stanza::default();
    let mut field_lines = 0usize;
    let mut first_bad: Option<usize> = None;
    let mut line_no = 0usize;

    for raw in content.split(|&b| b == b'\n') {
        line_no += 1;
        if raw.contains(&0) {
            let msg = if field_lines == 0 {
                format!("not a dpkg status database: binary data (NUL byte) at line {line_no}")
            } else {
                format!(
                    "line {line_no}: binary data (NUL byte); file truncated or corrupt, \
                     stopped reading there"
                )
            };
            if field_lines == 0 {
                // Nothing before was deb822 either: one message for the whole file.
                errs = FileProblems::default();
            }
            errs.push(msg);
            // Whatever stanza was open ends here; its complete lines are still usable.
            finish_stanza(std::mem::take(&mut st), &mut entries, &mut errs);
            return Parsed { entries, errors: errs.finish() };
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let (line, lossy) = match std::str::from_utf8(raw) {
            Ok(s) => (std::borrow::Cow::Borrowed(s), false),
            Err(_) => (String::from_utf8_lossy(raw), true),
        };

        if line.trim_matches([' ', '\t']).is_empty() {
            finish_stanza(std::mem::take(&mut st), &mut entries, &mut errs);
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if st.is_empty() {
                first_bad.get_or_insert(line_no);
                errs.push(format!("line {line_no}: continuation line outside of a field"));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let parsed = line
            .split_once(':')
            .filter(|(name, _)| !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c.is_control()));
        let Some((name, value)) = parsed else {
            first_bad.get_or_insert(line_no);
            errs.push(format!("line {line_no}: expected 'Field: value'"));
            continue;
        };
        field_lines += 1;
        if st.is_empty() {
            st.start = line_no;
        }
        st.has_field = true;
        let slot = if name.eq_ignore_ascii_case("Package") {
            &mut st.package
        } else if name.eq_ignore_ascii_case("Version") {
            &mut st.version
        } else if name.eq_ignore_ascii_case("Status") {
            &mut st.status
        } else if name.eq_ignore_ascii_case("Source") {
            &mut st.source
        } else if name.eq_ignore_ascii_case("Architecture") {
            &mut st.arch
        } else {
            continue;
        };
        if slot.is_none() {
            *slot = Some(Field { value: value.trim().to_string(), line: line_no, lossy });
        }
    }
    finish_stanza(st, &mut entries, &mut errs);

    if field_lines == 0 {
        // Nothing here looks like deb822: one clear message instead of one per line.
        return Parsed {
            entries,
            errors: match first_bad {
                Some(l) => vec![format!(
                    "not a dpkg status database: no 'Field: value' lines (line {l} is the first \
                     unreadable one)"
                )],
                None => Vec::new(),
            },
        };
    }
    Parsed { entries, errors: errs.finish() }
}
