//! The apk installed database (`lib/apk/db/installed`): one entry per package, entries separated
//! by blank lines, one `K:value` field per line where `K` is a single letter (apk-tools' own
//! reader, `apk_db_index_read`, works the same way).
//!
//! Plain Rust over untrusted bytes: one linear pass, no indexing that can panic, memory bounded by
//! the kept fields and the installed-file budget below.
//!
//! Fields read (the rest, such as `S`, `I`, `T`, `U`, `D`, `p`, `i`, `r`, `a`, `M`, `Z`, are
//! skipped):
//! - `P` name, `V` version: required; an entry without either is skipped and reported;
//! - `A` architecture, `o` origin (the aport the package was built from; Alpine's security data
//!   is keyed by it), `L` license (split as [`crate::license`] documents);
//! - `m` maintainer, `c` aports commit, `t` build time (Unix seconds), `C` package checksum:
//!   passed on as properties;
//! - `F` directory, then `R` file names inside it: the files the package installed, as paths
//!   relative to the image root.
//!
//! Decisions on what apk-tools itself never writes:
//! - a field given twice in one entry: the first value is kept and the line reported (two
//!   entries with no blank line between them look like that);
//! - a line longer than [`MAX_LINE_BYTES`] (apk's longest real lines, dependency lists, are a
//!   few KB): reported and ignored; the rest of its entry is still read;
//! - a last line with no newline: the file was cut there (apk ends every entry with a blank
//!   line), so the line may be cut too (`V:1.2` from `V:1.2.13-r1`); it is ignored rather than
//!   trusted, and reported when it is a field this reader uses;
//! - a NUL byte: binary data, the file is corrupt from there; reading stops, what came before
//!   is kept;
//! - a trailing `\r` is dropped (a database edited on another system); lines that are empty or
//!   only spaces/tabs separate entries.

use ecr_plugin_kit::FileProblems;
use std::borrow::Cow;

/// One package read from the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub version: String,
    pub arch: Option<String>,
    pub origin: Option<String>,
    pub license: Option<String>,
    pub maintainer: Option<String>,
    pub commit: Option<String>,
    pub build_time: Option<String>,
    pub checksum: Option<String>,
    /// Installed files (`F` dir + `/` + `R` name), relative to the image root, in file order.
    pub files: Vec<String>,
    /// 1-based line of the entry's first field.
    pub line: usize,
}

/// Everything read from one database file, in file order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub entries: Vec<Entry>,
    /// Human-readable problems, each naming the line it is about.
    pub errors: Vec<String>,
}

/// Longest line read.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Longest directory or file path kept in an installed-file list (Linux's PATH_MAX).
pub const MAX_PATH_BYTES: usize = 4096;
/// Installed-file budget per database file, in paths and in path bytes. A big real Alpine image
/// lists about 100,000 files; the byte budget stops a short `R:` line under a long `F:` line from
/// multiplying memory (a path costs up to PATH_MAX for a 4-byte line).
pub const MAX_INSTALLED_FILES: usize = 500_000;
pub const MAX_INSTALLED_FILE_BYTES: usize = 24 << 20;
/// The fields this reader uses.
const USED_KEYS: &[u8] = b"PVAoLmctCFR";
pub use ecr_plugin_kit::MAX_ERRORS_PER_FILE;

struct Field {
    value: String,
    line: usize,
    lossy: bool,
}

enum Dir {
    None,
    Ok(String),
    /// An `F:` line that could not be used; its `R:` lines are skipped without more messages.
    Bad,
}

struct Pending {
    start: usize,
    has_field: bool,
    name: Option<Field>,
    version: Option<Field>,
    arch: Option<Field>,
    origin: Option<Field>,
    license: Option<Field>,
    maintainer: Option<Field>,
    commit: Option<Field>,
    build_time: Option<Field>,
    checksum: Option<Field>,
    dir: Dir,
    files: Vec<String>,
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            start: 0,
            has_field: false,
            name: None,
            version: None,
            arch: None,
            origin: None,
            license: None,
            maintainer: None,
            commit: None,
            build_time: None,
            checksum: None,
            dir: Dir::None,
            files: Vec::new(),
        }
    }
}

/// The installed-file budget of one database file.
struct Budget {
    files: usize,
    bytes: usize,
    exhausted: bool,
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

fn finish_entry(e: Pending, out: &mut Vec<Entry>, errs: &mut FileProblems) {
    if !e.has_field {
        return;
    }
    let Some(name) = e.name.filter(|f| !f.value.is_empty()) else {
        errs.push(format!("line {}: package entry has no P: (name) field; skipped", e.start));
        return;
    };
    let Some(version) = e.version.filter(|f| !f.value.is_empty()) else {
        errs.push(format!("line {}: package '{}' has no V: (version) field; skipped", e.start, shown(&name.value)));
        return;
    };
    // The fields that identify the package or key vulnerability data must be exact.
    for (key, f) in [("P", Some(&name)), ("V", Some(&version)), ("A", e.arch.as_ref()), ("o", e.origin.as_ref())] {
        if let Some(f) = f
            && f.lossy
        {
            errs.push(format!(
                "line {}: {key}: field is not valid UTF-8; package '{}' skipped",
                f.line,
                shown(&name.value)
            ));
            return;
        }
    }
    let value = |f: Option<Field>| f.map(|f| f.value).filter(|v| !v.is_empty());
    out.push(Entry {
        name: name.value,
        version: version.value,
        arch: value(e.arch),
        origin: value(e.origin),
        license: value(e.license),
        maintainer: value(e.maintainer),
        commit: value(e.commit),
        build_time: value(e.build_time),
        checksum: value(e.checksum),
        files: e.files,
        line: e.start,
    });
}

/// Handles an `F:` or `R:` line of the current entry.
fn file_line(e: &mut Pending, key: u8, value: &str, line_no: usize, budget: &mut Budget, errs: &mut FileProblems) {
    if key == b'F' {
        let dir = value.trim_matches('/');
        e.dir = if dir.len() > MAX_PATH_BYTES {
            errs.push(format!(
                "line {line_no}: F: directory is {} bytes long, over the {MAX_PATH_BYTES}-byte path limit; \
                 its files are not listed",
                dir.len()
            ));
            Dir::Bad
        } else {
            Dir::Ok(dir.to_string())
        };
        return;
    }
    let dir = match &e.dir {
        Dir::Ok(d) => d,
        Dir::Bad => return,
        Dir::None => {
            errs.push(format!("line {line_no}: R: (file) entry before any F: (directory) entry; ignored"));
            return;
        }
    };
    if value.is_empty() {
        errs.push(format!("line {line_no}: R: (file) entry with an empty name; ignored"));
        return;
    }
    if budget.exhausted {
        return;
    }
    let len = dir.len() + 1 + value.len();
    if len > MAX_PATH_BYTES {
        errs.push(format!(
            "line {line_no}: file path is {len} bytes long, over the {MAX_PATH_BYTES}-byte path limit; ignored"
        ));
        return;
    }
    if budget.files >= MAX_INSTALLED_FILES || budget.bytes + len > MAX_INSTALLED_FILE_BYTES {
        budget.exhausted = true;
        errs.push(format!(
            "line {line_no}: more than {MAX_INSTALLED_FILES} installed files or {} MiB of file paths; \
             installed-file lists are cut from here (packages are still read)",
            MAX_INSTALLED_FILE_BYTES >> 20
        ));
        return;
    }
    budget.files += 1;
    budget.bytes += len;
    e.files.push(if dir.is_empty() { value.to_string() } else { format!("{dir}/{value}") });
}

/// Parses one installed database.
///
/// Never fails as a whole: bad entries and lines are skipped and reported in
/// [`Parsed::errors`], and the valid packages are returned. Input that is not an apk database at
/// all (binary data, text with no `K:value` line) gives a single error.
pub fn parse(content: &[u8]) -> Parsed {
    let mut entries = Vec::new();
    let mut errs = FileProblems::default();
    let mut e = Pending::default();
    let mut budget = Budget { files: 0, bytes: 0, exhausted: false };
    let mut field_lines = 0usize;
    let mut first_error: Option<String> = None;
    let mut line_no = 0usize;
    let mut lines = content.split(|&b| b == b'\n').peekable();
    while let Some(raw) = lines.next() {
        line_no += 1;
        // `split` yields one last piece after the final '\n': empty for a complete file.
        let last = lines.peek().is_none();
        if raw.contains(&0) {
            if field_lines == 0 {
                return Parsed {
                    entries,
                    errors: vec![format!("not an apk installed database: binary data (NUL byte) at line {line_no}")],
                };
            }
            errs.push(format!(
                "line {line_no}: binary data (NUL byte); file truncated or corrupt, stopped reading there"
            ));
            // The open entry's complete lines are still usable.
            finish_entry(e, &mut entries, &mut errs);
            return Parsed { entries, errors: errs.finish() };
        }
        let mut report = |errs: &mut FileProblems, msg: String| {
            first_error.get_or_insert_with(|| msg.clone());
            errs.push(msg);
        };
        if raw.len() > MAX_LINE_BYTES {
            report(
                &mut errs,
                format!(
                    "line {line_no}: line is {} bytes long, over the {MAX_LINE_BYTES}-byte limit; ignored",
                    raw.len()
                ),
            );
            continue;
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(|b| *b == b' ' || *b == b'\t') {
            finish_entry(std::mem::take(&mut e), &mut entries, &mut errs);
            continue;
        }
        if last {
            // Only a cut line the packages depend on is worth a report (hand-edited files often
            // lack the final newline after a `Z:` checksum line).
            if matches!(raw, [k, b':', ..] if USED_KEYS.contains(k)) {
                report(
                    &mut errs,
                    format!(
                        "line {line_no}: no newline at the end of the file, so the database looks truncated; \
                         the cut line is ignored"
                    ),
                );
            }
            continue;
        }
        let (key, value) = match raw {
            [k, b':', rest @ ..] if k.is_ascii_alphabetic() => (*k, rest),
            _ => {
                let text = String::from_utf8_lossy(raw);
                report(
                    &mut errs,
                    format!(
                        "line {line_no}: expected 'K:value' (a field letter, a colon, the value), found '{}'",
                        shown(&text)
                    ),
                );
                continue;
            }
        };
        let (value, lossy) = match std::str::from_utf8(value) {
            Ok(s) => (Cow::Borrowed(s), false),
            Err(_) => (String::from_utf8_lossy(value), true),
        };
        field_lines += 1;
        if !e.has_field {
            e.start = line_no;
            e.has_field = true;
        }
        let slot = match key {
            b'P' => &mut e.name,
            b'V' => &mut e.version,
            b'A' => &mut e.arch,
            b'o' => &mut e.origin,
            b'L' => &mut e.license,
            b'm' => &mut e.maintainer,
            b'c' => &mut e.commit,
            b't' => &mut e.build_time,
            b'C' => &mut e.checksum,
            b'F' | b'R' => {
                file_line(&mut e, key, &value, line_no, &mut budget, &mut errs);
                continue;
            }
            _ => continue,
        };
        match slot {
            None => *slot = Some(Field { value: value.trim().to_string(), line: line_no, lossy }),
            Some(first) => {
                let first_line = first.line;
                errs.push(format!(
                    "line {line_no}: second {}: field in the package entry that starts at line {}; the first \
                     (line {first_line}) is kept (a missing blank line between two packages?)",
                    char::from(key),
                    e.start
                ));
            }
        }
    }
    finish_entry(e, &mut entries, &mut errs);

    if field_lines == 0 {
        // Nothing here looks like an apk database: one message instead of one per line.
        return Parsed {
            entries,
            errors: first_error.map(|m| format!("not an apk installed database: {m}")).into_iter().collect(),
        };
    }
    Parsed { entries, errors: errs.finish() }
}
