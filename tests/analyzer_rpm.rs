//! End-to-end scans of RPM-based images by the real `ecr-engine` binary: every rpmdb format at its
//! real path, an upgrade layer that rewrites the database, a whiteout that removes it, OS
//! identity, and broken databases that must not hide the other analyzers' results.
//!
//! Databases: `plugins/rpm/testdata` (made by real rpm, see its `make.sh`) and the real-world
//! fixtures (`common::require::require_fixture`; docs/testing.md lists them).

mod common;

use common::cli::{self, ScanResult};
use common::image::*;
use common::require::require_fixture;
use serde_json::Value;
use std::time::{Duration, Instant};

fn assert_complete(result: &ScanResult) {
    assert_eq!(result.code, 0, "exit code; errors: {}; stderr: {}", result.errors(), result.stderr);
    assert_eq!(result.report["complete"], true);
    assert_eq!(result.plugin("rpm")["status"], "ok");
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = items.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    out.sort();
    out
}

/// `(name, EVR)` of every package in a fixture's expected TSV.
fn tsv_packages(tsv: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = tsv
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let epoch = if f[1].is_empty() { String::new() } else { format!("{}:", f[1]) };
            (f[0].to_string(), format!("{epoch}{}-{}", f[2], f[3]))
        })
        .collect();
    out.sort();
    out
}

/// Layer 1: Rocky 9 with the SQLite rpmdb at usr/lib/sysimage/rpm and the usual var/lib/rpm
/// link; layer 2: `dnf upgrade` rewrote the database (ecr-alpha 1.0 -> 1.1, ecr-libs and ecr-big
/// installed); layer 3: unrelated files.
#[test]
fn sqlite_rpmdb_upgrade_layer_and_attribution() {
    let spec = ImageSpec::new(vec![
        Layer::gzip(vec![
            Entry::file("etc/os-release", ROCKY_OS_RELEASE),
            Entry::file("etc/redhat-release", "Rocky Linux release 9.3 (Blue Onyx)\n"),
            Entry::symlink("var/lib/rpm", "../../usr/lib/sysimage/rpm"),
            Entry::file("usr/lib/sysimage/rpm/rpmdb.sqlite", rpm_testdata("v1/rpmdb.sqlite")),
        ]),
        Layer::zstd(vec![Entry::file("usr/lib/sysimage/rpm/rpmdb.sqlite", rpm_testdata("v2/rpmdb.sqlite"))]),
        Layer::plain(vec![Entry::file("srv/app.txt", "unrelated layer")]),
    ]);
    let (result, built) = cli::scan_oci(&spec);
    assert_complete(&result);
    assert_eq!(
        result.packages(),
        pairs(&[
            ("ecr-alpha", "1.1-2.el9"),
            ("ecr-beta", "2:3.4.5-6.el9"),
            ("ecr-big", "0.9-1"),
            ("ecr-libs", "1.2-3.module+el9.1.0+123+abcdef"),
        ])
    );
    let layers = &built.layer_digests;
    assert_eq!(result.package("ecr-beta")["layer"], layers[0].as_str(), "unchanged since layer 1");
    assert_eq!(result.package("ecr-alpha")["layer"], layers[1].as_str(), "the upgrade brought 1.1");
    assert_eq!(result.package("ecr-libs")["layer"], layers[1].as_str());
    assert_eq!(result.package("ecr-big")["layer"], layers[1].as_str());

    let os = &result.report["image"]["os"];
    assert_eq!((os["id"].as_str(), os["version_id"].as_str()), (Some("rocky"), Some("9.3")));
    let beta = result.package("ecr-beta");
    assert_eq!(beta["ecosystem"], "rpm");
    assert_eq!(beta["plugin"], "rpm");
    assert_eq!(beta["path"], "usr/lib/sysimage/rpm/rpmdb.sqlite");
    assert_eq!(beta["arch"], "x86_64");
    assert_eq!(beta["source_name"], "ecr-beta");
    assert_eq!(beta["source_version"], "2:3.4.5-6.el9");
    assert_eq!(beta["licenses"], serde_json::json!(["GPL-2.0-or-later AND BSD-3-Clause"]));
    assert_eq!(beta["purl"], "pkg:rpm/rocky/ecr-beta@3.4.5-6.el9?arch=x86_64&distro=rocky-9.3&epoch=2");
    assert_eq!(beta["properties"], serde_json::json!({"epoch": "2", "release": "6.el9", "vendor": "ECR Test Vendor"}));
    let libs = result.package("ecr-libs");
    assert_eq!(libs["source_name"], "ecr-src");
    assert_eq!(libs["properties"]["modularitylabel"], "ecr:el9:9010020230101:abcdef12");
    // Every purl's distro qualifier agrees with image.os.
    for p in result.report["packages"].as_array().unwrap() {
        assert!(p["purl"].as_str().unwrap().contains("distro=rocky-9.3"), "{p}");
    }
}

/// Berkeley DB `Packages` in layer 1; layer 2 removes it with a whiteout: no rpm packages left,
/// and the OS is still known.
#[test]
fn bdb_rpmdb_removed_by_a_whiteout() {
    let base = vec![
        Entry::file("etc/system-release", "Amazon Linux release 2 (Karoo)\n"),
        Entry::file("var/lib/rpm/Packages", rpm_testdata("v2/Packages")),
    ];
    let spec = ImageSpec::new(vec![Layer::gzip(base.clone())]);
    let (result, built) = cli::scan_oci(&spec);
    assert_complete(&result);
    assert_eq!(result.packages().len(), 4);
    let big = result.package("ecr-big");
    assert_eq!(big["layer"], built.layer_digests[0].as_str());
    assert_eq!(big["purl"], "pkg:rpm/amzn/ecr-big@0.9-1?arch=noarch&distro=amzn-2");
    assert_eq!(result.report["image"]["os"]["id"], "amzn");

    let spec = ImageSpec::new(vec![Layer::gzip(base), Layer::gzip(vec![Entry::whiteout("var/lib/rpm/Packages")])]);
    let (result, _) = cli::scan_oci(&spec);
    assert_complete(&result);
    assert_eq!(result.packages(), Vec::<(String, String)>::new());
    assert_eq!(result.report["image"]["os"]["version_id"], "2");
}

/// The three real-world databases, each at a real path of its distribution.
#[test]
fn real_world_databases_in_every_format() {
    let cases = [
        (
            "rpm/bdb-libuuid-Packages",
            "var/lib/rpm/Packages",
            ("etc/redhat-release", "Red Hat Enterprise Linux release 8.8 (Ootpa)\n"),
            ("rhel", "8.8", "redhat"),
        ),
        (
            "rpm/ndb-sle15-bci-Packages.db",
            "usr/lib/sysimage/rpm/Packages.db",
            ("usr/lib/os-release", "NAME=\"SLES\"\nVERSION_ID=\"15.4\"\nID=\"sles\"\n"),
            ("sles", "15.4", "suse"),
        ),
        (
            "rpm/sqlite-cbl-mariner-2.0-rpmdb.sqlite",
            "var/lib/rpm/rpmdb.sqlite",
            ("etc/os-release", "NAME=\"Common Base Linux Mariner\"\nID=mariner\nVERSION_ID=\"2.0\"\n"),
            ("mariner", "2.0", "mariner"),
        ),
    ];
    for (fixture, path, (os_path, os_text), (id, version, namespace)) in cases {
        let (Some(db), Some(tsv)) = (require_fixture(fixture), require_fixture(&format!("{fixture}.expected.tsv")))
        else {
            return;
        };
        let spec = ImageSpec::new(vec![Layer::gzip(vec![Entry::file(os_path, os_text), Entry::file(path, db)])]);
        let (result, built) = cli::scan_oci(&spec);
        assert_complete(&result);
        assert_eq!(result.packages(), tsv_packages(&String::from_utf8(tsv).unwrap()), "{fixture}");
        assert_eq!(result.report["image"]["os"]["id"], id);
        for p in result.report["packages"].as_array().unwrap() {
            assert_eq!(p["path"], path);
            assert_eq!(p["ecosystem"], "rpm");
            assert_eq!(p["layer"], built.layer_digests[0].as_str());
            let purl = p["purl"].as_str().unwrap();
            assert!(purl.starts_with(&format!("pkg:rpm/{namespace}/")), "{purl}");
            assert!(purl.contains(&format!("distro={id}-{version}")), "{purl}");
        }
    }
}

/// An rpmdb in a Debian image (e.g. left by `alien`): the packages stay in the rpm ecosystem, the
/// OS stays Debian, and the dpkg packages are reported beside them.
#[test]
fn rpm_database_under_a_debian_os() {
    let spec = ImageSpec::new(vec![Layer::gzip(vec![
        Entry::file("etc/os-release", os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)")),
        Entry::file(
            "var/lib/dpkg/status",
            dpkg_status_stanza("bash", "5.2.15-2+b2", "amd64", None, "install ok installed"),
        ),
        Entry::file("var/lib/rpm/rpmdb.sqlite", rpm_testdata("v1/rpmdb.sqlite")),
    ])]);
    let (result, _) = cli::scan_oci(&spec);
    assert_complete(&result);
    assert_eq!(result.report["image"]["os"]["id"], "debian");
    assert_eq!(result.package("bash")["ecosystem"], "deb");
    let alpha = result.package("ecr-alpha");
    assert_eq!(alpha["ecosystem"], "rpm");
    assert_eq!(alpha["purl"], "pkg:rpm/ecr-alpha@1.0-1.el9?arch=noarch&distro=debian-12");
}

/// Broken databases in each format, each beside a healthy dpkg database: the rpm plugin reports
/// the file and what is wrong, the scan is incomplete (exit 3), and dpkg's package is kept.
#[test]
fn broken_databases_are_named_and_the_rest_is_kept() {
    let sqlite = rpm_testdata("v2/rpmdb.sqlite");
    let bdb = rpm_testdata("v2/Packages");
    // Berkeley DB with an overflow page (type 7) in the middle of a chain linking back to itself.
    let mut bdb_loop = bdb.clone();
    let ps = 4096;
    let next = |p: usize| u32::from_le_bytes(bdb[p * ps + 16..p * ps + 20].try_into().unwrap());
    let p = (1..bdb.len() / ps).find(|&p| bdb[p * ps + 25] == 7 && next(p) != 0).unwrap();
    bdb_loop[p * ps + 16..p * ps + 20].copy_from_slice(&(p as u32).to_le_bytes());
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let mut cases: Vec<(&str, Vec<u8>, &str, usize)> = vec![
        ("usr/lib/sysimage/rpm/rpmdb.sqlite", sqlite[..sqlite.len() / 3].to_vec(), "truncated: the header says", 0),
        ("var/lib/rpm/Packages", bdb_loop, "a second time (loop or shared page)", 3),
        ("var/lib/rpm/Packages", bdb[..bdb.len() / 2].to_vec(), "truncated: the metadata page says", 0),
        ("usr/share/rpm/Packages.db", garbage, "not an rpm NDB database", 0),
    ];
    if let Some(ndb) = require_fixture("rpm/ndb-sle15-bci-Packages.db") {
        cases.push(("usr/lib/sysimage/rpm/Packages.db", ndb[..ndb.len() * 2 / 3].to_vec(), "outside the blob area", 0));
    }
    for (path, content, needle, min_rpm_packages) in cases {
        let spec = ImageSpec::new(vec![Layer::gzip(vec![
            Entry::file("etc/os-release", ROCKY_OS_RELEASE),
            Entry::file(
                "var/lib/dpkg/status",
                dpkg_status_stanza("kept", "1.0", "amd64", None, "install ok installed"),
            ),
            Entry::file(path, content),
        ])]);
        let started = Instant::now();
        let (result, _) = cli::scan_oci(&spec);
        assert!(started.elapsed() < Duration::from_secs(60), "{path}: bounded time");
        assert_eq!(result.code, 3, "{path}: incomplete scan; stderr: {}", result.stderr);
        assert_eq!(result.report["complete"], false);
        let rpm = result.plugin("rpm");
        assert_eq!(rpm["status"], "incomplete", "{path}: {rpm}");
        let error = rpm["error"].as_str().unwrap_or_default();
        assert!(error.contains(path) && error.contains(needle), "{path}: {needle:?} not in {error:?}");
        assert_eq!(result.plugin("dpkg")["status"], "ok");
        let packages = result.report["packages"].as_array().unwrap();
        assert!(packages.iter().any(|p| p["name"] == "kept" && p["ecosystem"] == "deb"));
        let rpm_count = packages.iter().filter(|p| p["ecosystem"] == "rpm").count();
        assert!(rpm_count >= min_rpm_packages, "{path}: {rpm_count} rpm packages still read");
        let errors: Vec<&Value> = result.report["errors"].as_array().unwrap().iter().collect();
        assert!(errors.iter().any(|e| e.as_str().is_some_and(|e| e.starts_with(&format!("plugin rpm: {path}: ")))));
    }
}
