//! RPM header blobs, as the rpmdb stores them (rpm's `hdrblob` without the leading magic):
//!
//! ```text
//! il: u32 BE   number of index entries
//! dl: u32 BE   size of the data store
//! il x { tag: i32 BE, type: u32 BE, offset: i32 BE, count: u32 BE }
//! dl bytes of data
//! ```
//!
//! Untrusted input: every entry's type, offset and count are checked against the data store
//! before anything is read (rpm's own `hdrblobVerifyInfo` rules: known type, offset inside the
//! store, fixed-size values fitting, integers aligned), strings must be NUL-terminated inside the
//! store, and every string array's count is bounded by the bytes left, so memory and time stay
//! proportional to the blob. Region tags (61-63) are not interpreted: entries are read directly
//! from the index, and a tag that appears twice takes its last entry (rpm lets "dribble" entries
//! after the region replace region entries).

/// rpm's own limits (`HEADER_TAGS_MAX`, `HEADER_DATA_MAX`).
pub const MAX_ENTRIES: u32 = 0xffff;
pub const MAX_DATA: u32 = 0x0fff_ffff;

const TAG_NAME: i32 = 1000;
const TAG_VERSION: i32 = 1001;
const TAG_RELEASE: i32 = 1002;
const TAG_EPOCH: i32 = 1003;
const TAG_VENDOR: i32 = 1011;
const TAG_LICENSE: i32 = 1014;
const TAG_ARCH: i32 = 1022;
const TAG_OLDFILENAMES: i32 = 1027;
const TAG_SOURCERPM: i32 = 1044;
const TAG_DIRINDEXES: i32 = 1116;
const TAG_BASENAMES: i32 = 1117;
const TAG_DIRNAMES: i32 = 1118;
const TAG_MODULARITYLABEL: i32 = 5096;

const WANTED: [i32; 13] = [
    TAG_NAME,
    TAG_VERSION,
    TAG_RELEASE,
    TAG_EPOCH,
    TAG_VENDOR,
    TAG_LICENSE,
    TAG_ARCH,
    TAG_OLDFILENAMES,
    TAG_SOURCERPM,
    TAG_DIRINDEXES,
    TAG_BASENAMES,
    TAG_DIRNAMES,
    TAG_MODULARITYLABEL,
];

const TYPE_INT8: u32 = 2;
const TYPE_INT16: u32 = 3;
const TYPE_INT32: u32 = 4;
const TYPE_INT64: u32 = 5;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;
const TYPE_MAX: u32 = 9;

/// The fields of one installed package.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: Option<String>,
    pub source_rpm: Option<String>,
    pub license: Option<String>,
    pub vendor: Option<String>,
    pub modularity_label: Option<String>,
    /// Absolute paths of the files the package installed.
    pub files: Vec<String>,
    /// The file list was cut short because the caller's budget ran out.
    pub files_truncated: bool,
}

#[derive(Clone, Copy)]
struct Entry {
    ty: u32,
    offset: usize,
    count: usize,
}

struct Blob<'a> {
    data: &'a [u8],
    found: [Option<Entry>; WANTED.len()],
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn fixed_size(ty: u32) -> Option<usize> {
    match ty {
        0..=TYPE_INT8 => Some(1),
        TYPE_INT16 => Some(2),
        TYPE_INT32 => Some(4),
        TYPE_INT64 => Some(8),
        7 => Some(1), // BIN
        _ => None,
    }
}

impl<'a> Blob<'a> {
    fn parse(blob: &'a [u8]) -> Result<Blob<'a>, String> {
        let (Some(il), Some(dl)) = (be32(blob, 0), be32(blob, 4)) else {
            return Err(format!("header blob is {} bytes, shorter than its 8-byte preamble", blob.len()));
        };
        if il == 0 || il > MAX_ENTRIES {
            return Err(format!("header claims {il} index entries (allowed 1..={MAX_ENTRIES})"));
        }
        if dl > MAX_DATA {
            return Err(format!("header claims {dl} bytes of data (at most {MAX_DATA})"));
        }
        // Both fit in usize: il <= 0xffff, dl < 2^28.
        let index_end = 8 + il as usize * 16;
        let end = index_end + dl as usize;
        if blob.len() < end {
            return Err(format!(
                "header needs {end} bytes ({il} index entries, {dl} data bytes) but the blob has {}",
                blob.len()
            ));
        }
        let data = blob.get(index_end..end).unwrap_or_default();
        let mut found = [None; WANTED.len()];
        for i in 0..il as usize {
            let at = 8 + i * 16;
            let (Some(tag), Some(ty), Some(offset), Some(count)) =
                (be32(blob, at), be32(blob, at + 4), be32(blob, at + 8), be32(blob, at + 12))
            else {
                return Err(format!("index entry {i} is cut off"));
            };
            let tag = tag as i32;
            if ty > TYPE_MAX {
                return Err(format!("index entry {i} (tag {tag}) has unknown type {ty}"));
            }
            let (offset, count) = (offset as usize, count as usize);
            if count == 0 {
                return Err(format!("index entry {i} (tag {tag}) has a count of 0"));
            }
            if let Some(size) = fixed_size(ty) {
                if offset % size != 0 {
                    return Err(format!("index entry {i} (tag {tag}) offset {offset} is not aligned to {size}"));
                }
                let fits =
                    count.checked_mul(size).and_then(|n| n.checked_add(offset)).is_some_and(|e| e <= dl as usize);
                if !fits {
                    return Err(format!(
                        "index entry {i} (tag {tag}) claims {count} values of {size} bytes at offset {offset}, \
                         past the {dl}-byte data"
                    ));
                }
            } else if offset >= dl as usize {
                return Err(format!("index entry {i} (tag {tag}) points at offset {offset}, past the {dl}-byte data"));
            } else if ty == TYPE_STRING && count != 1 {
                return Err(format!("index entry {i} (tag {tag}) is a string with count {count}"));
            }
            if let Some(slot) = WANTED.iter().position(|&t| t == tag) {
                found[slot] = Some(Entry { ty, offset, count });
            }
        }
        Ok(Blob { data, found })
    }

    fn entry(&self, tag: i32) -> Option<Entry> {
        WANTED.iter().position(|&t| t == tag).and_then(|i| self.found.get(i).copied().flatten())
    }

    /// `count` NUL-terminated strings starting at `offset`.
    fn strings(&self, tag: i32, e: Entry) -> Result<Vec<&'a str>, String> {
        let data: &'a [u8] = self.data;
        let mut rest = data.get(e.offset..).unwrap_or_default();
        // Each string takes at least its NUL: a count larger than the bytes left is a lie.
        if e.count > rest.len() {
            return Err(format!("tag {tag} claims {} strings in the {} bytes left", e.count, rest.len()));
        }
        let mut out = Vec::with_capacity(e.count);
        for n in 0..e.count {
            let Some(nul) = rest.iter().position(|&b| b == 0) else {
                return Err(format!(
                    "tag {tag} string {n} at data offset {} has no terminating NUL",
                    data.len() - rest.len()
                ));
            };
            let (s, tail) = rest.split_at(nul);
            out.push(std::str::from_utf8(s).map_err(|_| format!("tag {tag} string {n} is not UTF-8"))?);
            rest = tail.get(1..).unwrap_or_default();
        }
        Ok(out)
    }

    /// A single string: STRING, or the first of an I18NSTRING/STRING_ARRAY. `None` if absent.
    fn string(&self, tag: i32) -> Result<Option<String>, String> {
        let Some(e) = self.entry(tag) else { return Ok(None) };
        if !matches!(e.ty, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) {
            return Err(format!("tag {tag} has type {} where a string was expected", e.ty));
        }
        let first = self.strings(tag, Entry { count: 1, ..e })?;
        Ok(first.first().map(|s| s.to_string()))
    }

    fn string_array(&self, tag: i32) -> Result<Option<Vec<&'a str>>, String> {
        let Some(e) = self.entry(tag) else { return Ok(None) };
        if e.ty != TYPE_STRING_ARRAY {
            return Err(format!("tag {tag} has type {} where a string array was expected", e.ty));
        }
        self.strings(tag, e).map(Some)
    }

    fn int32s(&self, tag: i32) -> Result<Option<Vec<u32>>, String> {
        let Some(e) = self.entry(tag) else { return Ok(None) };
        if e.ty != TYPE_INT32 {
            return Err(format!("tag {tag} has type {} where INT32 was expected", e.ty));
        }
        // Checked against the data size in `parse`.
        Ok(Some((0..e.count).filter_map(|i| be32(self.data, e.offset + i * 4)).collect()))
    }
}

/// Decodes one header blob. `file_budget` is how many bytes of installed-file paths the caller
/// still accepts; it is decreased by what this header's list takes (a header can name a long
/// directory for each of many files, so the paths can be far larger than the blob).
pub fn parse(blob: &[u8], file_budget: &mut usize) -> Result<Header, String> {
    let b = Blob::parse(blob)?;
    let required = |tag: i32, what: &str| -> Result<String, String> {
        b.string(tag)?.ok_or_else(|| format!("header has no {what} tag"))
    };
    let name = required(TAG_NAME, "NAME")?;
    let version = required(TAG_VERSION, "VERSION")?;
    let release = required(TAG_RELEASE, "RELEASE")?;
    let epoch = b.int32s(TAG_EPOCH)?.and_then(|v| v.first().copied());
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let mut h = Header {
        name,
        epoch,
        version,
        release,
        arch: non_empty(b.string(TAG_ARCH)?),
        source_rpm: non_empty(b.string(TAG_SOURCERPM)?),
        license: non_empty(b.string(TAG_LICENSE)?),
        vendor: non_empty(b.string(TAG_VENDOR)?),
        modularity_label: non_empty(b.string(TAG_MODULARITYLABEL)?),
        files: Vec::new(),
        files_truncated: false,
    };
    let mut take = |path: String, files: &mut Vec<String>| -> bool {
        match file_budget.checked_sub(path.len()) {
            Some(left) => {
                *file_budget = left;
                files.push(path);
                true
            }
            None => false,
        }
    };
    if let Some(basenames) = b.string_array(TAG_BASENAMES)? {
        let dirnames = b.string_array(TAG_DIRNAMES)?.ok_or("header has BASENAMES but no DIRNAMES")?;
        let indexes = b.int32s(TAG_DIRINDEXES)?.ok_or("header has BASENAMES but no DIRINDEXES")?;
        if indexes.len() != basenames.len() {
            return Err(format!("header has {} BASENAMES but {} DIRINDEXES", basenames.len(), indexes.len()));
        }
        for (i, (base, &dir)) in basenames.iter().zip(&indexes).enumerate() {
            let Some(dir) = dirnames.get(dir as usize) else {
                return Err(format!("file {i} names directory {dir} of {}", dirnames.len()));
            };
            if !take(format!("{dir}{base}"), &mut h.files) {
                h.files_truncated = true;
                break;
            }
        }
    } else if let Some(old) = b.string_array(TAG_OLDFILENAMES)? {
        for path in old {
            if !take(path.to_string(), &mut h.files) {
                h.files_truncated = true;
                break;
            }
        }
    }
    Ok(h)
}
