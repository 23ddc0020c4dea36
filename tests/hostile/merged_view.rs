//! The merged view where a naive merge differs from overlayfs, and package-to-layer attribution
//! over thousands of layers.

use crate::common::cli::{self, ScanResult};
use crate::common::image::*;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn stanza(name: &str, version: &str) -> String {
    dpkg_status_stanza(name, version, "amd64", None, "install ok installed")
}

fn layer_of<'a>(result: &'a ScanResult, name: &str) -> &'a str {
    result.package(name)["layer"].as_str().unwrap_or_else(|| panic!("{name} has no layer"))
}

#[test]
fn a_directory_replaced_by_a_file_stays_cut_off_when_it_comes_back() {
    let hidden = Layer::gzip(vec![Entry::file("var/lib/dpkg/status", stanza("hidden", "1.0"))]);
    // No analyzer asks for "var/lib/dpkg" itself: the layer keeps only that a non-directory is there.
    let replaced = Layer::gzip(vec![Entry::file("var/lib/dpkg", "a file now")]);
    let back = Layer::gzip(vec![
        Entry::dir("var/lib/dpkg"),
        Entry::file("var/lib/dpkg/status.d/visible", stanza("visible", "2.0")),
    ]);
    let (result, built) = cli::scan_oci(&ImageSpec::new(vec![hidden.clone(), replaced.clone(), back]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.packages(), vec![("visible".to_string(), "2.0".to_string())]);
    assert_eq!(layer_of(&result, "visible"), built.layer_digests[2]);

    let (result, _) = cli::scan_oci(&ImageSpec::new(vec![hidden, replaced]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(result.packages().is_empty(), "overlayfs shows no database: {:?}", result.packages());
}

#[test]
fn a_hard_link_to_an_entry_nobody_asked_for_keeps_its_content() {
    let spec = ImageSpec::new(vec![
        Layer::gzip(vec![Entry::file("etc/hostname", "base")]),
        Layer::gzip(vec![
            // The bytes stream by under a path no analyzer wants, before the link that it wants.
            Entry::file("usr/share/backup/status", stanza("linked", "3.0")),
            Entry::hardlink("var/lib/dpkg/status", "usr/share/backup/status"),
        ]),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let built = write_oci_layout(&[(&spec, None)], dir.path(), false).remove(0);
    let store = dir.path().join("store.db");
    let store_arg = store.to_str().unwrap();
    // Read from the image, then from the layer cache: the cached layer has the bytes too.
    for cached_layers in [0, 2] {
        let result = cli::scan(&cli::target("oci", dir.path()), &["--db", store_arg]);
        assert_eq!(result.code, 0, "{}", result.stderr);
        assert_eq!(result.packages(), vec![("linked".to_string(), "3.0".to_string())]);
        assert_eq!(layer_of(&result, "linked"), built.layer_digests[1]);
        assert_eq!(result.report["stats"]["cached_layers"], cached_layers);
    }
}

/// Runs `command`, killing it after `limit`: a regression that makes the input's cost explode
/// fails the test instead of hanging the suite. Returns (exit code, stdout, stderr).
fn run_within(mut command: Command, limit: Duration) -> (i32, Vec<u8>, String) {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Read both pipes while the command runs: a report larger than a pipe holds would block it.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).unwrap();
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
    (status.code().unwrap(), stdout.join().unwrap(), stderr)
}

fn scan_within(dir: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let plugins = tempfile::tempdir().unwrap();
    let mut command = cli::command();
    command.args(["scan", &cli::target("oci", dir), "--format", "json", "--plugins-dir"]).arg(plugins.path());
    command.args(extra);
    // The red team's 6,000-layer image took 111 s when every layer re-ran the analyzers on the
    // whole view; linear attribution takes seconds.
    let (code, stdout, stderr) = run_within(command, Duration::from_secs(240));
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_slice(&stdout).unwrap()
}

fn write_layers(layers: Vec<Layer>) -> (tempfile::TempDir, BuiltImage) {
    let dir = tempfile::tempdir().unwrap();
    let built = write_oci_layout(&[(&ImageSpec::new(layers), None)], dir.path(), false).remove(0);
    (dir, built)
}

/// 6,000 layers that each add a package in a file of its own: every package belongs to the
/// layer holding its file, and no analyzer needs to run again.
#[test]
fn six_thousand_layers_each_adding_a_package() {
    let layers: Vec<Layer> = (0..6000)
        .map(|i| {
            Layer::plain(vec![Entry::file(&format!("var/lib/dpkg/status.d/p{i}"), stanza(&format!("p{i}"), "1.0"))])
        })
        .collect();
    let (dir, built) = write_layers(layers);
    let report = scan_within(dir.path(), &[]);
    let packages = report["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 6000);
    for package in packages {
        let index: usize = package["name"].as_str().unwrap()[1..].parse().unwrap();
        assert_eq!(package["layer"], built.layer_digests[index], "{package}");
    }
}

/// 1,500 layers that each rewrite the dpkg database, as every `apt-get install` does: the
/// package listed since the first layer belongs to it, each other to the layer that listed it.
#[test]
fn fifteen_hundred_layers_rewriting_the_database() {
    let layers: Vec<Layer> = (0..1500)
        .map(|i| {
            let status = stanza("base", "1.0") + "\n" + &stanza(&format!("p{i}"), "1.0");
            Layer::plain(vec![Entry::file("var/lib/dpkg/status", status)])
        })
        .collect();
    let (dir, built) = write_layers(layers);
    let report = scan_within(dir.path(), &[]);
    let layer = |name: &str| {
        report["packages"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()["layer"].clone()
    };
    assert_eq!(layer("base"), built.layer_digests[0]);
    assert_eq!(layer("p1499"), built.layer_digests[1499]);
    assert!(!report["warnings"].to_string().contains("attributing"), "{}", report["warnings"]);

    // All of the attribution runs share the plugin's CPU time limit: with a tiny one it stops
    // early and says so; what the runs before the cut found stands.
    let report = scan_within(dir.path(), &["--plugin-timeout", "0.05"]);
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("plugin dpkg: attributing its packages to layers stopped after"), "{warnings}");
    assert_eq!(report["complete"], true);
    let base = report["packages"].as_array().unwrap().iter().find(|p| p["name"] == "base").unwrap();
    assert_eq!(base["layer"], built.layer_digests[0]);
}
