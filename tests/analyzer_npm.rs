//! End-to-end: the npm analyzer inside the real `ecr-engine` binary, on images built here from a
//! real `npm install` tree (tests/fixtures/npm, see its README) and from real lockfiles.

mod common;

use common::cli::{self, ScanResult};
use common::image::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/npm")
}

/// Every file under `dir`, as image entries under `prefix`.
fn entries_from(dir: &Path, prefix: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_str().unwrap();
                out.push(Entry::file(&format!("{prefix}/{rel}"), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort_by_key(|e| match e {
        Entry::File { path, .. } => path.clone(),
        _ => String::new(),
    });
    out
}

fn scan(spec: &ImageSpec) -> (tempfile::TempDir, BuiltImage, ScanResult) {
    let dir = tempfile::tempdir().unwrap();
    let built = write_oci_layout(&[(spec, None)], dir.path(), false).remove(0);
    let result = cli::scan(&cli::target("oci", dir.path()), &[]);
    (dir, built, result)
}

fn npm_packages(result: &ScanResult) -> Vec<&Value> {
    result.report["packages"].as_array().unwrap().iter().filter(|p| p["plugin"] == "npm").collect()
}

/// (name, version, path, scope, declared-only, layer)
type Row = (String, String, String, Option<String>, bool, Option<String>);

fn rows(result: &ScanResult) -> Vec<Row> {
    let mut out: Vec<Row> = npm_packages(result)
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
                p["path"].as_str().unwrap().to_string(),
                p["properties"]["scope"].as_str().map(str::to_string),
                p["properties"]["declared-only"] == "true",
                p["layer"].as_str().map(str::to_string),
            )
        })
        .collect();
    out.sort();
    out
}

fn s(v: &str) -> String {
    v.to_string()
}

fn pj(name: &str, version: &str) -> String {
    format!(r#"{{"name":"{name}","version":"{version}","license":"MIT"}}"#)
}

#[test]
fn real_node_modules_tree_gives_one_package_per_installed_package_json() {
    let app = fixtures().join("express-app");
    let mut install = entries_from(&app.join("node_modules"), "srv/app/node_modules");
    // A package's own files: not packages.
    install.push(Entry::file("srv/app/node_modules/qs/test/package.json", pj("qs-test-fixture", "0.0.1")));
    install.push(Entry::file("srv/app/node_modules/express/lib/package.json", pj("lib", "0.0.1")));
    let spec = ImageSpec::new(vec![
        Layer::gzip(vec![Entry::file("etc/os-release", os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)"))]),
        // COPY package*.json ./
        Layer::gzip(vec![
            Entry::file("srv/app/package.json", std::fs::read(app.join("package.json")).unwrap()),
            Entry::file("srv/app/package-lock.json", std::fs::read(app.join("package-lock.json")).unwrap()),
        ]),
        // RUN npm ci
        Layer::gzip(install),
    ]);
    let (_dir, built, result) = scan(&spec);
    assert_eq!(result.code, 0, "errors: {}; stderr: {}", result.errors(), result.stderr);
    assert_eq!(result.plugin("npm")["status"], "ok");

    // The oracle: npm's own listing of the tree it installed.
    let oracle: Vec<Value> = serde_json::from_slice(&std::fs::read(app.join("npm-query.json")).unwrap()).unwrap();
    let install_layer = Some(built.layer_digests[2].clone());
    let mut want: Vec<Row> = oracle
        .iter()
        .map(|n| {
            let scope = ["dev", "optional", "peer"].into_iter().find(|k| n[*k] == true).map(s);
            let path = format!("srv/app/{}/package.json", n["location"].as_str().unwrap());
            (
                s(n["name"].as_str().unwrap()),
                s(n["version"].as_str().unwrap()),
                path,
                scope,
                false,
                install_layer.clone(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(want.len(), 74);
    assert_eq!(rows(&result), want);

    let express = result.package("express");
    assert_eq!(express["purl"], "pkg:npm/express@4.21.2");
    assert_eq!(express["licenses"], serde_json::json!(["MIT"]));
    assert_eq!(express["ecosystem"], "npm");
    assert_eq!(express["properties"]["lockfile"], "srv/app/package-lock.json");
    assert_eq!(result.package("@types/ms")["purl"], "pkg:npm/%40types/ms@0.7.34");
    // Not hoisted: send's own copies next to the hoisted ones.
    let ms: BTreeSet<(&str, &str)> = npm_packages(&result)
        .iter()
        .filter(|p| p["name"] == "ms")
        .map(|p| (p["version"].as_str().unwrap(), p["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ms,
        BTreeSet::from([
            ("2.0.0", "srv/app/node_modules/ms/package.json"),
            ("2.1.3", "srv/app/node_modules/send/node_modules/ms/package.json"),
        ])
    );
}

#[test]
fn lockfiles_declare_until_node_modules_says_otherwise() {
    let lockfiles = fixtures().join("lockfiles");
    let read = |name: &str| std::fs::read(lockfiles.join(name)).unwrap();
    let spec = ImageSpec::new(vec![
        // A project with sources only, and one with its lockfile.
        Layer::gzip(vec![
            Entry::file("opt/web/yarn.lock", read("yarn-v1.lock")),
            Entry::file("opt/api/package-lock.json", read("package-lock.json")),
        ]),
        // npm ci --omit=dev --omit=optional for the api.
        Layer::gzip(vec![
            Entry::file("opt/api/node_modules/debug/package.json", pj("debug", "2.6.9")),
            Entry::file("opt/api/node_modules/ms/package.json", pj("ms", "2.1.3")),
            Entry::file("opt/api/node_modules/debug/node_modules/ms/package.json", pj("ms", "2.0.0")),
        ]),
        // A later layer deletes one installed package.
        Layer::gzip(vec![Entry::whiteout("opt/api/node_modules/ms")]),
    ]);
    let (_dir, built, result) = scan(&spec);
    assert_eq!(result.code, 0, "errors: {}; stderr: {}", result.errors(), result.stderr);
    let first = Some(built.layer_digests[0].clone());
    let second = Some(built.layer_digests[1].clone());
    let web = s("opt/web/yarn.lock");
    assert_eq!(
        rows(&result),
        vec![
            (s("@types/ms"), s("0.7.34"), web.clone(), None, true, first.clone()),
            (s("debug"), s("2.6.9"), s("opt/api/node_modules/debug/package.json"), None, false, second.clone()),
            (s("debug"), s("2.6.9"), web.clone(), None, true, first.clone()),
            (s("is-number"), s("7.0.0"), web.clone(), None, true, first.clone()),
            (s("ms"), s("2.0.0"), s("opt/api/node_modules/debug/node_modules/ms/package.json"), None, false, second),
            (s("ms"), s("2.0.0"), web.clone(), None, true, first.clone()),
            (s("ms"), s("2.1.3"), web, None, true, first),
        ]
    );
    let declared = npm_packages(&result).into_iter().find(|p| p["path"] == "opt/web/yarn.lock").unwrap();
    assert_eq!(declared["properties"]["lockfile"], "opt/web/yarn.lock");
}

#[test]
fn bad_npm_files_are_named_and_the_rest_is_reported() {
    let broken_link = r#"{"name":"w","version":"1.0.0","lockfileVersion":3,"packages":{
        "":{"name":"w","version":"1.0.0"},
        "node_modules/func1":{"resolved":"","link":true},
        "node_modules/kept":{"version":"1.0.0"}}}"#;
    let huge = format!(r#"{{"name":"huge","version":"1.0.0","description":"{}"}}"#, "x".repeat(50 << 20));
    let spec = ImageSpec::new(vec![Layer::gzip(vec![
        Entry::file("app/node_modules/good/package.json", pj("good", "1.0.0")),
        Entry::file("app/node_modules/invalid/package.json", "{\"name\": \"invalid\",,}"),
        Entry::file("app/node_modules/noversion/package.json", r#"{"name":"noversion"}"#),
        Entry::file("app/node_modules/huge/package.json", huge),
        Entry::file("ws/package-lock.json", broken_link),
    ])]);
    let (_dir, _built, result) = scan(&spec);
    assert_eq!(result.code, 3, "incomplete scan; stderr: {}", result.stderr);
    assert_eq!(result.report["complete"], false);
    assert_eq!(result.plugin("npm")["status"], "incomplete");
    let packages: Vec<(String, String)> =
        rows(&result).into_iter().map(|(n, _, p, _, declared, _)| (n, format!("{p} {declared}"))).collect();
    assert_eq!(
        packages,
        vec![(s("good"), s("app/node_modules/good/package.json false")), (s("kept"), s("ws/package-lock.json true")),]
    );
    let errors = result.errors();
    for needle in [
        "app/node_modules/invalid/package.json: invalid package.json: key must be a string at line 1 column 20",
        "app/node_modules/noversion/package.json: package.json has no \\\"version\\\"; skipped",
        "app/node_modules/huge/package.json: package.json is 52428850 bytes, over the 2 MiB limit",
        "ws/package-lock.json: packages[\\\"node_modules/func1\\\"] is a link to \\\"\\\", which the lockfile does not contain (broken link)",
    ] {
        assert!(errors.contains(needle), "errors mention {needle:?}: {errors}");
    }
}
