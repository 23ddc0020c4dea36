//! rpm's SQLite backend `rpmdb.sqlite` (rpm >= 4.16: Fedora 33+, RHEL/Rocky/Alma 9, CBL-Mariner,
//! Amazon Linux 2023): the header blobs are the `blob` column of
//! `CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)`.
//!
//! Why a hand-written reader: SQLite itself is C, and the pure-Rust crates that read its file
//! format are full database engines (large, std-filesystem-bound, not written for hostile files
//! under a memory cap). Reading one table needs only the documented file format
//! (<https://www.sqlite.org/fileformat2.html>): the 100-byte header, table b-tree pages (interior
//! 0x05, leaf 0x0d), cells with varints, payload overflow chains, and the record format. The
//! `sqlite_schema` table (root page 1) gives the `Packages` table's root page.
//!
//! Hostile files: every page is visited at most once across all walks (tree pages and overflow
//! pages alike, so loops and shared pages are errors, and the work is linear in the file); the
//! walk uses an explicit stack; payload sizes are capped by the file size; a bad page or cell
//! spoils only the records in it. Not read: a write-ahead log (`rpmdb.sqlite-wal`) that still holds
//! transactions; rpm checkpoints it when it closes the database.

use crate::Records;
use std::borrow::Cow;
use std::ops::Range;

pub const MAGIC: &[u8; 16] = b"SQLite format 3\0";

pub fn sniff(data: &[u8]) -> bool {
    data.get(..16) == Some(MAGIC)
}

fn be16(b: &[u8], at: usize) -> Option<usize> {
    b.get(at..at.checked_add(2)?).map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// SQLite varint at `at`: (value, bytes used).
fn varint(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for i in 0..9 {
        let byte = *b.get(at.checked_add(i)?)?;
        if i == 8 {
            return Some(((v << 8) | u64::from(byte), 9));
        }
        v = (v << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

struct Db<'a> {
    data: &'a [u8],
    page_size: usize,
    usable: usize,
    pages: usize,
    visited: Vec<bool>,
}

impl<'a> Db<'a> {
    /// Page `n` (1-based), marking it visited; errors if out of range or seen before.
    fn take_page(&mut self, n: u32, what: &str) -> Result<&'a [u8], String> {
        let idx = n as usize;
        if idx == 0 || idx > self.pages {
            return Err(format!("{what} page {n} is outside the {} pages", self.pages));
        }
        match self.visited.get_mut(idx) {
            Some(v) if !*v => *v = true,
            _ => return Err(format!("{what} page {n} is reached a second time (loop or shared page)")),
        }
        let start = (idx - 1) * self.page_size;
        let data: &'a [u8] = self.data;
        data.get(start..start + self.page_size).ok_or_else(|| format!("{what} page {n} is cut off"))
    }

    /// The payload of the table leaf cell at `cell` in `page`: (rowid, bytes).
    fn leaf_cell(&mut self, page: &'a [u8], cell: usize) -> Result<(u64, Cow<'a, [u8]>), String> {
        let (size, a) = varint(page, cell).ok_or("payload size is cut off")?;
        let (rowid, b) = varint(page, cell + a).ok_or("rowid is cut off")?;
        let body = cell + a + b;
        if size > (self.pages * self.usable) as u64 {
            return Err(format!("payload size {size} is larger than the file"));
        }
        let size = size as usize;
        // Local part per the file format: all of it up to U-35, else M or K bytes.
        let u = self.usable;
        let x = u - 35;
        if size <= x {
            let local = page.get(body..body + size).ok_or("payload runs past the page end")?;
            return Ok((rowid, Cow::Borrowed(local)));
        }
        let m = ((u - 12) * 32 / 255) - 23;
        let k = m + (size - m) % (u - 4);
        let local_len = if k <= x { k } else { m };
        let local = page.get(body..body + local_len).ok_or("payload runs past the page end")?;
        let mut next = be32(page, body + local_len).ok_or("overflow page number is cut off")?;
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(local);
        while out.len() < size {
            let ov = self.take_page(next, "overflow")?;
            let chunk = (size - out.len()).min(u - 4);
            out.extend_from_slice(ov.get(4..4 + chunk).ok_or("overflow page is cut off")?);
            next = be32(ov, 0).unwrap_or_default();
        }
        Ok((rowid, Cow::Owned(out)))
    }

    /// Walks the table b-tree rooted at `root`, calling `row` for each (rowid, record) in rowid
    /// order. Problems with pages or cells go to `errors`; the rest of the tree is still read.
    fn walk(&mut self, root: u32, errors: &mut Vec<String>, mut row: impl FnMut(u64, Cow<'a, [u8]>)) {
        let mut stack = vec![root];
        while let Some(n) = stack.pop() {
            let page = match self.take_page(n, "b-tree") {
                Ok(p) => p,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let hdr = if n == 1 { 100 } else { 0 };
            let kind = page.get(hdr).copied().unwrap_or_default();
            let cells = be16(page, hdr + 3).unwrap_or_default();
            let ptrs = hdr + if kind == 0x05 { 12 } else { 8 };
            if ptrs + cells * 2 > page.len() {
                errors.push(format!("b-tree page {n} claims {cells} cells, more than fit"));
                continue;
            }
            let cell_at = |i: usize| be16(page, ptrs + 2 * i).unwrap_or_default();
            match kind {
                0x05 => {
                    // Children pushed right to left so they are read in rowid order.
                    stack.push(be32(page, hdr + 8).unwrap_or_default());
                    for i in (0..cells).rev() {
                        match be32(page, cell_at(i)) {
                            Some(child) => stack.push(child),
                            None => errors.push(format!("b-tree page {n} cell {i} is cut off")),
                        }
                    }
                }
                0x0d => {
                    for i in 0..cells {
                        match self.leaf_cell(page, cell_at(i)) {
                            Ok((rowid, payload)) => row(rowid, payload),
                            Err(e) => errors.push(format!("b-tree page {n} cell {i}: {e}")),
                        }
                    }
                }
                other => errors.push(format!("page {n} has type 0x{other:02x}, not a table b-tree page")),
            }
        }
    }
}

/// Column `col` of a record (SQLite record format): its serial type and byte range.
fn column(record: &[u8], col: usize) -> Option<(u64, Range<usize>)> {
    let (header_len, mut at) = varint(record, 0)?;
    let header_len = usize::try_from(header_len).ok().filter(|&h| h <= record.len())?;
    let mut body = header_len;
    let mut i = 0;
    while at < header_len {
        let (ty, n) = varint(record, at)?;
        at += n;
        let size = match ty {
            0 | 8 | 9 => 0,
            1..=4 => ty as usize,
            5 => 6,
            6 | 7 => 8,
            10 | 11 => return None,
            t => usize::try_from((t - 12) / 2).ok()?,
        };
        let end = body.checked_add(size).filter(|&e| e <= record.len())?;
        if i == col {
            return Some((ty, body..end));
        }
        body = end;
        i += 1;
    }
    None
}

/// A blob or text column's bytes.
fn bytes_col(record: &[u8], col: usize) -> Option<&[u8]> {
    column(record, col).filter(|(ty, _)| *ty >= 12).and_then(|(_, r)| record.get(r))
}

/// An integer column's value (big-endian two's complement of 1-8 bytes, or the constants 0/1).
fn int_col(record: &[u8], col: usize) -> Option<i64> {
    let (ty, range) = column(record, col)?;
    match ty {
        1..=6 => {
            let bytes = record.get(range)?;
            let mut v: i64 = if bytes.first().is_some_and(|b| b & 0x80 != 0) { -1 } else { 0 };
            for &b in bytes {
                v = (v << 8) | i64::from(b);
            }
            Some(v)
        }
        8 => Some(0),
        9 => Some(1),
        _ => None,
    }
}

/// `text` in the database's text encoding (header byte 56: 1 UTF-8, 2 UTF-16le, 3 UTF-16be).
fn encoded(text: &str, encoding: u32) -> Vec<u8> {
    match encoding {
        2 => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        3 => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        _ => text.as_bytes().to_vec(),
    }
}

/// Reads every header blob of an rpm SQLite database. `Err` when the file is not one or has no
/// readable `Packages` table; problems with single pages or rows are listed in `Records::errors`.
pub fn read(data: &[u8]) -> Result<Records<'_>, String> {
    if !sniff(data) {
        return Err("not an SQLite database (bad magic)".to_string());
    }
    if data.len() < 100 {
        return Err(format!("truncated: {} bytes, shorter than the SQLite header", data.len()));
    }
    let page_size = match be16(data, 16).unwrap_or_default() {
        1 => 65536,
        n => n,
    };
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(format!("invalid SQLite page size {page_size}"));
    }
    let reserved = usize::from(data.get(20).copied().unwrap_or_default());
    let usable = page_size - reserved;
    if usable < 480 {
        return Err(format!("invalid SQLite usable page size {usable}"));
    }
    let encoding = be32(data, 56).unwrap_or(1);
    let mut records = Records::default();
    let pages = data.len() / page_size;
    let claimed = be32(data, 28).unwrap_or_default() as usize;
    // The header's page count is only valid when its version-valid-for number matches the change
    // counter (older writers leave it stale).
    if be32(data, 92) == be32(data, 24) && claimed > pages {
        records
            .errors
            .push(format!("truncated: the header says {claimed} pages of {page_size} bytes, the file holds {pages}"));
    }
    let mut db = Db { data, page_size, usable, pages, visited: vec![false; pages + 1] };

    let (table, packages) = (encoded("table", encoding), encoded("Packages", encoding));
    let mut root = None;
    let mut schema_errors = Vec::new();
    db.walk(1, &mut schema_errors, |_, rec| {
        if root.is_none()
            && bytes_col(&rec, 0) == Some(&table[..])
            && bytes_col(&rec, 1) == Some(&packages[..])
            && let Some(r) = int_col(&rec, 3)
        {
            root = Some(r);
        }
    });
    let root = match root {
        Some(r) => u32::try_from(r).map_err(|_| format!("the Packages table's root page {r} is invalid"))?,
        None => {
            let mut why = records.errors;
            why.push(if schema_errors.is_empty() {
                "no Packages table in the schema".to_string()
            } else {
                format!("no Packages table found; the schema is damaged: {}", schema_errors.join("; "))
            });
            return Err(why.join("; "));
        }
    };
    records.errors.extend(schema_errors.into_iter().map(|e| format!("schema: {e}")));

    let mut bad_rows = Vec::new();
    db.walk(root, &mut records.errors, |rowid, rec| {
        // Column 0 is hnum, the rowid alias (stored as NULL); column 1 is the header blob.
        let blob = match column(&rec, 1) {
            Some((ty, range)) if ty >= 12 => match rec {
                Cow::Borrowed(r) => r.get(range).map(Cow::Borrowed),
                Cow::Owned(r) => r.get(range).map(|b| Cow::Owned(b.to_vec())),
            },
            _ => None,
        };
        match blob {
            Some(b) => records.blobs.push((rowid, b)),
            None => bad_rows.push(format!("Packages row {rowid}: column 1 is not a blob")),
        }
    });
    records.errors.extend(bad_rows);
    Ok(records)
}
