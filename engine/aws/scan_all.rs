//! `scan --all`: the discovered images scanned several at once, each through the caller's
//! one-image scan function, with progress (bars on a terminal, plain lines otherwise) and a
//! summary table. One failing image does not stop the others.

use crate::aws::discover::DiscoveredImage;
use crate::report::Report;
use crate::terminal::{self, for_terminal};
use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// What happened to one image.
#[derive(Debug, Serialize)]
pub struct ImageOutcome {
    pub image: String,
    pub target: String,
    pub tags: Vec<String>,
    /// "ok", "incomplete" or "failed".
    pub status: &'static str,
    pub packages: usize,
    pub vulnerabilities: usize,
    pub issues: usize,
    pub seconds: f64,
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
}

impl ImageOutcome {
    pub fn failed(&self) -> bool {
        self.status != "ok"
    }
}

/// Scans `images` on `jobs` threads with `scan_one(target)`; outcomes come back in `images`
/// order.
pub fn scan_all(
    images: &[DiscoveredImage],
    jobs: usize,
    keep_reports: bool,
    scan_one: &(dyn Fn(&str) -> Result<Report> + Sync),
) -> Vec<ImageOutcome> {
    let progress = Progress::new(images.len());
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<ImageOutcome>>> = Mutex::new((0..images.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, images.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(image) = images.get(index) else { break };
                    let started = Instant::now();
                    let bar = progress.start(&image.label());
                    let result = scan_one(&image.target());
                    let outcome = outcome(image, result, started.elapsed().as_secs_f64(), keep_reports);
                    progress.finish(bar, &outcome);
                    outcomes.lock().expect("no scan thread panics while holding the lock")[index] = Some(outcome);
                }
            });
        }
    });
    progress.done();
    outcomes.into_inner().expect("scan threads are done").into_iter().flatten().collect()
}

fn outcome(image: &DiscoveredImage, result: Result<Report>, seconds: f64, keep_report: bool) -> ImageOutcome {
    let base = |status, error| ImageOutcome {
        image: image.label(),
        target: image.target(),
        tags: image.tags.clone(),
        status,
        packages: 0,
        vulnerabilities: 0,
        issues: 0,
        seconds,
        error,
        report: None,
    };
    match result {
        Ok(report) => {
            let mut outcome = base(if report.complete { "ok" } else { "incomplete" }, None);
            outcome.packages = report.packages.len();
            outcome.vulnerabilities = report.vulnerabilities.len();
            outcome.issues = report.issues.len();
            if !report.complete {
                outcome.error = Some(report.errors.join("; "));
            }
            outcome.report = keep_report.then_some(report);
            outcome
        }
        Err(error) => base("failed", Some(format!("{error:#}"))),
    }
}

/// Bars when standard error is a terminal, one line per finished image otherwise.
struct Progress {
    bars: Option<(MultiProgress, ProgressBar)>,
    total: usize,
    finished: AtomicUsize,
}

impl Progress {
    fn new(total: usize) -> Progress {
        let bars = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::new();
            let overall = multi.add(ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} images {elapsed}").expect("the template is valid"),
            );
            (multi, overall)
        });
        Progress { bars, total, finished: AtomicUsize::new(0) }
    }

    fn start(&self, label: &str) -> Option<ProgressBar> {
        let (multi, _) = self.bars.as_ref()?;
        let bar = multi.add(ProgressBar::new_spinner());
        bar.set_message(format!("scanning {}", for_terminal(label)));
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Some(bar)
    }

    fn finish(&self, bar: Option<ProgressBar>, outcome: &ImageOutcome) {
        let done = self.finished.fetch_add(1, Ordering::Relaxed) + 1;
        let line = format!(
            "[{done}/{}] {} {}: {} packages, {} vulnerabilities, {} issues{}",
            self.total,
            outcome.status,
            for_terminal(&outcome.image),
            outcome.packages,
            outcome.vulnerabilities,
            outcome.issues,
            outcome.error.as_deref().map(|e| format!(" ({})", for_terminal(e))).unwrap_or_default()
        );
        match (&self.bars, bar) {
            (Some((multi, overall)), Some(bar)) => {
                bar.finish_and_clear();
                multi.remove(&bar);
                overall.inc(1);
                let _ = multi.println(terminal::message_for_terminal(&line));
            }
            _ => terminal::message(&line),
        }
    }

    fn done(&self) {
        if let Some((_, overall)) = &self.bars {
            overall.finish_and_clear();
        }
    }
}

/// The end-of-run table: one row per image, then the count of failures; names and errors through
/// [`for_terminal`].
pub fn summary_table(outcomes: &[ImageOutcome]) -> String {
    let width = outcomes.iter().map(|o| for_terminal(&o.image).chars().count()).max().unwrap_or(5).max(5);
    let mut out = format!(
        "{:<width$}  {:<10}  {:>8}  {:>6}  {:>6}  {:>7}  ERROR\n",
        "IMAGE", "STATUS", "PACKAGES", "VULNS", "ISSUES", "SECONDS"
    );
    for o in outcomes {
        out.push_str(&format!(
            "{:<width$}  {:<10}  {:>8}  {:>6}  {:>6}  {:>7.1}  {}\n",
            for_terminal(&o.image),
            o.status,
            o.packages,
            o.vulnerabilities,
            o.issues,
            o.seconds,
            for_terminal(o.error.as_deref().unwrap_or(""))
        ));
    }
    let failed = outcomes.iter().filter(|o| o.failed()).count();
    out.push_str(&format!("{} images scanned, {failed} failed or incomplete\n", outcomes.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_shows_controls_in_names_and_errors_as_escapes() {
        let outcome = |image: &str, error: Option<&str>| ImageOutcome {
            image: image.to_string(),
            target: String::new(),
            tags: Vec::new(),
            status: if error.is_some() { "failed" } else { "ok" },
            packages: 1,
            vulnerabilities: 0,
            issues: 0,
            seconds: 0.5,
            error: error.map(str::to_string),
            report: None,
        };
        let table = summary_table(&[outcome("repo:\u{1b}[2J", Some("bad\r\nfake")), outcome("a/b:1", None)]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[1].starts_with("repo:\\u{1b}[2J  failed") && lines[1].ends_with("bad\\r\\nfake"), "{table}");
        // The column is as wide as the name as shown.
        assert!(lines[2].starts_with(&format!("{:<14}  ok", "a/b:1")), "{table}");
    }
}
