//! The merged view a running container sees: layers applied bottom-up with whiteouts and opaque
//! directories, symlinks resolved inside the image (never on the host), and the selected files
//! handed out with the layer each came from.

use crate::layer::{LayerContents, Node, Selector, path_hash};
use crate::model::ImageFile;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

/// Symlink hops before a path is declared a loop (Linux's own limit).
const MAX_LINK_HOPS: usize = 40;
/// The longest path a resolution builds (Linux's PATH_MAX): a longer one names nothing.
const MAX_PATH_BYTES: usize = 4096;
/// Path components one resolution may step through. The hop limit alone leaves the work to the
/// input (40 hops through 2,000-component targets), and every step is a lookup.
const MAX_STEPS_PER_RESOLUTION: usize = 1024;
/// Steps that all the resolutions of one pass over an image may take together: many times what
/// the links of a real image need (tens of thousands of links, a few dozen steps each), so
/// thousands of pathological links cost seconds, not hours.
const MAX_STEPS_PER_PASS: usize = 1 << 20;

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

/// The resolution work one pass over an image may still do (see [`MAX_STEPS_PER_PASS`]).
pub struct LinkBudget {
    remaining: usize,
    /// Links left unresolved because the budget ran out.
    unresolved: usize,
}

impl Default for LinkBudget {
    fn default() -> Self {
        LinkBudget { remaining: MAX_STEPS_PER_PASS, unresolved: 0 }
    }
}

impl LinkBudget {
    /// Says what was not followed, if the budget ran out.
    pub fn warning(&self) -> Option<String> {
        (self.unresolved > 0).then(|| {
            format!(
                "{} links were not followed: resolving this image's links took more than {MAX_STEPS_PER_PASS} path steps (links that loop or nest without end); files reached only through them were not analyzed",
                self.unresolved
            )
        })
    }
}

/// Resolves `path` to the regular file it names, following symlinks and hard links the way the
/// kernel would inside a chroot at the image root: absolute targets start at the image root and
/// `..` never climbs above it, so a link can never reach the scanning host's files. Like the
/// kernel, it gives up after [`MAX_LINK_HOPS`] links or a path over [`MAX_PATH_BYTES`]; it also
/// takes at most [`MAX_STEPS_PER_RESOLUTION`] steps, and no more than `budget` has left.
pub fn resolve_file(tree: &dyn Tree, path: &str, budget: &mut LinkBudget) -> Option<String> {
    if budget.remaining == 0 {
        budget.unresolved += 1;
        return None;
    }
    let mut pending: VecDeque<String> = path.split('/').map(str::to_string).collect();
    // The path resolved so far, and where each of its components starts (for `..` and links):
    // built in place, since joining components at every step costs the path's length each time.
    let mut current = String::new();
    let mut starts: Vec<usize> = Vec::new();
    let mut hops = 0;
    let mut steps = 0;
    while let Some(part) = pending.pop_front() {
        steps += 1;
        budget.remaining = budget.remaining.saturating_sub(1);
        if steps > MAX_STEPS_PER_RESOLUTION {
            return None;
        }
        if budget.remaining == 0 {
            budget.unresolved += 1;
            return None;
        }
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                current.truncate(starts.pop().unwrap_or(0));
                continue;
            }
            _ => {}
        }
        starts.push(current.len());
        if !current.is_empty() {
            current.push('/');
        }
        current.push_str(&part);
        if current.len() > MAX_PATH_BYTES {
            return None;
        }
        let target = match tree.kind(&current) {
            Some(PathKind::Symlink(target)) => {
                current.truncate(starts.pop().unwrap_or(0));
                target
            }
            // A hard link names its target from the root.
            Some(PathKind::Hardlink(target)) if pending.is_empty() => {
                current.clear();
                starts.clear();
                target
            }
            Some(_) => continue,
            None => return None,
        };
        hops += 1;
        if hops > MAX_LINK_HOPS || pending.len() + target.split('/').count() > MAX_STEPS_PER_RESOLUTION - steps {
            return None;
        }
        if target.starts_with('/') {
            current.clear();
            starts.clear();
        }
        for part in target.split('/').rev() {
            pending.push_front(part.to_string());
        }
    }
    matches!(tree.kind(&current), Some(PathKind::File)).then_some(current)
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
    /// Every path that is a node or has nodes below it, by [`path_hash`], with how many nodes
    /// are at or below it: how a layer's [`LayerContents::replaced`] hashes find what they hide.
    covered: HashMap<u64, (&'a str, usize)>,
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
        MergedView { layers, digests, nodes: BTreeMap::new(), covered: HashMap::new(), applied: 0 }
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
        // A non-directory replaces what lower layers had at its path, a directory's contents
        // included (OCI image spec, as overlayfs and containerd apply it): e.g. var/lib/rpm
        // turned into a link to usr/lib/sysimage/rpm hides the old var/lib/rpm/Packages. That
        // holds for the entries nobody asked for too, which the layer keeps as hashes only.
        for hash in &layer.replaced {
            if let Some(&(path, _)) = self.covered.get(hash) {
                changed |= self.remove_below(path, true, selector);
            }
        }
        for entry in &layer.entries {
            changed |= selector.wants(&entry.path);
            changed |= self.remove_below(&entry.path, false, selector);
            self.insert(&entry.path, Placed { node: &entry.node, layer: index });
        }
        changed
    }

    pub fn layers_applied(&self) -> usize {
        self.applied
    }

    /// The digest that names layer `index` in the files handed out.
    pub fn digest(&self, index: usize) -> &'a str {
        &self.digests[index]
    }

    fn insert(&mut self, path: &'a str, placed: Placed<'a>) {
        if self.nodes.insert(path, placed).is_none() {
            for covering in path_and_parents(path) {
                self.covered.entry(path_hash(covering)).or_insert((covering, 0)).1 += 1;
            }
        }
    }

    fn remove(&mut self, path: &str) -> Option<Placed<'a>> {
        let (path, placed) = self.nodes.remove_entry(path)?;
        for covering in path_and_parents(path) {
            let hash = path_hash(covering);
            if let Some((_, count)) = self.covered.get_mut(&hash) {
                *count -= 1;
                if *count == 0 {
                    self.covered.remove(&hash);
                }
            }
        }
        Some(placed)
    }

    /// Removes everything under `dir` (and `dir` itself when `itself`).
    fn remove_below(&mut self, dir: &str, itself: bool, selector: &Selector) -> bool {
        let mut changed = false;
        if itself && let Some(placed) = self.remove(dir) {
            changed |= selector.wants(dir) || matches!(placed.node, Node::Symlink { .. });
        }
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let doomed: Vec<&str> =
            self.nodes.range(prefix.as_str()..).map(|(p, _)| *p).take_while(|p| p.starts_with(&prefix)).collect();
        for path in doomed {
            changed |= selector.wants(path);
            self.remove(path);
        }
        changed
    }

    /// The selected files as the view stands, links resolved to their content.
    pub fn files(&self, selector: &Selector, budget: &mut LinkBudget) -> Vec<ImageFile> {
        self.nodes
            .iter()
            .filter(|(path, _)| selector.wants(path))
            .filter_map(|(path, placed)| self.image_file(path, placed, budget))
            .collect()
    }

    /// The selected files that the last layer applied put into the view (its own entries, links
    /// resolved), in path order: what one layer changed, at the cost of that layer's entries
    /// rather than of the whole view.
    pub fn files_of_last_layer(&self, selector: &Selector, budget: &mut LinkBudget) -> Vec<ImageFile> {
        let Some(index) = self.applied.checked_sub(1) else { return Vec::new() };
        let paths: BTreeSet<&str> = self.layers[index]
            .entries
            .iter()
            .map(|entry| entry.path.as_str())
            .filter(|path| selector.wants(path))
            .collect();
        paths
            .into_iter()
            .filter_map(|path| {
                let placed = self.nodes.get(path).filter(|placed| placed.layer == index)?;
                self.image_file(path, placed, budget)
            })
            .collect()
    }

    /// The file at `path` as analyzers get it: its own content, or a link's resolved target's.
    fn image_file(&self, path: &str, placed: &Placed<'a>, budget: &mut LinkBudget) -> Option<ImageFile> {
        let (resolved, file) = match placed.node {
            Node::File { .. } => (path.to_string(), placed),
            _ => {
                let target = resolve_file(self, path, budget)?;
                let file = self.nodes.get(target.as_str())?;
                (target, file)
            }
        };
        let Node::File { content, mode } = file.node else { return None };
        Some(ImageFile {
            path: path.to_string(),
            resolved,
            mode: *mode,
            layer: self.digests[file.layer].clone(),
            content: content.clone(),
        })
    }
}

/// `a/b/c`, `a/b`, `a`: the path and every directory above it.
fn path_and_parents(path: &str) -> impl Iterator<Item = &str> {
    std::iter::once(path).chain(path.match_indices('/').map(move |(at, _)| &path[..at]))
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
        view.files(selector, &mut LinkBudget::default())
            .into_iter()
            .map(|f| (f.path, String::from_utf8(f.content).unwrap(), f.layer))
            .collect()
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
        let files = view.files(&selector, &mut LinkBudget::default());
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

    #[test]
    fn an_unkept_non_directory_cuts_off_what_was_below_even_when_the_directory_comes_back() {
        let selector = Selector::new(&["var/lib/dpkg/**".to_string()]).unwrap();
        let base = LayerContents { entries: vec![file("var/lib/dpkg/status", "old")], ..Default::default() };
        // "var/lib/dpkg" becomes a file nobody asked for: only its hash is kept.
        let replaced = LayerContents { replaced: vec![path_hash("var/lib/dpkg")], ..Default::default() };
        // ...and a directory again, with other contents.
        let again = LayerContents { entries: vec![file("var/lib/dpkg/status.d/new", "new")], ..Default::default() };
        let files = view_files(&[base.clone(), replaced.clone(), again], &selector);
        assert_eq!(files, vec![("var/lib/dpkg/status.d/new".into(), "new".into(), "L2".into())]);
        // A hash that names no kept path changes nothing.
        let unrelated = LayerContents { replaced: vec![path_hash("var/lib/dp")], ..Default::default() };
        assert_eq!(view_files(&[base.clone(), unrelated], &selector).len(), 1);
        // The file itself replaced (e.g. by a device) is gone too.
        let itself = LayerContents { replaced: vec![path_hash("var/lib/dpkg/status")], ..Default::default() };
        assert!(view_files(&[base, itself], &selector).is_empty());
    }

    #[test]
    fn the_files_a_layer_put_into_the_view() {
        let selector = Selector::new(&["db/*".to_string()]).unwrap();
        let layers = [
            LayerContents { entries: vec![file("db/a", "1"), file("db/b", "1")], ..Default::default() },
            LayerContents {
                entries: vec![file("db/b", "2"), link("db/c", "a"), file("other", "x")],
                ..Default::default()
            },
        ];
        let digests = vec!["L0".to_string(), "L1".to_string()];
        let mut view = MergedView::new(&layers, &digests);
        let mut budget = LinkBudget::default();
        assert!(view.files_of_last_layer(&selector, &mut budget).is_empty(), "no layer applied yet");
        view.apply_next(&selector);
        view.apply_next(&selector);
        let files: Vec<(String, String, String)> = view
            .files_of_last_layer(&selector, &mut budget)
            .into_iter()
            .map(|f| (f.path, f.resolved, f.layer))
            .collect();
        assert_eq!(
            files,
            vec![("db/b".into(), "db/b".into(), "L1".into()), ("db/c".into(), "db/a".into(), "L0".into())]
        );
    }

    /// Counts the lookups resolution makes: its work.
    struct Counting<'a> {
        tree: &'a dyn Tree,
        lookups: std::cell::Cell<usize>,
    }

    impl Tree for Counting<'_> {
        fn kind(&self, path: &str) -> Option<PathKind> {
            self.lookups.set(self.lookups.get() + 1);
            self.tree.kind(path)
        }
    }

    /// 1,500 links, each through a 500-component path that climbs down and back up to the next
    /// link, in a loop: each resolution stops at its step limit and all of them at the pass's
    /// budget.
    #[test]
    fn link_resolution_work_is_bounded() {
        let selector = Selector::new(&["l/*".to_string(), "**/f".to_string()]).unwrap();
        let down = "d/".repeat(250);
        let up = "../".repeat(250);
        let mut entries = vec![file(&format!("{down}f"), "x")];
        entries.extend((0..1500).map(|i| link(&format!("l/{i}"), &format!("/{down}{up}l/{}", (i + 1) % 1500))));
        let layers = [LayerContents { entries, ..Default::default() }];
        let digests = vec!["L0".to_string()];
        let mut view = MergedView::new(&layers, &digests);
        view.apply_next(&selector);
        let counting = Counting { tree: &view, lookups: Default::default() };
        let mut budget = LinkBudget::default();
        for i in 0..1500 {
            assert_eq!(resolve_file(&counting, &format!("l/{i}"), &mut budget), None);
        }
        assert!(counting.lookups.get() <= MAX_STEPS_PER_PASS + 1500, "{} lookups", counting.lookups.get());
        assert!(budget.warning().is_some(), "the budget ran out and says so");
        // One resolution alone stops at its own limit.
        let counting = Counting { tree: &view, lookups: Default::default() };
        assert_eq!(resolve_file(&counting, "l/0", &mut LinkBudget::default()), None);
        assert!(counting.lookups.get() <= MAX_STEPS_PER_RESOLUTION + 1, "{} lookups", counting.lookups.get());
        // A real chain of links still resolves.
        let chain = [LayerContents {
            entries: vec![file("d/real", "bytes"), link("l/a", "../l/b"), link("l/b", "/d/../d/real")],
            ..Default::default()
        }];
        let files = view_files(&chain, &selector);
        assert_eq!(
            files,
            vec![("l/a".into(), "bytes".into(), "L0".into()), ("l/b".into(), "bytes".into(), "L0".into())]
        );
    }

    #[test]
    fn the_pass_budget_says_what_it_left_unresolved() {
        let selector = Selector::new(&["l/*".to_string()]).unwrap();
        let layers = [LayerContents { entries: vec![file("d/f", "x"), link("l/a", "/d/f")], ..Default::default() }];
        let digests = vec!["L0".to_string()];
        let mut view = MergedView::new(&layers, &digests);
        view.apply_next(&selector);
        let mut budget = LinkBudget { remaining: 2, unresolved: 0 };
        assert!(view.files(&selector, &mut budget).is_empty());
        assert!(budget.warning().unwrap().starts_with("1 links were not followed"), "{:?}", budget.warning());
        assert!(LinkBudget::default().warning().is_none());
    }
}
