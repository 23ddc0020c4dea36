//! CycloneDX 1.6 JSON output.

use super::Report;

pub fn render(report: &Report) -> String {
    let _ = report;
    todo!("CycloneDX output")
}
