//! SARIF 2.1.0 output.

use super::Report;

pub fn render(report: &Report) -> String {
    let _ = report;
    todo!("SARIF output")
}
