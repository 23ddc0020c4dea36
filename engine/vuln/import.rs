//! `db import` and `db update`: OSV records from JSON files, directories of them and osv.dev's
//! per-ecosystem `all.zip` dumps, written in one transaction.

use crate::regular_file::{open_regular, read_bounded, read_regular};
use crate::store::Store;
use crate::vuln::osv::Record;
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;
use walkdir::WalkDir;

/// osv.dev's bucket of per-ecosystem dumps (`<base>/<ecosystem>/all.zip`).
pub const DEFAULT_BASE_URL: &str = "https://osv-vulnerabilities.storage.googleapis.com";

/// The OSV ecosystems `db update` fetches by default: those ecr-engine matches (see
/// `vuln::ecosystem`), less Chainguard. Chainguard's dump is by far osv.dev's largest (over a
/// million records, for packages only Chainguard OS images carry), so it is fetched when asked
/// for (`--ecosystem Chainguard`) rather than by everyone.
pub const ECOSYSTEMS: &[&str] = &[
    "Debian",
    "Ubuntu",
    "Alpine",
    "npm",
    "PyPI",
    "AlmaLinux",
    "Rocky Linux",
    "Red Hat",
    "SUSE",
    "openSUSE",
    "Wolfi",
    "Azure Linux",
    "Mageia",
    "openEuler",
];

/// One OSV document larger than this is not a record.
const MAX_RECORD_BYTES: u64 = 32 << 20;
/// The kind of file [`MAX_RECORD_BYTES`] bounds, for messages.
const RECORD: &str = "an OSV record";
/// Rejections listed in full; the rest are counted.
const MAX_LISTED_REJECTIONS: usize = 200;

#[derive(Debug, Default, serde::Serialize)]
pub struct ImportReport {
    pub read: u64,
    pub stored: u64,
    pub withdrawn: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// "FILE: ID: what is wrong", for records that were skipped.
    pub rejections: Vec<String>,
    pub seconds: f64,
}

/// Imports every record under `paths`. Records that do not parse or violate the schema are
/// reported and skipped; an unreadable file or archive aborts the import with nothing written.
pub fn import_paths(store: &mut Store, paths: &[PathBuf]) -> Result<ImportReport> {
    let started = Instant::now();
    let mut report = ImportReport::default();
    let mut import = store.begin_import()?;
    let mut accept = |source: &str, bytes: &[u8], report: &mut ImportReport| -> Result<()> {
        for parsed in parse_document(bytes) {
            report.read += 1;
            match parsed.and_then(|record| record.validate().map(|_| record)) {
                Ok(record) => import.put(&record, source)?,
                Err(problem) => {
                    report.rejected += 1;
                    if report.rejections.len() < MAX_LISTED_REJECTIONS {
                        report.rejections.push(format!("{source}: {problem:#}"));
                    }
                }
            }
        }
        Ok(())
    };
    for path in paths {
        for file in files_under(path)? {
            let name = file.display().to_string();
            if is_zip(&file) {
                read_zip(&file, |entry, bytes| accept(&format!("{name}!{entry}"), bytes, &mut report))?;
            } else {
                let bytes =
                    read_regular(&file, MAX_RECORD_BYTES, RECORD).with_context(|| format!("cannot read {name}"))?;
                accept(&name, &bytes, &mut report)?;
            }
        }
    }
    report.stored = import.stored;
    report.withdrawn = import.withdrawn;
    report.unchanged = import.unchanged;
    let sources: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    import.commit(&sources.join(", "), report.rejected)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// A record, or an array of records (some exports bundle them).
fn parse_document(bytes: &[u8]) -> Vec<Result<Record>> {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(error) => return vec![Err(anyhow::anyhow!("not valid JSON: {error}"))],
    };
    let items = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    items
        .into_iter()
        .map(|item| {
            let id = item.get("id").and_then(|v| v.as_str()).unwrap_or("(no id)").to_string();
            serde_json::from_value::<Record>(item).with_context(|| format!("{id}: does not follow the OSV schema"))
        })
        .collect()
}

fn files_under(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    if !path.is_dir() {
        // Read as a record or a zip even if it is not a regular file: reading says what it is.
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in WalkDir::new(path).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
        let p = entry.path();
        // Not only regular files: a FIFO or device named like a record is refused, not passed over.
        if !entry.file_type().is_dir() && (p.extension().is_some_and(|e| e == "json") || is_zip(p)) {
            files.push(p.to_path_buf());
        }
    }
    Ok(files)
}

fn is_zip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

fn read_zip(path: &Path, mut each: impl FnMut(&str, &[u8]) -> Result<()>) -> Result<()> {
    let file = open_regular(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file))
        .with_context(|| format!("{} is not a valid zip archive", path.display()))?;
    for index in 0..archive.len() {
        let entry =
            archive.by_index(index).with_context(|| format!("{}: corrupt zip entry {index}", path.display()))?;
        let name = entry.name().map(|n| n.to_string()).unwrap_or_default();
        if !entry.is_file() || !name.ends_with(".json") {
            continue;
        }
        let bytes = read_bounded(entry, MAX_RECORD_BYTES, RECORD)
            .with_context(|| format!("cannot read {}!{name}", path.display()))?;
        each(&name, &bytes)?;
    }
    Ok(())
}

/// Downloads `<base>/<ecosystem>/all.zip` for each ecosystem into `work_dir`, then imports them
/// all in one transaction. An ecosystem the server does not have (404) is skipped with a note.
pub fn update(
    store: &mut Store,
    base_url: &str,
    ecosystems: &[String],
    work_dir: &Path,
) -> Result<(ImportReport, Vec<String>)> {
    std::fs::create_dir_all(work_dir).with_context(|| format!("cannot create {}", work_dir.display()))?;
    let download_dir = tempfile::tempdir_in(work_dir).context("cannot create a download directory")?;
    let mut downloaded = Vec::new();
    let mut notes = Vec::new();
    for ecosystem in ecosystems {
        let url = format!("{}/{}/all.zip", base_url.trim_end_matches('/'), ecosystem.replace(' ', "%20"));
        let target = download_dir.path().join(format!("{}.zip", ecosystem.replace([' ', '/'], "_")));
        match download(&url, &target)? {
            true => downloaded.push(target),
            false => notes.push(format!("{ecosystem}: {url} not found; skipped")),
        }
    }
    let report = import_paths(store, &downloaded)?;
    Ok((report, notes))
}

/// `Ok(false)` for 404; any other failure is an error naming the URL.
fn download(url: &str, target: &Path) -> Result<bool> {
    let response = match ureq::get(url).call() {
        Ok(response) => response,
        Err(ureq::Error::StatusCode(404)) => return Ok(false),
        Err(error) => bail!("downloading {url} failed: {error}"),
    };
    let mut file = File::create(target).with_context(|| format!("cannot write {}", target.display()))?;
    let mut body = response.into_body();
    let mut reader = body.with_config().limit(u64::MAX).reader();
    std::io::copy(&mut reader, &mut file).with_context(|| format!("downloading {url} failed midway"))?;
    Ok(true)
}
