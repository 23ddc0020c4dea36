//! Tar entries read with bounded metadata, for layers and for image archives alike.
//!
//! Why not `tar::Archive`: tar 0.4 reads a GNU long name or long link ('L'/'K'), a PAX extended
//! header ('x') and a GNU sparse map whole into memory, sized by whatever the archive declares,
//! before it hands out the entry; its raw mode leaves those to the caller but then cannot step
//! over sparse extension blocks nor honour a PAX `size`. So the framing is done here, on the
//! crate's own header types, and every metadata read is checked against a ceiling before it
//! starts. For valid archives the entries are the ones `tar::Archive` gives (same names, links,
//! sizes, data and errors).

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};
use tar::{GnuExtSparseHeader, GnuSparseHeader, Header, PaxExtensions};

/// Longest entry name (a GNU long name or a PAX `path`), in bytes: Linux's PATH_MAX.
pub const MAX_NAME_BYTES: usize = 4096;
/// Longest link target (a GNU long link or a PAX `linkpath`), in bytes: Linux's PATH_MAX.
pub const MAX_LINK_BYTES: usize = 4096;
/// Largest PAX extended header ('x'), all its records together (so also the largest record).
pub const MAX_PAX_HEADER_BYTES: u64 = 1 << 20;
/// Most data regions in one GNU sparse file's map (its header and extension blocks); 16 bytes
/// each while the entry is read.
pub const MAX_SPARSE_REGIONS: usize = 65_536;

const BLOCK: u64 = 512;

/// Tar metadata over one of the ceilings: the archive is refused rather than read. Carried inside
/// an `io::Error` so callers can tell it from a corrupt stream ([`limit_exceeded`]).
#[derive(Debug)]
pub struct LimitExceeded(pub String);

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LimitExceeded {}

impl LimitExceeded {
    pub fn error(message: String) -> io::Error {
        io::Error::other(LimitExceeded(message))
    }
}

/// The ceiling an error reports, if it is one (anywhere in an `anyhow` chain of `io::Error`s).
pub fn limit_exceeded(error: &anyhow::Error) -> Option<&LimitExceeded> {
    error.chain().find_map(|cause| {
        cause.downcast_ref::<LimitExceeded>().or_else(|| cause.downcast_ref::<io::Error>()?.get_ref()?.downcast_ref())
    })
}

/// One entry, with its metadata resolved (GNU long name and link, PAX `path`, `linkpath` and
/// `size`, the sparse map); its data is read with [`TarReader::read_data`] before the next entry.
pub struct TarEntry {
    header: Header,
    path: Vec<u8>,
    link: Option<Vec<u8>>,
    /// The file's size: for a sparse file the size with its holes filled in.
    size: u64,
    data_position: u64,
    /// Data regions (offset in the file, length) of a sparse file; holes between them are zeros.
    sparse_regions: Option<Vec<(u64, u64)>>,
}

impl TarEntry {
    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn path_bytes(&self) -> &[u8] {
        &self.path
    }

    pub fn link_name_bytes(&self) -> Option<&[u8]> {
        self.link.as_deref()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Where the entry's data starts in the archive (for a plain file, its bytes in place).
    pub fn raw_file_position(&self) -> u64 {
        self.data_position
    }
}

/// Reads a tar stream entry by entry; skipping an entry's data is a forward seek.
pub struct TarReader<R> {
    stream: R,
    position: u64,
    next_header: u64,
}

/// Metadata entries that describe the next real entry.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.long_name.is_none() && self.long_link.is_none() && self.pax.is_none()
    }
}

impl<R: Read + Seek> TarReader<R> {
    /// A reader of the archive `stream`, positioned at its start.
    pub fn new(stream: R) -> TarReader<R> {
        TarReader { stream, position: 0, next_header: 0 }
    }

    /// The next entry, `None` at the end of the archive (an all-zero block or the end of the
    /// stream).
    pub fn next_entry(&mut self) -> io::Result<Option<TarEntry>> {
        let mut pending = Pending::default();
        loop {
            self.skip_to(self.next_header)?;
            let mut header = Header::new_old();
            if !self.read_block(header.as_mut_bytes())? || header.as_bytes().iter().all(|&b| b == 0) {
                if !pending.is_empty() {
                    return Err(io::Error::other(
                        "members found describing a future member but no future member found",
                    ));
                }
                return Ok(None);
            }
            verify_checksum(&header)?;
            let kind = header.entry_type();
            let is_extension = kind.is_gnu_longname()
                || kind.is_gnu_longlink()
                || kind.is_pax_local_extensions()
                || kind.is_pax_global_extensions();
            // PAX records describe the next real entry, never an extension header in between.
            let pax_size = pending.pax.as_deref().filter(|_| !is_extension).and_then(|pax| pax_number(pax, "size"));
            let stored_size = match pax_size {
                Some(size) => size,
                None => header.entry_size()?,
            };
            self.next_header = after_data(self.position, stored_size)?;
            // As `tar::Archive`: extension entries count only in GNU or ustar headers.
            let recognized = header.as_gnu().is_some() || header.as_ustar().is_some();
            if recognized && kind.is_gnu_longname() {
                if pending.long_name.is_some() {
                    return Err(io::Error::other("two long name entries describing the same member"));
                }
                // The stored name ends with a NUL.
                let name = self.read_metadata(stored_size, MAX_NAME_BYTES as u64 + 1, || {
                    format!("a GNU long name of {stored_size} bytes is over the {MAX_NAME_BYTES}-byte limit for tar entry names")
                })?;
                pending.long_name = Some(name);
                continue;
            }
            if recognized && kind.is_gnu_longlink() {
                if pending.long_link.is_some() {
                    return Err(io::Error::other("two long name entries describing the same member"));
                }
                let link = self.read_metadata(stored_size, MAX_LINK_BYTES as u64 + 1, || {
                    format!("a GNU long link of {stored_size} bytes is over the {MAX_LINK_BYTES}-byte limit for link targets")
                })?;
                pending.long_link = Some(link);
                continue;
            }
            if recognized && kind.is_pax_local_extensions() {
                if pending.pax.is_some() {
                    return Err(io::Error::other("two pax extensions entries describing the same member"));
                }
                let records = self.read_metadata(stored_size, MAX_PAX_HEADER_BYTES, || {
                    format!("a PAX extended header of {stored_size} bytes is over the {MAX_PAX_HEADER_BYTES}-byte limit for PAX headers")
                })?;
                pending.pax = Some(records);
                continue;
            }
            return self.finish_entry(header, pending, stored_size).map(Some);
        }
    }

    /// Resolves name, link and sparse map of a real entry, as `tar::Archive` does.
    fn finish_entry(&mut self, header: Header, pending: Pending, stored_size: u64) -> io::Result<TarEntry> {
        let pax_value = |key: &[u8]| {
            let pax = pending.pax.as_deref()?;
            PaxExtensions::new(pax)
                .filter_map(Result::ok)
                .find(|record| record.key_bytes() == key)
                .map(|r| r.value_bytes())
        };
        let (path, path_source) = match (&pending.long_name, pax_value(b"path")) {
            (Some(name), _) => (without_nul(name).to_vec(), "GNU long name"),
            (None, Some(path)) => (path.to_vec(), "PAX path record"),
            (None, None) => (header.path_bytes().into_owned(), "header"),
        };
        if path.len() > MAX_NAME_BYTES {
            return Err(LimitExceeded::error(format!(
                "an entry name of {} bytes (from a {path_source}) is over the {MAX_NAME_BYTES}-byte limit for tar entry names",
                path.len()
            )));
        }
        let link = match (&pending.long_link, pax_value(b"linkpath")) {
            (Some(link), _) => Some(without_nul(link).to_vec()),
            (None, Some(link)) => Some(link.to_vec()),
            (None, None) => header.link_name_bytes().map(|link| link.into_owned()),
        };
        if let Some(link) = &link
            && link.len() > MAX_LINK_BYTES
        {
            return Err(LimitExceeded::error(format!(
                "a link target of {} bytes is over the {MAX_LINK_BYTES}-byte limit for link targets",
                link.len()
            )));
        }
        let (size, sparse_regions) = if header.entry_type().is_gnu_sparse() {
            let (size, regions) = self.read_sparse_map(&header, stored_size)?;
            (size, Some(regions))
        } else {
            (stored_size, None)
        };
        Ok(TarEntry { header, path, link, size, data_position: self.position, sparse_regions })
    }

    /// The map of an old-GNU sparse file: the regions in its header and in the extension blocks
    /// that follow it, checked as `tar::Archive` checks them, and counted against the ceiling.
    fn read_sparse_map(&mut self, header: &Header, stored_size: u64) -> io::Result<(u64, Vec<(u64, u64)>)> {
        let gnu = header.as_gnu().ok_or_else(|| io::Error::other("sparse entry type listed but not GNU header"))?;
        let mut regions = Vec::new();
        let mut end = 0u64;
        let mut remaining = stored_size;
        let mut add = |block: &GnuSparseHeader| -> io::Result<()> {
            if block.is_empty() {
                return Ok(());
            }
            let offset = block.offset()?;
            let length = block.length()?;
            if length != 0 && !(stored_size - remaining).is_multiple_of(BLOCK) {
                return Err(io::Error::other("previous block in sparse file was not aligned to 512-byte boundary"));
            } else if offset < end {
                return Err(io::Error::other("out of order or overlapping sparse blocks"));
            }
            if regions.len() == MAX_SPARSE_REGIONS {
                return Err(LimitExceeded::error(format!(
                    "a sparse file map of more than {MAX_SPARSE_REGIONS} regions is over the limit for sparse maps"
                )));
            }
            end = offset
                .checked_add(length)
                .ok_or_else(|| io::Error::other("more bytes listed in sparse file than u64 can hold"))?;
            remaining = remaining
                .checked_sub(length)
                .ok_or_else(|| io::Error::other("sparse file consumed more data than the header listed"))?;
            regions.push((offset, length));
            Ok(())
        };
        for block in &gnu.sparse {
            add(block)?;
        }
        if gnu.is_extended() {
            let mut extension = GnuExtSparseHeader::new();
            extension.set_is_extended(true);
            while extension.is_extended() {
                if !self.read_block(extension.as_mut_bytes())? {
                    return Err(io::Error::other("failed to read extension"));
                }
                // The data follows the extension blocks.
                self.next_header += BLOCK;
                for block in extension.sparse() {
                    add(block)?;
                }
            }
        }
        if end != gnu.real_size()? {
            return Err(io::Error::other("mismatch in sparse file chunks and size in header"));
        }
        if remaining > 0 {
            return Err(io::Error::other("mismatch in sparse file chunks and entry size in header"));
        }
        Ok((end, regions))
    }

    /// Appends the data of `entry`, the entry [`next_entry`](Self::next_entry) just returned, to
    /// `content` (`entry.size()` bytes: the caller decides whether that size is acceptable).
    pub fn read_data(&mut self, entry: &TarEntry, content: &mut Vec<u8>) -> io::Result<()> {
        if self.position != entry.data_position {
            return Err(io::Error::other("tar entry data read out of order"));
        }
        match &entry.sparse_regions {
            None => self.read_exactly(entry.size, content),
            Some(regions) => {
                let mut end = 0;
                for &(offset, length) in regions {
                    content.resize(content.len() + (offset - end) as usize, 0);
                    self.read_exactly(length, content)?;
                    end = offset + length;
                }
                Ok(())
            }
        }
    }

    /// Reads a metadata entry's data once its declared size is known to be within `limit`.
    fn read_metadata(&mut self, size: u64, limit: u64, over_limit: impl FnOnce() -> String) -> io::Result<Vec<u8>> {
        if size > limit {
            return Err(LimitExceeded::error(over_limit()));
        }
        let mut data = Vec::with_capacity(size as usize);
        // A short read is what `tar::Archive` accepts too; the stream's end shows at the next header.
        let read = (&mut self.stream).take(size).read_to_end(&mut data)?;
        self.position += read as u64;
        Ok(data)
    }

    fn read_exactly(&mut self, length: u64, content: &mut Vec<u8>) -> io::Result<()> {
        let read = (&mut self.stream).take(length).read_to_end(content)? as u64;
        self.position += read;
        if read < length {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the tar stream ends inside an entry"));
        }
        Ok(())
    }

    /// Fills `block`; `false` when the stream ends before its first byte.
    fn read_block(&mut self, block: &mut [u8]) -> io::Result<bool> {
        let mut filled = 0;
        while filled < block.len() {
            match self.stream.read(&mut block[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => return Err(io::Error::other("failed to read entire block")),
                Ok(n) => {
                    filled += n;
                    self.position += n as u64;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(true)
    }

    fn skip_to(&mut self, position: u64) -> io::Result<()> {
        let skip =
            position.checked_sub(self.position).ok_or_else(|| io::Error::other("tar entry data read past its end"))?;
        if skip > 0 {
            let skip = i64::try_from(skip).map_err(|_| io::Error::other("seek position out of bounds"))?;
            self.stream.seek(SeekFrom::Current(skip))?;
            self.position = position;
        }
        Ok(())
    }
}

/// Where the next header starts after `size` bytes of data at `data_position` (whole blocks).
fn after_data(data_position: u64, size: u64) -> io::Result<u64> {
    size.checked_next_multiple_of(BLOCK)
        .and_then(|blocks| data_position.checked_add(blocks))
        .ok_or_else(|| io::Error::other("size overflow"))
}

fn verify_checksum(header: &Header) -> io::Result<()> {
    let bytes = header.as_bytes();
    // The checksum field itself counts as eight spaces.
    let sum = bytes[..148].iter().chain(&bytes[156..]).map(|&b| u32::from(b)).sum::<u32>() + 8 * u32::from(b' ');
    if sum != header.cksum()? {
        return Err(io::Error::other("archive header checksum mismatch"));
    }
    Ok(())
}

/// A numeric PAX record, read as `tar::Archive` reads `size`: records up to the first malformed
/// one, the first with the key, `None` unless it is a number.
fn pax_number(records: &[u8], key: &str) -> Option<u64> {
    for record in PaxExtensions::new(records) {
        let record = record.ok()?;
        if record.key() == Ok(key) {
            return record.value().ok()?.parse().ok();
        }
    }
    None
}

fn without_nul(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(&[0]).unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use tar::EntryType;

    /// name, link, size, a hash of the data and the data position of every entry (not of sparse
    /// files: `tar::Archive` gives the position before their extension blocks, not of the data).
    type Listed = Vec<(Vec<u8>, Option<Vec<u8>>, u64, u64, Option<u64>)>;

    fn data_hash(data: &[u8]) -> u64 {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        BuildHasherDefault::<DefaultHasher>::default().hash_one(data)
    }

    fn listed_by_tar_crate(archive: &[u8]) -> Listed {
        let mut archive = tar::Archive::new(Cursor::new(archive));
        let entries = archive.entries_with_seek().unwrap();
        entries
            .map(|entry| {
                let mut entry = entry.unwrap();
                let (path, link) = (entry.path_bytes().into_owned(), entry.link_name_bytes().map(|l| l.into_owned()));
                let sparse = entry.header().entry_type().is_gnu_sparse();
                let (size, position) = (entry.size(), (!sparse).then(|| entry.raw_file_position()));
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                (path, link, size, data_hash(&data), position)
            })
            .collect()
    }

    fn listed_here(archive: &[u8]) -> io::Result<Listed> {
        let mut reader = TarReader::new(Cursor::new(archive));
        let mut listed = Vec::new();
        while let Some(entry) = reader.next_entry()? {
            let mut data = Vec::new();
            reader.read_data(&entry, &mut data)?;
            let link = entry.link_name_bytes().map(<[u8]>::to_vec);
            let position = (!entry.header().entry_type().is_gnu_sparse()).then(|| entry.raw_file_position());
            listed.push((entry.path_bytes().to_vec(), link, entry.size(), data_hash(&data), position));
        }
        Ok(listed)
    }

    fn header(kind: EntryType, name: &[u8], size: u64) -> Header {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(0o644);
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_cksum();
        header
    }

    fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
        let body = [b" ", key.as_bytes(), b"=", value, b"\n"].concat();
        // The length counts its own digits.
        let mut length = body.len() + 1;
        while length.to_string().len() + body.len() != length {
            length += 1;
        }
        [length.to_string().as_bytes(), &body].concat()
    }

    fn append(archive: &mut tar::Builder<Vec<u8>>, header: &Header, data: &[u8]) {
        archive.append(header, data).unwrap();
    }

    /// GNU long names and links, PAX path, linkpath and size, a global PAX header, a directory.
    fn valid_archive() -> Vec<u8> {
        let mut archive = tar::Builder::new(Vec::new());
        append(&mut archive, &header(EntryType::Directory, b"etc/", 0), b"");
        let long_name = format!("usr/{}/file", "d".repeat(300));
        append(
            &mut archive,
            &header(EntryType::GNULongName, b"././@LongLink", 305),
            &[long_name.as_bytes(), b"\0"].concat(),
        );
        append(&mut archive, &header(EntryType::Regular, b"usr/short", 5), b"hello");
        let long_link = format!("../{}", "t".repeat(200));
        append(&mut archive, &header(EntryType::GNULongLink, b"././@LongLink", 203), long_link.as_bytes());
        append(&mut archive, &header(EntryType::Symlink, b"usr/link", 0), b"");
        let global = pax_record("comment", b"global records are not applied");
        append(&mut archive, &header(EntryType::XGlobalHeader, b"pax_global_header", global.len() as u64), &global);
        let records = [pax_record("path", b"pax/named/file"), pax_record("size", b"7")].concat();
        append(&mut archive, &header(EntryType::XHeader, b"PaxHeader", records.len() as u64), &records);
        // The header's own size (0) is overridden by the PAX record.
        archive.get_mut().extend_from_slice(header(EntryType::Regular, b"ignored", 0).as_bytes());
        archive.get_mut().extend_from_slice(&[b"content".as_slice(), &[0; 505]].concat());
        let records = pax_record("linkpath", "é/target".as_bytes());
        append(&mut archive, &header(EntryType::XHeader, b"PaxHeader", records.len() as u64), &records);
        append(&mut archive, &header(EntryType::Link, b"hard", 0), b"");
        archive.into_inner().unwrap()
    }

    /// A GNU sparse file of `regions` data regions of `length` bytes, one every `stride` bytes:
    /// the first 4 in its header, the rest in extension blocks; then a plain file.
    fn sparse_archive(regions: usize, length: u64, stride: u64) -> Vec<u8> {
        let mut sparse = header(EntryType::GNUSparse, b"sparse.bin", regions as u64 * length);
        let region = |index: usize| (index as u64 * stride, length);
        let gnu = sparse.as_gnu_mut().unwrap();
        for (index, slot) in gnu.sparse.iter_mut().enumerate().take(regions) {
            slot.set_offset(region(index).0);
            slot.set_length(region(index).1);
        }
        gnu.set_real_size((regions as u64 - 1) * stride + length);
        gnu.set_is_extended(regions > gnu.sparse.len());
        sparse.set_cksum();
        let mut bytes = sparse.as_bytes().to_vec();
        let mut index = 4;
        while index < regions {
            let mut extension = GnuExtSparseHeader::new();
            for slot in extension.sparse_mut().iter_mut() {
                if index < regions {
                    slot.set_offset(region(index).0);
                    slot.set_length(region(index).1);
                    index += 1;
                }
            }
            extension.set_is_extended(index < regions);
            bytes.extend_from_slice(extension.as_bytes());
        }
        for index in 0..regions {
            bytes.extend_from_slice(&vec![(index % 255) as u8 + 1; length as usize]);
        }
        bytes.resize(bytes.len().next_multiple_of(512), 0);
        let mut archive = tar::Builder::new(bytes);
        append(&mut archive, &header(EntryType::Regular, b"after", 5), b"after");
        archive.into_inner().unwrap()
    }

    #[test]
    fn valid_archives_read_as_the_tar_crate_reads_them() {
        for archive in
            [valid_archive(), sparse_archive(3, 512, 2048), sparse_archive(25, 512, 2048), sparse_archive(46, 0, 1)]
        {
            let expected = listed_by_tar_crate(&archive);
            assert!(expected.len() >= 2);
            assert_eq!(listed_here(&archive).unwrap(), expected);
        }
        let listed = listed_here(&valid_archive()).unwrap();
        let names: Vec<_> = listed.iter().map(|entry| String::from_utf8_lossy(&entry.0).into_owned()).collect();
        assert_eq!(names[4], "pax/named/file");
        assert_eq!(listed[4].3, data_hash(b"content"));
        assert_eq!(listed[5].1.as_deref(), Some("é/target".as_bytes()));
    }

    fn limit_error(archive: &[u8]) -> String {
        let error = listed_here(archive).expect_err("over a limit");
        let limit =
            error.get_ref().and_then(|e| e.downcast_ref::<LimitExceeded>()).unwrap_or_else(|| panic!("{error}"));
        limit.to_string()
    }

    #[test]
    fn metadata_over_a_ceiling_is_refused_before_it_is_read() {
        // Only the headers exist: the declared data is never read.
        let long_name = header(EntryType::GNULongName, b"././@LongLink", 1 << 30);
        assert!(limit_error(long_name.as_bytes()).contains("4096-byte limit for tar entry names"));
        let long_link = header(EntryType::GNULongLink, b"././@LongLink", 4098);
        assert!(limit_error(long_link.as_bytes()).contains("limit for link targets"));
        let pax = header(EntryType::XHeader, b"PaxHeader", MAX_PAX_HEADER_BYTES + 1);
        assert!(limit_error(pax.as_bytes()).contains("limit for PAX headers"));

        let mut archive = tar::Builder::new(Vec::new());
        let records = pax_record("path", &[b'p'; MAX_NAME_BYTES + 1]);
        append(&mut archive, &header(EntryType::XHeader, b"PaxHeader", records.len() as u64), &records);
        append(&mut archive, &header(EntryType::Regular, b"short", 0), b"");
        assert!(limit_error(&archive.into_inner().unwrap()).contains("(from a PAX path record)"));

        assert!(listed_here(&sparse_archive(MAX_SPARSE_REGIONS, 0, 1)).is_ok());
        assert!(limit_error(&sparse_archive(MAX_SPARSE_REGIONS + 1, 0, 1)).contains("limit for sparse maps"));
    }
}
