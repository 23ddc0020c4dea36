//! The apk analyzer end to end: images built here, scanned by the real `ecr-engine` binary, the
//! JSON report checked. Alpine-style layering (install, upgrade, whiteout, the apk-tools 3 path),
//! an apk database inside a Debian image, the real-world fixture databases, and broken databases.

mod common;

use common::cli::{self, ScanResult};
use common::image::*;
use common::require::require_fixture;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const DB: &str = "lib/apk/db/installed";
const DB_USR: &str = "usr/lib/apk/db/installed";
const MAINTAINER: &str = "Test Maintainer <test@example.invalid>";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// One entry of an apk installed database, written the way apk-tools writes it (field order,
/// `F:` directory then `R:` files, checksums and ACLs), ending in the blank line that separates
/// entries.
fn apk_entry(name: &str, version: &str, origin: &str, license: &str, files: &[&str]) -> String {
    let mut s = format!(
        "C:Q1{name}=\nP:{name}\nV:{version}\nA:x86_64\nS:1000\nI:4096\nT:{name} test package\n\
         U:https://example.invalid/{origin}\nL:{license}\no:{origin}\nm:{MAINTAINER}\nt:1700000000\n\
         c:{COMMIT}\nD:so:libc.musl-x86_64.so.1\n"
    );
    let mut dir = None;
    for f in files {
        let (d, base) = f.rsplit_once('/').unwrap();
        if dir != Some(d) {
            s.push_str(&format!("F:{d}\n"));
            dir = Some(d);
        }
        s.push_str(&format!("R:{base}\na:0:0:755\nZ:Q1{base}=\n"));
    }
    s.push('\n');
    s
}

fn musl() -> String {
    apk_entry("musl", "1.2.4_git20230717-r4", "musl", "MIT", &["lib/ld-musl-x86_64.so.1", "lib/libc.musl-x86_64.so.1"])
}
fn busybox() -> String {
    apk_entry("busybox", "1.36.1-r15", "busybox", "GPL-2.0-only", &["bin/busybox"])
}

fn alpine_base(db: String) -> Vec<Entry> {
    vec![
        Entry::file("etc/os-release", os_release("alpine", "3.19.1", "Alpine Linux v3.19")),
        Entry::file("etc/alpine-release", "3.19.1\n"),
        Entry::file(DB, db),
    ]
}

/// Layer 1 installs musl, busybox, zlib 1.3; layer 2 (zstd) rewrites the database: zlib
/// upgraded, curl and libcurl (one origin, two packages) added; layer 3 touches nothing apk reads.
fn alpine_layers() -> Vec<Layer> {
    let zlib = |v: &str| apk_entry("zlib", v, "zlib", "Zlib", &["lib/libz.so.1"]);
    vec![
        Layer::gzip(alpine_base(format!("{}{}{}", musl(), busybox(), zlib("1.3-r2")))),
        Layer::zstd(vec![Entry::file(
            DB,
            format!(
                "{}{}{}{}{}",
                musl(),
                busybox(),
                zlib("1.3.1-r0"),
                apk_entry("libcurl", "8.5.0-r0", "curl", "curl", &["usr/lib/libcurl.so.4"]),
                apk_entry("curl", "8.5.0-r0", "curl", "curl", &["usr/bin/curl"]),
            ),
        )]),
        Layer::plain(vec![Entry::file("srv/app/index.html", "<html></html>")]),
    ]
}

fn scan(spec: &ImageSpec) -> (ScanResult, BuiltImage) {
    let dir = tempfile::tempdir().unwrap();
    let built = write_oci_layout(&[(spec, Some("latest"))], dir.path(), false).remove(0);
    (cli::scan(&format!("oci:{}:latest", dir.path().display()), &[]), built)
}

fn assert_complete(result: &ScanResult) {
    assert_eq!(result.code, 0, "exit code; errors: {}; stderr: {}", result.errors(), result.stderr);
    assert_eq!(result.report["complete"], true);
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = items.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    out.sort();
    out
}

/// The report's `image.os` as `ID-VERSION_ID`, the form of the purl `distro` qualifier.
fn report_distro(result: &ScanResult) -> String {
    let os = &result.report["image"]["os"];
    format!("{}-{}", os["id"].as_str().unwrap(), os["version_id"].as_str().unwrap())
}

fn packages(result: &ScanResult) -> &Vec<Value> {
    result.report["packages"].as_array().unwrap()
}

#[test]
fn alpine_install_upgrade_and_attribution() {
    let (result, built) = scan(&ImageSpec::new(alpine_layers()));
    assert_complete(&result);
    assert_eq!(
        result.packages(),
        pairs(&[
            ("busybox", "1.36.1-r15"),
            ("curl", "8.5.0-r0"),
            ("libcurl", "8.5.0-r0"),
            ("musl", "1.2.4_git20230717-r4"),
            ("zlib", "1.3.1-r0"),
        ])
    );
    let layers = &built.layer_digests;
    for (name, layer) in [("musl", 0), ("busybox", 0), ("zlib", 1), ("libcurl", 1), ("curl", 1)] {
        let p = result.package(name);
        assert_eq!(p["layer"], layers[layer].as_str(), "{name}");
        assert_eq!(p["ecosystem"], "apk", "{name}");
        assert_eq!(p["plugin"], "apk", "{name}");
        assert_eq!(p["path"], DB, "{name}");
        assert_eq!(p["source_version"], p["version"], "{name}");
    }
    let libcurl = result.package("libcurl");
    assert_eq!(libcurl["source_name"], "curl");
    assert_eq!(libcurl["arch"], "x86_64");
    assert_eq!(libcurl["licenses"], json!(["curl"]));
    assert_eq!(libcurl["purl"], "pkg:apk/alpine/libcurl@8.5.0-r0?arch=x86_64&distro=alpine-3.19.1");
    assert_eq!(
        libcurl["properties"],
        json!({"build-time": "1700000000", "checksum": "Q1libcurl=", "commit": COMMIT, "maintainer": MAINTAINER})
    );
    assert_eq!(
        result.package("musl")["purl"],
        "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1"
    );
    assert_eq!(result.report["image"]["os"]["id"], "alpine");
    assert_eq!(result.report["image"]["os"]["version_id"], "3.19.1");
    let distro = format!("distro={}", report_distro(&result));
    for p in packages(&result) {
        assert!(p["purl"].as_str().unwrap().ends_with(&distro), "{p}");
    }
    assert_eq!(result.plugin("apk")["status"], "ok");
    assert_eq!(result.plugin("dpkg")["status"], "ok");
}

#[test]
fn whiteout_removes_the_database_and_apk_tools_3_path_brings_it_back() {
    let mut layers = alpine_layers();
    layers.push(Layer::gzip(vec![Entry::whiteout(DB)]));
    let (result, _) = scan(&ImageSpec::new(layers.clone()));
    assert_complete(&result);
    assert_eq!(result.packages(), vec![]);
    assert_eq!(result.report["image"]["os"]["id"], "alpine", "the OS files are still there");

    // A later layer writes the database where apk-tools 3 keeps it: a new copy, so its
    // packages are attributed to that layer even where a lower layer had the same version.
    layers.push(Layer::gzip(vec![Entry::file(DB_USR, musl())]));
    let (result, built) = scan(&ImageSpec::new(layers));
    assert_complete(&result);
    assert_eq!(result.packages(), pairs(&[("musl", "1.2.4_git20230717-r4")]));
    let p = result.package("musl");
    assert_eq!(p["path"], DB_USR);
    assert_eq!(p["layer"], built.layer_digests[4].as_str());
}

#[test]
fn database_linked_between_both_paths_is_reported_once() {
    // The database where apk-tools 3 keeps it, and the old path as a link to it, written together.
    let spec = ImageSpec::new(vec![
        Layer::gzip(vec![Entry::file("srv/placeholder", "first layer")]),
        Layer::gzip(vec![
            Entry::file("etc/os-release", os_release("alpine", "3.20.0", "Alpine Linux v3.20")),
            Entry::file(DB_USR, format!("{}{}", musl(), busybox())),
            Entry::symlink(DB, "../../../usr/lib/apk/db/installed"),
        ]),
    ]);
    let (result, built) = scan(&spec);
    assert_complete(&result);
    assert_eq!(result.packages(), pairs(&[("busybox", "1.36.1-r15"), ("musl", "1.2.4_git20230717-r4")]));
    // Read once, under the path where its bytes are (the host gives a file reached through links
    // once, under its resolved path when the analyzer asks for that path too).
    let p = result.package("busybox");
    assert_eq!(p["path"], DB_USR);
    assert_eq!(p["purl"], "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=alpine-3.20.0");
    assert_eq!(p["layer"], built.layer_digests[1].as_str());
}

#[test]
fn apk_database_in_a_debian_image_stays_apk() {
    let spec = ImageSpec::new(vec![Layer::gzip(vec![
        Entry::file("usr/lib/os-release", os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)")),
        Entry::symlink("etc/os-release", "../usr/lib/os-release"),
        Entry::file(
            "var/lib/dpkg/status",
            dpkg_status_stanza("bash", "5.2.15-2+b2", "amd64", None, "install ok installed"),
        ),
        Entry::file(DB, format!("{}{}", musl(), busybox())),
    ])]);
    let (result, _) = scan(&spec);
    assert_complete(&result);
    assert_eq!(report_distro(&result), "debian-12");
    let by_name: BTreeMap<&str, (&str, &str, &str)> = packages(&result)
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap();
            (s("name"), (s("ecosystem"), s("plugin"), s("purl")))
        })
        .collect();
    assert_eq!(
        by_name,
        BTreeMap::from([
            ("bash", ("deb", "dpkg", "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12")),
            ("busybox", ("apk", "apk", "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=debian-12")),
            ("musl", ("apk", "apk", "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=debian-12")),
        ])
    );
}

/// (name, origin) of each entry that has a version: lines walked with a tiny state machine that
/// keys on `P:` and resets on blank lines, independent of the analyzer.
fn expected_from_text(text: &str) -> (usize, Vec<(String, String)>) {
    let p_lines = text.lines().filter(|l| l.starts_with("P:")).count();
    let mut out = Vec::new();
    let (mut name, mut origin, mut has_version) = (None::<&str>, None::<&str>, false);
    for line in text.lines().chain([""]) {
        if line.is_empty() {
            if let (Some(n), true) = (name, has_version) {
                out.push((n.to_string(), origin.unwrap_or(n).to_string()));
            }
            (name, origin, has_version) = (None, None, false);
        } else if let Some(v) = line.strip_prefix("P:") {
            name = Some(v);
        } else if let Some(v) = line.strip_prefix("o:") {
            origin = Some(v);
        } else if line.starts_with("V:") {
            has_version = true;
        }
    }
    out.sort();
    (p_lines, out)
}

#[test]
fn fixture_databases_every_entry_is_one_package() {
    for (name, p_lines, broken) in [("installed-multi", 15, None), ("installed-trivy", 16, Some(23))] {
        let Some(bytes) = require_fixture(&format!("apk/{name}")) else { return };
        let (count, expected) = expected_from_text(&String::from_utf8(bytes.clone()).unwrap());
        assert_eq!(count, p_lines, "{name}");
        assert_eq!(expected.len(), p_lines - usize::from(broken.is_some()), "{name}");

        let (result, _) = scan(&ImageSpec::new(vec![
            Layer::gzip(alpine_base(String::new())),
            Layer::gzip(vec![Entry::file(DB, bytes)]),
        ]));
        let mut got: Vec<(String, String)> = packages(&result)
            .iter()
            .map(|p| (p["name"].as_str().unwrap().to_string(), p["source_name"].as_str().unwrap().to_string()))
            .collect();
        got.sort();
        assert_eq!(got, expected, "{name}");
        match broken {
            None => assert_complete(&result),
            Some(line) => {
                // The entry without a version is named, with its line; the rest is reported.
                assert_eq!(result.code, 3, "{name}: {}", result.stderr);
                assert_eq!(result.plugin("apk")["status"], "incomplete");
                let errors = result.errors();
                assert!(
                    errors.contains(&format!("{DB}: line {line}: package 'invalidPackageWithoutAVersion'")),
                    "{errors}"
                );
            }
        }
    }
}

#[test]
fn broken_databases_are_reported_and_the_rest_kept() {
    // lib/: a good entry, one without a version, a good entry holding a 32 MiB line, and a
    // truncated tail. usr/lib/: binary garbage.
    let huge = "x".repeat(32 << 20);
    let db = format!(
        "{}P:nover\nA:x86_64\no:nover\n\n{}P:big\nV:2.0-r0\nT:{huge}\no:bigorigin\n\n{}P:cut\nV:1.0",
        musl(),
        busybox(),
        apk_entry("zlib", "1.3.1-r0", "zlib", "Zlib", &[]),
    );
    let line_of = |needle: &str| db[..db.find(needle).unwrap()].matches('\n').count() + 1;
    let (nover, big_t, cut_v) = (line_of("P:nover"), line_of("T:xxx"), line_of("V:1.0"));
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let spec = ImageSpec::new(vec![Layer::gzip({
        let mut entries = alpine_base(db);
        entries.push(Entry::file(DB_USR, garbage));
        entries
    })]);
    let (result, _) = scan(&spec);
    assert_eq!(result.code, 3, "an incomplete scan: {}", result.stderr);
    assert_eq!(result.report["complete"], false);
    assert_eq!(
        result.packages(),
        pairs(&[("big", "2.0-r0"), ("busybox", "1.36.1-r15"), ("musl", "1.2.4_git20230717-r4"), ("zlib", "1.3.1-r0")])
    );
    assert_eq!(result.package("big")["source_name"], "bigorigin");
    let apk = result.plugin("apk");
    assert_eq!(apk["status"], "incomplete", "not a timeout or out-of-memory: {apk}");
    println!("apk plugin on a 32 MiB database: {} ms", apk["duration_ms"]);
    let errors: Vec<&str> = result.report["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    let garbage_error = errors.iter().find(|e| e.starts_with(&format!("plugin apk: {DB_USR}: "))).unwrap();
    assert!(garbage_error.contains("not an apk installed database: binary data (NUL byte) at line"), "{garbage_error}");
    let lib_errors: Vec<&str> = errors.iter().filter_map(|e| e.strip_prefix(&format!("plugin apk: {DB}: "))).collect();
    assert_eq!(
        lib_errors,
        [
            format!("line {nover}: package 'nover' has no V: (version) field; skipped"),
            format!("line {big_t}: line is {} bytes long, over the 65536-byte limit; ignored", huge.len() + 2),
            format!(
                "line {cut_v}: no newline at the end of the file, so the database looks truncated; the cut line is \
                 ignored"
            ),
            format!("line {}: package 'cut' has no V: (version) field; skipped", cut_v - 1),
        ]
    );
}
