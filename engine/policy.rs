//! What the user asked to leave out of a report and what makes a scan fail a pipeline:
//! `--severity`, `--ignore-unfixed`, the ignore file, `--skip-check`.

use crate::model::Severity;
use crate::regular_file::{SETTINGS_FILE_CEILING, read_regular_text};
use crate::report::{Report, VulnerabilityEntry};
use anyhow::{Context, Result, bail};
use std::path::Path;
use time::Date;
use time::macros::format_description;

/// One line of the ignore file: `ID [exp:YYYY-MM-DD] [# reason]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreEntry {
    pub id: String,
    pub expires: Option<Date>,
    pub reason: Option<String>,
}

/// Reads an ignore file: one id per line (a vulnerability id or any of its aliases, or a check
/// id), optionally `exp:YYYY-MM-DD` after which the entry stops applying, and `# reason`.
pub fn parse_ignore_file(text: &str, origin: &str) -> Result<Vec<IgnoreEntry>> {
    let mut entries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let (body, reason) = match line.split_once('#') {
            Some((body, reason)) => (body, Some(reason.trim().to_string()).filter(|r| !r.is_empty())),
            None => (line, None),
        };
        let mut words = body.split_whitespace();
        let Some(id) = words.next() else { continue };
        let mut expires = None;
        for word in words {
            let Some(date) = word.strip_prefix("exp:") else {
                bail!("{origin}:{}: unexpected '{word}' (expected `ID [exp:YYYY-MM-DD] [# reason]`)", number + 1);
            };
            expires = Some(
                Date::parse(date, format_description!("[year]-[month]-[day]"))
                    .with_context(|| format!("{origin}:{}: '{date}' is not a date like 2027-01-31", number + 1))?,
            );
        }
        entries.push(IgnoreEntry { id: id.to_string(), expires, reason });
    }
    Ok(entries)
}

pub fn read_ignore_file(path: &Path) -> Result<Vec<IgnoreEntry>> {
    let text = read_regular_text(path, SETTINGS_FILE_CEILING, "an ignore file")
        .with_context(|| format!("cannot read the ignore file {}", path.display()))?;
    parse_ignore_file(&text, &path.display().to_string())
}

/// `CRITICAL,HIGH` -> the severities to keep.
pub fn parse_severities(text: &str) -> Result<Vec<Severity>, String> {
    text.split(',')
        .map(|word| match word.trim().to_ascii_uppercase().as_str() {
            "UNKNOWN" => Ok(Severity::Unknown),
            "LOW" => Ok(Severity::Low),
            "MEDIUM" => Ok(Severity::Medium),
            "HIGH" => Ok(Severity::High),
            "CRITICAL" => Ok(Severity::Critical),
            other => Err(format!("unknown severity '{other}' (use UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL)")),
        })
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Keep only findings of these severities; empty keeps all.
    pub severities: Vec<Severity>,
    pub ignore_unfixed: bool,
    pub ignore: Vec<IgnoreEntry>,
    pub skip_checks: Vec<String>,
}

impl Policy {
    /// Removes what the policy leaves out, counting it in `report.suppressed`.
    pub fn apply(&self, report: &mut Report, today: Date) {
        report.warnings.extend(self.expired_warnings(today));
        report.suppressed.vulnerabilities += self.filter_vulnerabilities(&mut report.vulnerabilities, today);
        let before = report.issues.len();
        report.issues.retain(|i| {
            self.severity_kept(i.severity)
                && !self.skip_checks.iter().any(|id| id.eq_ignore_ascii_case(&i.id))
                && !self.ignored(&[&i.id], today)
        });
        report.suppressed.issues += before - report.issues.len();
    }

    /// Removes the vulnerabilities the policy leaves out; returns how many. `rescan` filters the
    /// earlier scan's findings with it too, so both sides of its comparison are seen alike.
    pub fn filter_vulnerabilities(&self, vulnerabilities: &mut Vec<VulnerabilityEntry>, today: Date) -> usize {
        let before = vulnerabilities.len();
        vulnerabilities.retain(|v| {
            self.severity_kept(v.severity)
                && !(self.ignore_unfixed && v.fixed_version.is_none())
                && !self.ignored(&std::iter::once(&v.id).chain(&v.aliases).collect::<Vec<_>>(), today)
        });
        before - vulnerabilities.len()
    }

    /// One warning per ignore entry past its date: it no longer hides anything.
    pub fn expired_warnings(&self, today: Date) -> Vec<String> {
        self.ignore
            .iter()
            .filter_map(|e| e.expires.filter(|d| *d < today).map(|d| (e, d)))
            .map(|(e, d)| format!("ignore entry {} expired on {d}; it no longer applies", e.id))
            .collect()
    }

    fn severity_kept(&self, severity: Severity) -> bool {
        self.severities.is_empty() || self.severities.contains(&severity)
    }

    /// Whether an ignore entry still in force names any of `ids`.
    fn ignored(&self, ids: &[&String], today: Date) -> bool {
        self.ignore
            .iter()
            .filter(|e| e.expires.is_none_or(|d| d >= today))
            .any(|e| ids.iter().any(|id| e.id.eq_ignore_ascii_case(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn ignore_file_lines() {
        let entries = parse_ignore_file(
            "# team exceptions\nCVE-2024-1 exp:2027-01-31 # waiting for upstream\n\nGHSA-abcd\n",
            "ignore",
        )
        .unwrap();
        assert_eq!(
            entries,
            vec![
                IgnoreEntry {
                    id: "CVE-2024-1".into(),
                    expires: Some(date!(2027 - 01 - 31)),
                    reason: Some("waiting for upstream".into())
                },
                IgnoreEntry { id: "GHSA-abcd".into(), expires: None, reason: None },
            ]
        );
        assert!(parse_ignore_file("CVE-1 until:2020", "f").unwrap_err().to_string().contains("f:1"));
        assert!(parse_ignore_file("CVE-1 exp:2020-13-01", "f").is_err());
    }

    #[test]
    fn severities() {
        assert_eq!(parse_severities("high,CRITICAL"), Ok(vec![Severity::High, Severity::Critical]));
        assert!(parse_severities("urgent").is_err());
    }
}
