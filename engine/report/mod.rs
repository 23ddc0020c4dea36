//! The scan report: the JSON contract (schema ecr-engine/report/v1; these types define it, and
//! it changes only with a new schema version) and the table people read in a terminal.

use crate::image::{ImageConfig, ResolvedImage};
use crate::layer::LayerContents;
use crate::model::{Finding, Severity};
use crate::plugin::RunStatus;
use crate::scan::{Analysis, PackageKey};
use crate::terminal::{self, for_terminal};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

mod cyclonedx;
mod sarif;

pub const SCHEMA: &str = "ecr-engine/report/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other static-analysis dashboards.
    Sarif,
    /// CycloneDX 1.6 JSON SBOM with vulnerabilities.
    Cyclonedx,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub target: String,
    pub tool: Tool,
    /// False when a layer or a plugin failed, or a plugin could not read a file: what is reported
    /// is true, but something may be missing. `errors` says what.
    pub complete: bool,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    pub image: ImageSection,
    pub packages: Vec<PackageEntry>,
    pub vulnerabilities: Vec<VulnerabilityEntry>,
    pub issues: Vec<IssueEntry>,
    pub plugins: Vec<PluginEntry>,
    /// Findings left out on purpose (--severity, --ignore-unfixed, the ignore file, --skip-check).
    pub suppressed: Suppressed,
    pub stats: Stats,
}

#[derive(Debug, Default, Serialize)]
pub struct Suppressed {
    pub vulnerabilities: usize,
    pub issues: usize,
}

#[derive(Debug, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Default, Serialize)]
pub struct ImageSection {
    pub digest: Option<String>,
    pub config_digest: Option<String>,
    pub platform: Option<String>,
    pub repo_tags: Vec<String>,
    pub os: Option<OsSection>,
    pub layers: Vec<LayerSection>,
}

#[derive(Debug, Serialize)]
pub struct OsSection {
    pub id: String,
    pub version_id: String,
    pub pretty_name: Option<String>,
    /// Whether the release is past its end of life; null while unknown.
    pub eol: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct LayerSection {
    pub digest: String,
    pub diff_id: Option<String>,
    pub size: Option<u64>,
    pub media_type: Option<String>,
    /// "ok", or "error" when the layer could not be read (its files are missing from the scan).
    pub status: &'static str,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageEntry {
    pub name: String,
    pub version: String,
    pub ecosystem: String,
    pub source_name: Option<String>,
    pub source_version: Option<String>,
    pub arch: Option<String>,
    pub licenses: Vec<String>,
    pub purl: Option<String>,
    pub path: String,
    /// The layer that introduced the package; null for an unpacked root filesystem.
    pub layer: Option<String>,
    pub plugin: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VulnerabilityEntry {
    /// The CVE id when the vulnerability has one, else the advisory's own id.
    pub id: String,
    /// Every other id it is known by (GHSA, DSA, DEBIAN-CVE, ALPINE-CVE...).
    pub aliases: Vec<String>,
    pub package: String,
    pub installed_version: String,
    /// null: no fix yet.
    pub fixed_version: Option<String>,
    pub severity: Severity,
    /// CVSS base score, when a vector was given.
    pub score: Option<f64>,
    /// The OSV ecosystem of the advisory, e.g. "Debian:12".
    pub ecosystem: String,
    pub purl: Option<String>,
    /// The file the package was found in (a package can be installed at several paths).
    pub path: String,
    /// The layer that introduced the package.
    pub layer: Option<String>,
    pub summary: String,
    /// The advisories this entry merges.
    pub advisories: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct IssueEntry {
    pub id: String,
    pub plugin: String,
    pub severity: Severity,
    pub title: String,
    pub description: String,
    pub remediation: Option<String>,
    pub path: Option<String>,
    pub history_index: Option<u32>,
    pub layer: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PluginEntry {
    pub name: String,
    pub version: String,
    /// ok | incomplete (some files unreadable) | error | trap | timeout | out-of-memory |
    /// incompatible | load-error
    pub status: &'static str,
    pub error: Option<String>,
    /// Wall-clock time of the plugin's run.
    pub duration_ms: u64,
    /// CPU time of the plugin's run (what its CPU time limit limits).
    pub cpu_ms: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub layers: usize,
    pub blob_bytes: u64,
    pub tar_bytes: u64,
    /// Layers this scan did not read: from the layer cache, or read by a concurrent scan.
    pub cached_layers: usize,
    /// Blob bytes of those layers (not downloaded, not decoded).
    pub cached_bytes: u64,
    pub duration_ms: u64,
}

impl Report {
    pub fn new(target: &str) -> Report {
        Report {
            schema: SCHEMA,
            target: target.to_string(),
            tool: Tool { name: "ecr-engine", version: env!("CARGO_PKG_VERSION") },
            complete: true,
            errors: Vec::new(),
            warnings: Vec::new(),
            image: ImageSection::default(),
            packages: Vec::new(),
            vulnerabilities: Vec::new(),
            issues: Vec::new(),
            plugins: Vec::new(),
            suppressed: Suppressed::default(),
            stats: Stats::default(),
        }
    }

    pub fn set_image(&mut self, image: &ResolvedImage) {
        self.image.digest = Some(image.digest().to_string());
        self.image.config_digest = Some(image.config_digest.to_string());
        self.image.platform = Some(image.platform.to_string());
        self.image.repo_tags = image.repo_tags.clone();
        self.image.layers = image
            .layers
            .iter()
            .map(|l| LayerSection {
                digest: l.digest.to_string(),
                diff_id: l.diff_id.as_ref().map(|d| d.to_string()),
                size: l.size,
                media_type: l.media_type.clone(),
                status: "ok",
            })
            .collect();
        self.stats.layers = image.layers.len();
    }

    pub fn layer_read(&mut self, index: usize, contents: &LayerContents, from_cache: bool) {
        self.stats.blob_bytes += contents.blob_bytes;
        self.stats.tar_bytes += contents.tar_bytes;
        if from_cache {
            self.stats.cached_layers += 1;
            self.stats.cached_bytes += contents.blob_bytes;
        }
        if let Some(layer) = self.image.layers.get_mut(index) {
            layer.size = layer.size.or(Some(contents.blob_bytes));
        }
        self.warnings.extend(contents.warnings.iter().cloned());
    }

    pub fn layer_failed(&mut self, index: usize, error: String) {
        if let Some(layer) = self.image.layers.get_mut(index) {
            layer.status = "error";
        }
        self.complete = false;
        self.errors.push(error);
    }

    pub fn add_warnings(&mut self, warnings: Vec<String>) {
        self.warnings.extend(warnings);
    }

    /// Turns the analyzers' runs into report entries, with the layer each finding came from.
    pub fn add_analysis(&mut self, analysis: Analysis, config: Option<&ImageConfig>) {
        let history_layers = config.map(|c| history_to_layer(c, &self.image.layers)).unwrap_or_default();
        self.warnings.extend(analysis.warnings);
        for run in analysis.runs {
            let mut file_errors = Vec::new();
            for finding in run.findings {
                match finding {
                    Finding::Package(package) => {
                        let layer = analysis
                            .package_layers
                            .get(&PackageKey::new(&run.name, &package))
                            .or_else(|| analysis.file_layers.get(&package.path))
                            .filter(|l| !l.is_empty())
                            .cloned();
                        self.packages.push(PackageEntry {
                            name: package.name,
                            version: package.version,
                            ecosystem: package.ecosystem,
                            source_name: package.source_name,
                            source_version: package.source_version,
                            arch: package.arch,
                            licenses: package.licenses,
                            purl: package.purl,
                            path: package.path,
                            layer,
                            plugin: run.name.clone(),
                            properties: package.properties,
                        });
                    }
                    Finding::Distro(distro) => {
                        if self.image.os.is_none() {
                            self.image.os = Some(OsSection {
                                id: distro.id,
                                version_id: distro.version_id,
                                pretty_name: distro.pretty_name,
                                eol: None,
                            });
                        }
                    }
                    Finding::Issue(issue) => {
                        let layer = issue
                            .path
                            .as_ref()
                            .and_then(|p| analysis.file_layers.get(p))
                            .or_else(|| issue.history_index.and_then(|i| history_layers.get(&i)))
                            .filter(|l| !l.is_empty())
                            .cloned();
                        self.issues.push(IssueEntry {
                            id: issue.id,
                            plugin: run.name.clone(),
                            severity: issue.severity,
                            title: issue.title,
                            description: issue.description,
                            remediation: issue.remediation,
                            path: issue.path,
                            history_index: issue.history_index,
                            layer,
                        });
                    }
                    Finding::FileError(error) => file_errors.push(format!("{}: {}", error.path, error.message)),
                }
            }
            self.warnings.extend(run.warnings.iter().map(|warning| format!("plugin {}: {warning}", run.name)));
            let mut status = run.status.as_str();
            let mut error = run.error;
            if run.status != RunStatus::Ok {
                self.complete = false;
                self.errors.push(format!("plugin {}: {}", run.name, error.as_deref().unwrap_or(status)));
            } else if !file_errors.is_empty() {
                status = "incomplete";
                self.complete = false;
                for file_error in &file_errors {
                    self.errors.push(format!("plugin {}: {file_error}", run.name));
                }
                error = Some(file_errors.join("; "));
            }
            self.plugins.push(PluginEntry {
                name: run.name,
                version: run.version,
                status,
                error,
                duration_ms: run.duration_ms,
                cpu_ms: run.cpu_ms,
            });
        }
        self.packages.sort_by(|a, b| {
            (&a.ecosystem, &a.name, &a.version, &a.path).cmp(&(&b.ecosystem, &b.name, &b.version, &b.path))
        });
        self.issues.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
    }

    /// An issue the host itself raises (end of life, ...), reported under the plugin name
    /// "ecr-engine".
    pub fn add_host_issue(&mut self, issue: crate::model::Issue) {
        self.issues.push(IssueEntry {
            id: issue.id,
            plugin: "ecr-engine".to_string(),
            severity: issue.severity,
            title: issue.title,
            description: issue.description,
            remediation: issue.remediation,
            path: issue.path,
            history_index: issue.history_index,
            layer: None,
        });
        self.issues.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => self.to_json() + "\n",
            Format::Table => self.to_table(),
            Format::Sarif => sarif::render(self) + "\n",
            Format::Cyclonedx => cyclonedx::render(self) + "\n",
        }
    }

    /// The report for people. Every value in it comes through [`for_terminal`] (the cells in
    /// [`terminal::table`]), so image content can neither act on the terminal nor break a row.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Target:    {}", for_terminal(&self.target));
        if let Some(digest) = &self.image.digest {
            let platform = self.image.platform.as_deref().unwrap_or("?");
            let _ = writeln!(out, "Image:     {} ({})", for_terminal(digest), for_terminal(platform));
        }
        let os = self.image.os.as_ref().map_or("unknown".to_string(), |os| {
            os.pretty_name.clone().unwrap_or_else(|| format!("{} {}", os.id, os.version_id))
        });
        let _ = writeln!(out, "OS:        {}", for_terminal(&os));
        if !self.image.layers.is_empty() {
            let _ = writeln!(
                out,
                "Layers:    {} ({} compressed, {} uncompressed; {} from cache)",
                self.image.layers.len(),
                human_bytes(self.stats.blob_bytes),
                human_bytes(self.stats.tar_bytes),
                self.stats.cached_layers
            );
        }
        let mut by_ecosystem: BTreeMap<&str, usize> = BTreeMap::new();
        for package in &self.packages {
            *by_ecosystem.entry(&package.ecosystem).or_default() += 1;
        }
        let counts: Vec<String> = by_ecosystem.iter().map(|(e, n)| format!("{} {n}", for_terminal(e))).collect();
        let _ = writeln!(
            out,
            "\nPackages: {} ({})",
            self.packages.len(),
            if counts.is_empty() { "none".into() } else { counts.join(", ") }
        );
        let rows: Vec<Vec<String>> = self
            .packages
            .iter()
            .map(|p| {
                vec![
                    p.ecosystem.clone(),
                    p.name.clone(),
                    p.version.clone(),
                    p.source_name.clone().unwrap_or_default(),
                    p.arch.clone().unwrap_or_default(),
                    p.layer.as_deref().map(short_digest).unwrap_or("-").to_string(),
                ]
            })
            .collect();
        terminal::table(&mut out, "  ", &["ECOSYSTEM", "NAME", "VERSION", "SOURCE", "ARCH", "LAYER"], &rows);
        let _ = writeln!(out, "\nVulnerabilities: {} ({})", self.vulnerabilities.len(), self.severity_counts());
        let rows: Vec<Vec<String>> = self
            .vulnerabilities
            .iter()
            .map(|v| {
                vec![
                    severity_name(v.severity).to_string(),
                    v.id.clone(),
                    v.package.clone(),
                    v.installed_version.clone(),
                    v.fixed_version.clone().unwrap_or_else(|| "no fix yet".to_string()),
                    v.layer.as_deref().map(short_digest).unwrap_or("-").to_string(),
                ]
            })
            .collect();
        if !rows.is_empty() {
            terminal::table(&mut out, "  ", &["SEVERITY", "ID", "PACKAGE", "INSTALLED", "FIXED", "LAYER"], &rows);
        }
        if !self.issues.is_empty() {
            let _ = writeln!(out, "\nIssues: {}", self.issues.len());
            let rows: Vec<Vec<String>> = self
                .issues
                .iter()
                .map(|i| {
                    vec![
                        severity_name(i.severity).to_string(),
                        i.id.clone(),
                        i.title.clone(),
                        i.path.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            terminal::table(&mut out, "  ", &["SEVERITY", "ID", "TITLE", "PATH"], &rows);
        }
        let _ = writeln!(out, "\nPlugins:");
        let rows: Vec<Vec<String>> = self
            .plugins
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.version.clone(),
                    p.status.to_string(),
                    format!("{} ms", p.duration_ms),
                    format!("{} ms", p.cpu_ms),
                    p.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        terminal::table(&mut out, "  ", &["NAME", "VERSION", "STATUS", "TIME", "CPU", "ERROR"], &rows);
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {}", for_terminal(warning));
        }
        for error in &self.errors {
            let _ = writeln!(out, "error: {}", for_terminal(error));
        }
        let _ = writeln!(
            out,
            "\nSummary: {} packages, {} vulnerabilities ({}), {} issues{}",
            self.packages.len(),
            self.vulnerabilities.len(),
            self.severity_counts(),
            self.issues.len(),
            match self.suppressed.vulnerabilities + self.suppressed.issues {
                0 => String::new(),
                n => format!(", {n} suppressed"),
            }
        );
        let _ = writeln!(
            out,
            "{}",
            if self.complete {
                "Scan complete.".to_string()
            } else {
                format!("Scan INCOMPLETE: {} problem(s) above; the results shown are partial.", self.errors.len())
            }
        );
        out
    }
}

impl Report {
    /// "2 critical, 1 high" over the vulnerabilities, worst first; "none" when there are none.
    pub fn severity_counts(&self) -> String {
        let mut counts: BTreeMap<Severity, usize> = BTreeMap::new();
        for v in &self.vulnerabilities {
            *counts.entry(v.severity).or_default() += 1;
        }
        let parts: Vec<String> =
            counts.iter().rev().map(|(s, n)| format!("{n} {}", severity_name(*s).to_ascii_lowercase())).collect();
        if parts.is_empty() { "none".to_string() } else { parts.join(", ") }
    }
}

pub fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Unknown => "UNKNOWN",
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

/// Config history entries that created a layer map, in order, onto the image's layers.
fn history_to_layer(config: &ImageConfig, layers: &[LayerSection]) -> BTreeMap<u32, String> {
    let mut map = BTreeMap::new();
    let mut next_layer = layers.iter();
    for (index, entry) in config.history.iter().enumerate() {
        if entry.empty_layer {
            continue;
        }
        match next_layer.next() {
            Some(layer) => map.insert(index as u32, layer.digest.clone()),
            None => break,
        };
    }
    map
}

fn short_digest(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}
