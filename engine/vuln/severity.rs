//! How bad a vulnerability is: the CVSS base score computed from the record's vector (v4 over
//! v3 over v2, the newest version the record gives), else the severity word the source assigns.

use crate::model::Severity;
use crate::vuln::osv::{Affected, Record, SeverityEntry};
use serde_json::Value;
use std::str::FromStr;

/// Severity and, when it comes from a CVSS vector, the base score.
pub fn assess(record: &Record, affected: Option<&Affected>) -> (Severity, Option<f64>) {
    let entries: Vec<&SeverityEntry> =
        affected.map(|a| a.severity.iter()).into_iter().flatten().chain(&record.severity).collect();
    if let Some(score) = best_cvss(&entries) {
        return (from_score(score), Some(score));
    }
    let words = entries
        .iter()
        .filter(|e| !e.kind.starts_with("CVSS"))
        .map(|e| e.score.as_str())
        .chain(affected.and_then(|a| word_in(a.ecosystem_specific.as_ref())))
        .chain(affected.and_then(|a| word_in(a.database_specific.as_ref())))
        .chain(word_in(record.database_specific.as_ref()));
    let severity = words.map(from_word).max().unwrap_or(Severity::Unknown);
    (severity, None)
}

/// The score of the newest CVSS version present; vectors that do not parse are ignored.
fn best_cvss(entries: &[&SeverityEntry]) -> Option<f64> {
    ["CVSS_V4", "CVSS_V3", "CVSS_V2"].iter().find_map(|kind| {
        entries
            .iter()
            .filter(|e| e.kind == *kind)
            .filter_map(|e| cvss::Cvss::from_str(e.score.trim()).ok())
            .map(|v| v.score())
            .reduce(f64::max)
    })
}

/// CVSS v3/v4 qualitative rating: 0.1-3.9 low, 4.0-6.9 medium, 7.0-8.9 high, 9.0-10 critical.
pub fn from_score(score: f64) -> Severity {
    match score {
        s if s >= 9.0 => Severity::Critical,
        s if s >= 7.0 => Severity::High,
        s if s >= 4.0 => Severity::Medium,
        s if s > 0.0 => Severity::Low,
        _ => Severity::Unknown,
    }
}

/// Words sources use: GHSA "MODERATE", Debian urgency "unimportant", Ubuntu "negligible".
pub fn from_word(word: &str) -> Severity {
    match word.trim().to_ascii_lowercase().as_str() {
        "critical" => Severity::Critical,
        "high" | "important" => Severity::High,
        "medium" | "moderate" => Severity::Medium,
        "low" | "negligible" | "unimportant" => Severity::Low,
        _ => Severity::Unknown,
    }
}

fn word_in(value: Option<&Value>) -> Option<&str> {
    let value = value?;
    ["severity", "urgency"].iter().find_map(|key| value.get(key).and_then(Value::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: serde_json::Value) -> Record {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn cvss_vectors_are_scored() {
        // CVSS 3.1 AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H is the classic 9.8.
        let r = record(serde_json::json!({"id": "X", "modified": "2024-01-01T00:00:00Z",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}));
        assert_eq!(assess(&r, None), (Severity::Critical, Some(9.8)));
        let r = record(serde_json::json!({"id": "X", "modified": "2024-01-01T00:00:00Z",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}]}));
        assert_eq!(assess(&r, None).0, Severity::Low);
    }

    #[test]
    fn words_when_there_is_no_vector() {
        let r = record(serde_json::json!({"id": "GHSA-x", "modified": "2024-01-01T00:00:00Z",
            "database_specific": {"severity": "MODERATE"}}));
        assert_eq!(assess(&r, None), (Severity::Medium, None));
        let r = record(serde_json::json!({"id": "X", "modified": "2024-01-01T00:00:00Z"}));
        assert_eq!(assess(&r, None), (Severity::Unknown, None));
    }
}
