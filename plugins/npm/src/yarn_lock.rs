//! `yarn.lock`, both Yarn 1 (its own format) and Yarn 2+ "berry" (a YAML subset). Both are one
//! entry per resolved package: a header line at column 0 listing the requested patterns and
//! ending in `:`, then two-space-indented fields:
//!
//! ```text
//! "@babel/code-frame@^7.0.0", "@babel/code-frame@^7.10.4":     <- Yarn 1
//!   version "7.12.13"
//! "@babel/code-frame@npm:^7.0.0, @babel/code-frame@npm:^7.10.4": <- berry
//!   version: 7.12.13
//!   resolution: "@babel/code-frame@npm:7.12.13"
//! ```
//!
//! Deeper-indented lines (`dependencies:` lists) are not needed and skipped, so one pass over the
//! lines suffices. The real package name comes from berry's `resolution`, or in Yarn 1 from an
//! alias pattern (`alias@npm:real@^1`), else from the pattern. Entries that are the project's
//! own code or duplicates are skipped by protocol: `workspace:`, `link:`, `portal:`, `file:`,
//! `exec:`, and `patch:` (a patched copy of a package that has its own `npm:` entry). berry's
//! `__metadata` block is not a package. yarn.lock says nothing of dev or optional dependencies.

use crate::lock::{self, Locked, Parsed};
use crate::manifest::{self, shown};
use ecr_plugin_kit::fields;

const SKIPPED_PROTOCOLS: &[&str] = &["workspace", "link", "portal", "file", "exec", "patch"];

struct Header {
    line: usize,
    patterns: Vec<String>,
    version: Option<String>,
    resolution: Option<String>,
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(s)
}

/// The protocol of a range or resolution (`npm:^1.0.0` -> `npm`), if it has one.
fn protocol(range: &str) -> Option<&str> {
    let (p, _) = range.split_once(':')?;
    (!p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase())).then_some(p)
}

fn finish(h: Header, out: &mut Parsed) {
    let Some(first) = h.patterns.first() else {
        out.error(format!("line {}: entry header lists no package", h.line));
        return;
    };
    // berry's resolution names the package actually installed; otherwise the first pattern.
    let spec = h.resolution.as_deref().unwrap_or(first);
    let Some((name, range)) = lock::split_name_at(spec) else {
        out.error(format!("line {}: cannot read a package name from {}; skipped", h.line, shown(spec)));
        return;
    };
    if h.patterns
        .iter()
        .filter_map(|p| lock::split_name_at(p))
        .map(|(_, r)| r)
        .chain([range])
        .any(|r| protocol(r).is_some_and(|p| SKIPPED_PROTOCOLS.contains(&p)))
    {
        return;
    }
    // Yarn 1 alias: `alias@npm:real@^1` installs `real`.
    let name = match range.strip_prefix("npm:").and_then(lock::split_name_at) {
        Some((real, _)) if h.resolution.is_none() => real,
        _ => name,
    };
    let Some(version) = h.version else {
        out.error(format!("line {}: entry {} has no version; skipped", h.line, shown(first)));
        return;
    };
    if let Err(e) = manifest::check_field("name", name).and_then(|_| manifest::check_field("version", &version)) {
        out.error(format!("line {}: {e}; skipped", h.line));
        return;
    }
    out.packages.push(Locked { name: name.to_string(), version, location: None, scope: None, licenses: Vec::new() });
}

pub fn parse(content: &[u8]) -> Parsed {
    if let Err(e) = lock::check_size(content) {
        return Parsed::failed(e);
    }
    let text = match fields::text(content) {
        Ok(t) => t,
        Err(e) => return Parsed::failed(e),
    };
    let mut out = Parsed::default();
    let mut current: Option<Header> = None;
    let mut in_metadata = false;
    let mut headers = 0usize;
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.trim_end();
        if line.trim_start().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') {
            if let Some(h) = current.take() {
                finish(h, &mut out);
            }
            let Some(header) = line.strip_suffix(':') else {
                out.error(format!("line {line_no}: expected an entry header ending in ':', found {}", shown(line)));
                continue;
            };
            headers += 1;
            in_metadata = header == "__metadata";
            if !in_metadata {
                let patterns = header
                    .split(',')
                    .map(|p| unquote(p.trim().trim_matches('"')).to_string())
                    .filter(|p| !p.is_empty())
                    .collect();
                current = Some(Header { line: line_no, patterns, version: None, resolution: None });
            }
            continue;
        }
        let Some(fields) = line.strip_prefix("  ") else { continue };
        if fields.starts_with(' ') || in_metadata {
            continue; // nested block (dependencies, ...) or metadata
        }
        let Some(h) = current.as_mut() else {
            out.error(format!("line {line_no}: field outside of any entry"));
            continue;
        };
        let key_end = fields.find([' ', ':']).unwrap_or(fields.len());
        let (key, value) = fields.split_at(key_end);
        let value = unquote(value.strip_prefix(':').unwrap_or(value));
        let slot = match key {
            "version" => &mut h.version,
            "resolution" => &mut h.resolution,
            _ => continue,
        };
        if slot.is_none() && !value.is_empty() {
            *slot = Some(value.to_string());
        }
    }
    if let Some(h) = current.take() {
        finish(h, &mut out);
    }
    if headers == 0 && !out.errors.is_empty() {
        return Parsed::failed("not a yarn.lock: no entry headers".to_string());
    }
    out
}
