//! What the scan history answers: re-matching stored inventories against current vulnerability
//! data (`rescan`), scans over time (`history`) and what changed between two scans (`diff`).
//! Everything here reads the store only: no image, registry or layer is touched.

use crate::policy::Policy;
use crate::report::{OsSection, PackageEntry, Report, Suppressed, VulnerabilityEntry};
use crate::store::history::{ScanHistory, ScanRecord, ScanSummary, SeverityCounts};
use crate::store::{AdvisorySource, Store};
use crate::terminal::for_terminal;
use crate::vuln::{self, matcher::MatchOptions, version::Scheme};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use time::Date;

/// One image matched again. Counts and lists are after the policy (`--severity`, ignore file,
/// ...), on both sides; the history records every finding.
#[derive(Debug, Serialize)]
pub struct Rescanned {
    pub scan_id: i64,
    pub previous_scan_id: i64,
    pub target: String,
    pub image_digest: Option<String>,
    pub before: SeverityCounts,
    pub after: SeverityCounts,
    /// Vulnerability ids found now and not before, and the reverse.
    pub introduced: Vec<String>,
    pub fixed: Vec<String>,
    /// Ids of the issues found now (only end of life: configuration checks need the image).
    pub issues: Vec<String>,
    /// What the policy left out of this result.
    pub suppressed: Suppressed,
}

impl Rescanned {
    /// Whether anything is left after the policy: what fails a pipeline (`--exit-code`).
    pub fn has_findings(&self) -> bool {
        self.after.total() > 0 || !self.issues.is_empty()
    }
}

/// Re-matches the latest inventory of every recorded image (of `repository`, when given)
/// against the store's current vulnerability data, and records each result as a new scan.
pub fn rescan(
    store: &Store,
    repository: Option<&str>,
    options: MatchOptions,
    policy: &Policy,
    today: Date,
) -> Result<Vec<Rescanned>> {
    let Some(data_version) = store.data_version()? else {
        bail!("no vulnerability data in {}; run `ecr-engine db update` first", store.path().display());
    };
    let mut out = Vec::new();
    for id in store.latest_per_image(repository)? {
        let previous = store.load(id)?.with_context(|| format!("scan {id} vanished from the history"))?;
        let mut report = Report::new(&previous.target);
        report.image.digest = previous.image_digest.clone();
        report.image.platform = previous.platform.clone();
        report.image.repo_tags = previous.tags.clone();
        report.image.os = previous.os.as_ref().map(|(id, version_id)| OsSection {
            id: id.clone(),
            version_id: version_id.clone(),
            pretty_name: None,
            eol: None,
        });
        report.complete = previous.complete;
        report.packages = previous.packages.clone();
        vuln::assess(&mut report, Some(store as &dyn AdvisorySource), today, options)?;
        // The inventory is the one the earlier scan's analyzers produced.
        let record = ScanRecord {
            repository: previous.repository.clone(),
            analyzers: previous.analyzers.clone(),
            ..ScanRecord::from_report(&report, "rescan", Some(data_version.clone()))
        };
        let scan_id = store.record(&record)?;
        // Recorded whole; the policy shapes only what is shown and counted.
        policy.apply(&mut report, today);
        let mut before = previous.vulnerabilities;
        policy.filter_vulnerabilities(&mut before, today);
        let changes = vulnerability_changes(&before, &report.vulnerabilities);
        out.push(Rescanned {
            scan_id,
            previous_scan_id: id,
            target: previous.target,
            image_digest: previous.image_digest,
            before: SeverityCounts::of(&before),
            after: SeverityCounts::of(&report.vulnerabilities),
            introduced: changes.introduced.iter().map(|v| v.id.clone()).collect(),
            fixed: changes.fixed.iter().map(|v| v.id.clone()).collect(),
            issues: report.issues.iter().map(|i| i.id.clone()).collect(),
            suppressed: report.suppressed,
        });
    }
    Ok(out)
}

/// The rescan for people; each value through [`for_terminal`], as in the other tables here.
pub fn rescan_table(results: &[Rescanned]) -> String {
    let mut out = String::new();
    if results.is_empty() {
        out.push_str("No recorded scans to match again.\n");
    }
    for r in results {
        let _ = write!(
            out,
            "scan {} (from {}) {}  {} -> {}  +{} new, -{} fixed",
            r.scan_id,
            r.previous_scan_id,
            for_terminal(&r.target),
            counts_text(&r.before),
            counts_text(&r.after),
            r.introduced.len(),
            r.fixed.len()
        );
        if !r.issues.is_empty() {
            let _ = write!(out, "  issues: {}", for_terminal(&r.issues.join(", ")));
        }
        match r.suppressed.vulnerabilities + r.suppressed.issues {
            0 => out.push('\n'),
            n => {
                let _ = writeln!(out, "  ({n} suppressed)");
            }
        }
    }
    out
}

fn counts_text(c: &SeverityCounts) -> String {
    format!("C:{} H:{} M:{} L:{} U:{}", c.critical, c.high, c.medium, c.low, c.unknown)
}

pub fn history_table(scans: &[ScanSummary]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>5}  {:<20}  {:<6}  {:<30}  {:<19}  {:>8}  {:>4} {:>4} {:>4} {:>4} {:>4}",
        "ID", "SCANNED", "KIND", "IMAGE", "DIGEST", "PACKAGES", "CRIT", "HIGH", "MED", "LOW", "UNK"
    );
    for s in scans {
        let image = for_terminal(s.tags.first().unwrap_or(&s.target));
        let digest = s.image_digest.as_deref().map_or("-".to_string(), |d| for_terminal(d).chars().take(19).collect());
        let c = &s.vulnerabilities;
        let _ = writeln!(
            out,
            "{:>5}  {:<20}  {:<6}  {:<30}  {:<19}  {:>8}  {:>4} {:>4} {:>4} {:>4} {:>4}{}",
            s.id,
            for_terminal(&s.scanned_at),
            for_terminal(&s.kind),
            image,
            digest,
            s.packages,
            c.critical,
            c.high,
            c.medium,
            c.low,
            c.unknown,
            if s.complete { "" } else { "  (incomplete)" }
        );
    }
    out
}

/// What changed from scan `from` to scan `to`.
#[derive(Debug, Serialize)]
pub struct ScanDiff {
    pub from: DiffSide,
    pub to: DiffSide,
    pub packages_added: Vec<PackageRef>,
    pub packages_removed: Vec<PackageRef>,
    /// Same package at the same path, another version (`direction` says which way).
    pub packages_changed: Vec<VersionChange>,
    pub vulnerabilities_introduced: Vec<VulnerabilityEntry>,
    pub vulnerabilities_fixed: Vec<VulnerabilityEntry>,
}

#[derive(Debug, Serialize)]
pub struct DiffSide {
    pub scan_id: i64,
    pub target: String,
    pub image_digest: Option<String>,
    pub scanned_at: String,
    /// What produced the findings: a change of data or analyzers explains a diff as much as a
    /// change of image does.
    pub data_version: Option<String>,
    pub analyzers: Vec<(String, String)>,
}

#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct PackageRef {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
    pub path: String,
}

#[derive(Debug, Serialize)]
pub struct VersionChange {
    pub ecosystem: String,
    pub name: String,
    pub path: String,
    pub from: String,
    pub to: String,
    /// "upgraded", "downgraded", or "changed" when the ecosystem's version order is unknown.
    pub direction: &'static str,
}

/// Resolves a reference to a recorded scan, with an error that says what was looked for.
pub fn find_scan(store: &Store, reference: &str) -> Result<ScanRecord> {
    let Some(id) = store.find(reference)? else {
        bail!(
            "no recorded scan matches '{reference}' (a scan id, an image digest, a target or repo:tag); `ecr-engine history` lists them"
        );
    };
    store.load(id)?.with_context(|| format!("scan {id} vanished from the history"))
}

pub fn diff(from: &ScanRecord, to: &ScanRecord) -> ScanDiff {
    type Key = (String, String, String);
    let index = |packages: &[PackageEntry]| -> BTreeMap<Key, String> {
        packages.iter().map(|p| ((p.ecosystem.clone(), p.name.clone(), p.path.clone()), p.version.clone())).collect()
    };
    let (before, after) = (index(&from.packages), index(&to.packages));
    let package_ref = |(ecosystem, name, path): &Key, version: &str| PackageRef {
        ecosystem: ecosystem.clone(),
        name: name.clone(),
        version: version.to_string(),
        path: path.clone(),
    };
    let mut diff = ScanDiff {
        from: side(from),
        to: side(to),
        packages_added: Vec::new(),
        packages_removed: Vec::new(),
        packages_changed: Vec::new(),
        vulnerabilities_introduced: Vec::new(),
        vulnerabilities_fixed: Vec::new(),
    };
    for (key, version) in &after {
        match before.get(key) {
            None => diff.packages_added.push(package_ref(key, version)),
            Some(old) if old != version => diff.packages_changed.push(VersionChange {
                ecosystem: key.0.clone(),
                name: key.1.clone(),
                path: key.2.clone(),
                from: old.clone(),
                to: version.clone(),
                direction: direction(&key.0, old, version),
            }),
            Some(_) => {}
        }
    }
    for (key, version) in &before {
        if !after.contains_key(key) {
            diff.packages_removed.push(package_ref(key, version));
        }
    }
    let changes = vulnerability_changes(&from.vulnerabilities, &to.vulnerabilities);
    diff.vulnerabilities_introduced = changes.introduced;
    diff.vulnerabilities_fixed = changes.fixed;
    diff
}

fn side(scan: &ScanRecord) -> DiffSide {
    DiffSide {
        scan_id: scan.id.unwrap_or_default(),
        target: scan.target.clone(),
        image_digest: scan.image_digest.clone(),
        scanned_at: scan.scanned_at.clone(),
        data_version: scan.data_version.clone(),
        analyzers: scan.analyzers.clone(),
    }
}

fn direction(ecosystem: &str, from: &str, to: &str) -> &'static str {
    let scheme = match ecosystem {
        "deb" => Scheme::Dpkg,
        "apk" => Scheme::Apk,
        "rpm" => Scheme::Rpm,
        "npm" => Scheme::Semver,
        "pypi" => Scheme::Pep440,
        _ => return "changed",
    };
    match scheme.compare(from, to) {
        std::cmp::Ordering::Less => "upgraded",
        std::cmp::Ordering::Greater => "downgraded",
        std::cmp::Ordering::Equal => "changed",
    }
}

struct VulnerabilityChanges {
    introduced: Vec<VulnerabilityEntry>,
    fixed: Vec<VulnerabilityEntry>,
}

/// A vulnerability is the same finding on both sides when it has the same id on the same package
/// at the same path, whatever version of the package is installed.
fn vulnerability_changes(before: &[VulnerabilityEntry], after: &[VulnerabilityEntry]) -> VulnerabilityChanges {
    let key = |v: &VulnerabilityEntry| (v.id.clone(), v.package.clone(), v.path.clone());
    let old: std::collections::HashSet<_> = before.iter().map(key).collect();
    let new: std::collections::HashSet<_> = after.iter().map(key).collect();
    VulnerabilityChanges {
        introduced: after.iter().filter(|v| !old.contains(&key(v))).cloned().collect(),
        fixed: before.iter().filter(|v| !new.contains(&key(v))).cloned().collect(),
    }
}

pub fn diff_table(diff: &ScanDiff) -> String {
    let mut out = String::new();
    let describe = |s: &DiffSide| {
        let digest = s.image_digest.as_deref().unwrap_or("-");
        format!("scan {} {} {}", s.scan_id, for_terminal(&s.target), for_terminal(digest))
    };
    let _ = writeln!(out, "From: {}\nTo:   {}", describe(&diff.from), describe(&diff.to));
    for (heading, mark, list) in [
        ("\nVulnerabilities introduced", '+', &diff.vulnerabilities_introduced),
        ("Vulnerabilities fixed", '-', &diff.vulnerabilities_fixed),
    ] {
        let _ = writeln!(out, "{heading}: {}", list.len());
        for v in list {
            let severity = crate::report::severity_name(v.severity);
            let (id, package, version) =
                (for_terminal(&v.id), for_terminal(&v.package), for_terminal(&v.installed_version));
            let _ = writeln!(out, "  {mark} {id:<20} {severity:<9} {package} {version}");
        }
    }
    let _ = writeln!(out, "\nPackages added: {}", diff.packages_added.len());
    for p in &diff.packages_added {
        let _ = writeln!(
            out,
            "  + {} {} ({})",
            for_terminal(&p.name),
            for_terminal(&p.version),
            for_terminal(&p.ecosystem)
        );
    }
    let _ = writeln!(out, "Packages removed: {}", diff.packages_removed.len());
    for p in &diff.packages_removed {
        let _ = writeln!(
            out,
            "  - {} {} ({})",
            for_terminal(&p.name),
            for_terminal(&p.version),
            for_terminal(&p.ecosystem)
        );
    }
    let _ = writeln!(out, "Packages changed: {}", diff.packages_changed.len());
    for c in &diff.packages_changed {
        let (name, from, to) = (for_terminal(&c.name), for_terminal(&c.from), for_terminal(&c.to));
        let _ = writeln!(out, "  ~ {name} {from} -> {to} ({})", c.direction);
    }
    out
}
