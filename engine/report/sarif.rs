//! SARIF 2.1.0 output, shaped for GitHub code scanning.
//!
//! One run; one rule per distinct vulnerability id and per issue id; one result per finding.
//! GitHub needs every result to have a physical location with an artifact URI: a vulnerable
//! package's result points at the file the package was found in (`var/lib/dpkg/status`), an
//! issue's at its path, and a finding with no path at a name for the image (its repository, or
//! the file name of a local target), so that alerts stay put from one scan to the next.
//! `partialFingerprints` hash what identifies a finding (rule, package, path) and leave out what
//! changes from build to build (layer digests, the installed version), so GitHub recognises the
//! same alert in the next scan instead of opening a new one.

use super::{IssueEntry, PackageEntry, Report, VulnerabilityEntry, severity_name};
use crate::model::Severity;
use crate::vuln::severity::from_score;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// The partialFingerprints key: ours and versioned. GitHub computes `primaryLocationLineHash`
/// itself from file contents, so that key is left to it.
const FINGERPRINT_KEY: &str = "ecrEngineFindingHash/v1";

pub fn render(report: &Report) -> String {
    serde_json::to_string_pretty(&sarif(report)).expect("SARIF serializes")
}

fn sarif(report: &Report) -> Value {
    let packages = vulnerability_packages(report);
    let image_uri = image_uri(report);
    let rules = Rules::collect(report);

    let mut results = Vec::new();
    for (index, vulnerability) in report.vulnerabilities.iter().enumerate() {
        let package = packages[index].map(|p| &report.packages[p]);
        let rule = rules.for_vulnerability[index];
        results.push(vulnerability_result(vulnerability, package, &rules.entries[rule].id, rule, &image_uri));
    }
    for (index, issue) in report.issues.iter().enumerate() {
        let rule = rules.for_issue[index];
        results.push(issue_result(issue, &rules.entries[rule].id, rule, &image_uri));
    }

    let mut driver = Map::new();
    driver.insert("name".into(), json!(report.tool.name));
    driver.insert("version".into(), json!(report.tool.version));
    driver.insert("semanticVersion".into(), json!(report.tool.version));
    if let Some(uri) = information_uri() {
        driver.insert("informationUri".into(), json!(uri));
    }
    let rendered_rules: Vec<Value> = rules.entries.iter().map(|rule| rule.render(report, &packages)).collect();
    driver.insert("rules".into(), Value::Array(rendered_rules));

    let notifications: Vec<Value> = report
        .errors
        .iter()
        .map(|e| ("error", e))
        .chain(report.warnings.iter().map(|w| ("warning", w)))
        .map(|(level, text)| json!({ "level": level, "message": { "text": text } }))
        .collect();
    let mut invocation = json!({ "executionSuccessful": report.complete });
    if !notifications.is_empty() {
        invocation["toolExecutionNotifications"] = Value::Array(notifications);
    }

    let mut properties = Map::new();
    properties.insert("target".into(), json!(report.target));
    properties.insert("complete".into(), json!(report.complete));
    insert_some(&mut properties, "imageDigest", report.image.digest.as_deref());
    insert_some(&mut properties, "configDigest", report.image.config_digest.as_deref());
    insert_some(&mut properties, "platform", report.image.platform.as_deref());
    if let Some(os) = &report.image.os {
        properties.insert("os".into(), json!(format!("{} {}", os.id, os.version_id)));
    }
    if !report.image.repo_tags.is_empty() {
        properties.insert("repoTags".into(), json!(report.image.repo_tags));
    }

    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": Value::Object(driver) },
            "invocations": [invocation],
            "results": results,
            "properties": Value::Object(properties),
        }],
    })
}

/// The project's home from Cargo metadata (`repository`, else `homepage`), when it names one.
fn information_uri() -> Option<&'static str> {
    [env!("CARGO_PKG_REPOSITORY"), env!("CARGO_PKG_HOMEPAGE")].into_iter().find(|u| !u.is_empty())
}

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Vulnerability,
    Issue,
}

struct Rule {
    id: String,
    kind: Kind,
    /// Indices into `report.vulnerabilities` or `report.issues` of the findings under this rule.
    members: Vec<usize>,
}

struct Rules {
    entries: Vec<Rule>,
    for_vulnerability: Vec<usize>,
    for_issue: Vec<usize>,
}

impl Rules {
    /// Vulnerability rules first, then issue rules, each in the report's order (worst first).
    fn collect(report: &Report) -> Rules {
        let mut entries: Vec<Rule> = Vec::new();
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut add = |id: &str, kind: Kind, member: usize| -> usize {
            // An issue id that is also a vulnerability id (ids come from plugins) gets its own rule.
            let id = match by_id.get(id) {
                Some(&i) if entries[i].kind != kind => format!("{id}/issue"),
                _ => id.to_string(),
            };
            let index = *by_id.entry(id.clone()).or_insert_with(|| {
                entries.push(Rule { id, kind, members: Vec::new() });
                entries.len() - 1
            });
            entries[index].members.push(member);
            index
        };
        let for_vulnerability: Vec<usize> =
            report.vulnerabilities.iter().enumerate().map(|(i, v)| add(&v.id, Kind::Vulnerability, i)).collect();
        let for_issue: Vec<usize> = report.issues.iter().enumerate().map(|(i, v)| add(&v.id, Kind::Issue, i)).collect();
        Rules { entries, for_vulnerability, for_issue }
    }
}

impl Rule {
    fn render(&self, report: &Report, packages: &[Option<usize>]) -> Value {
        match self.kind {
            Kind::Vulnerability => {
                let members: Vec<&VulnerabilityEntry> =
                    self.members.iter().map(|&i| &report.vulnerabilities[i]).collect();
                let member_packages: Vec<Option<&PackageEntry>> =
                    self.members.iter().map(|&i| packages[i].map(|p| &report.packages[p])).collect();
                vulnerability_rule(&self.id, &members, &member_packages)
            }
            Kind::Issue => {
                let members: Vec<&IssueEntry> = self.members.iter().map(|&i| &report.issues[i]).collect();
                issue_rule(&self.id, &members)
            }
        }
    }
}

fn vulnerability_rule(id: &str, members: &[&VulnerabilityEntry], packages: &[Option<&PackageEntry>]) -> Value {
    let severity = members.iter().map(|v| v.severity).max().unwrap_or_default();
    let score = members.iter().filter(|v| v.severity == severity).filter_map(|v| v.score).reduce(f64::max);
    let summary = members.iter().map(|v| v.summary.trim()).find(|s| !s.is_empty());
    let aliases: BTreeSet<&str> = members.iter().flat_map(|v| v.aliases.iter().map(String::as_str)).collect();
    let aliases: Vec<&str> = aliases.into_iter().collect();
    let mut affected: Vec<String> = members.iter().map(|v| v.package.clone()).collect();
    affected.sort();
    affected.dedup();

    let short = match summary {
        Some(summary) => first_sentence(summary),
        None => format!("{id} in {}", affected.join(", ")),
    };
    let mut full = summary.map(str::to_string).unwrap_or_else(|| format!("{id} affects {}.", affected.join(", ")));
    if !aliases.is_empty() {
        let _ = write!(full, " Also known as {}.", aliases.join(", "));
    }

    let rating = match score {
        Some(score) => format!("{}, CVSS {score:.1}", severity_name(severity)),
        None => severity_name(severity).to_string(),
    };
    let mut text = format!("{id} ({rating})\n");
    let mut markdown = format!("**{}** ({})\n\n", md_escape(id), md_escape(&rating));
    if let Some(summary) = summary {
        let _ = writeln!(text, "{summary}");
        let _ = write!(markdown, "{}\n\n", md_escape(summary));
    }
    markdown
        .push_str("| Package | Installed version | Fixed version | Path | Layer |\n| --- | --- | --- | --- | --- |\n");
    for (vulnerability, package) in members.iter().zip(packages) {
        let fixed = vulnerability.fixed_version.as_deref().unwrap_or("no fix yet");
        let path = package.map(|p| p.path.as_str()).unwrap_or("-");
        let layer = vulnerability.layer.as_deref().unwrap_or("-");
        let _ = writeln!(
            text,
            "- {} {}: fixed version {fixed}; found in {path} (layer {layer})",
            vulnerability.package, vulnerability.installed_version
        );
        let _ = writeln!(
            markdown,
            "| {} | {} | {} | {} | {} |",
            md_escape(&vulnerability.package),
            md_escape(&vulnerability.installed_version),
            md_escape(fixed),
            md_escape(path),
            md_escape(layer)
        );
    }
    let remediation = match members.iter().any(|v| v.fixed_version.is_some()) {
        true => "Upgrade the package to the fixed version (or later), e.g. by rebuilding the image on an updated base.",
        false => "No fixed version is available yet; consider whether the package is needed in the image.",
    };
    let _ = writeln!(text, "{remediation}");
    let _ = write!(markdown, "\n{remediation}\n");
    if !aliases.is_empty() {
        let _ = writeln!(text, "Also known as: {}", aliases.join(", "));
        let _ = write!(markdown, "\nAlso known as: {}\n", md_escape(&aliases.join(", ")));
    }
    let help_uri = advisory_url(id);
    let _ = writeln!(text, "More: {help_uri}");
    let _ = write!(markdown, "\nMore: <{help_uri}>\n");

    let mut properties = Map::new();
    properties.insert("tags".into(), json!(["security", "vulnerability", severity_name(severity)]));
    properties.insert("precision".into(), json!("very-high"));
    if let Some(security_severity) = security_severity(severity, score) {
        properties.insert("security-severity".into(), json!(security_severity));
    }
    properties.insert("severity".into(), json!(severity_name(severity)));
    if let Some(score) = score {
        properties.insert("cvssScore".into(), json!(score));
    }
    if !aliases.is_empty() {
        properties.insert("aliases".into(), json!(aliases));
    }

    json!({
        "id": id,
        "shortDescription": { "text": short },
        "fullDescription": { "text": full },
        "helpUri": help_uri,
        "help": { "text": text.trim_end(), "markdown": markdown.trim_end() },
        "defaultConfiguration": { "level": level(severity) },
        "properties": Value::Object(properties),
    })
}

fn issue_rule(id: &str, members: &[&IssueEntry]) -> Value {
    let severity = members.iter().map(|i| i.severity).max().unwrap_or_default();
    let first = members[0];
    let mut text = format!("{} ({})\n{}\n", first.title, severity_name(severity), first.description.trim());
    let mut markdown = format!(
        "**{}** ({})\n\n{}\n",
        md_escape(&first.title),
        severity_name(severity),
        md_escape(first.description.trim())
    );
    if let Some(remediation) = members.iter().find_map(|i| i.remediation.as_deref()) {
        let _ = writeln!(text, "Remediation: {}", remediation.trim());
        let _ = write!(markdown, "\n**Remediation:** {}\n", md_escape(remediation.trim()));
    }
    let mut properties = Map::new();
    properties.insert("tags".into(), json!(["security", "misconfiguration", severity_name(severity), first.plugin]));
    properties.insert("precision".into(), json!("high"));
    if let Some(security_severity) = security_severity(severity, None) {
        properties.insert("security-severity".into(), json!(security_severity));
    }
    properties.insert("severity".into(), json!(severity_name(severity)));
    properties.insert("plugin".into(), json!(first.plugin));
    let full =
        if first.description.trim().is_empty() { first.title.clone() } else { first.description.trim().to_string() };
    json!({
        "id": id,
        "shortDescription": { "text": first.title },
        "fullDescription": { "text": full },
        "help": { "text": text.trim_end(), "markdown": markdown.trim_end() },
        "defaultConfiguration": { "level": level(severity) },
        "properties": Value::Object(properties),
    })
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

fn vulnerability_result(
    vulnerability: &VulnerabilityEntry,
    package: Option<&PackageEntry>,
    rule_id: &str,
    rule_index: usize,
    image_uri: &str,
) -> Value {
    let path = package.map(|p| p.path.as_str()).filter(|p| !p.is_empty());
    let fix = match &vulnerability.fixed_version {
        Some(fixed) => format!("fixed version {fixed}"),
        None => "no fixed version yet".to_string(),
    };
    let message = format!(
        "Package {} {} is affected by {} ({}); {fix}.",
        vulnerability.package,
        vulnerability.installed_version,
        vulnerability.id,
        severity_name(vulnerability.severity)
    );
    let ecosystem = package.map(|p| p.ecosystem.as_str()).unwrap_or(&vulnerability.ecosystem);
    let fingerprint =
        fingerprint(&["vulnerability", &vulnerability.id, ecosystem, &vulnerability.package, path.unwrap_or("")]);

    let mut properties = Map::new();
    properties.insert("package".into(), json!(vulnerability.package));
    properties.insert("installedVersion".into(), json!(vulnerability.installed_version));
    properties.insert("fixedVersion".into(), json!(vulnerability.fixed_version));
    properties.insert("severity".into(), json!(severity_name(vulnerability.severity)));
    if let Some(score) = vulnerability.score {
        properties.insert("cvssScore".into(), json!(score));
    }
    insert_some(&mut properties, "purl", vulnerability.purl.as_deref());
    insert_some(&mut properties, "layer", vulnerability.layer.as_deref());
    insert_some(&mut properties, "path", path);
    properties.insert("ecosystem".into(), json!(vulnerability.ecosystem));
    if !vulnerability.advisories.is_empty() {
        properties.insert("advisories".into(), json!(vulnerability.advisories));
    }

    json!({
        "ruleId": rule_id,
        "ruleIndex": rule_index,
        "level": level(vulnerability.severity),
        "message": { "text": message },
        "locations": [location(path, image_uri, &format!("{} {}", vulnerability.package, vulnerability.installed_version))],
        "partialFingerprints": { FINGERPRINT_KEY: fingerprint },
        "properties": Value::Object(properties),
    })
}

fn issue_result(issue: &IssueEntry, rule_id: &str, rule_index: usize, image_uri: &str) -> Value {
    let path = issue.path.as_deref().filter(|p| !p.is_empty());
    let mut message = issue.title.trim().to_string();
    if let Some(path) = path {
        let _ = write!(message, " ({path})");
    }
    if !message.ends_with('.') {
        message.push('.');
    }
    if let Some(remediation) = &issue.remediation {
        let _ = write!(message, " Remediation: {}", remediation.trim());
    }
    let history = issue.history_index.map(|i| i.to_string()).unwrap_or_default();
    let fingerprint =
        fingerprint(&["issue", &issue.id, &issue.plugin, path.unwrap_or(""), &history, issue.title.trim()]);

    let mut properties = Map::new();
    properties.insert("severity".into(), json!(severity_name(issue.severity)));
    properties.insert("plugin".into(), json!(issue.plugin));
    insert_some(&mut properties, "path", path);
    insert_some(&mut properties, "layer", issue.layer.as_deref());
    if let Some(index) = issue.history_index {
        properties.insert("historyIndex".into(), json!(index));
    }

    json!({
        "ruleId": rule_id,
        "ruleIndex": rule_index,
        "level": level(issue.severity),
        "message": { "text": message },
        "locations": [location(path, image_uri, &issue.title)],
        "partialFingerprints": { FINGERPRINT_KEY: fingerprint },
        "properties": Value::Object(properties),
    })
}

fn location(path: Option<&str>, image_uri: &str, what: &str) -> Value {
    let uri = path.map(uri_path).filter(|u| !u.is_empty()).unwrap_or_else(|| image_uri.to_string());
    json!({
        "physicalLocation": {
            "artifactLocation": { "uri": uri },
            "region": { "startLine": 1 },
        },
        "message": { "text": what },
    })
}

/// error for CRITICAL and HIGH, warning for MEDIUM, note for LOW and UNKNOWN.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Unknown => "note",
    }
}

/// GitHub's `security-severity`: the CVSS score when it agrees with the severity reported (the
/// severity may come from another advisory than the score), else a value inside the severity's
/// band. None for UNKNOWN: GitHub then ranks the alert by its level alone.
fn security_severity(severity: Severity, score: Option<f64>) -> Option<String> {
    if let Some(score) = score.filter(|s| from_score(*s) == severity && severity != Severity::Unknown) {
        return Some(format!("{score:.1}"));
    }
    let default = match severity {
        Severity::Critical => 9.5,
        Severity::High => 8.0,
        Severity::Medium => 5.5,
        Severity::Low => 2.0,
        Severity::Unknown => return None,
    };
    Some(format!("{default:.1}"))
}

/// Where a vulnerability id is described: NVD for CVEs, GitHub for GHSAs, osv.dev for the rest
/// (it knows every id ecr-engine imports).
pub(super) fn advisory_url(id: &str) -> String {
    if id.starts_with("CVE-") {
        format!("https://nvd.nist.gov/vuln/detail/{id}")
    } else if id.starts_with("GHSA-") {
        format!("https://github.com/advisories/{id}")
    } else {
        format!("https://osv.dev/vulnerability/{}", percent_encode(id, b"-._~"))
    }
}

fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..16])
}

// ---------------------------------------------------------------------------------------------
// Which package each vulnerability is in, and names for locations
// ---------------------------------------------------------------------------------------------

/// For each vulnerability of the report, the index of the package it was found in.
///
/// A vulnerability entry names its package by name, version, purl and layer, not by path, so a
/// package found at two paths gives two identical entries. The matcher emits entries in package
/// order and sorts them stably, so the k-th identical entry belongs to the k-th identical
/// package.
pub(super) fn vulnerability_packages(report: &Report) -> Vec<Option<usize>> {
    type Key<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);
    let mut seen: HashMap<Key<'_>, usize> = HashMap::new();
    report
        .vulnerabilities
        .iter()
        .map(|v| {
            let candidates: Vec<usize> = report
                .packages
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    p.name == v.package && p.version == v.installed_version && p.purl == v.purl && p.layer == v.layer
                })
                .map(|(i, _)| i)
                .collect();
            let key = (
                v.id.as_str(),
                v.package.as_str(),
                v.installed_version.as_str(),
                v.purl.as_deref(),
                v.layer.as_deref(),
            );
            let nth = seen.entry(key).or_insert(0);
            let found = candidates.get(*nth).or(candidates.first()).copied();
            *nth += 1;
            found
        })
        .collect()
}

/// A stable, repository-like name for the image, for findings that have no path: the first
/// repository tag without its tag, else the target without transport, tag or digest (for a local
/// archive or directory, its file name).
pub(super) fn image_name(report: &Report) -> String {
    if let Some(tag) = report.image.repo_tags.first() {
        return strip_tag(tag).to_string();
    }
    let target = report.target.as_str();
    for transport in ["docker-archive:", "oci-archive:", "oci:", "dir:"] {
        if let Some(path) = target.strip_prefix(transport) {
            // oci:DIR:REF and docker-archive:PATH:REF name a reference after the path.
            let path = match path.rfind(':') {
                Some(i) if !path[i..].contains('/') => &path[..i],
                _ => path,
            };
            return file_name(path).to_string();
        }
    }
    if target.starts_with('/') || target.starts_with('.') {
        return file_name(target).to_string();
    }
    let name = strip_tag(target.split('@').next().unwrap_or(target));
    if name.is_empty() { "image".to_string() } else { name.to_string() }
}

fn image_uri(report: &Report) -> String {
    let uri = uri_path(&image_name(report));
    if uri.is_empty() { "image".to_string() } else { uri }
}

/// `repo:tag` -> `repo`; a registry port (`host:5000/repo`) stays.
fn strip_tag(reference: &str) -> &str {
    match reference.rfind(':') {
        Some(i) if !reference[i..].contains('/') => &reference[..i],
        _ => reference,
    }
}

fn file_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    let name = trimmed.rsplit('/').next().unwrap_or(trimmed);
    if name.is_empty() || name == "." || name == ".." { "image" } else { name }
}

/// A relative URI reference for a path in the image: no leading slash (the path is relative to
/// the image root), every byte outside unreserved characters, `/`, `@` and `+` percent-encoded (a `:` in
/// the first segment would otherwise read as a scheme).
fn uri_path(path: &str) -> String {
    percent_encode(path.trim_start_matches('/'), b"-._~/@+")
}

fn percent_encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || keep.contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The first sentence (or line) of a summary, for a rule's short description.
fn first_sentence(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let sentence = match line.find(". ") {
        Some(i) => &line[..=i],
        None => line,
    };
    let mut short: String = sentence.chars().take(200).collect();
    if short.len() < sentence.len() {
        short.push('…');
    }
    short
}

/// Escapes what Markdown would read as table separators, emphasis, HTML or links.
fn md_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '<' | '>' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

fn insert_some(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        map.insert(key.to_string(), json!(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_are_stable_and_uri_safe() {
        let mut report = Report::new("oci:/tmp/x/layout:v1");
        assert_eq!(image_name(&report), "layout");
        report.target = "docker-archive:/tmp/a b/image.tar".into();
        assert_eq!(image_uri(&report), "image.tar");
        report.target = "registry.example:5000/team/app:1.2@sha256:abc".into();
        assert_eq!(image_name(&report), "registry.example:5000/team/app");
        assert_eq!(image_uri(&report), "registry.example%3A5000/team/app");
        report.image.repo_tags = vec!["example/app:1.0".into()];
        assert_eq!(image_name(&report), "example/app");
        assert_eq!(
            uri_path("/usr/lib/node_modules/@scope/a b/package.json"),
            "usr/lib/node_modules/@scope/a%20b/package.json"
        );
    }

    #[test]
    fn levels_and_security_severity() {
        assert_eq!(level(Severity::Critical), "error");
        assert_eq!(level(Severity::High), "error");
        assert_eq!(level(Severity::Medium), "warning");
        assert_eq!(level(Severity::Low), "note");
        assert_eq!(level(Severity::Unknown), "note");
        assert_eq!(security_severity(Severity::High, Some(7.5)).as_deref(), Some("7.5"));
        // A score from another advisory than the severity is not used.
        assert_eq!(security_severity(Severity::High, Some(5.0)).as_deref(), Some("8.0"));
        assert_eq!(security_severity(Severity::Critical, None).as_deref(), Some("9.5"));
        assert_eq!(security_severity(Severity::Unknown, None), None);
    }

    #[test]
    fn short_descriptions_are_one_sentence() {
        assert_eq!(first_sentence("Heap overflow in X. Attackers can Y."), "Heap overflow in X.");
        assert_eq!(first_sentence("\n  One line\nsecond"), "One line");
    }
}
