//! The embedded store: one SQLite file (WAL mode, so several scans and an update can use it at
//! once) holding the vulnerability data, the layer cache ([`cache`]) and the scan history
//! ([`history`]). Each is used through a narrow trait ([`AdvisorySource`],
//! [`cache::LayerCache`], [`history::ScanHistory`]), so a shared database can stand in for
//! SQLite later when many workers scan.

pub mod cache;
pub mod history;

use crate::model::Severity;
use crate::regular_file::require_regular;
use crate::vuln::ecosystem;
use crate::vuln::osv::{Matching, Record};
use crate::vuln::severity;
use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The layout [`SCHEMA`] creates and what its rows mean, kept in SQLite's `user_version` (0 in
/// stores written before it was kept). Bump it when either changes, with the step that brings a
/// store of the previous version up in [`prepare_schema`]; a build refuses a store of a version
/// newer than its own. 1: this layout. 2: affected rows also for PyPI, under PEP 503 names.
/// 3: affected rows also for Wolfi, Chainguard, Azure Linux, Mageia and openEuler.
const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS advisories (
    id TEXT PRIMARY KEY,
    modified TEXT NOT NULL,
    published TEXT,
    summary TEXT NOT NULL,
    aliases TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS affected (
    advisory_id TEXT NOT NULL REFERENCES advisories(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    package TEXT NOT NULL,
    matching TEXT NOT NULL,
    severity TEXT NOT NULL,
    score REAL
);
CREATE INDEX IF NOT EXISTS affected_lookup ON affected(key, package);
CREATE INDEX IF NOT EXISTS affected_advisory ON affected(advisory_id);
CREATE TABLE IF NOT EXISTS imports (
    finished_at TEXT NOT NULL,
    sources TEXT NOT NULL,
    stored INTEGER NOT NULL,
    withdrawn INTEGER NOT NULL,
    rejected INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS layer_cache (
    digest TEXT NOT NULL,
    diff_id TEXT NOT NULL,
    selection TEXT NOT NULL,
    contents BLOB NOT NULL,
    blob_bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    used_at INTEGER NOT NULL,
    PRIMARY KEY (digest, diff_id, selection)
);
CREATE INDEX IF NOT EXISTS layer_cache_used ON layer_cache(used_at);
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    repository TEXT,
    tags TEXT NOT NULL,
    image_digest TEXT,
    platform TEXT,
    os_id TEXT,
    os_version TEXT,
    scanned_at TEXT NOT NULL,
    tool_version TEXT NOT NULL,
    analyzers TEXT NOT NULL,
    data_version TEXT,
    complete INTEGER NOT NULL,
    critical INTEGER NOT NULL,
    high INTEGER NOT NULL,
    medium INTEGER NOT NULL,
    low INTEGER NOT NULL,
    unknown INTEGER NOT NULL,
    package_count INTEGER NOT NULL,
    packages TEXT NOT NULL,
    vulnerabilities TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scans_repository ON scans(repository, scanned_at);
CREATE INDEX IF NOT EXISTS scans_digest ON scans(image_digest);
";

/// One advisory's statement about one package, as stored, with what the report needs of the
/// advisory itself.
#[derive(Debug, Clone)]
pub struct StoredAffected {
    pub advisory_id: String,
    /// The OSV ecosystem name, which decides the version rules.
    pub ecosystem: String,
    pub matching: Matching,
    pub severity: Severity,
    pub score: Option<f64>,
    /// Other ids of the advisory (aliases, upstream ids).
    pub aliases: Vec<String>,
    pub summary: String,
}

/// What matching needs from vulnerability data.
pub trait AdvisorySource {
    /// Advisories about `package` under ecosystem key `key` (see `vuln::ecosystem`).
    fn affected(&self, key: &str, package: &str) -> Result<Vec<StoredAffected>>;
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// `$XDG_DATA_HOME/ecr-engine/ecr-engine.db` (`~/.local/share/ecr-engine/ecr-engine.db`).
pub fn default_path() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("ecr-engine").join("ecr-engine.db")
}

/// A connection to the store at `path`, created with its schema if missing. Every user of the
/// store (advisories, cache, history) connects through here, so they share its settings.
fn connect(path: &Path) -> Result<Connection> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    refuse_unusable(path, folder)?;
    std::fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
    refuse_unwritable(path, folder)?;
    let mut conn = Connection::open(path).with_context(|| format!("cannot open the store {}", path.display()))?;
    // Writers queue for a while rather than fail when another scan or update holds the lock;
    // scans only write in short transactions (one cached layer, one history record).
    conn.busy_timeout(Duration::from_secs(30))?;
    // Before anything below writes to the file: a newer build's store, or another program's
    // database, is refused untouched.
    let version = schema_version(&conn, path)?;
    if version == 0 {
        refuse_foreign(&conn, path)?;
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Matching does thousands of small indexed lookups: serve them from memory (the OS page
    // cache through mmap, and a larger SQLite cache) rather than a read syscall each.
    conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
    conn.pragma_update(None, "cache_size", -65536)?;
    // Lookups bind a new package name each time; without the stability guarantee SQLite may
    // recompile the statement on every rebinding (its plan can depend on bound values), which
    // cost more than the lookups themselves.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    if version < SCHEMA_VERSION {
        prepare_schema(&mut conn, path)?;
    }
    Ok(conn)
}

/// Refuses, before SQLite touches anything, a store path that is not a regular file (given
/// `/dev/null`, SQLite fails on "disk I/O error" and leaves `/dev/null-journal` behind) or whose
/// nearest existing ancestor is not a directory.
fn refuse_unusable(path: &Path, folder: &Path) -> Result<()> {
    const WHAT_TO_DO: &str = "pass --db with the path of a store file (it is created if missing)";
    match std::fs::metadata(path) {
        Ok(metadata) => match require_regular(metadata.file_type()) {
            Ok(()) => Ok(()),
            Err(problem) => bail!("{} cannot be the store: {problem}; {WHAT_TO_DO}", path.display()),
        },
        Err(error) if matches!(error.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
            match folder.ancestors().find(|ancestor| ancestor.exists()) {
                Some(ancestor) if !ancestor.is_dir() => bail!(
                    "{} cannot hold the store {}: it is not a directory; {WHAT_TO_DO}",
                    ancestor.display(),
                    path.display()
                ),
                _ => Ok(()),
            }
        }
        Err(error) => Err(error).with_context(|| format!("cannot use {} as the store", path.display())),
    }
}

/// Refuses a store that cannot be written: SQLite would open it read-only, and then cannot read
/// a store in WAL mode either (it needs its journal files), which it reports as if the file were
/// not a store.
fn refuse_unwritable(path: &Path, folder: &Path) -> Result<()> {
    // The folder too: SQLite keeps the journal files beside the store.
    let exists = path.exists();
    let (checked, elsewhere) = if exists {
        (vec![path, folder], "a writable copy of it")
    } else {
        (vec![folder], "a path where it can be created")
    };
    for checked in checked {
        let (why, remedy) = match rustix::fs::access(checked, rustix::fs::Access::WRITE_OK) {
            Err(rustix::io::Errno::ROFS) => ("is on a read-only filesystem", "remount the filesystem read-write"),
            Err(rustix::io::Errno::ACCESS | rustix::io::Errno::PERM) => {
                ("is not writable by this user", "make it writable")
            }
            // Anything else is for SQLite to report.
            _ => continue,
        };
        bail!(
            "the store {} cannot be opened: {} {why}. SQLite writes beside a store even to read it (its journal files), and scans add to it; nothing was changed. Pass --db with {elsewhere}, or {remedy}",
            path.display(),
            checked.display(),
        );
    }
    Ok(())
}

/// The store's layout version; an error if it is newer than this build's.
fn schema_version(conn: &Connection, path: &Path) -> Result<i64> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .with_context(|| format!("{} is not an ecr-engine store", path.display()))?;
    if version > SCHEMA_VERSION {
        bail!(
            "{} is a store of layout version {version}, written by a newer ecr-engine; this one knows version {SCHEMA_VERSION} at most. Upgrade ecr-engine, or pass another --db (the store was left as it is)",
            path.display()
        );
    }
    Ok(version)
}

/// An unversioned database is a new store or one an earlier build wrote, unless it holds tables
/// and none of them is the store's: then it belongs to something else.
fn refuse_foreign(conn: &Connection, path: &Path) -> Result<()> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let ours = |table: &String| SCHEMA.contains(&format!("CREATE TABLE IF NOT EXISTS {table} ("));
    if !tables.is_empty() && !tables.iter().any(ours) {
        bail!(
            "{} is an SQLite database but not an ecr-engine store (none of its tables is the store's); pass another --db",
            path.display()
        );
    }
    Ok(())
}

/// Creates the layout in a new store, or stamps one written before the version was kept, in one
/// transaction holding the write lock: of several processes opening a new store at once, the
/// first does it and the others find it done.
fn prepare_schema(conn: &mut Connection, path: &Path) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version = schema_version(&tx, path)?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    // Earlier builds' stores have this layout, perhaps without the tables added since.
    tx.execute_batch(SCHEMA).with_context(|| format!("{} is not an ecr-engine store", path.display()))?;
    if version < 3 {
        // Their records lack the rows of the ecosystems added since (PyPI in 2; Wolfi, Chainguard,
        // Azure Linux, Mageia, openEuler in 3): forget the records' dates, so that the next import
        // stores each again rather than skipping it as unchanged.
        tx.execute("UPDATE advisories SET modified = ''", [])?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        Ok(Store { conn: connect(path)?, path: path.to_path_buf() })
    }

    /// Opens the store only if it exists (a scan without vulnerability data still works).
    pub fn open_existing(path: &Path) -> Result<Option<Store>> {
        if path.exists() { Store::open(path).map(Some) } else { Ok(None) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// When the last advisory import finished (RFC 3339), `None` if there never was one: a scan
    /// against a store without data must say it was not matched rather than look clean.
    pub fn data_version(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT finished_at FROM imports ORDER BY rowid DESC LIMIT 1", [], |r| r.get(0))
            .optional()?)
    }

    /// Starts an import. Nothing it does is visible until [`AdvisoryImport::commit`]: a failed
    /// or interrupted import leaves the data as it was.
    pub fn begin_import(&mut self) -> Result<AdvisoryImport<'_>> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        Ok(AdvisoryImport { tx, stored: 0, withdrawn: 0, unchanged: 0 })
    }

    pub fn status(&self) -> Result<DbStatus> {
        let advisories = self.conn.query_row("SELECT count(*) FROM advisories", [], |r| r.get(0))?;
        let mut statement = self.conn.prepare(
            "SELECT key, count(DISTINCT advisory_id), count(DISTINCT package) FROM affected GROUP BY key ORDER BY key",
        )?;
        let ecosystems = statement
            .query_map([], |r| Ok(EcosystemStatus { key: r.get(0)?, advisories: r.get(1)?, packages: r.get(2)? }))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let last_import = self
            .conn
            .query_row("SELECT finished_at, sources FROM imports ORDER BY rowid DESC LIMIT 1", [], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?;
        Ok(DbStatus { path: self.path.clone(), advisories, ecosystems, last_import })
    }
}

#[derive(Debug, serde::Serialize)]
pub struct DbStatus {
    pub path: PathBuf,
    pub advisories: i64,
    pub ecosystems: Vec<EcosystemStatus>,
    /// When the last import finished (UTC, RFC 3339) and what it read.
    pub last_import: Option<(String, String)>,
}

#[derive(Debug, serde::Serialize)]
pub struct EcosystemStatus {
    pub key: String,
    pub advisories: i64,
    pub packages: i64,
}

pub struct AdvisoryImport<'a> {
    tx: Transaction<'a>,
    pub stored: u64,
    pub withdrawn: u64,
    pub unchanged: u64,
}

impl AdvisoryImport<'_> {
    /// Stores one validated record, replacing an older copy; a withdrawn record removes it.
    pub fn put(&mut self, record: &Record, source: &str) -> Result<()> {
        if record.withdrawn.is_some() {
            self.tx.execute("DELETE FROM advisories WHERE id = ?1", [&record.id])?;
            self.withdrawn += 1;
            return Ok(());
        }
        let existing: Option<String> = self
            .tx
            .query_row("SELECT modified FROM advisories WHERE id = ?1", [&record.id], |r| r.get(0))
            .optional()?;
        if existing.as_deref().is_some_and(|modified| modified >= record.modified.as_str()) {
            // Re-importing the same or an older dump changes nothing.
            self.unchanged += 1;
            return Ok(());
        }
        self.tx.execute("DELETE FROM advisories WHERE id = ?1", [&record.id])?;
        self.tx.execute(
            "INSERT INTO advisories (id, modified, published, summary, aliases, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                record.id,
                record.modified,
                record.published,
                record.summary_text(),
                serde_json::to_string(&record.other_ids())?,
                source
            ],
        )?;
        let mut insert = self.tx.prepare_cached(
            "INSERT INTO affected (advisory_id, key, ecosystem, package, matching, severity, score) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for affected in &record.affected {
            let Some(package) = &affected.package else { continue };
            let Some(key) = ecosystem::key_for_osv(&package.ecosystem) else { continue };
            let (severity, score) = severity::assess(record, Some(affected));
            insert.execute(params![
                record.id,
                key,
                package.ecosystem,
                ecosystem::package_name(&key, &package.name),
                serde_json::to_string(&affected.matching)?,
                crate::report::severity_name(severity),
                score
            ])?;
        }
        self.stored += 1;
        Ok(())
    }

    pub fn commit(self, sources: &str, rejected: u64) -> Result<()> {
        let finished = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?;
        self.tx.execute(
            "INSERT INTO imports (finished_at, sources, stored, withdrawn, rejected) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![finished, sources, self.stored as i64, self.withdrawn as i64, rejected as i64],
        )?;
        self.tx.commit()?;
        Ok(())
    }
}

impl AdvisorySource for Store {
    fn affected(&self, key: &str, package: &str) -> Result<Vec<StoredAffected>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT f.advisory_id, f.ecosystem, f.matching, f.severity, f.score, a.aliases, a.summary
             FROM affected f JOIN advisories a ON a.id = f.advisory_id WHERE f.key = ?1 AND f.package = ?2",
        )?;
        let mut rows = statement.query(params![key, package])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            // Ranges and aliases are parsed straight from SQLite's buffer, never copied to a String.
            let advisory_id: String = row.get(0)?;
            let matching = row.get_ref(2)?.as_str()?;
            let aliases = row.get_ref(5)?.as_str()?;
            out.push(StoredAffected {
                matching: serde_json::from_str(matching).with_context(|| format!("stored ranges of {advisory_id}"))?,
                aliases: serde_json::from_str(aliases).with_context(|| format!("stored aliases of {advisory_id}"))?,
                ecosystem: row.get(1)?,
                severity: severity::from_word(row.get_ref(3)?.as_str()?),
                score: row.get(4)?,
                summary: row.get(6)?,
                advisory_id,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::history::ScanHistory;
    use super::*;
    use crate::vuln::osv::{Event, Range};
    use serde_json::json;

    fn record(id: &str, fixed: &str) -> Record {
        serde_json::from_value(json!({
            "id": id,
            "modified": "2024-06-01T00:00:00Z",
            "upstream": [format!("CVE-{id}")],
            "summary": format!("flaw {id}"),
            "affected": [
                {"package": {"ecosystem": "Debian:12", "name": "openssl"},
                 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]},
                {"package": {"ecosystem": "Debian:12", "name": "openssl"}, "versions": ["1.0-1"]}
            ]
        }))
        .unwrap()
    }

    fn ecosystem_range(fixed: &str) -> Matching {
        let events = vec![
            Event { introduced: Some("0".into()), ..Event::default() },
            Event { fixed: Some(fixed.into()), ..Event::default() },
        ];
        Matching { ranges: vec![Range { kind: "ECOSYSTEM".into(), events }], versions: Vec::new() }
    }

    fn import(store: &mut Store, records: &[Record]) {
        let mut import = store.begin_import().unwrap();
        for record in records {
            import.put(record, "test").unwrap();
        }
        import.commit("test", 0).unwrap();
    }

    /// (advisory, ranges) in the order lookups return them.
    fn rows(store: &Store) -> Vec<(String, Matching)> {
        let rows = store.affected("debian:12", "openssl").unwrap();
        rows.into_iter().map(|r| (r.advisory_id, r.matching)).collect()
    }

    #[test]
    fn stored_rows_read_back_in_import_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        import(&mut store, &[record("B-2", "2.0-1"), record("A-1", "1.5-1")]);
        // A newer copy of B-2 replaces it and so comes last.
        let mut newer = record("B-2", "2.1-1");
        newer.modified = "2024-07-01T00:00:00Z".into();
        import(&mut store, &[newer]);
        let versions = Matching { ranges: Vec::new(), versions: vec!["1.0-1".into()] };
        assert_eq!(
            rows(&store),
            vec![
                ("A-1".to_string(), ecosystem_range("1.5-1")),
                ("A-1".to_string(), versions.clone()),
                ("B-2".to_string(), ecosystem_range("2.1-1")),
                ("B-2".to_string(), versions),
            ]
        );
        let first = &store.affected("debian:12", "openssl").unwrap()[0];
        assert_eq!((first.aliases.clone(), first.summary.as_str()), (vec!["CVE-A-1".to_string()], "flaw A-1"));
        assert!(store.affected("debian:12", "zlib").unwrap().is_empty());
    }

    fn user_version(path: &Path) -> i64 {
        let conn = Connection::open(path).unwrap();
        conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_new_store_is_stamped_with_the_layout_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(Store::open(&path).unwrap());
        assert_eq!(user_version(&path), SCHEMA_VERSION);
        // Opening it again (the cache connects the same way) finds it ready.
        drop(cache::SqliteLayerCache::open(&path).unwrap());
        assert_eq!(user_version(&path), SCHEMA_VERSION);
    }

    #[test]
    fn an_unversioned_store_of_an_earlier_build_is_stamped_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut store = Store::open(&path).unwrap();
        import(&mut store, &[record("A-1", "1.5-1")]);
        drop(store);
        // What an earlier build left: the same tables, no version, and no scans table yet.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 0; DROP TABLE scans;").unwrap();
        drop(conn);
        let store = Store::open(&path).unwrap();
        assert_eq!(user_version(&path), SCHEMA_VERSION);
        assert_eq!(rows(&store).len(), 2, "the advisories are still there");
        assert!(store.list(None).unwrap().is_empty(), "the missing table was created");
    }

    #[test]
    fn a_newer_store_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(Store::open(&path).unwrap());
        Connection::open(&path).unwrap().execute_batch("PRAGMA user_version = 99").unwrap();
        let before = std::fs::read(&path).unwrap();
        for error in [Store::open(&path).err(), cache::SqliteLayerCache::open(&path).err()] {
            let message = format!("{:#}", error.expect("refused"));
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains("layout version 99"), "{message}");
            assert!(message.contains(&format!("knows version {SCHEMA_VERSION}")), "{message}");
            assert!(message.contains("Upgrade ecr-engine, or pass another --db"), "{message}");
        }
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(user_version(&path), 99);
    }

    #[test]
    fn another_programs_database_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE notes (body TEXT)").unwrap();
        let before = std::fs::read(&path).unwrap();
        let message = format!("{:#}", Store::open(&path).err().expect("refused"));
        assert!(message.contains("not an ecr-engine store"), "{message}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn a_path_that_is_not_a_regular_file_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.db");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR).unwrap();
        let message = format!("{:#}", Store::open(&fifo).err().expect("refused"));
        assert!(message.contains("fifo.db cannot be the store"), "{message}");
        assert!(message.contains("a FIFO (named pipe), not a regular file"), "{message}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert_eq!(left, vec!["fifo.db"], "no journal beside it");
    }

    /// A record with a row under `key` that a store of layout version `old` did not keep (its
    /// build did not match that ecosystem) is stored again by the next import after an upgrade.
    fn stored_again_after_upgrade(old: i64, extra: serde_json::Value, key: &str, name: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut store = Store::open(&path).unwrap();
        let mut both = record("GHSA-1", "1.5-1");
        both.affected.extend(
            serde_json::from_value::<Record>(
                json!({"id": "x", "modified": "2024-06-01T00:00:00Z", "affected": [extra]}),
            )
            .unwrap()
            .affected,
        );
        import(&mut store, std::slice::from_ref(&both));
        assert_eq!(store.affected(key, name).unwrap().len(), 1, "stored under {key} {name}");
        // What a store of the old layout version holds: the record without that row.
        store.conn.execute("DELETE FROM affected WHERE key = ?1", [key]).unwrap();
        store.conn.pragma_update(None, "user_version", old).unwrap();
        drop(store);
        let mut store = Store::open(&path).unwrap();
        assert_eq!(user_version(&path), SCHEMA_VERSION);
        import(&mut store, std::slice::from_ref(&both));
        assert_eq!(store.affected(key, name).unwrap().len(), 1, "the same record was stored again");
        // Once stored under the current mapping, the same record is unchanged again.
        let mut again = store.begin_import().unwrap();
        again.put(&both, "test").unwrap();
        assert_eq!((again.stored, again.unchanged), (0, 1));
    }

    #[test]
    fn records_of_a_store_from_before_pypi_are_stored_again() {
        let pypi = json!({"package": {"ecosystem": "PyPI", "name": "Some_Project"}, "versions": ["1.0"]});
        stored_again_after_upgrade(1, pypi, "pypi", "some-project");
    }

    #[test]
    fn records_of_a_store_from_before_wolfi_are_stored_again() {
        let wolfi = json!({"package": {"ecosystem": "Wolfi", "name": "libssl3"}, "versions": ["3.1.3-r0"]});
        stored_again_after_upgrade(2, wolfi, "wolfi", "libssl3");
    }
}
