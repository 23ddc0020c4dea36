//! rpm's NDB backend `Packages.db` (rpm's own format, SUSE since SLE 15 SP3 / openSUSE), from
//! rpm's `lib/backend/ndb/rpmpkg.c`. All integers are little-endian.
//!
//! ```text
//! 0   header: magic "RpmP", version 0, generation, number of slot pages, next package index
//! 32  slots, 16 bytes each, to the end of the slot pages (4096 bytes each):
//!       magic "Slot", package index (0 = free), block offset, block count   (blocks of 16 bytes)
//! blob at block offset * 16: magic "BlbS", package index, checksum, length, then the header
//!       blob, then a 12-byte tail, all inside the slot's blocks
//! ```
//!
//! Hostile files: slots are bounded by the slot pages, which must lie inside the file; each blob
//! must lie inside the file after the slot pages, inside its own slot's blocks, and may not
//! overlap another slot's blocks or repeat a package index, so the work is linear in the file.

use crate::Records;
use std::borrow::Cow;

const HEADER_MAGIC: &[u8; 4] = b"RpmP";
const SLOT_MAGIC: &[u8; 4] = b"Slot";
const BLOB_MAGIC: &[u8; 4] = b"BlbS";
const PAGE_SIZE: usize = 4096;
const SLOT_SIZE: usize = 16;
const BLOCK_SIZE: usize = 16;
const HEADER_SLOTS: usize = 2;
const BLOB_HEAD: usize = 16;
const BLOB_TAIL: usize = 12;

pub fn sniff(data: &[u8]) -> bool {
    data.get(..4) == Some(HEADER_MAGIC)
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Reads every header blob of an NDB `Packages.db`. `Err` when the file is not one (or its slot
/// pages are cut off); problems with single slots are listed in `Records::errors`.
pub fn read(data: &[u8]) -> Result<Records<'_>, String> {
    if !sniff(data) {
        return Err("not an rpm NDB database (no \"RpmP\" magic)".to_string());
    }
    if data.len() < 32 {
        return Err(format!("truncated: {} bytes, shorter than the NDB header", data.len()));
    }
    let version = le32(data, 4);
    if version != 0 {
        return Err(format!("unsupported NDB version {version}"));
    }
    let slot_pages = le32(data, 12) as usize;
    let slots_end = slot_pages.checked_mul(PAGE_SIZE).filter(|&e| e > 0 && e <= data.len()).ok_or_else(|| {
        format!(
            "truncated or corrupt: {slot_pages} slot pages of {PAGE_SIZE} bytes claimed, the file has {} bytes",
            data.len()
        )
    })?;
    let mut records = Records::default();
    // (start byte, end byte, package index) of the slots in use.
    let mut extents: Vec<(usize, usize, u32)> = Vec::new();
    for n in HEADER_SLOTS..slots_end / SLOT_SIZE {
        let at = n * SLOT_SIZE;
        let Some(slot) = data.get(at..at + SLOT_SIZE) else { break };
        if slot.get(..4) != Some(SLOT_MAGIC) {
            records.errors.push(format!("slot {} at byte {at} has no \"Slot\" magic", n - HEADER_SLOTS));
            continue;
        }
        let pkg = le32(slot, 4);
        if pkg == 0 {
            continue;
        }
        // u64: block numbers times 16 overflow a 32-bit usize (wasm32).
        let (blk_off, blk_cnt) = (u64::from(le32(slot, 8)), u64::from(le32(slot, 12)));
        let start = blk_off * BLOCK_SIZE as u64;
        let end = (blk_off + blk_cnt) * BLOCK_SIZE as u64;
        if start < slots_end as u64 || blk_cnt == 0 || end > data.len() as u64 {
            records.errors.push(format!(
                "package #{pkg}: blocks {blk_off}..{} are outside the blob area (bytes {slots_end}..{})",
                blk_off + blk_cnt,
                data.len()
            ));
            continue;
        }
        // Inside the file, so these byte offsets fit in usize.
        extents.push((start as usize, end as usize, pkg));
    }
    extents.sort_unstable();
    let mut seen: Vec<u32> = Vec::with_capacity(extents.len());
    let mut prev_end = 0;
    for (first, end, pkg) in extents {
        if first < prev_end {
            records.errors.push(format!("package #{pkg}: its blocks overlap another package's"));
            continue;
        }
        prev_end = end;
        seen.push(pkg);
        let area = data.get(first..end).unwrap_or_default();
        let len = le32(area, 12) as usize;
        let problem = if area.get(..4) != Some(BLOB_MAGIC) {
            Some(format!("no \"BlbS\" blob magic at byte {first}"))
        } else if le32(area, 4) != pkg {
            Some(format!("the blob at byte {first} belongs to package #{}", le32(area, 4)))
        } else if len > area.len().saturating_sub(BLOB_HEAD + BLOB_TAIL) {
            Some(format!("blob length {len} does not fit its {} bytes of blocks", area.len()))
        } else {
            None
        };
        match problem {
            Some(p) => records.errors.push(format!("package #{pkg}: {p}")),
            None => records
                .blobs
                .push((u64::from(pkg), Cow::Borrowed(area.get(BLOB_HEAD..BLOB_HEAD + len).unwrap_or_default()))),
        }
    }
    seen.sort_unstable();
    if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
        records.errors.push(format!("package index #{} appears in more than one slot", w[0]));
    }
    Ok(records)
}
