//! Where image bytes come from: parsing the target the user named, and reading files of an image
//! archive (a tar read in place, never unpacked) or an image layout directory.

use crate::digest::Digest;
use crate::registry::reference::{Reference, is_registry_host};
use crate::regular_file::open_regular;
use crate::tar_reader::TarReader;
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// What the user asked to scan, in skopeo's transport syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `docker-archive:PATH[:REPO:TAG]`: what `docker save` writes.
    DockerArchive { path: PathBuf, reference: Option<String> },
    /// `oci-archive:PATH[:REF]`: an OCI image layout in a tar.
    OciArchive { path: PathBuf, reference: Option<String> },
    /// `oci:DIR[:REF]`: an OCI image layout directory.
    OciDir { path: PathBuf, reference: Option<String> },
    /// `dir:PATH`: an unpacked root filesystem.
    RootFs { path: PathBuf },
    /// `docker://REF` or a bare `HOST[:PORT]/REPO[:TAG|@DIGEST]`: an image in a registry.
    Registry(Reference),
    /// A registry reference on an Amazon ECR host (`ACCOUNT.dkr.ecr.REGION.amazonaws.com`): read
    /// through the ECR API with AWS credentials.
    Ecr(Reference),
}

impl Target {
    pub fn parse(text: &str) -> Result<Target> {
        if let Some(rest) = text.strip_prefix("docker-archive:") {
            let (path, reference) = split_path_and_ref(rest);
            return Ok(Target::DockerArchive { path, reference });
        }
        if let Some(rest) = text.strip_prefix("oci-archive:") {
            let (path, reference) = split_path_and_ref(rest);
            return Ok(Target::OciArchive { path, reference });
        }
        if let Some(rest) = text.strip_prefix("oci:") {
            let (path, reference) = split_path_and_ref(rest);
            return Ok(Target::OciDir { path, reference });
        }
        if let Some(rest) = text.strip_prefix("dir:") {
            return Ok(Target::RootFs { path: PathBuf::from(rest) });
        }
        if let Some(rest) = text.strip_prefix("docker://") {
            return Ok(Target::remote(Reference::parse_with(rest, true)?));
        }
        let path = Path::new(text);
        if path.exists() {
            return sniff(path);
        }
        // Like docker: a first component with '.' or ':' (or localhost) is a registry host.
        if text.split_once('/').is_some_and(|(first, _)| is_registry_host(first)) {
            return Ok(Target::remote(Reference::parse(text)?));
        }
        bail!(
            "'{text}' is neither an existing path nor a target of the form docker-archive:PATH, \
             oci-archive:PATH, oci:DIR[:REF], dir:PATH, docker://REF or HOST[:PORT]/REPO[:TAG|@DIGEST]"
        )
    }
}

impl Target {
    fn remote(reference: Reference) -> Target {
        if crate::aws::pull::parse_ecr_host(&reference.registry).is_some() {
            Target::Ecr(reference)
        } else {
            Target::Registry(reference)
        }
    }
}

/// Splits `PATH[:REF]`: the path is the whole text if it exists, else the shortest prefix ending
/// before a ':' that exists (references contain ':' and '/' themselves, paths rarely ':').
fn split_path_and_ref(text: &str) -> (PathBuf, Option<String>) {
    if !Path::new(text).exists() {
        for (i, _) in text.match_indices(':') {
            if i > 0 && Path::new(&text[..i]).exists() {
                return (PathBuf::from(&text[..i]), Some(text[i + 1..].to_string()));
            }
        }
    }
    (PathBuf::from(text), None)
}

/// A bare path: an OCI layout directory, any other directory (a root filesystem), or an archive
/// recognised by what it contains.
fn sniff(path: &Path) -> Result<Target> {
    if path.is_dir() {
        // `exists`, not `is_file`: an index.json that is not a regular file is refused when read,
        // rather than the layout being taken for a root filesystem.
        if path.join("oci-layout").exists() && path.join("index.json").exists() {
            return Ok(Target::OciDir { path: path.to_path_buf(), reference: None });
        }
        return Ok(Target::RootFs { path: path.to_path_buf() });
    }
    let archive = ArchiveFiles::open(path)?;
    if archive.contains("manifest.json") {
        Ok(Target::DockerArchive { path: path.to_path_buf(), reference: None })
    } else if archive.contains("index.json") {
        Ok(Target::OciArchive { path: path.to_path_buf(), reference: None })
    } else {
        bail!(
            "{}: a tar archive with neither manifest.json (docker-archive) nor index.json \
             (oci-archive); it is not an image archive",
            path.display()
        )
    }
}

/// Read access to the files of an image archive or layout directory, by relative name.
pub trait ImageFiles: Send + Sync {
    fn open(&self, name: &str) -> Result<Box<dyn Read + Send + '_>>;
    fn contains(&self, name: &str) -> bool;
    /// Size in bytes, when known without reading.
    fn size(&self, name: &str) -> Option<u64>;
    /// The name a manifest or index is read under (registries serve them apart from blobs).
    fn manifest_name(&self, digest: &Digest) -> String {
        blob_location(digest)
    }
}

/// Where image layouts keep a blob.
pub fn blob_location(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// A tar archive indexed once (name -> offset and size) and then read in place: each open is its
/// own file handle, so layers stream from the archive in parallel without extracting anything.
pub struct ArchiveFiles {
    path: PathBuf,
    members: HashMap<String, (u64, u64)>,
}

impl ArchiveFiles {
    pub fn open(path: &Path) -> Result<ArchiveFiles> {
        let file = open_regular(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut magic = [0u8; 4];
        let n = (&file).read(&mut magic).with_context(|| format!("cannot read {}", path.display()))?;
        if n >= 2 && magic[..2] == [0x1f, 0x8b] || n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
            bail!(
                "{} is a compressed file; image archives are plain tar files (decompress it first, e.g. gunzip or zstd -d)",
                path.display()
            );
        }
        (&file).seek(SeekFrom::Start(0))?;
        let mut archive = TarReader::new(BufReader::new(file));
        let mut members = HashMap::new();
        while let Some(entry) =
            archive.next_entry().with_context(|| format!("{}: cannot index the tar archive", path.display()))?
        {
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = String::from_utf8_lossy(entry.path_bytes()).into_owned();
            members.insert(normalize_member(&name), (entry.raw_file_position(), entry.size()));
        }
        if members.is_empty() {
            bail!("{} is empty or not a tar archive", path.display());
        }
        Ok(ArchiveFiles { path: path.to_path_buf(), members })
    }
}

fn normalize_member(name: &str) -> String {
    name.trim_start_matches("./").trim_start_matches('/').to_string()
}

impl ImageFiles for ArchiveFiles {
    fn open(&self, name: &str) -> Result<Box<dyn Read + Send + '_>> {
        let Some(&(offset, size)) = self.members.get(&normalize_member(name)) else {
            bail!("{}: the archive has no member '{name}'", self.path.display());
        };
        let mut file = open_regular(&self.path).with_context(|| format!("cannot open {}", self.path.display()))?;
        file.seek(SeekFrom::Start(offset))?;
        Ok(Box::new(BufReader::with_capacity(256 * 1024, file.take(size))))
    }

    fn contains(&self, name: &str) -> bool {
        self.members.contains_key(&normalize_member(name))
    }

    fn size(&self, name: &str) -> Option<u64> {
        self.members.get(&normalize_member(name)).map(|&(_, size)| size)
    }
}

/// An image layout directory (`oci:DIR`).
pub struct DirFiles {
    root: PathBuf,
}

impl DirFiles {
    pub fn new(root: &Path) -> DirFiles {
        DirFiles { root: root.to_path_buf() }
    }

    /// Names come from manifests: only plain relative names stay inside the layout.
    fn resolve(&self, name: &str) -> Result<PathBuf> {
        let relative = Path::new(name);
        if !relative.components().all(|c| matches!(c, Component::Normal(_))) {
            bail!("'{name}' is not a plain relative name inside the image layout");
        }
        Ok(self.root.join(relative))
    }
}

impl ImageFiles for DirFiles {
    fn open(&self, name: &str) -> Result<Box<dyn Read + Send + '_>> {
        let path = self.resolve(name)?;
        let file = open_regular(&path).with_context(|| format!("cannot open {}", path.display()))?;
        // A descriptor may give no size: the file's own size at opening bounds the read.
        let size = file.metadata().with_context(|| format!("cannot read {}", path.display()))?.len();
        Ok(Box::new(BufReader::with_capacity(256 * 1024, file.take(size))))
    }

    /// Whether something is there, regular file or not: opening it says what is wrong with it.
    fn contains(&self, name: &str) -> bool {
        self.resolve(name).is_ok_and(|p| p.exists())
    }

    fn size(&self, name: &str) -> Option<u64> {
        self.resolve(name).ok()?.metadata().ok().map(|m| m.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_transports() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("x.tar");
        std::fs::write(&archive, b"").unwrap();
        assert_eq!(
            Target::parse(&format!("docker-archive:{}:repo/app:1.0", archive.display())).unwrap(),
            Target::DockerArchive { path: archive.clone(), reference: Some("repo/app:1.0".into()) }
        );
        assert_eq!(
            Target::parse(&format!("oci:{}:v1", dir.path().display())).unwrap(),
            Target::OciDir { path: dir.path().to_path_buf(), reference: Some("v1".into()) }
        );
        assert_eq!(
            Target::parse("oci-archive:img.tar").unwrap(),
            Target::OciArchive { path: "img.tar".into(), reference: None }
        );
        assert_eq!(Target::parse("dir:/").unwrap(), Target::RootFs { path: "/".into() });
        assert!(Target::parse("/definitely/not/here").is_err());
        assert_eq!(
            Target::parse("127.0.0.1:5000/team/app:1").unwrap(),
            Target::Registry(Reference::parse("127.0.0.1:5000/team/app:1").unwrap())
        );
        assert_eq!(
            Target::parse("docker://alpine").unwrap(),
            Target::Registry(Reference::parse("docker.io/library/alpine").unwrap())
        );
        assert!(Target::parse("team/app:1").is_err());
    }

    #[test]
    fn layout_dir_refuses_escaping_names() {
        let files = DirFiles::new(Path::new("/tmp"));
        assert!(files.open("../etc/passwd").is_err());
        assert!(files.open("/etc/passwd").is_err());
    }
}
