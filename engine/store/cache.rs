//! The layer cache: what the pipeline kept from a layer (selected files, symlinks, whiteouts,
//! the layer's warnings), stored once its digests verified, so a later scan of any image holding
//! that layer neither reads nor decodes it.
//!
//! Why the selected files rather than the analyzers' results: reading and decoding the bytes is
//! the expensive part (seconds per layer) while analyzers run in milliseconds over the kept
//! files. Caching the files means an upgraded analyzer that asks for the same paths reuses every
//! entry and sees exactly what a fresh read would give it, package-to-layer attribution (which
//! re-runs analyzers on earlier views) stays exact, and only a change of *what is selected*
//! (another set of patterns, other size limits) invalidates entries: that is the key's
//! `selection` fingerprint.

use super::connect;
use crate::layer::LayerContents;
use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::path::Path;
use std::sync::Mutex;

/// Bump when `layer.rs` changes what it keeps from a layer or `LayerContents` changes shape:
/// entries written by an older reader are then simply not found. How the kept layers are merged
/// and handed out (`view.rs`: whiteouts, links, one copy per file) runs after the cache and
/// needs no bump.
pub const LAYER_FORMAT: u32 = 2;

/// Which cached copy of a layer a scan can use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayerKey {
    /// The layer's identity (blob digest; the diff_id for `docker save` archives).
    pub digest: String,
    /// The uncompressed tar's digest, "" when the image does not declare one.
    pub diff_id: String,
    /// Fingerprint of everything that decides what is kept (see [`selection_fingerprint`]).
    pub selection: String,
}

/// sha256 over the reader's format version, the union of the analyzers' path patterns (sorted,
/// deduplicated: two plugins asking for the same path do not change it) and the size limits.
pub fn selection_fingerprint(patterns: &[String], max_file_bytes: u64, max_layer_bytes: u64) -> String {
    use sha2::{Digest as _, Sha256};
    let mut patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    patterns.sort_unstable();
    patterns.dedup();
    let mut hasher = Sha256::new();
    hasher.update(format!("layer-format {LAYER_FORMAT}\nmax-file {max_file_bytes}\nmax-layer {max_layer_bytes}\n"));
    for pattern in patterns {
        hasher.update(pattern.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// Where verified layer contents are kept between scans. Implementations are shared by the
/// threads of one process (`Sync`); a shared database can implement it for many workers.
pub trait LayerCache: Send + Sync {
    fn get(&self, key: &LayerKey) -> Result<Option<LayerContents>>;
    /// Called only with contents whose blob digest and diff_id verified.
    fn put(&self, key: &LayerKey, contents: &LayerContents) -> Result<()>;
}

/// The cache in the store's SQLite file. One connection behind a mutex: each operation is one
/// short statement, and SQLite serializes writers anyway.
pub struct SqliteLayerCache {
    conn: Mutex<Connection>,
}

#[derive(Debug, Serialize)]
pub struct CacheStatus {
    pub entries: u64,
    /// Bytes the entries take in the store (compressed).
    pub stored_bytes: u64,
    /// Blob bytes a scan does not read thanks to the entries.
    pub blob_bytes: u64,
    /// Last use of the least and most recently used entry (Unix seconds).
    pub oldest_use: Option<i64>,
    pub newest_use: Option<i64>,
}

/// zstd level for stored contents: package databases compress well and level 3 costs little.
const ZSTD_LEVEL: i32 = 3;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl SqliteLayerCache {
    pub fn open(path: &Path) -> Result<SqliteLayerCache> {
        Ok(SqliteLayerCache { conn: Mutex::new(connect(path)?) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave the connection half-used: every operation
        // is one statement, so the poisoned guard is still a usable connection.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn status(&self) -> Result<CacheStatus> {
        let conn = self.conn();
        Ok(conn.query_row(
            "SELECT count(*), coalesce(sum(length(contents)), 0), coalesce(sum(blob_bytes), 0), min(used_at), max(used_at) FROM layer_cache",
            [],
            |r| {
                Ok(CacheStatus {
                    entries: r.get::<_, i64>(0)? as u64,
                    stored_bytes: r.get::<_, i64>(1)? as u64,
                    blob_bytes: r.get::<_, i64>(2)? as u64,
                    oldest_use: r.get(3)?,
                    newest_use: r.get(4)?,
                })
            },
        )?)
    }

    /// Removes entries not used for `age` seconds; returns how many.
    pub fn prune_older_than(&self, age_seconds: u64) -> Result<u64> {
        let cutoff = now().saturating_sub(age_seconds as i64);
        Ok(self.conn().execute("DELETE FROM layer_cache WHERE used_at < ?1", [cutoff])? as u64)
    }

    /// Removes the least recently used entries until the stored bytes fit in `max_bytes`.
    pub fn prune_to_size(&self, max_bytes: u64) -> Result<u64> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut removed = 0;
        {
            let mut entries =
                tx.prepare("SELECT rowid, length(contents) FROM layer_cache ORDER BY used_at DESC, created_at DESC")?;
            let rows = entries.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as u64)))?;
            let mut kept = 0u64;
            let mut doomed = Vec::new();
            for row in rows {
                let (rowid, size) = row?;
                if kept + size <= max_bytes {
                    kept += size;
                } else {
                    doomed.push(rowid);
                }
            }
            let mut delete = tx.prepare("DELETE FROM layer_cache WHERE rowid = ?1")?;
            for rowid in doomed {
                removed += delete.execute([rowid])? as u64;
            }
        }
        tx.commit()?;
        Ok(removed)
    }
}

impl LayerCache for SqliteLayerCache {
    fn get(&self, key: &LayerKey) -> Result<Option<LayerContents>> {
        let conn = self.conn();
        let stored: Option<Vec<u8>> = conn
            .query_row(
                "SELECT contents FROM layer_cache WHERE digest = ?1 AND diff_id = ?2 AND selection = ?3",
                params![key.digest, key.diff_id, key.selection],
                |r| r.get(0),
            )
            .optional()?;
        let Some(stored) = stored else { return Ok(None) };
        let decoded = zstd::stream::decode_all(stored.as_slice())
            .map_err(anyhow::Error::from)
            .and_then(|bytes| postcard::from_bytes::<LayerContents>(&bytes).map_err(anyhow::Error::from));
        match decoded {
            Ok(contents) => {
                conn.execute(
                    "UPDATE layer_cache SET used_at = ?4 WHERE digest = ?1 AND diff_id = ?2 AND selection = ?3",
                    params![key.digest, key.diff_id, key.selection, now()],
                )?;
                Ok(Some(contents))
            }
            Err(_) => {
                // An entry that does not decode (damaged file) is dropped and the layer read
                // again: the cache may only ever save work, never change a result.
                conn.execute(
                    "DELETE FROM layer_cache WHERE digest = ?1 AND diff_id = ?2 AND selection = ?3",
                    params![key.digest, key.diff_id, key.selection],
                )?;
                Ok(None)
            }
        }
    }

    fn put(&self, key: &LayerKey, contents: &LayerContents) -> Result<()> {
        // Encoded outside the lock: other threads keep using the cache meanwhile.
        let encoded = postcard::to_allocvec(contents).context("encoding a layer for the cache")?;
        let compressed = zstd::stream::encode_all(encoded.as_slice(), ZSTD_LEVEL)?;
        let time = now();
        self.conn().execute(
            "INSERT OR REPLACE INTO layer_cache (digest, diff_id, selection, contents, blob_bytes, created_at, used_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![key.digest, key.diff_id, key.selection, compressed, contents.blob_bytes as i64, time],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{LayerEntry, Node};

    fn key(selection: &str) -> LayerKey {
        LayerKey { digest: "sha256:aa".into(), diff_id: "sha256:bb".into(), selection: selection.into() }
    }

    #[test]
    fn round_trip_selection_and_damaged_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SqliteLayerCache::open(&dir.path().join("store.db")).unwrap();
        let contents = LayerContents {
            entries: vec![LayerEntry {
                path: "var/lib/dpkg/status".into(),
                node: Node::File { content: b"Package: bash\n".to_vec(), mode: 0o644 },
            }],
            whiteouts: vec!["etc/old".into()],
            opaque_dirs: vec!["opt".into()],
            replaced: vec![7, 42],
            warnings: vec!["a warning".into()],
            blob_bytes: 1234,
            tar_bytes: 4096,
            ..Default::default()
        };
        cache.put(&key("one"), &contents).unwrap();
        let back = cache.get(&key("one")).unwrap().expect("cached");
        assert_eq!(back.entries[0].node, contents.entries[0].node);
        assert_eq!(
            (back.whiteouts, back.opaque_dirs, back.replaced, back.warnings),
            (contents.whiteouts, contents.opaque_dirs, contents.replaced, contents.warnings)
        );
        assert_eq!((back.blob_bytes, back.tar_bytes), (1234, 4096));
        assert!(cache.get(&key("another selection")).unwrap().is_none());

        // A damaged entry is dropped, never returned.
        cache.conn().execute("UPDATE layer_cache SET contents = x'00ff'", []).unwrap();
        assert!(cache.get(&key("one")).unwrap().is_none());
        assert_eq!(cache.status().unwrap().entries, 0);
    }

    #[test]
    fn fingerprint_ignores_order_and_duplicates_but_not_limits() {
        let a = selection_fingerprint(&["b".into(), "a".into(), "a".into()], 1, 2);
        assert_eq!(a, selection_fingerprint(&["a".into(), "b".into()], 1, 2));
        assert_ne!(a, selection_fingerprint(&["a".into(), "b".into(), "c".into()], 1, 2));
        assert_ne!(a, selection_fingerprint(&["a".into(), "b".into()], 3, 2));
        assert_ne!(a, selection_fingerprint(&["a".into(), "b".into()], 1, 3));
    }
}
