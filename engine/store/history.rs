//! The scan history: every scan and rescan recorded with its package inventory and findings, so
//! vulnerabilities can be re-matched without the image (`rescan`), followed over time
//! (`history`) and compared between versions (`diff`), long after the registry is out of reach.
//!
//! A scan is one row written by one INSERT at its end: a scan killed before that leaves no
//! trace, and readers never see half a scan.

use super::Store;
use crate::model::Severity;
use crate::report::{PackageEntry, Report, VulnerabilityEntry};
use anyhow::{Context, Result};
use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

/// One recorded scan, in full.
#[derive(Debug, Clone, Serialize)]
pub struct ScanRecord {
    /// Assigned by the history when recorded.
    pub id: Option<i64>,
    /// "scan" (the image was read) or "rescan" (a stored inventory matched again).
    pub kind: String,
    pub target: String,
    pub repository: Option<String>,
    pub tags: Vec<String>,
    pub image_digest: Option<String>,
    pub platform: Option<String>,
    /// The base OS (id, version id), which decides the advisories that apply.
    pub os: Option<(String, String)>,
    /// UTC, RFC 3339.
    pub scanned_at: String,
    pub tool_version: String,
    /// The analyzers that read the image: (name, version).
    pub analyzers: Vec<(String, String)>,
    /// When the vulnerability data used was imported; `None`: there was none.
    pub data_version: Option<String>,
    pub complete: bool,
    pub packages: Vec<PackageEntry>,
    pub vulnerabilities: Vec<VulnerabilityEntry>,
}

/// A scan as `history` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ScanSummary {
    pub id: i64,
    pub kind: String,
    pub target: String,
    pub repository: Option<String>,
    pub tags: Vec<String>,
    pub image_digest: Option<String>,
    pub scanned_at: String,
    pub data_version: Option<String>,
    pub complete: bool,
    pub packages: u64,
    pub vulnerabilities: SeverityCounts,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub unknown: u64,
}

impl SeverityCounts {
    pub fn of(vulnerabilities: &[VulnerabilityEntry]) -> SeverityCounts {
        let mut counts = SeverityCounts::default();
        for v in vulnerabilities {
            *match v.severity {
                Severity::Critical => &mut counts.critical,
                Severity::High => &mut counts.high,
                Severity::Medium => &mut counts.medium,
                Severity::Low => &mut counts.low,
                Severity::Unknown => &mut counts.unknown,
            } += 1;
        }
        counts
    }

    pub fn total(&self) -> u64 {
        self.critical + self.high + self.medium + self.low + self.unknown
    }
}

/// Where scans are recorded and read back; a shared database can implement it for many workers.
pub trait ScanHistory {
    /// Records a scan atomically; returns its id.
    fn record(&self, scan: &ScanRecord) -> Result<i64>;
    /// Scans, oldest first; only those of `repository` when given.
    fn list(&self, repository: Option<&str>) -> Result<Vec<ScanSummary>>;
    fn load(&self, id: i64) -> Result<Option<ScanRecord>>;
    /// The latest scan a reference names: a scan id, an image digest (or a prefix of one), a
    /// target as scanned, or a tag (`repo:tag`).
    fn find(&self, reference: &str) -> Result<Option<i64>>;
    /// The latest scan of each image (digest and platform), of one repository when given.
    fn latest_per_image(&self, repository: Option<&str>) -> Result<Vec<i64>>;
}

impl ScanRecord {
    /// What a finished scan's report says, before any policy filter (the history keeps every
    /// finding; filters are a view).
    pub fn from_report(report: &Report, kind: &str, data_version: Option<String>) -> ScanRecord {
        let tags = report.image.repo_tags.clone();
        ScanRecord {
            id: None,
            kind: kind.to_string(),
            target: report.target.clone(),
            repository: tags.first().map(|tag| repository_of(tag).to_string()),
            tags,
            image_digest: report.image.digest.clone(),
            platform: report.image.platform.clone(),
            os: report.image.os.as_ref().map(|os| (os.id.clone(), os.version_id.clone())),
            scanned_at: now_rfc3339(),
            tool_version: report.tool.version.to_string(),
            analyzers: report.plugins.iter().map(|p| (p.name.clone(), p.version.clone())).collect(),
            data_version,
            complete: report.complete,
            packages: report.packages.clone(),
            vulnerabilities: report.vulnerabilities.clone(),
        }
    }
}

/// Whole seconds: scans are listed by the minute, not the nanosecond.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("the current time formats as RFC 3339")
}

/// `registry:5000/team/app:1.2` -> `registry:5000/team/app`: the tag is after the last ':' that
/// follows the last '/'; a digest reference (`@sha256:...`) ends at the '@'.
pub fn repository_of(reference: &str) -> &str {
    let reference = reference.split('@').next().unwrap_or(reference);
    let name_start = reference.rfind('/').map_or(0, |slash| slash + 1);
    match reference[name_start..].rfind(':') {
        Some(colon) => &reference[..name_start + colon],
        None => reference,
    }
}

const SUMMARY_COLUMNS: &str = "id, kind, target, repository, tags, image_digest, scanned_at, data_version, complete, \
     package_count, critical, high, medium, low, unknown";

fn summary(row: &Row<'_>) -> rusqlite::Result<ScanSummary> {
    let tags: String = row.get(4)?;
    Ok(ScanSummary {
        id: row.get(0)?,
        kind: row.get(1)?,
        target: row.get(2)?,
        repository: row.get(3)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        image_digest: row.get(5)?,
        scanned_at: row.get(6)?,
        data_version: row.get(7)?,
        complete: row.get(8)?,
        packages: row.get::<_, i64>(9)? as u64,
        vulnerabilities: SeverityCounts {
            critical: row.get::<_, i64>(10)? as u64,
            high: row.get::<_, i64>(11)? as u64,
            medium: row.get::<_, i64>(12)? as u64,
            low: row.get::<_, i64>(13)? as u64,
            unknown: row.get::<_, i64>(14)? as u64,
        },
    })
}

impl ScanHistory for Store {
    fn record(&self, scan: &ScanRecord) -> Result<i64> {
        let counts = SeverityCounts::of(&scan.vulnerabilities);
        let (os_id, os_version) = scan.os.clone().unzip();
        // One statement: the scan is there entirely or not at all.
        self.conn.execute(
            "INSERT INTO scans (kind, target, repository, tags, image_digest, platform, os_id, os_version, scanned_at,
                 tool_version, data_version, complete, critical, high, medium, low, unknown, package_count, packages,
                 vulnerabilities, analyzers)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
            params![
                scan.kind,
                scan.target,
                scan.repository,
                serde_json::to_string(&scan.tags)?,
                scan.image_digest,
                scan.platform,
                os_id,
                os_version,
                scan.scanned_at,
                scan.tool_version,
                scan.data_version,
                scan.complete,
                counts.critical as i64,
                counts.high as i64,
                counts.medium as i64,
                counts.low as i64,
                counts.unknown as i64,
                scan.packages.len() as i64,
                serde_json::to_string(&scan.packages)?,
                serde_json::to_string(&scan.vulnerabilities)?,
                serde_json::to_string(&scan.analyzers)?,
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn list(&self, repository: Option<&str>) -> Result<Vec<ScanSummary>> {
        let mut statement = self.conn.prepare(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM scans WHERE ?1 IS NULL OR repository = ?1 OR target = ?1 ORDER BY id"
        ))?;
        Ok(statement.query_map([repository], summary)?.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn load(&self, id: i64) -> Result<Option<ScanRecord>> {
        let row = self
            .conn
            .query_row(
                "SELECT kind, target, repository, tags, image_digest, platform, os_id, os_version, scanned_at,
                     tool_version, data_version, complete, packages, vulnerabilities, analyzers FROM scans WHERE id = ?1",
                [id],
                |r| {
                    let os_id: Option<String> = r.get(6)?;
                    let os_version: Option<String> = r.get(7)?;
                    Ok((
                        ScanRecord {
                            id: Some(id),
                            kind: r.get(0)?,
                            target: r.get(1)?,
                            repository: r.get(2)?,
                            tags: Vec::new(),
                            image_digest: r.get(4)?,
                            platform: r.get(5)?,
                            os: os_id.zip(os_version),
                            scanned_at: r.get(8)?,
                            tool_version: r.get(9)?,
                            analyzers: Vec::new(),
                            data_version: r.get(10)?,
                            complete: r.get(11)?,
                            packages: Vec::new(),
                            vulnerabilities: Vec::new(),
                        },
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(12)?,
                        r.get::<_, String>(13)?,
                        r.get::<_, String>(14)?,
                    ))
                },
            )
            .optional()?;
        let Some((mut record, tags, packages, vulnerabilities, analyzers)) = row else { return Ok(None) };
        record.analyzers = serde_json::from_str(&analyzers).with_context(|| format!("scan {id}: stored analyzers"))?;
        record.tags = serde_json::from_str(&tags).with_context(|| format!("scan {id}: stored tags"))?;
        record.packages = serde_json::from_str(&packages).with_context(|| format!("scan {id}: stored packages"))?;
        record.vulnerabilities =
            serde_json::from_str(&vulnerabilities).with_context(|| format!("scan {id}: stored vulnerabilities"))?;
        Ok(Some(record))
    }

    fn find(&self, reference: &str) -> Result<Option<i64>> {
        if let Ok(id) = reference.parse::<i64>() {
            return Ok(self.conn.query_row("SELECT id FROM scans WHERE id = ?1", [id], |r| r.get(0)).optional()?);
        }
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM scans
                 WHERE (?1 LIKE 'sha256:%' AND image_digest LIKE ?1 || '%')
                    OR target = ?1
                    OR EXISTS (SELECT 1 FROM json_each(scans.tags) WHERE value = ?1)
                 ORDER BY id DESC LIMIT 1",
                [reference],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn latest_per_image(&self, repository: Option<&str>) -> Result<Vec<i64>> {
        let mut statement = self.conn.prepare(
            "SELECT max(id) FROM scans WHERE ?1 IS NULL OR repository = ?1 OR target = ?1
             GROUP BY coalesce(image_digest, target), platform ORDER BY max(id)",
        )?;
        Ok(statement.query_map([repository], |r| r.get(0))?.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::repository_of;

    #[test]
    fn repositories_of_references() {
        assert_eq!(repository_of("example/app:1.0"), "example/app");
        assert_eq!(repository_of("registry:5000/team/app:2"), "registry:5000/team/app");
        assert_eq!(repository_of("registry:5000/team/app"), "registry:5000/team/app");
        assert_eq!(repository_of("app@sha256:abc"), "app");
        assert_eq!(repository_of("busybox"), "busybox");
    }
}
