//! `dir:PATH` targets: an unpacked root filesystem (a host's `/`, a chroot, an extracted image),
//! walked on one filesystem without following links out of it.

use crate::layer::{LayerLimits, Selector};
use crate::model::ImageFile;
use crate::regular_file::{open_regular, require_regular};
use crate::view::{LinkBudget, PathKind, Tree, resolve_file};
use anyhow::{Result, bail};
use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use walkdir::WalkDir;

pub struct RootFsFiles {
    pub files: Vec<ImageFile>,
    /// Paths that could not be read, with why.
    pub warnings: Vec<String>,
}

/// Looks paths up on disk below `root`, never following a link itself: `resolve_file` decides
/// where each link leads, inside the root.
struct DiskTree<'a> {
    root: &'a Path,
}

impl Tree for DiskTree<'_> {
    fn kind(&self, path: &str) -> Option<PathKind> {
        let full = self.root.join(path);
        let meta = fs::symlink_metadata(&full).ok()?;
        Some(if meta.file_type().is_symlink() {
            PathKind::Symlink(fs::read_link(&full).ok()?.to_string_lossy().into_owned())
        } else if meta.is_file() {
            PathKind::File
        } else {
            PathKind::Other
        })
    }
}

/// Collects the selected files. Mount points below `root` are not crossed, which also keeps
/// `/proc`, `/sys` and `/dev` of a live host out of the walk.
pub fn collect(root: &Path, selector: &Selector, limits: &LayerLimits) -> Result<RootFsFiles> {
    if !root.is_dir() {
        bail!("{} is not a directory", root.display());
    }
    let tree = DiskTree { root };
    let mut out = RootFsFiles { files: Vec::new(), warnings: Vec::new() };
    // Hard links are indistinguishable names of one inode on disk: the first path met for an
    // inode (the walk is sorted) is its resolved path, as a layer's first copy is in a tar.
    let mut inode_paths: HashMap<(u64, u64), String> = HashMap::new();
    let mut links = LinkBudget::default();
    for entry in WalkDir::new(root).follow_links(false).same_file_system(true).sort_by_file_name() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                out.warnings.push(format!("{}: {error}", root.display()));
                continue;
            }
        };
        let Ok(relative) = entry.path().strip_prefix(root) else { continue };
        let Some(relative) = relative.to_str().filter(|r| !r.is_empty()) else { continue };
        let kind = entry.file_type();
        if kind.is_dir() || !selector.wants(relative) {
            continue;
        }
        // A FIFO, socket or device is never opened: reading one blocks or never ends.
        if !kind.is_symlink()
            && let Err(problem) = require_regular(kind)
        {
            out.warnings.push(format!("{}: {problem}; skipped", entry.path().display()));
            continue;
        }
        let Some(target) = resolve_file(&tree, relative, &mut links) else { continue };
        match read_limited(&root.join(&target), limits.max_file_bytes) {
            Ok((content, meta)) => {
                let resolved = inode_paths.entry((meta.dev(), meta.ino())).or_insert(target).clone();
                out.files.push(ImageFile {
                    path: relative.to_string(),
                    resolved,
                    mode: meta.mode(),
                    layer: String::new(),
                    content,
                })
            }
            Err(problem) => out.warnings.push(format!("{}: {problem}", root.join(relative).display())),
        }
    }
    out.warnings.extend(links.warning());
    Ok(out)
}

fn read_limited(path: &Path, max: u64) -> Result<(Vec<u8>, fs::Metadata), String> {
    let file = open_regular(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if meta.len() > max {
        return Err(format!(
            "{} bytes, over the {max}-byte limit for files given to analyzers; skipped (raise --max-file-size)",
            meta.len()
        ));
    }
    let mut content = Vec::with_capacity(meta.len() as usize);
    file.take(max).read_to_end(&mut content).map_err(|e| e.to_string())?;
    Ok((content, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        fs::create_dir_all(&etc).unwrap();
        fs::create_dir_all(root.path().join("usr/lib")).unwrap();
        fs::write(root.path().join("usr/lib/os-release"), "ID=debian\n").unwrap();
        std::os::unix::fs::symlink("../usr/lib/os-release", etc.join("os-release")).unwrap();
        // An absolute link means the root's own /etc/hostname, never the host's.
        std::os::unix::fs::symlink("/etc/hostname", etc.join("leak")).unwrap();
        let selector = Selector::new(&["etc/*".to_string()]).unwrap();
        let found = collect(root.path(), &selector, &LayerLimits::default()).unwrap();
        let names: Vec<&str> = found.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, vec!["etc/os-release"]);
        assert_eq!(found.files[0].content, b"ID=debian\n");
        assert_eq!(found.files[0].resolved, "usr/lib/os-release");
    }

    #[test]
    fn hard_links_resolve_to_the_first_path_of_their_inode() {
        let root = tempfile::tempdir().unwrap();
        let dpkg = root.path().join("var/lib/dpkg");
        fs::create_dir_all(dpkg.join("status.d")).unwrap();
        fs::write(dpkg.join("status"), "Package: a\n").unwrap();
        fs::hard_link(dpkg.join("status"), dpkg.join("status.d/a")).unwrap();
        fs::write(dpkg.join("status.d/b"), "Package: b\n").unwrap();
        let selector = Selector::new(&["var/lib/dpkg/**".to_string()]).unwrap();
        let found = collect(root.path(), &selector, &LayerLimits::default()).unwrap();
        let files: Vec<(&str, &str)> = found.files.iter().map(|f| (f.path.as_str(), f.resolved.as_str())).collect();
        assert_eq!(
            files,
            vec![
                ("var/lib/dpkg/status", "var/lib/dpkg/status"),
                ("var/lib/dpkg/status.d/a", "var/lib/dpkg/status"),
                ("var/lib/dpkg/status.d/b", "var/lib/dpkg/status.d/b"),
            ]
        );
    }
}
