//! OSV records (the schema of osv.dev), as read from JSON files and `all.zip` dumps, with the
//! checks that decide whether a record can be trusted enough to store.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    pub id: String,
    #[serde(default)]
    pub modified: String,
    #[serde(default)]
    pub published: Option<String>,
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Debian and Ubuntu records name the upstream ids (CVE) here rather than in `aliases`.
    #[serde(default)]
    pub upstream: Vec<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SeverityEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Affected {
    #[serde(default)]
    pub package: Option<PackageRef>,
    #[serde(flatten)]
    pub matching: Matching,
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    #[serde(default)]
    pub ecosystem_specific: Option<Value>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PackageRef {
    #[serde(default)]
    pub ecosystem: String,
    #[serde(default)]
    pub name: String,
}

/// What decides whether a version is affected: stored as it is and evaluated at match time.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Matching {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Event {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

impl Record {
    /// The schema's requirements that matching relies on. A record failing them is skipped (and
    /// reported) rather than stored half-understood.
    pub fn validate(&self) -> Result<()> {
        if self.id.trim().is_empty() {
            bail!("record has no id");
        }
        if self.modified.trim().is_empty() {
            bail!("{}: missing required field 'modified'", self.id);
        }
        for (index, affected) in self.affected.iter().enumerate() {
            let Some(package) = &affected.package else { continue };
            if package.ecosystem.is_empty() || package.name.is_empty() {
                bail!("{}: affected[{index}].package needs both ecosystem and name", self.id);
            }
            for range in &affected.matching.ranges {
                if !matches!(range.kind.as_str(), "ECOSYSTEM" | "SEMVER" | "GIT") {
                    bail!("{}: affected[{index}] has a range of unknown type '{}'", self.id, range.kind);
                }
                if range.events.is_empty() {
                    bail!("{}: affected[{index}] has a range without events", self.id);
                }
                for event in &range.events {
                    let set = [&event.introduced, &event.fixed, &event.last_affected, &event.limit]
                        .iter()
                        .filter(|e| e.is_some())
                        .count();
                    if set != 1 {
                        bail!(
                            "{}: affected[{index}] has an event with {set} of introduced/fixed/last_affected/limit (must be exactly one)",
                            self.id
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Other ids this vulnerability is known by: aliases and, for distro records, upstream ids.
    pub fn other_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> =
            self.aliases.iter().chain(&self.upstream).filter(|a| **a != self.id).cloned().collect();
        ids.sort();
        ids.dedup();
        ids
    }

    pub fn summary_text(&self) -> String {
        match (&self.summary, &self.details) {
            (Some(summary), _) if !summary.trim().is_empty() => summary.trim().to_string(),
            (_, Some(details)) => {
                details.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").chars().take(300).collect()
            }
            _ => String::new(),
        }
    }
}
