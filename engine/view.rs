//! The merged view a running container sees: layers applied bottom-up with whiteouts and opaque
//! directories, symlinks resolved inside the image (never on the host), and the selected files
//! handed out with the layer each came from.

use crate::layer::{LayerContents, Node, Selector};
use crate::model::ImageFile;
use std::collections::{BTreeMap, VecDeque};

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
            let file = match placed.node {
                Node::File { .. } => placed,
                _ => match resolve_file(self, path).and_then(|target| self.nodes.get(target.as_str())) {
                    Some(target) => target,
                    None => continue,
                },
            };
            if let Node::File { content, mode } = file.node {
                files.push(ImageFile {
                    path: path.to_string(),
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
    fn link_loops_end() {
        let selector = Selector::new(&["a".to_string()]).unwrap();
        let layer = LayerContents { entries: vec![link("a", "b"), link("b", "a")], ..Default::default() };
        assert!(view_files(&[layer], &selector).is_empty());
    }
}
