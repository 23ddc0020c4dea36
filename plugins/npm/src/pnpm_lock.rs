//! `pnpm-lock.yaml`, lockfile versions 5.x, 6.x and 9.x.
//!
//! - `packages` keys name a resolved package: v5 `/name/1.0.0` or `/@s/name/1.0.0_peer@1.0.0`,
//!   v6 `/name@1.0.0(peer@1.0.0)`, v9 `name@1.0.0` (peer suffixes are in `snapshots` keys). A
//!   package from a tarball or git has `name` and `version` fields, which then win; one with a
//!   `link:`/`file:` reference and no version field is local code and is skipped.
//! - v5 and v6 mark each package `dev: true|false` and `optional: true`. v9 dropped those: a
//!   package is a dev dependency when it is reachable only from the importers'
//!   `devDependencies` through the `snapshots` graph, which is what is computed here.
//!
//! YAML is read through yaml-rust2's event parser into a small tree built here: nesting is capped
//! at [`MAX_DEPTH`] and aliases are never expanded (pnpm writes none), so neither deep nesting nor
//! an alias bomb can exhaust the stack or memory.

use crate::lock::{self, Locked, Parsed, Scope};
use crate::manifest::{self, shown};
use ecr_plugin_kit::fields;
use std::collections::{BTreeSet, VecDeque};
use yaml_rust2::parser::{Event, Parser};

/// Deepest YAML nesting accepted (pnpm's own files nest five levels).
pub const MAX_DEPTH: usize = 64;

#[derive(Debug)]
enum Node {
    Scalar(String),
    Map(Vec<(String, Node)>),
    Seq,
    Null,
}

impl Node {
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn str(&self) -> Option<&str> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    fn entries(&self) -> &[(String, Node)] {
        match self {
            Node::Map(entries) => entries,
            _ => &[],
        }
    }

    fn flag(&self, key: &str) -> Option<bool> {
        match self.get(key)?.str()? {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

enum Frame {
    Map(Vec<(String, Node)>, Option<String>),
    Seq,
}

/// Builds the document tree from parser events, without recursion.
fn load(text: &str) -> Result<Node, String> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| format!("invalid YAML: {e}"))?;
        let done = match event {
            Event::StreamEnd => break,
            Event::Scalar(value, ..) => Some(Node::Scalar(value)),
            Event::Alias(_) => Some(Node::Null),
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("line {}: nested more than {MAX_DEPTH} levels deep", mark.line()));
                }
                stack.push(if matches!(event, Event::MappingStart(..)) {
                    Frame::Map(Vec::new(), None)
                } else {
                    Frame::Seq
                });
                None
            }
            Event::MappingEnd | Event::SequenceEnd => match stack.pop() {
                Some(Frame::Map(entries, _)) => Some(Node::Map(entries)),
                Some(Frame::Seq) => Some(Node::Seq),
                None => return Err(format!("line {}: unbalanced YAML structure", mark.line())),
            },
            _ => None,
        };
        let Some(node) = done else { continue };
        match stack.last_mut() {
            // Sequence items are never needed: pnpm keeps what is read here in maps.
            Some(Frame::Seq) => {}
            Some(Frame::Map(entries, key)) => match key.take() {
                None => *key = Some(if let Node::Scalar(s) = node { s } else { String::new() }),
                Some(k) => entries.push((k, node)),
            },
            None if root.is_none() => root = Some(node),
            // Later documents of a multi-document stream are not part of a lockfile.
            None => {}
        }
    }
    Ok(root.unwrap_or(Node::Null))
}

/// `name@version` of a snapshot or package key, peer suffix `(...)` dropped.
fn base_key(key: &str) -> &str {
    let key = key.strip_prefix('/').unwrap_or(key);
    key.split_once('(').map_or(key, |(base, _)| base)
}

/// (name, version) from a `packages` key of lockfile major version `major`.
fn split_key(key: &str, major: u32) -> Option<(&str, &str)> {
    if major < 6 {
        let key = key.strip_prefix('/').unwrap_or(key);
        let (name, version) = key.rsplit_once('/')?;
        Some((name, version.split_once('_').map_or(version, |(v, _)| v)))
    } else {
        lock::split_name_at(base_key(key))
    }
}

/// The snapshot key a dependency reference points at: `version` is either a version (with peer
/// suffix) of `name`, or, for an alias, a whole `real@version` key.
fn dep_key(name: &str, version: &str) -> String {
    let base = version.split_once('(').map_or(version, |(b, _)| b);
    if lock::split_name_at(base).is_some() { version.to_string() } else { format!("{name}@{version}") }
}

/// v9: packages reachable from production roots, from development roots, and those pnpm marks
/// `optional: true` (reachable only through optional dependencies).
fn reachability(doc: &Node) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let snapshots = doc.get("snapshots");
    let walk = |roots: Vec<String>| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<String> = roots.into();
        while let Some(key) = queue.pop_front() {
            if !seen.insert(key.clone()) {
                continue;
            }
            let Some(snap) = snapshots.and_then(|s| s.get(&key)) else { continue };
            for field in ["dependencies", "optionalDependencies"] {
                for (name, v) in snap.get(field).map(Node::entries).unwrap_or_default() {
                    if let Some(v) = v.str() {
                        queue.push_back(dep_key(name, v));
                    }
                }
            }
        }
        seen.iter().map(|k| base_key(k).to_string()).collect()
    };
    let roots = |fields: &[&str]| -> Vec<String> {
        let mut out = Vec::new();
        for (_, importer) in doc.get("importers").map(Node::entries).unwrap_or_default() {
            for field in fields {
                for (name, dep) in importer.get(field).map(Node::entries).unwrap_or_default() {
                    if let Some(v) = dep.get("version").and_then(Node::str).or(dep.str()) {
                        out.push(dep_key(name, v));
                    }
                }
            }
        }
        out
    };
    let optional = snapshots
        .map(Node::entries)
        .unwrap_or_default()
        .iter()
        .filter(|(_, snap)| snap.flag("optional") == Some(true))
        .map(|(key, _)| base_key(key).to_string())
        .collect();
    (walk(roots(&["dependencies", "optionalDependencies"])), walk(roots(&["devDependencies"])), optional)
}

pub fn parse(content: &[u8]) -> Parsed {
    if let Err(e) = lock::check_size(content) {
        return Parsed::failed(e);
    }
    let doc = match fields::text(content).and_then(load) {
        Ok(d) => d,
        Err(e) => return Parsed::failed(e),
    };
    let Some(version) = doc.get("lockfileVersion").and_then(Node::str) else {
        return Parsed::failed("not a pnpm lockfile: no lockfileVersion".to_string());
    };
    let major = version.split('.').next().and_then(|m| m.trim().parse::<u32>().ok()).unwrap_or(0);
    let graph = (major >= 9).then(|| reachability(&doc));
    let mut out = Parsed::default();
    for (key, entry) in doc.get("packages").map(Node::entries).unwrap_or_default() {
        let from_key = split_key(key, major);
        let name = entry.get("name").and_then(Node::str).or(from_key.map(|(n, _)| n));
        let version = entry.get("version").and_then(Node::str).or(from_key.map(|(_, v)| v));
        let (Some(name), Some(version)) = (name, version) else {
            out.error(format!("packages[{}]: cannot read a package name and version; skipped", shown(key)));
            continue;
        };
        if version.contains(':') {
            continue; // link:, file: and the like: local code
        }
        if let Err(e) = manifest::check_field("name", name).and_then(|_| manifest::check_field("version", version)) {
            out.error(format!("packages[{}]: {e}; skipped", shown(key)));
            continue;
        }
        let scope = match &graph {
            Some((prod, dev, optional)) => {
                let k = format!("{name}@{version}");
                let base = base_key(key);
                if prod.contains(&k) || prod.contains(base) {
                    (optional.contains(&k) || optional.contains(base)).then_some(Scope::Optional)
                } else if dev.contains(&k) || dev.contains(base) {
                    Some(Scope::Dev)
                } else {
                    None
                }
            }
            None if entry.flag("dev") == Some(true) => Some(Scope::Dev),
            None if entry.flag("optional") == Some(true) => Some(Scope::Optional),
            None => None,
        };
        out.packages.push(Locked {
            name: name.to_string(),
            version: version.to_string(),
            location: None,
            scope,
            licenses: Vec::new(),
        });
    }
    out
}
