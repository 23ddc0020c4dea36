//! One layer, streamed: sha256 of the blob as it arrives, decompression (gzip, zstd or none), the
//! tar walk, and selection of the entries analyzers asked for. Nothing is extracted to disk and
//! only selected files are held in memory.

use crate::digest::{Digest, VerifyingReader};
use crate::image::{Compression, LayerRef};
use crate::tar_reader::{LimitExceeded, TarReader, limit_exceeded};
use anyhow::{Context, Result, bail};
use globset::GlobSet;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::HashSet;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::mpsc;

/// Blobs are read in chunks this size; large enough that per-call overhead vanishes.
const STREAM_BUFFER: usize = 256 * 1024;
/// A layer full of hostile names should not flood the report.
const MAX_WARNINGS_PER_LAYER: usize = 50;

/// The paths some analyzer asked for (globs over image paths; `*` stays inside one component).
pub struct Selector {
    set: GlobSet,
}

impl Selector {
    pub fn new(patterns: &[String]) -> Result<Selector> {
        Ok(Selector { set: crate::plugin::compile_patterns(patterns).map_err(anyhow::Error::msg)? })
    }

    /// Exactly these paths (for a second read of a layer).
    pub fn paths(paths: &[String]) -> Result<Selector> {
        let patterns: Vec<String> = paths.iter().map(|path| globset::escape(path)).collect();
        Selector::new(&patterns)
    }

    pub fn wants(&self, path: &str) -> bool {
        self.set.is_match(path)
    }
}

/// A stable 64-bit name for a path: the first 8 bytes of its sha256 (stable across builds, as
/// the layer cache needs; a collision would at worst hide one directory, and an image can hide
/// anything from itself anyway).
pub fn path_hash(path: &str) -> u64 {
    let digest = Sha256::digest(path.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("sha256 has 32 bytes"))
}

/// Ceilings that keep a hostile layer from exhausting memory or time.
#[derive(Debug, Clone, Copy)]
pub struct LayerLimits {
    /// Uncompressed bytes one layer may expand to (the decompression-bomb ceiling).
    pub max_layer_bytes: u64,
    /// Largest single file kept for analyzers; bigger ones are skipped with a warning.
    pub max_file_bytes: u64,
}

impl Default for LayerLimits {
    fn default() -> Self {
        LayerLimits { max_layer_bytes: 32 << 30, max_file_bytes: 128 << 20 }
    }
}

/// What a layer contributes at one path of the merged view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Node {
    File {
        content: Vec<u8>,
        mode: u32,
    },
    /// Symlinks are kept whatever their path (they are tiny) so links in the merged view resolve,
    /// e.g. Debian's etc/os-release -> ../usr/lib/os-release.
    Symlink {
        target: String,
    },
    /// A hard link to another path of the image, relative to the root.
    Hardlink {
        target: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerEntry {
    pub path: String,
    pub node: Node,
}

/// Everything the pipeline keeps from one layer; it is also what the layer cache stores
/// (`store::cache`), so a cached layer gives the analyzers exactly the files a fresh read would.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LayerContents {
    pub entries: Vec<LayerEntry>,
    /// Paths this layer removes from the layers below (`.wh.NAME`).
    pub whiteouts: Vec<String>,
    /// Directories whose lower-layer contents this layer hides (`.wh..wh..opq`).
    pub opaque_dirs: Vec<String>,
    /// The paths of the non-directories this layer holds but does not keep (files nobody asked
    /// for, devices, FIFOs), by [`path_hash`]: each still hides whatever lower layers had at and
    /// below its path (a directory replaced by a file). Hashes rather than paths: a layer has
    /// hundreds of thousands of such entries, and the view only tests the few paths that hold
    /// kept files against them.
    pub replaced: Vec<u64>,
    /// Targets of kept hard links that name an earlier entry of this layer that was not kept:
    /// a second read of the layer fetches them ([`LayerContents::add_link_targets`]). Never
    /// cached: a cached layer has them already.
    #[serde(skip)]
    pub unread_link_targets: Vec<String>,
    /// Entries skipped for a reason the user should know (hostile names, oversized files).
    pub warnings: Vec<String>,
    pub blob_bytes: u64,
    pub tar_bytes: u64,
}

impl LayerContents {
    /// Adds the files a second read fetched for [`LayerContents::unread_link_targets`].
    pub fn add_link_targets(&mut self, second_read: LayerContents) {
        let targets: HashSet<String> = std::mem::take(&mut self.unread_link_targets).into_iter().collect();
        let fetched = second_read
            .entries
            .into_iter()
            .filter(|entry| targets.contains(&entry.path) && matches!(entry.node, Node::File { .. }));
        // First, so that the links in this layer find them whatever the order of the entries.
        self.entries.splice(0..0, fetched);
    }

    fn warn(&mut self, message: String) {
        if self.warnings.len() < MAX_WARNINGS_PER_LAYER {
            self.warnings.push(message);
        } else if self.warnings.len() == MAX_WARNINGS_PER_LAYER {
            self.warnings.push("further warnings for this layer omitted".to_string());
        }
    }
}

/// Streams one layer blob through the digest check, the decoder and the tar walk.
/// `what` names the layer in messages, e.g. "layer 2 (sha256:...)".
pub fn read_layer(
    raw: impl Read + Send,
    layer: &LayerRef,
    selector: &Selector,
    limits: &LayerLimits,
    what: &str,
) -> Result<LayerContents> {
    // The blob is read and hashed on its own thread while this one decodes: reading (a
    // download, for registries) and sha256 overlap with decompression instead of adding to it.
    let (walked, verified) = std::thread::scope(|scope| {
        let (chunks, received) = mpsc::sync_channel(CHUNKS_IN_FLIGHT);
        // Read chunks come back to be filled again: no allocation or zeroing per chunk.
        let (recycle, recycled) = mpsc::channel();
        let reader = scope.spawn(move || {
            let mut blob = VerifyingReader::new(raw, layer.size, what);
            // A small blob needs no more than its size (and one byte to see it end): thousands of
            // tiny layers should not each clear a whole chunk.
            let chunk_bytes = layer.size.map_or(CHUNK_BYTES, |size| CHUNK_BYTES.min(size as usize + 1));
            forward_chunks(&mut blob, chunk_bytes, &chunks, &recycled);
            // Whatever the decoder left unread still counts towards the digest.
            blob.finish(layer.blob_digest.as_ref())
        });
        let chunk_reader = ChunkReader { received, recycle, chunk: Vec::new(), position: 0 };
        let walked = decode_and_walk(chunk_reader, layer, selector, limits, what);
        (walked, reader.join())
    });
    let verified = verified.map_err(|_| anyhow::anyhow!("{what}: the blob reader thread panicked"))?;
    // The digest is checked even when the walk failed: a mismatch explains the failure better.
    let (blob_digest, blob_bytes) = verified?;
    let mut walked = walked?;
    if let Some(diff_id) = &layer.diff_id {
        // The tar stream's own digest: the blob itself when uncompressed (free), otherwise
        // hashed during decoding only when no blob digest vouches for the content.
        let tar_digest = match walked.compression {
            Compression::None => Some(&blob_digest),
            _ => walked.tar_digest.as_ref(),
        };
        if let Some(tar_digest) = tar_digest
            && tar_digest != diff_id
        {
            bail!(
                "{what}: digest mismatch: the uncompressed layer hashes to {tar_digest} but the image config's diff_id is {diff_id}; the layer is corrupt or was tampered with"
            );
        }
    }
    walked.contents.blob_bytes = blob_bytes;
    Ok(walked.contents)
}

/// Blob bytes handed from the reader thread to the decoder: 4 chunks of 1 MiB in flight.
const CHUNK_BYTES: usize = 1 << 20;
const CHUNKS_IN_FLIGHT: usize = 4;

/// Sends the blob in chunks until its end, a read error (sent on, then the decoder sees it) or
/// the decoder hanging up (it failed or finished early).
fn forward_chunks(
    blob: &mut impl Read,
    chunk_bytes: usize,
    chunks: &mpsc::SyncSender<io::Result<Vec<u8>>>,
    recycled: &mpsc::Receiver<Vec<u8>>,
) {
    loop {
        let mut chunk = recycled.try_recv().unwrap_or_default();
        chunk.resize(chunk_bytes, 0);
        let mut filled = 0;
        while filled < chunk.len() {
            match blob.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    let _ = chunks.send(Err(error));
                    return;
                }
            }
        }
        if filled == 0 {
            return;
        }
        chunk.truncate(filled);
        if chunks.send(Ok(chunk)).is_err() {
            return;
        }
    }
}

/// The decoder's side of the hand-over: the chunks as one stream; a closed channel is its end.
struct ChunkReader {
    received: mpsc::Receiver<io::Result<Vec<u8>>>,
    recycle: mpsc::Sender<Vec<u8>>,
    chunk: Vec<u8>,
    position: usize,
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.position == self.chunk.len() {
            match self.received.recv() {
                Ok(Ok(chunk)) => {
                    let used = std::mem::replace(&mut self.chunk, chunk);
                    // The reader may be gone already; then the chunk is simply dropped.
                    let _ = self.recycle.send(used);
                    self.position = 0;
                }
                Ok(Err(error)) => return Err(error),
                Err(mpsc::RecvError) => break,
            }
        }
        Ok(&self.chunk[self.position..])
    }

    fn consume(&mut self, amount: usize) {
        self.position = (self.position + amount).min(self.chunk.len());
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// The decoded tar stream as the tar walk sees it: skipping the data of an entry nobody asked
/// for is a forward "seek" that consumes it inside the buffer instead of copying it out.
struct SkippingReader<R> {
    inner: R,
    position: u64,
}

impl<R: BufRead> Read for SkippingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> Seek for SkippingReader<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let mut skip = match to {
            SeekFrom::Current(skip) if skip >= 0 => skip as u64,
            _ => return Err(io::Error::new(io::ErrorKind::Unsupported, "a layer stream only moves forward")),
        };
        while skip > 0 {
            let available = self.inner.fill_buf()?.len() as u64;
            if available == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the tar stream ends inside an entry"));
            }
            let n = available.min(skip);
            self.inner.consume(n as usize);
            skip -= n;
            self.position += n;
        }
        Ok(self.position)
    }
}

struct Walked {
    contents: LayerContents,
    compression: Compression,
    tar_digest: Option<Digest>,
}

fn decode_and_walk(
    mut buffered: impl BufRead,
    layer: &LayerRef,
    selector: &Selector,
    limits: &LayerLimits,
    what: &str,
) -> Result<Walked> {
    let compression = match layer.compression {
        Some(compression) => compression,
        None => sniff(buffered.fill_buf().with_context(|| format!("{what}: read failed"))?),
    };
    let decoder: Box<dyn Read + '_> = match compression {
        Compression::None => Box::new(buffered),
        // Multi-member: some tools write a layer as several concatenated gzip members.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered)
                .with_context(|| format!("{what}: cannot start the zstd decoder"))?,
        ),
    };
    let hash_tar = layer.blob_digest.is_none() && compression != Compression::None;
    let tar_stream =
        TarStream { inner: decoder, hasher: hash_tar.then(Sha256::new), bytes: 0, limit: limits.max_layer_bytes };
    // The tar walk reads in small pieces (headers, 8 KiB copies of skipped data); the buffer
    // lets the decoder work in large chunks, where it is fastest.
    let mut tar_stream = SkippingReader { inner: BufReader::with_capacity(STREAM_BUFFER, tar_stream), position: 0 };
    let walked = walk_tar(&mut tar_stream, selector, limits, what);
    // Read to the end so the decoder checks the whole stream (trailer, checksum) and the
    // digests cover every byte.
    let drained =
        walked.and_then(|contents| io::copy(&mut tar_stream, &mut io::sink()).map(|_| contents).map_err(Into::into));
    let tar_stream = tar_stream.inner.into_inner();
    let mut contents = drained.map_err(|e| stream_error(e, compression, &tar_stream, what))?;
    contents.tar_bytes = tar_stream.bytes;
    let tar_digest =
        tar_stream.hasher.map(|h| Digest::parse(&format!("sha256:{}", hex::encode(h.finalize()))).expect("sha256 hex"));
    Ok(Walked { contents, compression, tar_digest })
}

fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

fn compression_name(compression: Compression) -> &'static str {
    match compression {
        Compression::None => "uncompressed tar",
        Compression::Gzip => "gzip-compressed tar",
        Compression::Zstd => "zstd-compressed tar",
    }
}

fn stream_error(error: anyhow::Error, compression: Compression, stream: &TarStream<'_>, what: &str) -> anyhow::Error {
    if let Some(limit) = limit_exceeded(&error) {
        return anyhow::anyhow!(
            "{what}: {limit}; the layer is not scanned (tar metadata this large comes from a hostile or broken layer)"
        );
    }
    if stream.bytes > stream.limit {
        return anyhow::anyhow!(
            "{what}: expands to more than {} bytes, the ceiling for one layer (a decompression bomb, or raise --max-layer-size)",
            stream.limit
        );
    }
    anyhow::anyhow!(
        "{what}: not a valid {} (truncated or corrupt after {} uncompressed bytes): {error:#}",
        compression_name(compression),
        stream.bytes
    )
}

/// The decoded tar stream: counts bytes against the decompression-bomb ceiling and, when asked,
/// hashes them for the diff_id check.
struct TarStream<'a> {
    inner: Box<dyn Read + 'a>,
    hasher: Option<Sha256>,
    bytes: u64,
    limit: u64,
}

impl Read for TarStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        if self.bytes > self.limit {
            return Err(io::Error::other("layer exceeds the expanded-size ceiling"));
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

fn walk_tar(stream: impl Read + Seek, selector: &Selector, limits: &LayerLimits, what: &str) -> Result<LayerContents> {
    let mut contents = LayerContents::default();
    // The hashes of `LayerContents::replaced`, as a set while the walk needs to look them up.
    let mut not_kept = NotKept::default();
    let mut kept = KeptMetadata::default();
    let mut archive = TarReader::new(stream);
    while let Some(entry) = archive.next_entry()? {
        let raw_name = entry.path_bytes();
        let path = match normalize_entry_name(raw_name) {
            Ok(Some(path)) => path,
            Ok(None) => continue,
            Err(problem) => {
                contents.warn(format!("{what}: {problem}"));
                continue;
            }
        };
        if raw_name.first() == Some(&b'/') {
            contents.warn(format!(
                "{what}: entry '{}' has an absolute path; read as '{path}', as container runtimes do",
                String::from_utf8_lossy(raw_name)
            ));
        }
        let (dir, base) = path.rsplit_once('/').map_or(("", path.as_str()), |(d, b)| (d, b));
        if let Some(hidden) = base.strip_prefix(".wh.") {
            if hidden == ".wh..opq" {
                kept.add(dir.len())?;
                contents.opaque_dirs.push(dir.to_string());
            } else if !hidden.starts_with(".wh.") {
                // `.wh..wh.*` other than the opaque marker is AUFS bookkeeping, not a whiteout.
                kept.add(path.len())?;
                contents.whiteouts.push(join(dir, hidden));
            }
            continue;
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if kind.is_symlink() {
            let target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(t).into_owned()).unwrap_or_default();
            kept.add(path.len() + target.len())?;
            contents.entries.push(LayerEntry { path, node: Node::Symlink { target } });
            continue;
        }
        if !selector.wants(&path) {
            not_kept.insert(&path, &mut contents, what);
            continue;
        }
        if kind.is_hard_link() {
            let target = entry.link_name_bytes().unwrap_or_default();
            match normalize_entry_name(target) {
                Ok(Some(target)) => {
                    // A tar names a hard link's target before the link: when that entry was
                    // not kept, its bytes are gone from this read.
                    if not_kept.contains(&target) {
                        contents.unread_link_targets.push(target.clone());
                    }
                    contents.entries.push(LayerEntry { path, node: Node::Hardlink { target } })
                }
                _ => contents.warn(format!(
                    "{what}: hard link '{path}' points to '{}', outside the image; skipped",
                    String::from_utf8_lossy(target)
                )),
            }
        } else if kind.is_file() || kind == tar::EntryType::Continuous || kind.is_gnu_sparse() {
            let size = entry.size();
            if size > limits.max_file_bytes {
                contents.warn(format!(
                    "{what}: '{path}' is {size} bytes, over the {}-byte limit for files given to analyzers; skipped (raise --max-file-size)",
                    limits.max_file_bytes
                ));
                not_kept.insert(&path, &mut contents, what);
                continue;
            }
            let mode = entry.header().mode().unwrap_or(0o644);
            let mut content = Vec::with_capacity(size as usize);
            archive.read_data(&entry, &mut content)?;
            contents.entries.push(LayerEntry { path, node: Node::File { content, mode } });
        } else {
            // A device or FIFO at a selected path: nothing to read, but it replaces lower layers'.
            not_kept.insert(&path, &mut contents, what);
        }
    }
    contents.replaced = not_kept.hashes.into_iter().collect();
    // In a stable order, so the same layer is always cached as the same bytes.
    contents.replaced.sort_unstable();
    Ok(contents)
}

/// Most non-directory entries nobody asked for whose paths a layer records (as 8-byte hashes,
/// about 40 MB at most while the walk runs): far more than real layers hold, and bounded.
pub const MAX_NOT_KEPT_ENTRIES: usize = 1 << 20;

/// The hashes of the paths a layer holds non-directories at but does not keep.
#[derive(Default)]
struct NotKept {
    hashes: HashSet<u64>,
    /// [`MAX_NOT_KEPT_ENTRIES`] was reached (and said).
    full: bool,
}

impl NotKept {
    fn insert(&mut self, path: &str, contents: &mut LayerContents, what: &str) {
        if self.hashes.len() < MAX_NOT_KEPT_ENTRIES {
            self.hashes.insert(path_hash(path));
        } else if !self.full {
            // The layer stays readable; only what it hides of lower layers is less exact.
            self.full = true;
            contents.warn(format!(
                "{what}: more than {MAX_NOT_KEPT_ENTRIES} entries no analyzer asked for; a lower layer's directory replaced by one of the entries past them may still show its files"
            ));
        }
    }

    fn contains(&self, path: &str) -> bool {
        self.hashes.contains(&path_hash(path))
    }
}

/// Most bytes of symlinks, whiteouts and opaque directories one layer may keep (they are kept
/// whatever their path, for the merged view), counting each entry's bookkeeping too.
pub const MAX_KEPT_METADATA_BYTES: usize = 64 << 20;

/// What the kept symlinks, whiteouts and opaque directories of a layer cost so far.
#[derive(Default)]
struct KeptMetadata {
    bytes: usize,
}

impl KeptMetadata {
    fn add(&mut self, text_bytes: usize) -> io::Result<()> {
        self.bytes += text_bytes + std::mem::size_of::<LayerEntry>();
        if self.bytes > MAX_KEPT_METADATA_BYTES {
            return Err(LimitExceeded::error(format!(
                "its symlinks, whiteouts and opaque directories take more than {MAX_KEPT_METADATA_BYTES} bytes, the limit for one layer"
            )));
        }
        Ok(())
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") }
}

/// Turns a tar entry name into a path relative to the image root. `Ok(None)` is the root itself;
/// `Err` is a name that climbs out of the root with `..`: nothing is extracted, but such an entry
/// is an attack on extractors and never part of what a container sees.
pub fn normalize_entry_name(raw: &[u8]) -> Result<Option<String>, String> {
    let text = String::from_utf8_lossy(raw);
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("entry '{text}' climbs out of the image root with '..'; skipped")),
            part => parts.push(part),
        }
    }
    Ok(if parts.is_empty() { None } else { Some(parts.join("/")) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        assert_eq!(normalize_entry_name(b"./var/lib/dpkg/status").unwrap().as_deref(), Some("var/lib/dpkg/status"));
        assert_eq!(normalize_entry_name(b"/etc//passwd").unwrap().as_deref(), Some("etc/passwd"));
        assert_eq!(normalize_entry_name(b"./").unwrap(), None);
        assert!(normalize_entry_name(b"../../etc/passwd").is_err());
        assert!(normalize_entry_name(b"usr/../../x").is_err());
    }

    #[test]
    fn selector_keeps_star_within_a_component() {
        let selector = Selector::new(&["var/lib/dpkg/status.d/*".to_string(), "**/package.json".to_string()]).unwrap();
        assert!(selector.wants("var/lib/dpkg/status.d/base"));
        assert!(!selector.wants("var/lib/dpkg/status.d/x/y"));
        assert!(selector.wants("app/node_modules/a/package.json"));
        assert!(selector.wants("package.json"));
    }
}
