//! rpm's legacy `Packages` database: a Berkeley DB hash file (rpm < 4.16, RHEL/CentOS <= 8,
//! Amazon Linux 2). Read-only, by hand: Berkeley DB is C (libdb) and is not built for
//! wasm32-wasip2 here, and the subset rpm uses is small.
//!
//! Layout read (Berkeley DB 4.x/5.x, `db_page.h`/`hash.h`):
//! - page 0 is the hash metadata page: magic 0x061561 at byte 12 (its byte order is the file's),
//!   page size at 20, encryption algorithm at 24, metadata flags at 26, last page number at 32;
//! - every other page has a 26-byte header: next page at 16, entry count at 20, high-free offset
//!   at 22 (for overflow pages: the bytes of data on the page), page type at 25;
//! - hash pages (types 2 and 13) hold an array of u16 item offsets after the header; items come in
//!   key/data pairs and item `i` spans from its offset to item `i-1`'s (or the page end);
//! - a data item is `H_KEYDATA` (type 1, the bytes inline) or `H_OFFPAGE` (type 3: first overflow
//!   page at +4, total length at +8) whose bytes are chained through overflow pages (type 7).
//!
//! Like go-rpmdb and Trivy, every hash page is scanned in page order rather than walking buckets:
//! freed pages are marked invalid, so this sees exactly the live items. Keys are rpm's header
//! numbers; key 0 holds rpm's instance counter, not a header, and is skipped.
//!
//! Hostile files: the page count is capped by the file size, each overflow page may be consumed
//! once (a loop or two records sharing pages is an error for that record), so the whole read is
//! linear in the file; a bad item spoils only its own record.

use crate::Records;
use std::borrow::Cow;

pub const HASH_MAGIC: u32 = 0x0006_1561;
const BTREE_MAGIC: u32 = 0x0005_3162;
const PAGE_HEADER: usize = 26;
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASH: u8 = 13;
const H_KEYDATA: u8 = 1;
const H_DUPLICATE: u8 = 2;
const H_OFFPAGE: u8 = 3;
const H_OFFDUP: u8 = 4;
const DBMETA_CHKSUM: u8 = 0x01;

/// Whether `data` starts like a Berkeley DB hash file (in either byte order).
pub fn sniff(data: &[u8]) -> bool {
    matches!(data.get(12..16), Some(m) if u32::from_le_bytes([m[0], m[1], m[2], m[3]]) == HASH_MAGIC
        || u32::from_be_bytes([m[0], m[1], m[2], m[3]]) == HASH_MAGIC)
}

#[derive(Clone, Copy)]
struct Order {
    big: bool,
}

impl Order {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let s = b.get(at..at.checked_add(2)?)?;
        let a = [s[0], s[1]];
        Some(if self.big { u16::from_be_bytes(a) } else { u16::from_le_bytes(a) })
    }
    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let s = b.get(at..at.checked_add(4)?)?;
        let a = [s[0], s[1], s[2], s[3]];
        Some(if self.big { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) })
    }
}

struct Db<'a> {
    data: &'a [u8],
    order: Order,
    page_size: usize,
    pages: usize,
    /// Overflow pages already consumed by some record.
    used: Vec<bool>,
}

impl<'a> Db<'a> {
    fn page(&self, pgno: usize) -> Option<&'a [u8]> {
        let start = pgno.checked_mul(self.page_size)?;
        let data: &'a [u8] = self.data;
        data.get(start..start.checked_add(self.page_size)?)
    }

    /// The bytes of an off-page item: `len` bytes chained from overflow page `first`.
    fn overflow(&mut self, first: u32, len: u32) -> Result<Vec<u8>, String> {
        let want = len as usize;
        // Never trust `len` for the allocation: a chain can't hold more than the file.
        let mut out = Vec::with_capacity(want.min(self.data.len()));
        let mut pgno = first as usize;
        while out.len() < want {
            if pgno == 0 || pgno >= self.pages {
                return Err(format!(
                    "overflow chain from page {first} leads to page {pgno}, outside the {} pages, after {} of {want} bytes",
                    self.pages,
                    out.len()
                ));
            }
            match self.used.get_mut(pgno) {
                Some(u) if !*u => *u = true,
                _ => {
                    return Err(format!(
                        "overflow chain from page {first} reaches page {pgno} a second time (loop or shared page)"
                    ));
                }
            }
            let page = self.page(pgno).ok_or_else(|| format!("overflow page {pgno} is cut off"))?;
            if page.get(25) != Some(&P_OVERFLOW) {
                return Err(format!(
                    "overflow chain from page {first} reaches page {pgno}, which is not an overflow page"
                ));
            }
            let on_page = usize::from(self.order.u16(page, 22).unwrap_or_default());
            let chunk = page
                .get(PAGE_HEADER..PAGE_HEADER + on_page)
                .ok_or_else(|| format!("overflow page {pgno} claims {on_page} bytes, more than the page holds"))?;
            if out.len() + chunk.len() > want {
                return Err(format!(
                    "overflow chain from page {first} holds more than the {want} bytes its item claims"
                ));
            }
            out.extend_from_slice(chunk);
            pgno = self.order.u32(page, 16).unwrap_or_default() as usize;
        }
        if pgno != 0 {
            return Err(format!("overflow chain from page {first} goes on past the {want} bytes its item claims"));
        }
        Ok(out)
    }
}

/// Reads every header blob of a Berkeley DB hash `Packages` file. `Err` when the file is not one
/// (or cannot be read at all); problems with single records are listed in `Records::errors`.
pub fn read(data: &[u8]) -> Result<Records<'_>, String> {
    if data.len() < 512 {
        return Err(format!("{} bytes is too short for a Berkeley DB metadata page", data.len()));
    }
    let order = match data.get(12..16) {
        Some(m) if u32::from_le_bytes([m[0], m[1], m[2], m[3]]) == HASH_MAGIC => Order { big: false },
        Some(m) if u32::from_be_bytes([m[0], m[1], m[2], m[3]]) == HASH_MAGIC => Order { big: true },
        Some(m)
            if [u32::from_le_bytes([m[0], m[1], m[2], m[3]]), u32::from_be_bytes([m[0], m[1], m[2], m[3]])]
                .contains(&BTREE_MAGIC) =>
        {
            return Err("a Berkeley DB btree, not the hash database rpm writes".to_string());
        }
        _ => return Err("not a Berkeley DB hash database (bad magic at byte 12)".to_string()),
    };
    let page_size = order.u32(data, 20).unwrap_or_default() as usize;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(format!("invalid Berkeley DB page size {page_size}"));
    }
    if data.get(24).is_some_and(|&a| a != 0) {
        return Err("encrypted Berkeley DB databases are not supported".to_string());
    }
    if data.get(26).is_some_and(|&f| f & DBMETA_CHKSUM != 0) {
        return Err("Berkeley DB databases with page checksums are not supported".to_string());
    }
    let last_pgno = order.u32(data, 32).unwrap_or_default() as usize;
    let in_file = data.len() / page_size;
    let mut records = Records::default();
    let pages = match last_pgno.checked_add(1) {
        Some(n) if n <= in_file => n,
        _ => {
            records.errors.push(format!(
                "truncated: the metadata page says the file has {} pages of {page_size} bytes, it holds {in_file}",
                last_pgno as u64 + 1
            ));
            in_file
        }
    };
    let mut db = Db { data, order, page_size, pages, used: vec![false; pages] };
    for pgno in 1..pages {
        let Some(page) = db.page(pgno) else { break };
        if !matches!(page.get(25), Some(&P_HASH) | Some(&P_HASH_UNSORTED)) {
            continue;
        }
        let entries = usize::from(order.u16(page, 20).unwrap_or_default());
        if PAGE_HEADER + entries * 2 > page_size {
            records.errors.push(format!("hash page {pgno} claims {entries} items, more than fit"));
            continue;
        }
        let offset = |i: usize| usize::from(order.u16(page, PAGE_HEADER + 2 * i).unwrap_or_default());
        // Item i spans offset(i)..offset(i-1), the first one up to the page end (LEN_HITEM).
        let item = |i: usize| -> Option<&[u8]> {
            let end = if i == 0 { page_size } else { offset(i - 1) };
            let start = offset(i);
            if start < PAGE_HEADER + entries * 2 || start >= end {
                return None;
            }
            page.get(start..end)
        };
        for pair in 0..entries / 2 {
            let (k, d) = (pair * 2, pair * 2 + 1);
            let (Some(key), Some(value)) = (item(k), item(d)) else {
                records.errors.push(format!("hash page {pgno} item {k}: offsets out of order or outside the page"));
                continue;
            };
            // rpm's keys are native-endian u32 header numbers, stored inline.
            let hnum = match (key.first(), key.get(1..5)) {
                (Some(&H_KEYDATA), Some(_)) => order.u32(key, 1).unwrap_or_default(),
                _ => {
                    records.errors.push(format!("hash page {pgno} item {k}: key is not a 4-byte header number"));
                    continue;
                }
            };
            if hnum == 0 {
                continue;
            }
            let blob = match value.first() {
                Some(&H_KEYDATA) => Ok(Cow::Borrowed(value.get(1..).unwrap_or_default())),
                Some(&H_OFFPAGE) => {
                    let (Some(first), Some(len)) = (order.u32(value, 4), order.u32(value, 8)) else {
                        records.errors.push(format!("hash page {pgno} item {d}: off-page item is cut off"));
                        continue;
                    };
                    db.overflow(first, len).map(Cow::Owned)
                }
                Some(&H_DUPLICATE) | Some(&H_OFFDUP) => Err("duplicate data items (not written by rpm)".to_string()),
                other => Err(format!("unknown item type {other:?}")),
            };
            match blob {
                Ok(b) => records.blobs.push((u64::from(hnum), b)),
                Err(e) => records.errors.push(format!("header #{hnum} (hash page {pgno}): {e}")),
            }
        }
    }
    Ok(records)
}
