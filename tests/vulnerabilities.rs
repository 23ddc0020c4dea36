//! Vulnerability matching end to end: OSV records written for real vulnerabilities (real ids,
//! ranges and fixed versions) imported with `ecr-engine db import`, images built in the test
//! with affected and fixed package versions (Debian, Alpine, Wolfi, Chainguard, RPM, Azure Linux,
//! openEuler, npm and Python ones), scanned by the real binary.

mod common;

use common::cli::{self, ScanResult};
use common::image::*;
use common::osv::*;
use common::require::require_fixture;
use serde_json::{Value, json};
use std::path::Path;

fn vulns(result: &ScanResult) -> Vec<&Value> {
    result.report["vulnerabilities"].as_array().expect("vulnerabilities").iter().collect()
}

fn vuln<'a>(result: &'a ScanResult, id: &str, package: &str) -> &'a Value {
    vulns(result)
        .into_iter()
        .find(|v| v["id"] == id && v["package"] == package)
        .unwrap_or_else(|| panic!("no {id} for {package} in {:#}", result.report["vulnerabilities"]))
}

fn ids_for(result: &ScanResult, package: &str) -> Vec<String> {
    let mut ids: Vec<String> = vulns(result)
        .iter()
        .filter(|v| v["package"] == package)
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

const GLIBC_CVSS: &str = "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H";

/// CVE-2023-4911 ("Looney Tunables") in Debian 12's glibc, fixed in 2.36-9+deb12u3, published
/// both as DSA-5514-1 and as DEBIAN-CVE-2023-4911; and a made-up OpenSSL record whose fix is a
/// `~` version, to check dpkg ordering.
fn debian_records() -> Vec<Value> {
    vec![
        json!({"id": "DSA-5514-1", "modified": "2023-10-03T00:00:00Z", "upstream": ["CVE-2023-4911"],
               "summary": "glibc security update",
               "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
                             "ranges": range(json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}]))}]}),
        json!({"id": "DEBIAN-CVE-2023-4911", "modified": "2023-10-04T00:00:00Z", "upstream": ["CVE-2023-4911"],
               "details": "A buffer overflow was discovered in the GNU C Library's dynamic loader ld.so while processing the GLIBC_TUNABLES environment variable.",
               "severity": [{"type": "CVSS_V3", "score": GLIBC_CVSS}],
               "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
                             "ranges": range(json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}]))}]}),
        json!({"id": "DEBIAN-CVE-2099-0001", "modified": "2024-01-01T00:00:00Z",
               "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                             "ranges": range(json!([{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]))}],
               "database_specific": {"severity": "low"}}),
        // Another release's record never applies to a Debian 12 image.
        json!({"id": "DEBIAN-CVE-2099-0002", "modified": "2024-01-01T00:00:00Z",
               "affected": [{"package": {"ecosystem": "Debian:11", "name": "glibc"},
                             "ranges": range(json!([{"introduced": "0"}, {"fixed": "9.9"}]))}]}),
    ]
}

fn debian_image(glibc: &str, openssl: &str, debian_version: &str) -> ImageSpec {
    let status = [
        dpkg_status_stanza("libc6", glibc, "amd64", Some("glibc"), "install ok installed"),
        dpkg_status_stanza("libc-bin", glibc, "amd64", Some("glibc"), "install ok installed"),
        dpkg_status_stanza("libssl3", openssl, "amd64", Some("openssl"), "install ok installed"),
        dpkg_status_stanza("bash", "5.2.15-2+b2", "amd64", Some("bash (5.2.15-2)"), "install ok installed"),
    ]
    .concat();
    ImageSpec::new(vec![
        Layer::gzip(vec![Entry::file("etc/os-release", os_release("debian", debian_version, "Debian GNU/Linux"))]),
        Layer::gzip(vec![Entry::file("var/lib/dpkg/status", status)]),
    ])
}

fn layout_of(spec: &ImageSpec, dir: &Path) -> (String, BuiltImage) {
    let layout = dir.join("layout");
    let built = write_oci_layout(&[(spec, None)], &layout, false).remove(0);
    (cli::target("oci", &layout), built)
}

#[test]
fn debian_vulnerabilities_by_source_package_with_aliases_merged() {
    let dir = tempfile::tempdir().unwrap();
    let db = store_with(dir.path(), &debian_records());
    let (target, built) = layout_of(&debian_image("2.36-9+deb12u1", "3.0.11-1~deb12u1", "12"), dir.path());
    let result = scan_with_db(&target, &db, &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);

    for package in ["libc6", "libc-bin"] {
        assert_eq!(ids_for(&result, package), vec!["CVE-2023-4911"], "one entry per package, merged");
        let v = vuln(&result, "CVE-2023-4911", package);
        assert_eq!(v["aliases"], json!(["DEBIAN-CVE-2023-4911", "DSA-5514-1"]));
        assert_eq!(v["severity"], "HIGH");
        assert_eq!(v["score"], 7.8);
        assert_eq!(v["fixed_version"], "2.36-9+deb12u3");
        assert_eq!(v["installed_version"], "2.36-9+deb12u1");
        assert_eq!(v["ecosystem"], "Debian:12");
        assert_eq!(v["layer"], built.layer_digests[1].as_str());
        assert!(v["summary"].as_str().unwrap().contains("glibc"), "{v}");
    }
    // 3.0.11-1~deb12u1 sorts before the fix 3.0.11-1~deb12u2: affected.
    let ssl = vuln(&result, "DEBIAN-CVE-2099-0001", "libssl3");
    assert_eq!(ssl["severity"], "LOW");
    assert!(ids_for(&result, "bash").is_empty());

    // The same image with the fixed versions: nothing.
    let fixed_dir = tempfile::tempdir().unwrap();
    let (fixed_target, _) = layout_of(&debian_image("2.36-9+deb12u3", "3.0.11-1", "12"), fixed_dir.path());
    let fixed = scan_with_db(&fixed_target, &db, &[]);
    assert_eq!(fixed.code, 0);
    assert_eq!(vulns(&fixed).len(), 0, "{:#}", fixed.report["vulnerabilities"]);
}

#[test]
fn alpine_vulnerabilities_by_origin() {
    let dir = tempfile::tempdir().unwrap();
    // CVE-2023-5363 (OpenSSL), fixed in Alpine 3.18 by openssl 3.1.4-r0.
    let db = store_with(
        dir.path(),
        &[
            json!({"id": "ALPINE-CVE-2023-5363", "modified": "2023-10-25T00:00:00Z", "upstream": ["CVE-2023-5363"],
                   "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
                   "affected": [{"package": {"ecosystem": "Alpine:v3.18", "name": "openssl"},
                                 "ranges": range(json!([{"introduced": "0"}, {"fixed": "3.1.4-r0"}]))}]}),
            json!({"id": "ALPINE-CVE-2099-0003", "modified": "2024-01-01T00:00:00Z",
                   "affected": [{"package": {"ecosystem": "Alpine:v3.18", "name": "busybox"},
                                 "ranges": range(json!([{"introduced": "0"}, {"fixed": "1.36.1-r2"}]))}]}),
        ],
    );
    let installed = "C:Q1aaa=\nP:libssl3\nV:3.1.3-r0\nA:x86_64\no:openssl\nL:Apache-2.0\n\n\
                     C:Q1bbb=\nP:libcrypto3\nV:3.1.3-r0\nA:x86_64\no:openssl\nL:Apache-2.0\n\n\
                     C:Q1ccc=\nP:busybox\nV:1.36.1-r5\nA:x86_64\no:busybox\nL:GPL-2.0-only\n\n";
    let spec = ImageSpec::new(vec![Layer::gzip(vec![
        Entry::file("etc/os-release", os_release("alpine", "3.18.4", "Alpine Linux v3.18")),
        Entry::file("lib/apk/db/installed", installed),
    ])]);
    let (target, _) = layout_of(&spec, dir.path());
    let result = scan_with_db(&target, &db, &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    for package in ["libssl3", "libcrypto3"] {
        let v = vuln(&result, "CVE-2023-5363", package);
        assert_eq!(v["aliases"], json!(["ALPINE-CVE-2023-5363"]));
        assert_eq!(v["fixed_version"], "3.1.4-r0");
        assert_eq!(v["severity"], "HIGH");
    }
    assert!(ids_for(&result, "busybox").is_empty(), "1.36.1-r5 is past the fix 1.36.1-r2");
}

#[test]
fn rpm_vulnerabilities_with_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let db = store_with(
        dir.path(),
        &[
            json!({"id": "ALSA-2099:0001", "modified": "2024-01-01T00:00:00Z", "aliases": ["CVE-2099-1001"],
                   "affected": [{"package": {"ecosystem": "AlmaLinux:9", "name": "ecr-alpha"},
                                 "ranges": range(json!([{"introduced": "0"}, {"fixed": "1.1-2.el9"}]))}],
                   "database_specific": {"severity": "important"}}),
            // Epoch 1 is older than the installed epoch 2, whatever the version says.
            json!({"id": "ALSA-2099:0002", "modified": "2024-01-01T00:00:00Z",
                   "affected": [{"package": {"ecosystem": "AlmaLinux:9", "name": "ecr-beta"},
                                 "ranges": range(json!([{"introduced": "0"}, {"fixed": "1:9.9-1.el9"}]))}]}),
        ],
    );
    let rpmdb = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/rpm/testdata/v1/rpmdb.sqlite")).unwrap();
    let spec = ImageSpec::new(vec![Layer::gzip(vec![
        Entry::file("etc/os-release", os_release("almalinux", "9.3", "AlmaLinux 9.3")),
        Entry::file("var/lib/rpm/rpmdb.sqlite", rpmdb),
    ])]);
    let (target, _) = layout_of(&spec, dir.path());
    let result = scan_with_db(&target, &db, &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let v = vuln(&result, "CVE-2099-1001", "ecr-alpha");
    assert_eq!(v["fixed_version"], "1.1-2.el9");
    assert_eq!(v["severity"], "HIGH");
    assert!(ids_for(&result, "ecr-beta").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Wolfi, Chainguard, Azure Linux (CBL-Mariner) and openEuler

/// Advisories of the three apk distributions. CGA-fhgx-qf6q-vxr9 is Chainguard's real record of
/// CVE-2024-45336 (Go net/http) for opensearch-k8s-operator and its -compat subpackage, fixed in
/// 2.7.0-r2 in both Wolfi and Chainguard: like Chainguard's records on osv.dev it names each
/// installed package it covers. ALPINE-CVE-2023-5363 is Alpine's real record for OpenSSL, by origin. The
/// others are made up: a Wolfi busybox fix the image is past, and records with a `9.9` fix that
/// show up only if an advisory leaked to another distribution's image.
fn apk_distribution_records() -> Vec<Value> {
    let affected = |ecosystems: &[&str], names: &[&str], fixed: &str| -> Value {
        ecosystems
            .iter()
            .flat_map(|ecosystem| names.iter().map(move |name| (ecosystem, name)))
            .map(|(ecosystem, name)| {
                let events = json!([{"introduced": "0"}, {"fixed": fixed}]);
                json!({"package": {"ecosystem": ecosystem, "name": name}, "ranges": range(events)})
            })
            .collect()
    };
    let operator = ["opensearch-k8s-operator", "opensearch-k8s-operator-compat"];
    vec![
        json!({"id": "CGA-fhgx-qf6q-vxr9", "published": "2025-01-31T17:08:20Z", "modified": "2025-01-31T16:41:42Z",
               "upstream": ["CVE-2024-45336", "GHSA-7wrw-r4p8-38rx"],
               "affected": affected(&["Chainguard", "Wolfi"], &operator, "2.7.0-r2")}),
        json!({"id": "ALPINE-CVE-2023-5363", "modified": "2023-10-25T00:00:00Z", "upstream": ["CVE-2023-5363"],
               "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
               "affected": affected(&["Alpine:v3.18"], &["openssl"], "3.1.4-r0")}),
        json!({"id": "CGA-ecr1-test-bbox", "modified": "2024-01-01T00:00:00Z",
               "affected": affected(&["Wolfi"], &["busybox"], "1.36.1-r2")}),
        json!({"id": "CGA-ecr2-test-ossl", "modified": "2024-01-01T00:00:00Z",
               "affected": affected(&["Wolfi"], &["openssl"], "9.9-r0")}),
        json!({"id": "CGA-ecr3-test-cgrd", "modified": "2024-01-01T00:00:00Z",
               "affected": affected(&["Chainguard"], &["libssl3"], "9.9-r0")}),
        json!({"id": "ALPINE-CVE-2099-0004", "modified": "2024-01-01T00:00:00Z",
               "affected": affected(&["Alpine:v3.18"], &["busybox", "opensearch-k8s-operator"], "9.9-r0")}),
    ]
}

/// An apk image: one installed database (opensearch-k8s-operator at `operator`) under the given
/// os-release.
fn apk_image(id: &str, version_id: &str, pretty: &str, operator: &str) -> ImageSpec {
    let entry = |name: &str, version: &str, origin: &str| {
        format!("C:Q1{name}=\nP:{name}\nV:{version}\nA:x86_64\no:{origin}\nL:Apache-2.0\n\n")
    };
    let installed = [
        entry("libssl3", "3.1.3-r0", "openssl"),
        entry("libcrypto3", "3.1.3-r0", "openssl"),
        entry("busybox", "1.36.1-r5", "busybox"),
        entry("opensearch-k8s-operator", operator, "opensearch-k8s-operator"),
        entry("opensearch-k8s-operator-compat", operator, "opensearch-k8s-operator"),
    ]
    .concat();
    ImageSpec::new(vec![Layer::gzip(vec![
        Entry::file("etc/os-release", os_release(id, version_id, pretty)),
        Entry::file("lib/apk/db/installed", installed),
    ])])
}

/// (package, id) of every finding.
fn findings(result: &ScanResult) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = vulns(result)
        .iter()
        .map(|v| (v["package"].as_str().unwrap().to_string(), v["id"].as_str().unwrap().to_string()))
        .collect();
    found.sort();
    found
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(package, id)| (package.to_string(), id.to_string())).collect()
}

#[test]
fn wolfi_chainguard_and_alpine_advisories_stay_with_their_distribution() {
    let dir = tempfile::tempdir().unwrap();
    let db = store_with(dir.path(), &apk_distribution_records());
    let scan = |id: &str, version_id: &str, pretty: &str, operator: &str| {
        let image_dir = dir.path().join(format!("{id}-{operator}"));
        let (target, _) = layout_of(&apk_image(id, version_id, pretty, operator), &image_dir);
        let result = scan_with_db(&target, &db, &[]);
        assert_eq!(result.code, 0, "{}", result.stderr);
        result
    };

    // Wolfi's os-release carries a date as VERSION_ID; its advisories have no release.
    let wolfi = scan("wolfi", "20230201", "Wolfi", "2.7.0-r1");
    assert_eq!(wolfi.report["image"]["os"]["id"], "wolfi");
    for package in ["opensearch-k8s-operator", "opensearch-k8s-operator-compat"] {
        let v = vuln(&wolfi, "CVE-2024-45336", package);
        assert_eq!(v["aliases"], json!(["CGA-fhgx-qf6q-vxr9", "GHSA-7wrw-r4p8-38rx"]));
        assert_eq!(v["advisories"], json!(["CGA-fhgx-qf6q-vxr9"]));
        assert_eq!(v["ecosystem"], "Wolfi");
        assert_eq!(v["fixed_version"], "2.7.0-r2");
        assert_eq!(v["installed_version"], "2.7.0-r1");
        assert_eq!(v["purl"], format!("pkg:apk/wolfi/{package}@2.7.0-r1?arch=x86_64&distro=wolfi-20230201"));
    }
    // busybox r5 is past Wolfi's fix; neither Alpine's nor Chainguard's records apply.
    assert_eq!(
        findings(&wolfi),
        pairs(&[("opensearch-k8s-operator", "CVE-2024-45336"), ("opensearch-k8s-operator-compat", "CVE-2024-45336")]),
        "{:#}",
        wolfi.report["vulnerabilities"]
    );

    // The fixed release: nothing.
    let fixed = scan("wolfi", "20230201", "Wolfi", "2.7.0-r2");
    assert_eq!(findings(&fixed), vec![], "{:#}", fixed.report["vulnerabilities"]);

    // Chainguard OS: Chainguard's rows of the same record, and its own record.
    let chainguard = scan("chainguard", "20230214", "Chainguard", "2.7.0-r1");
    assert_eq!(
        findings(&chainguard),
        pairs(&[
            ("libssl3", "CGA-ecr3-test-cgrd"),
            ("opensearch-k8s-operator", "CVE-2024-45336"),
            ("opensearch-k8s-operator-compat", "CVE-2024-45336"),
        ]),
        "{:#}",
        chainguard.report["vulnerabilities"]
    );
    assert_eq!(vuln(&chainguard, "CVE-2024-45336", "opensearch-k8s-operator")["ecosystem"], "Chainguard");

    // Alpine: only Alpine's records (by origin); none of Wolfi's or Chainguard's.
    let alpine = scan("alpine", "3.18.4", "Alpine Linux v3.18", "2.7.0-r1");
    assert_eq!(
        findings(&alpine),
        pairs(&[
            ("busybox", "ALPINE-CVE-2099-0004"),
            ("libcrypto3", "CVE-2023-5363"),
            ("libssl3", "CVE-2023-5363"),
            ("opensearch-k8s-operator", "ALPINE-CVE-2099-0004"),
            ("opensearch-k8s-operator-compat", "ALPINE-CVE-2099-0004"),
        ]),
        "{:#}",
        alpine.report["vulnerabilities"]
    );
    assert_eq!(vuln(&alpine, "CVE-2023-5363", "libssl3")["fixed_version"], "3.1.4-r0");
}

/// A real CBL-Mariner 2.0 rpmdb (curl and curl-libs 7.76.0-6.cm2, openssl and openssl-libs
/// 1.1.1k-7.cm2, from source RPMs of the same names). The records are realistic, not real:
/// Azure Linux's and openEuler's advisories name the source RPM (as openEuler's OESA records on
/// osv.dev do, e.g. OESA-2026-3099 for "openEuler:20.03-LTS-SP4"); the ids are made up. The same
/// packages under other os-releases stand for those distributions' images.
#[test]
fn azure_linux_mariner_and_openeuler_by_source_rpm() {
    let Some(rpmdb) = require_fixture("rpm/sqlite-cbl-mariner-2.0-rpmdb.sqlite") else { return };
    let dir = tempfile::tempdir().unwrap();
    let azl = |id: &str, release: &str, name: &str, fixed: &str| {
        json!({"id": id, "modified": "2024-01-01T00:00:00Z", "upstream": [format!("CVE-2099-{}", &id[4..])],
               "database_specific": {"severity": "high"},
               "affected": [{"package": {"ecosystem": format!("Azure Linux:{release}"), "name": name},
                             "ranges": range(json!([{"introduced": "0"}, {"fixed": fixed}]))}]})
    };
    let db = store_with(
        dir.path(),
        &[
            azl("AZL-9001", "2", "curl", "7.86.0-1.cm2"),
            // 1.1.1k-7.cm2 is past this fix.
            azl("AZL-9002", "2", "openssl", "1.1.1k-6.cm2"),
            azl("AZL-9003", "3", "openssl", "3.3.2-1.azl3"),
            // Another ecosystem's record for the same package.
            json!({"id": "MGASA-2099-0001", "modified": "2024-01-01T00:00:00Z",
                   "affected": [{"package": {"ecosystem": "Mageia:9", "name": "curl"},
                                 "ranges": range(json!([{"introduced": "0"}, {"fixed": "9.9-1.mga9"}]))}]}),
            json!({"id": "OESA-2099-0001", "modified": "2024-01-01T00:00:00Z", "upstream": ["CVE-2099-0101"],
                   "affected": [{"package": {"ecosystem": "openEuler:22.03-LTS-SP3", "name": "curl"},
                                 "ranges": range(json!([{"introduced": "0"}, {"fixed": "7.79.1-1.oe2203sp3"}])),
                                 "ecosystem_specific": {"x86_64": ["curl-7.79.1-1.oe2203sp3.x86_64.rpm",
                                                                   "libcurl-7.79.1-1.oe2203sp3.x86_64.rpm"]}}]}),
            // The same LTS stream without the service pack is another release.
            json!({"id": "OESA-2099-0002", "modified": "2024-01-01T00:00:00Z",
                   "affected": [{"package": {"ecosystem": "openEuler:22.03-LTS", "name": "openssl"},
                                 "ranges": range(json!([{"introduced": "0"}, {"fixed": "9.9-1.oe2203"}]))}]}),
        ],
    );
    let scan = |id: &str, version_id: &str, pretty: &str| {
        let spec = ImageSpec::new(vec![Layer::gzip(vec![
            Entry::file("etc/os-release", os_release(id, version_id, pretty)),
            Entry::file("var/lib/rpm/rpmdb.sqlite", rpmdb.clone()),
        ])]);
        let (target, _) = layout_of(&spec, &dir.path().join(id));
        let result = scan_with_db(&target, &db, &[]);
        assert_eq!(result.code, 0, "{}", result.stderr);
        result
    };

    // The image as it is: CBL-Mariner 2.0, whose advisories OSV files under "Azure Linux:2".
    let mariner = scan("mariner", "2.0", "CBL-Mariner/Linux");
    for package in ["curl", "curl-libs"] {
        let v = vuln(&mariner, "CVE-2099-9001", package);
        assert_eq!(v["advisories"], json!(["AZL-9001"]));
        assert_eq!(v["ecosystem"], "Azure Linux:2");
        assert_eq!(v["fixed_version"], "7.86.0-1.cm2");
        assert_eq!(v["installed_version"], "7.76.0-6.cm2");
        assert_eq!(v["severity"], "HIGH");
    }
    assert_eq!(
        findings(&mariner),
        pairs(&[("curl", "CVE-2099-9001"), ("curl-libs", "CVE-2099-9001")]),
        "{:#}",
        mariner.report["vulnerabilities"]
    );

    // The same packages under Azure Linux 3.0's os-release: its own release's record applies.
    let azurelinux = scan("azurelinux", "3.0", "Microsoft Azure Linux 3.0");
    for package in ["openssl", "openssl-libs"] {
        let v = vuln(&azurelinux, "CVE-2099-9003", package);
        assert_eq!(v["ecosystem"], "Azure Linux:3");
        assert_eq!(v["fixed_version"], "3.3.2-1.azl3");
    }
    assert_eq!(
        findings(&azurelinux),
        pairs(&[("openssl", "CVE-2099-9003"), ("openssl-libs", "CVE-2099-9003")]),
        "{:#}",
        azurelinux.report["vulnerabilities"]
    );

    // openEuler: the service pack comes from PRETTY_NAME (VERSION_ID is "22.03" in every one).
    let openeuler = scan("openEuler", "22.03", "openEuler 22.03 (LTS-SP3)");
    assert_eq!(openeuler.report["image"]["os"]["id"], "openeuler");
    for package in ["curl", "curl-libs"] {
        let v = vuln(&openeuler, "CVE-2099-0101", package);
        assert_eq!(v["ecosystem"], "openEuler:22.03-LTS-SP3");
        assert_eq!(v["fixed_version"], "7.79.1-1.oe2203sp3");
    }
    assert_eq!(
        findings(&openeuler),
        pairs(&[("curl", "CVE-2099-0101"), ("curl-libs", "CVE-2099-0101")]),
        "{:#}",
        openeuler.report["vulnerabilities"]
    );
}

#[test]
fn npm_vulnerabilities_with_semver_ranges() {
    let dir = tempfile::tempdir().unwrap();
    // GHSA-jf85-cpcp-j695 / CVE-2019-10744: lodash prototype pollution, fixed in 4.17.12.
    // GHSA-p6mc-m468-83gw / CVE-2020-8203: lodash zipObjectDeep, introduced 3.7.0, fixed 4.17.19.
    let db = store_with(
        dir.path(),
        &[
            json!({"id": "GHSA-jf85-cpcp-j695", "modified": "2023-01-01T00:00:00Z", "aliases": ["CVE-2019-10744"],
                   "summary": "Prototype Pollution in lodash",
                   "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:H"}],
                   "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
                                 "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.12"}]}]}]}),
            json!({"id": "GHSA-p6mc-m468-83gw", "modified": "2023-01-01T00:00:00Z", "aliases": ["CVE-2020-8203"],
                   "database_specific": {"severity": "HIGH"},
                   "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
                                 "ranges": [{"type": "SEMVER", "events": [{"introduced": "3.7.0"}, {"fixed": "4.17.19"}]}]}]}),
            json!({"id": "GHSA-test-last-affected", "modified": "2023-01-01T00:00:00Z",
                   "affected": [{"package": {"ecosystem": "npm", "name": "minimist"},
                                 "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"last_affected": "1.2.5"}]}]}]}),
            json!({"id": "GHSA-test-versions", "modified": "2023-01-01T00:00:00Z",
                   "affected": [{"package": {"ecosystem": "npm", "name": "event-stream"}, "versions": ["3.3.6"]}]}),
        ],
    );
    let package = |name: &str, version: &str| {
        Entry::file(
            &format!("app/node_modules/{name}/package.json"),
            json!({"name": name, "version": version}).to_string(),
        )
    };
    let spec = ImageSpec::new(vec![Layer::gzip(vec![
        package("lodash", "4.17.11"),
        package("minimist", "1.2.6"),
        package("event-stream", "3.3.6"),
    ])]);
    let (target, _) = layout_of(&spec, dir.path());
    let result = scan_with_db(&target, &db, &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(ids_for(&result, "lodash"), vec!["CVE-2019-10744", "CVE-2020-8203"]);
    let pollution = vuln(&result, "CVE-2019-10744", "lodash");
    assert_eq!(pollution["severity"], "CRITICAL");
    assert_eq!(pollution["score"], 9.1);
    assert_eq!(pollution["aliases"], json!(["GHSA-jf85-cpcp-j695"]));
    assert_eq!(pollution["purl"], "pkg:npm/lodash@4.17.11");
    assert_eq!(vuln(&result, "CVE-2020-8203", "lodash")["fixed_version"], "4.17.19");
    assert!(ids_for(&result, "minimist").is_empty(), "1.2.6 is past last_affected 1.2.5");
    let listed = vuln(&result, "GHSA-test-versions", "event-stream");
    assert!(listed["fixed_version"].is_null(), "no fix yet");
}

#[test]
fn policy_filters_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let db = store_with(dir.path(), &debian_records());
    let (target, _) = layout_of(&debian_image("2.36-9+deb12u1", "3.0.11-1~deb12u1", "12"), dir.path());
    let high = scan_with_db(&target, &db, &["--severity", "HIGH,CRITICAL"]);
    assert!(vulns(&high).iter().all(|v| v["severity"] == "HIGH"));
    assert_eq!(vulns(&high).len(), 2);
    assert_eq!(high.report["suppressed"]["vulnerabilities"], 1);

    let failing = scan_with_db(&target, &db, &["--exit-code", "5"]);
    assert_eq!(failing.code, 5);
    let ignore = dir.path().join("ignore");
    std::fs::write(&ignore, "# accepted until the base image moves\nDSA-5514-1 exp:2999-01-01 # waiting\nDEBIAN-CVE-2099-0001 exp:2001-01-01\n").unwrap();
    let ignored = scan_with_db(&target, &db, &["--ignore-file", ignore.to_str().unwrap(), "--exit-code", "5"]);
    // An alias ignores the vulnerability; an expired entry no longer applies and says so.
    assert_eq!(ids_for(&ignored, "libc6"), Vec::<String>::new());
    assert_eq!(ids_for(&ignored, "libssl3"), vec!["DEBIAN-CVE-2099-0001"]);
    assert!(ignored.warnings().contains("expired"), "{}", ignored.warnings());
    assert_eq!(ignored.code, 5);
    let clean = scan_with_db(
        &target,
        &db,
        &["--ignore-file", ignore.to_str().unwrap(), "--severity", "HIGH", "--exit-code", "5"],
    );
    assert_eq!(clean.code, 0, "nothing left at HIGH");
}

#[test]
fn end_of_life_base_image() {
    let dir = tempfile::tempdir().unwrap();
    let db = store_with(dir.path(), &debian_records());
    let (target, _) = layout_of(&debian_image("2.28-10+deb10u2", "1.1.1n-0+deb10u6", "10"), dir.path());
    let result = scan_with_db(&target, &db, &[]);
    assert_eq!(result.report["image"]["os"]["eol"], true);
    let issue = result.report["issues"].as_array().unwrap().iter().find(|i| i["id"] == "OS-EOL").expect("EOL issue");
    assert_eq!(issue["plugin"], "ecr-engine");
    assert!(issue["remediation"].as_str().unwrap().contains("Debian 13"), "{issue}");
    assert!(vulns(&result).is_empty(), "Debian 12 advisories do not apply to Debian 10");
    let (current, _) = layout_of(&debian_image("2.36-9+deb12u3", "3.0.11-1", "12"), &dir.path().join("current"));
    let current = scan_with_db(&current, &db, &[]);
    assert_eq!(current.report["image"]["os"]["eol"], false);
}

#[test]
fn scan_without_data_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (target, _) = layout_of(&debian_image("2.36-9+deb12u1", "3.0.11-1", "12"), dir.path());
    let result = scan_with_db(&target, &dir.path().join("absent.db"), &[]);
    assert_eq!(result.code, 0);
    assert!(result.warnings().contains("no vulnerability data"), "{}", result.warnings());
    // The scan created the store for its layer cache and history, and still matched nothing.
    assert!(dir.path().join("absent.db").exists());
}

fn status(db: &Path) -> Value {
    let out = db_command(&["db", "status", "--db", db.to_str().unwrap(), "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn import_is_idempotent_skips_bad_records_and_drops_withdrawn_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = store_with(dir.path(), &debian_records());
    assert_eq!(status(&db)["advisories"], 4);
    // Re-import: nothing changes.
    let osv = dir.path().join("osv");
    let again = db_command(&["db", "import", osv.to_str().unwrap(), "--db", db.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(text.contains("0 stored, 4 unchanged"), "{text}");
    assert_eq!(status(&db)["advisories"], 4);

    let bad = dir.path().join("bad");
    write_records(
        &bad,
        &[
            json!({"id": "NO-MODIFIED-1", "affected": []}),
            json!({"id": "TWO-KEYS-1", "modified": "2024-01-01T00:00:00Z",
                   "affected": [{"package": {"ecosystem": "npm", "name": "x"},
                                 "ranges": [{"type": "SEMVER", "events": [{"introduced": "0", "fixed": "1.0.0"}]}]}]}),
            json!({"id": "DSA-5514-1", "modified": "2024-06-01T00:00:00Z", "withdrawn": "2024-06-01T00:00:00Z"}),
            json!({"id": "GOOD-1", "modified": "2024-01-01T00:00:00Z",
                   "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"}, "versions": ["1.0.0"]}]}),
        ],
    );
    std::fs::write(bad.join("broken.json"), b"{ this is not json").unwrap();
    let out = db_command(&["db", "import", bad.to_str().unwrap(), "--db", db.to_str().unwrap()]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NO-MODIFIED-1.json") && stderr.contains("modified"), "{stderr}");
    assert!(stderr.contains("TWO-KEYS-1") && stderr.contains("exactly one"), "{stderr}");
    assert!(stderr.contains("broken.json") && stderr.contains("not valid JSON"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 stored") && stdout.contains("1 withdrawn") && stdout.contains("3 rejected"), "{stdout}");
    // 4 - withdrawn DSA + GOOD-1.
    assert_eq!(status(&db)["advisories"], 4);
}

#[test]
fn a_failed_import_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = store_with(dir.path(), &debian_records());
    let more = dir.path().join("more");
    write_records(
        &more,
        &[json!({"id": "GOOD-2", "modified": "2024-01-01T00:00:00Z",
                 "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"}, "versions": ["1.0.0"]}]})],
    );
    // A truncated dump after a good record aborts the whole import.
    std::fs::write(more.join("z-truncated.zip"), b"PK\x03\x04 truncated").unwrap();
    let out = db_command(&["db", "import", more.to_str().unwrap(), "--db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("z-truncated.zip"));
    assert_eq!(status(&db)["advisories"], 4, "GOOD-2 was not committed");
}

/// A loopback HTTP server that serves `files` (URL path -> body) and 404s everything else;
/// it stops after `requests` requests.
fn serve(files: Vec<(String, Vec<u8>)>, requests: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            match files.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => {
                    write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
                        .unwrap();
                    stream.write_all(body).unwrap();
                }
                None => {
                    write!(stream, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap()
                }
            }
            seen.push(path);
        }
        seen
    });
    (base, handle)
}

fn zip_of(records: &[Value]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for record in records {
        writer
            .start_file(format!("{}.json", record["id"].as_str().unwrap()), zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut writer, &serde_json::to_vec(record).unwrap()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

#[test]
fn db_update_downloads_dumps_from_the_configured_server() {
    let dir = tempfile::tempdir().unwrap();
    let npm = json!({"id": "GHSA-jf85-cpcp-j695", "modified": "2023-01-01T00:00:00Z", "aliases": ["CVE-2019-10744"],
                     "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
                                   "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.12"}]}]}]});
    let (base, server) =
        serve(vec![("/Debian/all.zip".into(), zip_of(&debian_records())), ("/npm/all.zip".into(), zip_of(&[npm]))], 3);
    let db = dir.path().join("store.db");
    let out = cli::command()
        .args([
            "db",
            "update",
            "--db",
            db.to_str().unwrap(),
            "--ecosystem",
            "Debian",
            "--ecosystem",
            "npm",
            "--ecosystem",
            "Rocky Linux",
        ])
        .env("ECR_ENGINE_DB_URL", &base)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Rocky Linux"), "a missing dump is named");
    let seen = server.join().unwrap();
    assert_eq!(seen, vec!["/Debian/all.zip", "/npm/all.zip", "/Rocky%20Linux/all.zip"]);
    let status = status(&db);
    assert_eq!(status["advisories"], 5);
    let keys: Vec<&str> = status["ecosystems"].as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(keys, vec!["debian:11", "debian:12", "npm"]);
}

// ---------------------------------------------------------------------------------------------
// PyPI

/// Real PyPI advisories: CVE-2023-32681 in requests (Proxy-Authorization leak, 2.3.0 to 2.31.0),
/// published by GitHub and by the PyPA database; CVE-2018-18074 (requests before 2.20.0);
/// CVE-2024-37891 and CVE-2023-43804 in urllib3, one of them with two ranges; CVE-2024-24762 in
/// python-multipart; CVE-2024-22195 in Jinja2.
fn pypi_records() -> Vec<Value> {
    let pypi =
        |name: &str, events: Value| json!([{"package": {"ecosystem": "PyPI", "name": name}, "ranges": range(events)}]);
    vec![
        json!({"id": "GHSA-j8r2-6x86-q33q", "modified": "2023-06-01T00:00:00Z", "aliases": ["CVE-2023-32681"],
               "summary": "Unintended leak of Proxy-Authorization header in requests",
               "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N"}],
               "affected": pypi("requests", json!([{"introduced": "2.3.0"}, {"fixed": "2.31.0"}]))}),
        json!({"id": "PYSEC-2023-74", "modified": "2023-06-01T00:00:00Z",
               "aliases": ["CVE-2023-32681", "GHSA-j8r2-6x86-q33q"],
               "affected": pypi("requests", json!([{"introduced": "2.3.0"}, {"fixed": "2.31.0"}]))}),
        json!({"id": "GHSA-x84v-xcm2-53pg", "modified": "2023-01-01T00:00:00Z", "aliases": ["CVE-2018-18074"],
               "affected": pypi("requests", json!([{"introduced": "0"}, {"fixed": "2.20.0"}]))}),
        json!({"id": "GHSA-34jh-p97f-mpxf", "modified": "2024-06-17T00:00:00Z", "aliases": ["CVE-2024-37891"],
               "summary": "urllib3's Proxy-Authorization request header isn't stripped during cross-origin redirects",
               "database_specific": {"severity": "MODERATE"},
               "affected": [
                   {"package": {"ecosystem": "PyPI", "name": "urllib3"},
                    "ranges": range(json!([{"introduced": "0"}, {"fixed": "1.26.19"}]))},
                   {"package": {"ecosystem": "PyPI", "name": "urllib3"},
                    "ranges": range(json!([{"introduced": "2.0.0"}, {"fixed": "2.2.2"}]))}]}),
        json!({"id": "GHSA-v845-jxx5-vc9f", "modified": "2023-10-02T00:00:00Z", "aliases": ["CVE-2023-43804"],
               "affected": [{"package": {"ecosystem": "PyPI", "name": "urllib3"},
                             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.26.17"}]},
                                        {"type": "ECOSYSTEM", "events": [{"introduced": "2.0.0"}, {"fixed": "2.0.6"}]}]}]}),
        json!({"id": "GHSA-2jv5-9r88-3w3p", "modified": "2024-02-05T00:00:00Z", "aliases": ["CVE-2024-24762"],
               "summary": "python-multipart vulnerable to Content-Type Header ReDoS",
               "affected": pypi("python-multipart", json!([{"introduced": "0"}, {"fixed": "0.0.7"}]))}),
        json!({"id": "GHSA-h5c8-rqwp-cp95", "modified": "2024-01-11T00:00:00Z", "aliases": ["CVE-2024-22195"],
               "affected": pypi("jinja2", json!([{"introduced": "0"}, {"fixed": "3.1.3"}]))}),
    ]
}

/// An Alpine image with Python distributions: (directory name, `Name`, `Version`) each.
fn python_image(distributions: &[(&str, &str, &str)]) -> ImageSpec {
    let site = "usr/lib/python3.11/site-packages";
    let metadata: Vec<Entry> = distributions
        .iter()
        .map(|(dir, name, version)| {
            let text = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n");
            Entry::file(&format!("{site}/{dir}.dist-info/METADATA"), text)
        })
        .collect();
    ImageSpec::new(vec![
        Layer::gzip(vec![Entry::file("etc/os-release", os_release("alpine", "3.19.1", "Alpine Linux v3.19"))]),
        Layer::gzip(metadata),
    ])
}

#[test]
fn pypi_vulnerabilities_by_normalized_name_with_pep440_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let db = store_with(dir.path(), &pypi_records());
    let spec = python_image(&[
        // The distribution names the project in another case and with other separators than the
        // advisories: PEP 503 makes them one.
        ("requests-2.30.0", "Requests", "2.30.0"),
        ("urllib3-2.2.1", "urllib3", "2.2.1"),
        ("python_multipart-0.0.6", "Python_Multipart", "0.0.6"),
        // Not a PEP 440 version: reported as not matched rather than placed by a guess.
        ("Jinja2-3.1.2", "Jinja2", "3.1.2 (patched)"),
    ]);
    let (target, built) = layout_of(&spec, dir.path());
    let result = scan_with_db(&target, &db, &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);

    assert_eq!(ids_for(&result, "Requests"), vec!["CVE-2023-32681"], "2.30.0 is past the fix of CVE-2018-18074");
    let requests = vuln(&result, "CVE-2023-32681", "Requests");
    assert_eq!(requests["aliases"], json!(["GHSA-j8r2-6x86-q33q", "PYSEC-2023-74"]), "one entry, aliases merged");
    assert_eq!(requests["advisories"], json!(["GHSA-j8r2-6x86-q33q", "PYSEC-2023-74"]));
    assert_eq!(requests["fixed_version"], "2.31.0");
    assert_eq!(requests["installed_version"], "2.30.0");
    assert_eq!(requests["severity"], "MEDIUM");
    assert_eq!(requests["ecosystem"], "PyPI");
    assert_eq!(requests["purl"], "pkg:pypi/requests@2.30.0");
    assert_eq!(requests["layer"], built.layer_digests[1].as_str());

    // CVE-2024-37891's second range holds 2.2.1; CVE-2023-43804 ended at 2.0.6.
    assert_eq!(ids_for(&result, "urllib3"), vec!["CVE-2024-37891"]);
    assert_eq!(vuln(&result, "CVE-2024-37891", "urllib3")["fixed_version"], "2.2.2");

    assert_eq!(vuln(&result, "CVE-2024-24762", "Python_Multipart")["fixed_version"], "0.0.7");

    assert!(ids_for(&result, "Jinja2").is_empty());
    let warnings = result.report["warnings"].as_array().unwrap();
    let jinja: Vec<&Value> = warnings.iter().filter(|w| w.as_str().unwrap().contains("Jinja2")).collect();
    assert_eq!(jinja.len(), 1, "{warnings:#?}");
    let jinja = jinja[0].as_str().unwrap();
    assert!(jinja.contains("\"3.1.2 (patched)\" is not a valid PEP 440 version"), "{jinja}");
    assert!(jinja.contains("not checked against the 1 advisory record(s) for jinja2"), "{jinja}");

    // Fixed versions, spelled differently from the fixes (2.31 is 2.31.0): nothing; a pre-release
    // of a fix still precedes it.
    let fixed_dir = tempfile::tempdir().unwrap();
    let fixed_spec = python_image(&[
        ("requests-2.31", "requests", "2.31"),
        ("urllib3-2.2.2", "urllib3", "2.2.2"),
        ("python_multipart-0.0.7rc1", "python-multipart", "0.0.7rc1"),
        ("jinja2-3.1.3", "jinja2", "3.1.3"),
    ]);
    let (fixed_target, _) = layout_of(&fixed_spec, fixed_dir.path());
    let fixed = scan_with_db(&fixed_target, &db, &[]);
    assert_eq!(fixed.code, 0, "{}", fixed.stderr);
    let found: Vec<(&str, &str)> =
        vulns(&fixed).iter().map(|v| (v["package"].as_str().unwrap(), v["id"].as_str().unwrap())).collect();
    assert_eq!(found, vec![("python-multipart", "CVE-2024-24762")], "{:#}", fixed.report["vulnerabilities"]);
    assert!(!fixed.report["warnings"].to_string().contains("PEP 440"), "{:#}", fixed.report["warnings"]);
}

#[test]
fn db_update_fetches_pypi_and_the_added_distributions_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let (base, server) = serve(vec![("/PyPI/all.zip".into(), zip_of(&pypi_records()))], 14);
    let db = dir.path().join("store.db");
    let out = cli::command()
        .args(["db", "update", "--db", db.to_str().unwrap()])
        .env("ECR_ENGINE_DB_URL", &base)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen = server.join().unwrap();
    for dump in ["/PyPI/all.zip", "/Wolfi/all.zip", "/Azure%20Linux/all.zip", "/Mageia/all.zip", "/openEuler/all.zip"] {
        assert!(seen.contains(&dump.to_string()), "{dump} in {seen:?}");
    }
    assert!(!seen.iter().any(|s| s.contains("Chainguard")), "Chainguard is fetched when asked for: {seen:?}");
    assert_eq!(seen.len(), 14, "one request per default ecosystem: {seen:?}");
    let status = status(&db);
    assert_eq!(status["advisories"], pypi_records().len());
    let keys: Vec<&str> = status["ecosystems"].as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(keys, vec!["pypi"]);
}
