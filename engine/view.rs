//! The merged view a running container sees: layers applied bottom-up with whiteouts and opaque
//! directories, symlinks resolved inside the image (never on the host), and the selected files
//! handed out with the layer each came from.

use crate::layer::{LayerContents, Node, Selector};
use crate::model::ImageFile;
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Symlink hops before a path is declared a loop (Linux's own limit).
const MAX_LINK_HOPS: usize = 40;

/// What a path is, as far as link resolution needs to know.
pub enum PathKind {
    File,
    Symlink(String),
    Hardlink(String),
    Other,
}

/// Anything paths can be looked up in: the merged layers, or an unpacked root filesystem.
pub trait Tree {
    fn kind(&self, path: &str) -> Option<PathKind>;
}

/// Resolves `path` to the regular file it names, following symlinks and hard links the way the
/// kernel would inside a chroot at the image root: absolute targets start at the image root and
/// `..` never climbs above it, so a link can never reach the scanning host's files.
pub fn resolve_file(tree: &dyn Tree, path: &str) -> Option<String> {
    let mut pending: VecDeque<String> = path.split('/').map(str::to_string).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        resolved.push(part);
        let current = resolved.join("/");
        let target = match tree.kind(&current) {
            Some(PathKind::Symlink(target)) => {
                resolved.pop();
                target
            }
            // A hard link names its target from the root.
            Some(PathKind::Hardlink(target)) if pending.is_empty() => {
                resolved.clear();
                target
            }
            Some(_) => continue,
            None => return None,
        };
        hops += 1;
        if hops > MAX_LINK_HOPS {
            return None;
        }
        if target.starts_with('/') {
            resolved.clear();
        }
        for part in target.split('/').rev() {
            pending.push_front(part.to_string());
        }
    }
    let path = resolved.join("/");
    matches!(tree.kind(&path), Some(PathKind::File)).then_some(path)
}

/// The files one analyzer is given: those of `files` its patterns match (`wants`), each underlying
/// file once. A file reached through links (a linked directory or file, a hard link) is one file
/// under several paths; given under each, the analyzer would report its packages once per path.
/// It is given under its resolved path when the analyzer asks for that path (the honest name:
/// where the bytes are, and the path every view of the image agrees on, which package-to-layer
/// attribution relies on); when the analyzer asks only for link paths, under the first of them.
/// Per analyzer and not once for all: which paths match depends on each one's patterns.
pub fn distinct_files(files: &[ImageFile], wants: impl Fn(&str) -> bool) -> Vec<&ImageFile> {
    let matching: Vec<&ImageFile> = files.iter().filter(|file| wants(&file.path)).collect();
    let under_resolved_path: HashSet<&str> =
        matching.iter().filter(|file| file.path == file.resolved).map(|file| file.resolved.as_str()).collect();
    let mut given_under_a_link: HashSet<&str> = HashSet::new();
    matching
        .into_iter()
        .filter(|file| {
            file.path == file.resolved
                || (!under_resolved_path.contains(file.resolved.as_str())
                    && given_under_a_link.insert(file.resolved.as_str()))
        })
        .collect()
}

struct Placed<'a> {
    node: &'a Node,
    layer: usize,
}

/// The merged view of the layers applied so far.
pub struct MergedView<'a> {
    layers: &'a [LayerContents],
    digests: &'a [String],
    nodes: BTreeMap<&'a str, Placed<'a>>,
    applied: usize,
}

impl Tree for MergedView<'_> {
    fn kind(&self, path: &str) -> Option<PathKind> {
        if let Some(placed) = self.nodes.get(path) {
            return Some(match placed.node {
                Node::File { .. } => PathKind::File,
                Node::Symlink { target } => PathKind::Symlink(target.clone()),
                Node::Hardlink { target } => PathKind::Hardlink(target.clone()),
            });
        }
        // Only selected files and links are kept; any other path is a directory on the way to
        // them as far as resolution is concerned.
        let prefix = format!("{path}/");
        self.nodes.range(prefix.as_str()..).next().filter(|(p, _)| p.starts_with(&prefix)).map(|_| PathKind::Other)
    }
}

impl<'a> MergedView<'a> {
    /// `digests[i]` names layer `i` in the files handed out.
    pub fn new(layers: &'a [LayerContents], digests: &'a [String]) -> Self {
        MergedView { layers, digests, nodes: BTreeMap::new(), applied: 0 }
    }

    /// Applies the next layer. Returns whether it changed any selected path, i.e. whether
    /// analyzers could see something different than before it.
    pub fn apply_next(&mut self, selector: &Selector) -> bool {
        let index = self.applied;
        let layer = &self.layers[index];
        self.applied += 1;
        let mut changed = false;
        // Removals refer to lower layers only, so they go first whatever the tar order was.
        for dir in &layer.opaque_dirs {
            changed |= self.remove_below(dir, false, selector);
        }
        for path in &layer.whiteouts {
            changed |= self.remove_below(path, true, selector);
        }
        for entry in &layer.entries {
            changed |= selector.wants(&entry.path);
            // Every kept entry is a non-directory, and a non-directory replaces what lower layers
            // had at its path, a directory's contents included (OCI image spec, as overlayfs and
            // containerd apply it): e.g. var/lib/rpm turned into a link to usr/lib/sysimage/rpm
            // hides the old var/lib/rpm/Packages.
            changed |= self.remove_below(&entry.path, false, selector);
            self.nodes.insert(&entry.path, Placed { node: &entry.node, layer: index });
        }
        changed
    }

    pub fn layers_applied(&self) -> usize {
        self.applied
    }

    /// Removes everything under `dir` (and `dir` itself when `itself`).
    fn remove_below(&mut self, dir: &str, itself: bool, selector: &Selector) -> bool {
        let mut changed = false;
        if itself && let Some(placed) = self.nodes.remove(dir) {
            changed |= selector.wants(dir) || matches!(placed.node, Node::Symlink { .. });
        }
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let doomed: Vec<&str> =
            self.nodes.range(prefix.as_str()..).map(|(p, _)| *p).take_while(|p| p.starts_with(&prefix)).collect();
        for path in doomed {
            changed |= selector.wants(path);
            self.nodes.remove(path);
        }
        changed
    }

    /// The selected files as the view stands, links resolved to their content.
    pub fn files(&self, selector: &Selector) -> Vec<ImageFile> {
        let mut files = Vec::new();
        for (path, placed) in &self.nodes {
            if !selector.wants(path) {
                continue;
            }
            let (resolved, file) = match placed.node {
                Node::File { .. } => (path.to_string(), placed),
                _ => {
                    let Some(target) = resolve_file(self, path) else { continue };
                    let Some(file) = self.nodes.get(target.as_str()) else { continue };
                    (target, file)
                }
            };
            if let Node::File { content, mode } = file.node {
                files.push(ImageFile {
                    path: path.to_string(),
                    resolved,
                    mode: *mode,
                    layer: self.digests[file.layer].clone(),
                    content: content.clone(),
                });
            }
        }
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::LayerEntry;

    fn file(path: &str, content: &str) -> LayerEntry {
        LayerEntry { path: path.into(), node: Node::File { content: content.as_bytes().to_vec(), mode: 0o644 } }
    }
    fn link(path: &str, target: &str) -> LayerEntry {
        LayerEntry { path: path.into(), node: Node::Symlink { target: target.into() } }
    }

    fn view_files(layers: &[LayerContents], selector: &Selector) -> Vec<(String, String, String)> {
        let digests: Vec<String> = (0..layers.len()).map(|i| format!("L{i}")).collect();
        let mut view = MergedView::new(layers, &digests);
        for _ in layers {
            view.apply_next(selector);
        }
        view.files(selector).into_iter().map(|f| (f.path, String::from_utf8(f.content).unwrap(), f.layer)).collect()
    }

    #[test]
    fn whiteouts_opaque_dirs_and_overrides() {
        let selector = Selector::new(&["data/**".to_string()]).unwrap();
        let base = LayerContents {
            entries: vec![file("data/a", "1"), file("data/b", "1"), file("data/d/x", "1")],
            ..Default::default()
        };
        let upper = LayerContents {
            entries: vec![file("data/a", "2"), file("data/d/y", "2")],
            whiteouts: vec!["data/b".into()],
            opaque_dirs: vec!["data/d".into()],
            ..Default::default()
        };
        let files = view_files(&[base, upper], &selector);
        assert_eq!(
            files,
            vec![("data/a".into(), "2".into(), "L1".into()), ("data/d/y".into(), "2".into(), "L1".into())]
        );
    }

    #[test]
    fn links_resolve_inside_the_image_only() {
        let selector =
            Selector::new(&["etc/os-release".to_string(), "usr/lib/os-release".to_string(), "etc/evil".to_string()])
                .unwrap();
        let layer = LayerContents {
            entries: vec![
                file("usr/lib/os-release", "ID=debian"),
                link("etc/os-release", "../usr/lib/os-release"),
                // Escapes are clamped at the image root: this names the image's etc/passwd,
                // which was not selected, so nothing is handed out.
                link("etc/evil", "../../../../etc/passwd"),
            ],
            ..Default::default()
        };
        let files = view_files(&[layer], &selector);
        let paths: Vec<&str> = files.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(paths, vec!["etc/os-release", "usr/lib/os-release"]);
        assert_eq!(files[0].1, "ID=debian");
    }

    #[test]
    fn a_non_directory_replaces_a_lower_directory() {
        let selector = Selector::new(&["var/lib/rpm/*".to_string(), "usr/lib/sysimage/rpm/*".to_string()]).unwrap();
        let base = LayerContents { entries: vec![file("var/lib/rpm/Packages", "old")], ..Default::default() };
        let upper = LayerContents {
            entries: vec![
                link("var/lib/rpm", "../../usr/lib/sysimage/rpm"),
                file("usr/lib/sysimage/rpm/rpmdb.sqlite", "new"),
            ],
            ..Default::default()
        };
        let files = view_files(&[base, upper], &selector);
        assert_eq!(files, vec![("usr/lib/sysimage/rpm/rpmdb.sqlite".into(), "new".into(), "L1".into())]);
    }

    #[test]
    fn each_file_once_under_the_path_asked_for() {
        let selector = Selector::new(&["**".to_string()]).unwrap();
        let layers = [
            LayerContents { entries: vec![file("db/real", "bytes")], ..Default::default() },
            LayerContents {
                entries: vec![
                    link("alias/one", "/db/real"),
                    LayerEntry { path: "alias/two".into(), node: Node::Hardlink { target: "db/real".into() } },
                    link("db/other", "real"),
                ],
                ..Default::default()
            },
        ];
        let digests = vec!["L0".to_string(), "L1".to_string()];
        let mut view = MergedView::new(&layers, &digests);
        view.apply_next(&selector);
        view.apply_next(&selector);
        let files = view.files(&selector);
        assert!(files.iter().all(|f| f.resolved == "db/real" && f.layer == "L0"), "the bytes are layer 0's");
        let given = |wants: &dyn Fn(&str) -> bool| -> Vec<String> {
            distinct_files(&files, wants).iter().map(|f| f.path.clone()).collect()
        };
        // Asked for the real path too: given there only.
        assert_eq!(given(&|_| true), vec!["db/real"]);
        // Asked for links only: given once, under the first of them.
        assert_eq!(given(&|p| p.starts_with("alias/")), vec!["alias/one"]);
        assert_eq!(given(&|p| p == "alias/two" || p == "db/other"), vec!["alias/two"]);
        assert!(given(&|p| p == "elsewhere").is_empty());
    }

    #[test]
    fn link_loops_end() {
        let selector = Selector::new(&["a".to_string()]).unwrap();
        let layer = LayerContents { entries: vec![link("a", "b"), link("b", "a")], ..Default::default() };
        assert!(view_files(&[layer], &selector).is_empty());
    }
}
