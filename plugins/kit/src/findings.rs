//! Picking findings of one kind out of an analyzer's output, e.g. in a plugin's tests.

use crate::{Distro, FileError, Finding, Package};

/// The [`Finding::Package`]s, in order.
pub fn packages(findings: &[Finding]) -> Vec<&Package> {
    findings
        .iter()
        .filter_map(|f| match f {
            Finding::Package(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// The [`Finding::FileError`]s, in order.
pub fn file_errors(findings: &[Finding]) -> Vec<&FileError> {
    findings
        .iter()
        .filter_map(|f| match f {
            Finding::FileError(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// The first [`Finding::Distro`], if any.
pub fn distro(findings: &[Finding]) -> Option<&Distro> {
    findings.iter().find_map(|f| match f {
        Finding::Distro(d) => Some(d),
        _ => None,
    })
}
