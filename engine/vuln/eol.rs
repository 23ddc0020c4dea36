//! End of life of the base OS: an embedded table of release support dates. A release past its
//! date, or within 90 days of it, gets an issue naming the newest supported release.
//!
//! Dates are the end of the vendor's standard security support (for Debian: the end of LTS,
//! which the Debian security tracker and OSV still cover; for Ubuntu: the end of standard
//! support, not Pro/ESM; for RHEL and its rebuilds: the end of maintenance support).

use crate::model::{Issue, Severity};
use time::{Date, Month};

/// Days before the end of life from which an image is flagged.
pub const WARNING_DAYS: i64 = 90;

struct Release {
    id: &'static str,
    version: &'static str,
    name: &'static str,
    eol: (i32, u8, u8),
}

const fn r(id: &'static str, version: &'static str, name: &'static str, eol: (i32, u8, u8)) -> Release {
    Release { id, version, name, eol }
}

/// Oldest first within each distribution, so the last one listed is the newest.
const RELEASES: &[Release] = &[
    r("debian", "9", "Debian 9 (stretch)", (2022, 6, 30)),
    r("debian", "10", "Debian 10 (buster)", (2024, 6, 30)),
    r("debian", "11", "Debian 11 (bullseye)", (2026, 8, 31)),
    r("debian", "12", "Debian 12 (bookworm)", (2028, 6, 30)),
    r("debian", "13", "Debian 13 (trixie)", (2030, 6, 30)),
    r("ubuntu", "16.04", "Ubuntu 16.04 LTS", (2021, 4, 30)),
    r("ubuntu", "18.04", "Ubuntu 18.04 LTS", (2023, 5, 31)),
    r("ubuntu", "20.04", "Ubuntu 20.04 LTS", (2025, 5, 31)),
    r("ubuntu", "22.04", "Ubuntu 22.04 LTS", (2027, 6, 1)),
    r("ubuntu", "23.10", "Ubuntu 23.10", (2024, 7, 11)),
    r("ubuntu", "24.04", "Ubuntu 24.04 LTS", (2029, 5, 31)),
    r("ubuntu", "24.10", "Ubuntu 24.10", (2025, 7, 10)),
    r("ubuntu", "25.04", "Ubuntu 25.04", (2026, 1, 15)),
    r("alpine", "3.15", "Alpine 3.15", (2023, 11, 1)),
    r("alpine", "3.16", "Alpine 3.16", (2024, 5, 23)),
    r("alpine", "3.17", "Alpine 3.17", (2024, 11, 22)),
    r("alpine", "3.18", "Alpine 3.18", (2025, 5, 9)),
    r("alpine", "3.19", "Alpine 3.19", (2025, 11, 1)),
    r("alpine", "3.20", "Alpine 3.20", (2026, 4, 1)),
    r("alpine", "3.21", "Alpine 3.21", (2026, 11, 1)),
    r("alpine", "3.22", "Alpine 3.22", (2027, 5, 1)),
    r("alpine", "3.23", "Alpine 3.23", (2027, 11, 1)),
    r("rhel", "7", "Red Hat Enterprise Linux 7", (2024, 6, 30)),
    r("rhel", "8", "Red Hat Enterprise Linux 8", (2029, 5, 31)),
    r("rhel", "9", "Red Hat Enterprise Linux 9", (2032, 5, 31)),
    r("rhel", "10", "Red Hat Enterprise Linux 10", (2035, 5, 31)),
    r("centos", "7", "CentOS Linux 7", (2024, 6, 30)),
    r("centos", "8", "CentOS Linux 8", (2021, 12, 31)),
    r("rocky", "8", "Rocky Linux 8", (2029, 5, 31)),
    r("rocky", "9", "Rocky Linux 9", (2032, 5, 31)),
    r("rocky", "10", "Rocky Linux 10", (2035, 5, 31)),
    r("almalinux", "8", "AlmaLinux 8", (2029, 3, 1)),
    r("almalinux", "9", "AlmaLinux 9", (2032, 5, 31)),
    r("almalinux", "10", "AlmaLinux 10", (2035, 5, 31)),
    r("amzn", "2018.03", "Amazon Linux AMI 2018.03", (2023, 12, 31)),
    r("amzn", "2", "Amazon Linux 2", (2026, 6, 30)),
    r("amzn", "2023", "Amazon Linux 2023", (2029, 6, 30)),
    r("sles", "12.5", "SUSE Linux Enterprise Server 12 SP5", (2024, 10, 31)),
    r("sles", "15.4", "SUSE Linux Enterprise Server 15 SP4", (2023, 12, 31)),
    r("sles", "15.5", "SUSE Linux Enterprise Server 15 SP5", (2024, 12, 31)),
    r("sles", "15.6", "SUSE Linux Enterprise Server 15 SP6", (2025, 12, 31)),
    r("sles", "15.7", "SUSE Linux Enterprise Server 15 SP7", (2031, 7, 31)),
    r("opensuse-leap", "15.5", "openSUSE Leap 15.5", (2024, 12, 31)),
    r("opensuse-leap", "15.6", "openSUSE Leap 15.6", (2026, 4, 30)),
    // https://learn.microsoft.com/azure/aks/upgrade-node-image: "Starting on November 30, 2025,
    // [AKS] no longer supports or provides security updates for Azure Linux 2.0." Azure Linux 2.0
    // images kept CBL-Mariner's os-release ID.
    r("mariner", "2", "Azure Linux 2.0 (CBL-Mariner)", (2025, 11, 30)),
    // Not listed: Wolfi and Chainguard are rolling (no releases to retire). Azure Linux 3.0,
    // Mageia and openEuler LTS releases: no end-of-life date from the vendor was found to cite;
    // add them with their source when one is.
];

/// What the table says about an OS release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EolStatus {
    pub name: &'static str,
    pub eol: Date,
    pub past: bool,
    pub days_left: i64,
    /// The newest release of the same distribution that is still supported on `today`.
    pub newest_supported: Option<&'static str>,
}

fn date((year, month, day): (i32, u8, u8)) -> Date {
    Date::from_calendar_date(year, Month::try_from(month).expect("month in table"), day).expect("date in table")
}

/// Table versions are the release as users name it; os-release may be more precise
/// (Debian "12", Alpine "3.19.1", RHEL "9.3").
fn release_matches(release: &Release, version_id: &str) -> bool {
    let parts = release.version.split('.').count();
    let prefix: Vec<&str> = version_id.split('.').take(parts).collect();
    prefix.join(".") == release.version
}

pub fn status(id: &str, version_id: &str, today: Date) -> Option<EolStatus> {
    let release = RELEASES.iter().find(|r| r.id == id && release_matches(r, version_id))?;
    let eol = date(release.eol);
    let newest_supported =
        RELEASES.iter().filter(|r| r.id == id && date(r.eol) > today).max_by_key(|r| date(r.eol)).map(|r| r.name);
    Some(EolStatus {
        name: release.name,
        eol,
        past: eol <= today,
        days_left: (eol - today).whole_days(),
        newest_supported,
    })
}

/// The issue for a release past or near its end of life.
pub fn issue(status: &EolStatus) -> Option<Issue> {
    if status.days_left > WARNING_DAYS {
        return None;
    }
    let move_to = match status.newest_supported {
        Some(newest) if newest != status.name => format!("Rebuild the image on {newest}."),
        _ => "Rebuild the image on a supported release.".to_string(),
    };
    let (id, severity, title, description) = if status.past {
        (
            "OS-EOL",
            Severity::High,
            format!("{} is past its end of life ({})", status.name, status.eol),
            format!(
                "{} stopped receiving security updates on {}. Vulnerabilities found after that date are not fixed and may not be listed in the vulnerability data at all.",
                status.name, status.eol
            ),
        )
    } else {
        (
            "OS-EOL-SOON",
            Severity::Medium,
            format!("{} reaches its end of life in {} days ({})", status.name, status.days_left, status.eol),
            format!("{} stops receiving security updates on {}.", status.name, status.eol),
        )
    };
    Some(Issue {
        id: id.to_string(),
        severity,
        title,
        description,
        remediation: Some(move_to),
        path: None,
        history_index: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn table_lookups() {
        let today = date!(2026 - 11 - 21);
        let old = status("debian", "10", today).unwrap();
        assert!(old.past);
        assert_eq!(old.newest_supported, Some("Debian 13 (trixie)"));
        assert_eq!(issue(&old).unwrap().id, "OS-EOL");
        let current = status("debian", "12", today).unwrap();
        assert!(!current.past);
        assert!(issue(&current).is_none());
        let soon = status("alpine", "3.21.2", date!(2026 - 9 - 1)).unwrap();
        assert_eq!(soon.days_left, 61);
        assert_eq!(issue(&soon).unwrap().id, "OS-EOL-SOON");
        assert_eq!(status("rhel", "9.3", today).unwrap().name, "Red Hat Enterprise Linux 9");
        assert!(status("debian", "unknown", today).is_none());
        assert!(status("plan9", "4", today).is_none());
        let mariner = status("mariner", "2.0", today).unwrap();
        assert!(mariner.past);
        assert_eq!(mariner.name, "Azure Linux 2.0 (CBL-Mariner)");
        assert_eq!(issue(&mariner).unwrap().remediation.as_deref(), Some("Rebuild the image on a supported release."));
        assert!(status("wolfi", "20230201", today).is_none(), "rolling: no end of life");
    }

    #[test]
    fn table_is_well_formed() {
        for release in RELEASES {
            date(release.eol);
        }
    }
}
