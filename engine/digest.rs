//! Content digests: parsing them safely and checking blobs against them while they stream.

use anyhow::{Result, bail};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::{self, Read};

/// A validated `sha256:<64 lowercase hex>` digest. Digests come from untrusted manifests and are
/// turned into file paths (`blobs/sha256/<hex>`), so nothing else is ever accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    pub fn parse(text: &str) -> Result<Digest> {
        let Some((algorithm, hex)) = text.split_once(':') else {
            bail!("'{text}' is not a digest (expected sha256:<hex>)");
        };
        if algorithm != "sha256" {
            bail!("digest '{text}' uses algorithm '{algorithm}'; only sha256 is supported");
        }
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            bail!("digest '{text}' is malformed: expected 64 lowercase hex digits after 'sha256:'");
        }
        Ok(Digest(text.to_string()))
    }

    pub fn of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Short form for tables: the first 12 hex digits.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Wraps a blob stream, hashing every byte that passes and refusing to read past the size the
/// descriptor announced (a registry or archive cannot make us read an endless blob).
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
    max_size: Option<u64>,
    what: String,
}

impl<R: Read> VerifyingReader<R> {
    /// `what` names the blob in error messages, e.g. "layer 2 (sha256:...)".
    pub fn new(inner: R, max_size: Option<u64>, what: impl Into<String>) -> Self {
        VerifyingReader { inner, hasher: Sha256::new(), read: 0, max_size, what: what.into() }
    }

    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Reads whatever the consumer left unread (trailing bytes count towards the digest), then
    /// checks size and digest.
    pub fn finish(mut self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())
            .map_err(|e| anyhow::anyhow!("{}: reading the rest of the blob failed: {e}", self.what))?;
        if let Some(size) = self.max_size
            && self.read != size
        {
            bail!(
                "{}: blob is {} bytes but its descriptor says {size}; the blob is truncated or the manifest is wrong",
                self.what,
                self.read
            );
        }
        let actual = Digest(format!("sha256:{}", hex::encode(self.hasher.finalize())));
        if let Some(expected) = expected
            && *expected != actual
        {
            bail!(
                "{}: digest mismatch: the descriptor says {expected} but the content hashes to {actual}; the blob is corrupt or was tampered with",
                self.what
            );
        }
        Ok((actual, self.read))
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if let Some(max) = self.max_size
            && self.read > max
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: blob is larger than the {max} bytes its descriptor says", self.what),
            ));
        }
        Ok(n)
    }
}

/// Reads a whole small blob (manifest, config) with a size ceiling, verifying its digest.
pub fn read_verified(
    reader: impl Read,
    expected: Option<&Digest>,
    size: Option<u64>,
    ceiling: u64,
    what: &str,
) -> Result<Vec<u8>> {
    if let Some(size) = size
        && size > ceiling
    {
        bail!("{what}: descriptor size {size} exceeds the {ceiling}-byte limit for this kind of blob");
    }
    let mut verifying = VerifyingReader::new(reader, size, what);
    let mut bytes = Vec::new();
    (&mut verifying)
        .take(ceiling + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| anyhow::anyhow!("{what}: read failed: {e}"))?;
    if bytes.len() as u64 > ceiling {
        bail!("{what}: larger than the {ceiling}-byte limit for this kind of blob");
    }
    verifying.finish(expected)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_digests_that_could_escape_a_path() {
        assert!(Digest::parse("sha256:../../etc/passwd").is_err());
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(Digest::parse(&format!("sha512:{}", "a".repeat(128))).is_err());
        assert!(Digest::parse(&format!("sha256:{}", "a".repeat(64))).is_ok());
    }

    #[test]
    fn verifying_reader_detects_mismatch_and_size() {
        let good = Digest::of(b"hello");
        let out = read_verified(&b"hello"[..], Some(&good), Some(5), 100, "blob").unwrap();
        assert_eq!(out, b"hello");
        let err = read_verified(&b"hellp"[..], Some(&good), Some(5), 100, "blob").unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        let err = read_verified(&b"hello!"[..], Some(&good), Some(5), 100, "blob").unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
        let err = read_verified(&b"hell"[..], None, Some(5), 100, "blob").unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        let err = read_verified(&b"hello"[..], None, None, 3, "blob").unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
    }
}
