//! The drop-in path, end to end: the Python analyzer (written with the kit) is copied into a
//! temporary plugins directory, the real `ecr-engine` binary runs with only that directory
//! (`--no-builtin-plugins`), and its findings on an image holding this machine's real Python
//! distributions must be exactly what Python itself (`importlib.metadata`) lists for them.

mod common;

use common::cli::{self, ScanResult};
use common::image::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

use ecr_builtin_plugins::BUILTIN_PLUGIN_FILES;

fn python3(args: &[&str]) -> String {
    let out = Command::new("python3")
        .args(args)
        .output()
        .expect("python3 is needed for this test (scripts/test installs it): it is the oracle for the Python analyzer");
    assert!(out.status.success(), "python3 {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// This machine's package directories: Debian's dist-packages (apt's python3-* packages) and the
/// interpreter's own site-packages (pip's), each with the image directory it is put under.
fn host_package_dirs() -> Vec<(PathBuf, String)> {
    let purelib = python3(&["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]);
    let mut dirs = vec![(PathBuf::from("/usr/lib/python3/dist-packages"), "usr/lib/python3/dist-packages".to_string())];
    dirs.push((PathBuf::from(purelib.trim()), "usr/local/lib/python3/site-packages".to_string()));
    dirs.retain(|(dir, _)| dir.is_dir());
    dirs
}

/// The metadata file of each distribution in `dir` as an image entry under `prefix`.
fn metadata_entries(dir: &Path, prefix: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let (file, rel) = if name.ends_with(".dist-info") {
            (path.join("METADATA"), format!("{name}/METADATA"))
        } else if name.ends_with(".egg-info") && path.is_dir() {
            (path.join("PKG-INFO"), format!("{name}/PKG-INFO"))
        } else if name.ends_with(".egg-info") {
            (path, name)
        } else {
            continue;
        };
        if let Ok(content) = std::fs::read(&file) {
            out.push(Entry::file(&format!("{prefix}/{rel}"), content));
        }
    }
    out
}

/// (name, version) of every distribution in `dir`, by Python.
fn importlib_distributions(dir: &Path) -> Vec<(String, String)> {
    let script = "import importlib.metadata as m, json, sys\n\
                  print(json.dumps([[d.metadata['Name'], d.version] for d in m.distributions(path=[sys.argv[1]])]))";
    let rows: Vec<(Option<String>, Option<String>)> =
        serde_json::from_str(&python3(&["-c", script, dir.to_str().unwrap()])).unwrap();
    rows.into_iter().map(|(name, version)| (name.expect("a Name"), version.expect("a Version"))).collect()
}

fn python_wasm() -> &'static str {
    BUILTIN_PLUGIN_FILES.iter().find(|(name, _)| *name == "python").map(|(_, path)| *path).expect("python is built")
}

#[test]
fn python_plugin_dropped_into_a_plugins_dir_reports_what_importlib_lists() {
    let dirs = host_package_dirs();
    assert!(!dirs.is_empty(), "no Python package directory on this machine");
    // One layer per directory, on top of a Debian base layer.
    let mut layers = vec![Layer::gzip(vec![Entry::file("etc/os-release", os_release("debian", "12", "Debian 12"))])];
    let mut expected: Vec<(String, String, String)> = Vec::new();
    for (dir, prefix) in &dirs {
        layers.push(Layer::gzip(metadata_entries(dir, prefix)));
        expected.extend(importlib_distributions(dir).into_iter().map(|(n, v)| (n, v, prefix.clone())));
    }
    expected.sort();
    assert!(expected.len() >= 3, "too few distributions to be a meaningful check: {expected:?}");

    let image_dir = tempfile::tempdir().unwrap();
    let built = write_oci_layout(&[(&ImageSpec::new(layers), None)], image_dir.path(), false).remove(0);
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(python_wasm(), plugins.path().join("python.wasm")).unwrap();
    let plugins_dir = plugins.path().to_str().unwrap();
    let result: ScanResult =
        cli::scan(&cli::target("oci", image_dir.path()), &["--no-builtin-plugins", "--plugins-dir", plugins_dir]);
    assert_eq!(result.code, 0, "stderr: {}; errors: {}", result.stderr, result.errors());

    let plugins: Vec<&str> =
        result.report["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(plugins, ["python"], "only the dropped-in plugin runs");
    assert_eq!(result.plugin("python")["status"], "ok");

    let packages = result.report["packages"].as_array().unwrap();
    let mut got: Vec<(String, String, String)> = packages
        .iter()
        .map(|p| {
            let path = p["path"].as_str().unwrap();
            let prefix = dirs.iter().map(|(_, prefix)| prefix).find(|prefix| path.starts_with(prefix.as_str()));
            (p["name"].as_str().unwrap().into(), p["version"].as_str().unwrap().into(), prefix.unwrap().clone())
        })
        .collect();
    got.sort();
    assert_eq!(got, expected);
    for p in packages {
        assert_eq!((p["ecosystem"].as_str(), p["plugin"].as_str()), (Some("pypi"), Some("python")), "{p}");
        let purl = p["purl"].as_str().unwrap();
        let want = format!("pkg:pypi/{}@", p["name"].as_str().unwrap().to_ascii_lowercase().replace('_', "-"));
        assert!(purl.starts_with(&want), "{purl} starts with {want}");
        // Each package is attributed to the layer that holds its directory.
        let index = dirs.iter().position(|(_, prefix)| p["path"].as_str().unwrap().starts_with(prefix.as_str()));
        assert_eq!(p["layer"].as_str(), Some(built.layer_digests[index.unwrap() + 1].as_str()), "{p}");
    }
    let with_license = packages.iter().filter(|p| p["licenses"].as_array().is_some_and(|l| !l.is_empty())).count();
    assert!(with_license > 0, "some distribution declares a license");
    assert_eq!(result.report["image"]["os"], Value::Null, "the python plugin reports no OS");
}
