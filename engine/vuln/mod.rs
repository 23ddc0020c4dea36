//! Vulnerability matching: the packages a scan found against OSV records in the store, with each
//! ecosystem's version rules, plus the end-of-life state of the base OS.

pub mod ecosystem;
pub mod eol;
pub mod import;
pub mod matcher;
pub mod osv;
pub mod severity;
pub mod version;

use crate::report::Report;
use crate::store::AdvisorySource;
use anyhow::Result;
use time::Date;

/// Adds what vulnerability data and the end-of-life table say to a scan's report. Without data
/// (`source` is `None`) the report says so in a warning rather than claiming a clean image.
pub fn assess(
    report: &mut Report,
    source: Option<&dyn AdvisorySource>,
    today: Date,
    options: matcher::MatchOptions,
) -> Result<()> {
    let os = report.image.os.as_ref().map(|os| (os.id.clone(), os.version_id.clone()));
    if let Some((id, version)) = &os
        && let Some(status) = eol::status(id, version, today)
    {
        if let Some(os) = report.image.os.as_mut() {
            os.eol = Some(status.past);
        }
        if let Some(issue) = eol::issue(&status) {
            report.add_host_issue(issue);
        }
    }
    match source {
        Some(source) => {
            // The OS id and the release its packages' advisories are filed under.
            let release = report.image.os.as_ref().map(|os| {
                let release = ecosystem::release_for_matching(&os.id, &os.version_id, os.pretty_name.as_deref());
                (os.id.clone(), release.into_owned())
            });
            let os = release.as_ref().map(|(id, release)| (id.as_str(), release.as_str()));
            let matches = matcher::match_packages(source, &report.packages, os, options)?;
            report.vulnerabilities = matches.vulnerabilities;
            report.warnings.extend(matches.unmatched);
        }
        None => report.warnings.push(
            "no vulnerability data: packages were not matched against advisories; run `ecr-engine db update` (or `db import`) first"
                .to_string(),
        ),
    }
    Ok(())
}
