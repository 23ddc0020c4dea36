//! OSV records written by a test and imported into a store with the real `ecr-engine db import`.

use super::cli::{self, ScanResult};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;

pub fn db_command(args: &[&str]) -> Output {
    cli::command().args(args).output().expect("run ecr-engine")
}

pub fn write_records(dir: &Path, records: &[Value]) {
    std::fs::create_dir_all(dir).unwrap();
    for record in records {
        let id = record["id"].as_str().unwrap_or("no-id");
        std::fs::write(dir.join(format!("{id}.json")), serde_json::to_vec_pretty(record).unwrap()).unwrap();
    }
}

/// A store with `records` imported; returns its path.
pub fn store_with(dir: &Path, records: &[Value]) -> PathBuf {
    let db = dir.join("store.db");
    import_into(&db, &dir.join("osv"), records);
    db
}

/// Imports `records` (written to `osv_dir`) into the store at `db`.
pub fn import_into(db: &Path, osv_dir: &Path, records: &[Value]) {
    write_records(osv_dir, records);
    let out = db_command(&["db", "import", osv_dir.to_str().unwrap(), "--db", db.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// An OSV `ranges` list with one ECOSYSTEM range.
pub fn range(events: Value) -> Value {
    json!([{"type": "ECOSYSTEM", "events": events}])
}

pub fn scan_with_db(target: &str, db: &Path, extra: &[&str]) -> ScanResult {
    let mut args = vec!["--db", db.to_str().unwrap()];
    args.extend_from_slice(extra);
    cli::scan(target, &args)
}
