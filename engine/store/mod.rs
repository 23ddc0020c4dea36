//! The embedded store: one SQLite file (WAL mode, so several scans and an update can use it at
//! once) holding the vulnerability data. Matching reads it through the narrow
//! [`AdvisorySource`] trait, so a shared database can stand in for it later.

use crate::model::Severity;
use crate::vuln::ecosystem;
use crate::vuln::osv::{Matching, Record};
use crate::vuln::severity;
use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The layout [`SCHEMA`] creates, kept in SQLite's `user_version`. Stores written before it was
/// versioned (layout 1, `user_version` 0) are migrated on open; newer ones are refused.
const SCHEMA_VERSION: i64 = 2;

/// Lookups read one package's rows in a row: `affected` is clustered by (key, package), and
/// `seq` (import order, global) keeps the order rows were stored in. Both tables are keyed by
/// their text ids directly (WITHOUT ROWID), so a lookup and its join are one B-tree search each.
const SCHEMA: &str = "
CREATE TABLE advisories (
    id TEXT PRIMARY KEY,
    modified TEXT NOT NULL,
    published TEXT,
    summary TEXT NOT NULL,
    aliases TEXT NOT NULL,
    source TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE affected (
    key TEXT NOT NULL,
    package TEXT NOT NULL,
    seq INTEGER NOT NULL,
    advisory_id TEXT NOT NULL REFERENCES advisories(id) ON DELETE CASCADE,
    ecosystem TEXT NOT NULL,
    matching TEXT NOT NULL,
    severity TEXT NOT NULL,
    score REAL,
    PRIMARY KEY (key, package, seq)
) WITHOUT ROWID;
CREATE INDEX affected_advisory ON affected(advisory_id);
CREATE TABLE IF NOT EXISTS imports (
    finished_at TEXT NOT NULL,
    sources TEXT NOT NULL,
    stored INTEGER NOT NULL,
    withdrawn INTEGER NOT NULL,
    rejected INTEGER NOT NULL
);
";

/// Layout 1 (rowid tables, a secondary index for lookups) to [`SCHEMA`], run around it: set the
/// old tables aside, then copy them over. The old rowid of a row is its import order: its `seq`.
const SET_ASIDE_LAYOUT_1: &str = "
ALTER TABLE affected RENAME TO affected_v1;
ALTER TABLE advisories RENAME TO advisories_v1;
DROP INDEX affected_lookup;
DROP INDEX affected_advisory;
";
const COPY_LAYOUT_1: &str = "
INSERT INTO advisories SELECT id, modified, published, summary, aliases, source FROM advisories_v1;
INSERT INTO affected (key, package, seq, advisory_id, ecosystem, matching, severity, score)
    SELECT key, package, rowid, advisory_id, ecosystem, matching, severity, score FROM affected_v1;
DROP TABLE affected_v1;
DROP TABLE advisories_v1;
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

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let conn = Connection::open(path).with_context(|| format!("cannot open the store {}", path.display()))?;
        // Writers queue for a while rather than fail when another scan or update holds the lock.
        conn.busy_timeout(Duration::from_secs(30))?;
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
        let mut conn = conn;
        prepare_layout(&mut conn).with_context(|| format!("cannot use the store {}", path.display()))?;
        Ok(Store { conn, path: path.to_path_buf() })
    }

    /// Opens the store only if it exists (a scan without vulnerability data still works).
    pub fn open_existing(path: &Path) -> Result<Option<Store>> {
        if path.exists() { Store::open(path).map(Some) } else { Ok(None) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts an import. Nothing it does is visible until [`AdvisoryImport::commit`]: a failed
    /// or interrupted import leaves the data as it was.
    pub fn begin_import(&mut self) -> Result<AdvisoryImport<'_>> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let last_seq = tx.query_row("SELECT coalesce(max(seq), 0) FROM affected", [], |r| r.get(0))?;
        Ok(AdvisoryImport { tx, last_seq, stored: 0, withdrawn: 0, unchanged: 0 })
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

/// Creates the tables of a new store or migrates an older one. Only a store not already at
/// [`SCHEMA_VERSION`] takes the write lock, so scans never wait for a running import here.
fn prepare_layout(conn: &mut Connection) -> Result<()> {
    let current = |conn: &Connection| -> Result<i64> {
        conn.pragma_query_value(None, "user_version", |r| r.get(0)).context("not an ecr-engine store")
    };
    if current(conn)? == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Another process may have created or migrated it meanwhile.
    let version = current(&tx)?;
    let has_tables: bool =
        tx.query_row("SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'advisories'", [], |r| {
            r.get(0)
        })?;
    match version {
        SCHEMA_VERSION => return Ok(()),
        0 if !has_tables => tx.execute_batch(SCHEMA)?,
        0 => [SET_ASIDE_LAYOUT_1, SCHEMA, COPY_LAYOUT_1]
            .into_iter()
            .try_for_each(|batch| tx.execute_batch(batch))
            .context("cannot migrate the store from the layout of earlier ecr-engine versions")?,
        newer => anyhow::bail!(
            "the store has layout {newer}, written by a newer ecr-engine than this one (layout {SCHEMA_VERSION}); \
             upgrade ecr-engine or point --db at another file"
        ),
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
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
    /// The import order of the last row stored (see `affected.seq`).
    last_seq: i64,
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
            "INSERT INTO affected (advisory_id, key, ecosystem, package, matching, severity, score, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for affected in &record.affected {
            let Some(package) = &affected.package else { continue };
            let Some(key) = ecosystem::key_for_osv(&package.ecosystem) else { continue };
            let (severity, score) = severity::assess(record, Some(affected));
            self.last_seq += 1;
            insert.execute(params![
                record.id,
                key,
                package.ecosystem,
                package.name,
                serde_json::to_string(&affected.matching)?,
                crate::report::severity_name(severity),
                score,
                self.last_seq
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
             FROM affected f JOIN advisories a ON a.id = f.advisory_id WHERE f.key = ?1 AND f.package = ?2
             ORDER BY f.seq",
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

    /// The layout ecr-engine wrote before the store was versioned.
    const LAYOUT_1: &str = "
        CREATE TABLE advisories (id TEXT PRIMARY KEY, modified TEXT NOT NULL, published TEXT,
            summary TEXT NOT NULL, aliases TEXT NOT NULL, source TEXT NOT NULL);
        CREATE TABLE affected (advisory_id TEXT NOT NULL REFERENCES advisories(id) ON DELETE CASCADE,
            key TEXT NOT NULL, ecosystem TEXT NOT NULL, package TEXT NOT NULL, matching TEXT NOT NULL,
            severity TEXT NOT NULL, score REAL);
        CREATE INDEX affected_lookup ON affected(key, package);
        CREATE INDEX affected_advisory ON affected(advisory_id);
        CREATE TABLE imports (finished_at TEXT NOT NULL, sources TEXT NOT NULL, stored INTEGER NOT NULL,
            withdrawn INTEGER NOT NULL, rejected INTEGER NOT NULL);
        INSERT INTO advisories VALUES ('Z-9', '2024-01-01', NULL, 'old flaw', '[\"CVE-Z-9\"]', 'dump.zip');
        INSERT INTO advisories VALUES ('A-1', '2024-01-01', NULL, 'older flaw', '[]', 'dump.zip');
        INSERT INTO affected VALUES ('Z-9', 'debian:12', 'Debian:12', 'openssl',
            '{\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"3.0-1\"}]}]}', 'HIGH', 7.5);
        INSERT INTO affected VALUES ('A-1', 'debian:12', 'Debian:12', 'openssl',
            '{\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"1.0-1\"}]}]}', 'LOW', NULL);
        INSERT INTO imports VALUES ('2024-01-02T00:00:00Z', 'dump.zip', 2, 0, 0);
    ";

    #[test]
    fn unversioned_store_is_migrated_keeping_its_data_and_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        Connection::open(&path).unwrap().execute_batch(LAYOUT_1).unwrap();

        let mut store = Store::open(&path).unwrap();
        let version: i64 = store.conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let found = store.affected("debian:12", "openssl").unwrap();
        let summary: Vec<_> = found
            .iter()
            .map(|r| (r.advisory_id.as_str(), r.severity, r.score, r.aliases.clone(), r.summary.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("Z-9", Severity::High, Some(7.5), vec!["CVE-Z-9".to_string()], "old flaw"),
                ("A-1", Severity::Low, None, Vec::new(), "older flaw"),
            ]
        );
        assert_eq!(found[0].matching, ecosystem_range("3.0-1"));
        assert_eq!(store.status().unwrap().last_import.unwrap().1, "dump.zip");

        // Rows imported after the migration come after the migrated ones; replacing one works.
        import(&mut store, &[record("B-2", "2.0-1")]);
        let mut newer = record("Z-9", "3.1-1");
        newer.affected.truncate(1);
        import(&mut store, &[newer]);
        let ids: Vec<String> = rows(&store).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["A-1", "B-2", "B-2", "Z-9"]);
        drop(store);
        // Opening again finds the current layout and changes nothing.
        assert_eq!(rows(&Store::open(&path).unwrap()).len(), 4);
    }

    #[test]
    fn store_from_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        Connection::open(&path).unwrap().pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        let error = format!("{:#}", Store::open(&path).err().unwrap());
        assert!(error.contains("newer ecr-engine"), "{error}");
    }
}
