//! End-to-end scans of images built in the test, by the real `ecr-engine` binary, on every local
//! target form: docker-archive, oci-archive, oci layout directory, unpacked root filesystem.

mod common;

use common::cli::{self, ScanResult};
use common::image::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const DEBIAN: &str = "Debian GNU/Linux 12 (bookworm)";

fn stanza(name: &str, version: &str) -> String {
    dpkg_status_stanza(name, version, "amd64", None, "install ok installed")
}

fn debian_base() -> Vec<Entry> {
    vec![
        Entry::file("usr/lib/os-release", os_release("debian", "12", DEBIAN)),
        Entry::symlink("etc/os-release", "../usr/lib/os-release"),
    ]
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = items.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    out.sort();
    out
}

fn assert_complete(result: &ScanResult) {
    assert_eq!(result.code, 0, "exit code; errors: {}; stderr: {}", result.errors(), result.stderr);
    assert_eq!(result.report["complete"], true);
    assert_eq!(result.report["schema"], "ecr-engine/report/v1");
}

/// This machine's own dpkg database, read by dpkg itself: the oracle for the dpkg analyzer.
fn host_packages(status: &Path) -> Vec<(String, String)> {
    let admin = tempfile::tempdir().unwrap();
    std::fs::copy(status, admin.path().join("status")).unwrap();
    let out = Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin.path().display()))
        .args(["-W", "-f=${Package}\t${Version}\t${db:Status-Status}\n"])
        .output()
        .expect("dpkg-query");
    assert!(out.status.success());
    let mut packages: Vec<(String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[2] == "installed").then(|| (f[0].to_string(), f[1].to_string()))
        })
        .collect();
    packages.sort();
    packages.dedup();
    packages
}

#[test]
fn docker_archive_with_this_machines_dpkg_database() {
    let host_status = std::fs::read("/var/lib/dpkg/status").expect("this machine's dpkg status");
    let mut upgraded = host_status.clone();
    upgraded.extend_from_slice(stanza("ecr-test-extra", "1.0-1").as_bytes());
    let mut first = debian_base();
    first.push(Entry::file("var/lib/dpkg/status", host_status));
    let spec = ImageSpec::new(vec![
        Layer::plain(first),
        Layer::plain(vec![Entry::file("var/lib/dpkg/status", upgraded)]),
        Layer::plain(vec![Entry::file("srv/app.txt", "unrelated layer")]),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.tar");
    let built = write_docker_archive(&spec, &["example/app:1.0"], &archive);

    let result = cli::scan(&cli::target("docker-archive", &archive), &[]);
    assert_complete(&result);
    let mut expected = host_packages(Path::new("/var/lib/dpkg/status"));
    assert!(expected.len() > 50, "this machine has a real dpkg database");
    for (name, _) in &expected {
        let package = result.package(name);
        assert_eq!(package["layer"], built.layer_digests[0], "{name} came with the first layer");
        assert_eq!(package["ecosystem"], "deb");
        assert_eq!(package["plugin"], "dpkg");
    }
    expected.push(("ecr-test-extra".into(), "1.0-1".into()));
    expected.sort();
    assert_eq!(result.packages(), expected);
    let extra = result.package("ecr-test-extra");
    assert_eq!(extra["layer"], built.layer_digests[1]);
    assert_eq!(extra["purl"], "pkg:deb/debian/ecr-test-extra@1.0-1?arch=amd64&distro=debian-12");
    let image = &result.report["image"];
    assert_eq!(image["os"]["id"], "debian");
    assert_eq!(image["os"]["version_id"], "12");
    assert_eq!(image["digest"], built.config_digest, "docker archives are known by their image ID");
    assert_eq!(image["repo_tags"][0], "example/app:1.0");
    assert_eq!(image["layers"].as_array().unwrap().len(), 3);
    assert_eq!(result.plugin("dpkg")["status"], "ok");
}

/// Layer 1: a dpkg status with a, b, and distroless status.d entries; layer 2 (zstd) removes one
/// status.d entry with a whiteout and adds another; layer 3 makes status.d opaque with one new
/// entry; layer 4 upgrades b.
fn layered_spec() -> ImageSpec {
    let mut first = debian_base();
    first.push(Entry::file("var/lib/dpkg/status", format!("{}{}", stanza("a", "1.0"), stanza("b", "1.0"))));
    first.push(Entry::file("var/lib/dpkg/status.d/base-files", stanza("base-files", "12.4")));
    first.push(Entry::file("var/lib/dpkg/status.d/tzdata", stanza("tzdata", "2024a-0")));
    ImageSpec::new(vec![
        Layer::gzip(first),
        Layer::zstd(vec![
            Entry::whiteout("var/lib/dpkg/status.d/tzdata"),
            Entry::file("var/lib/dpkg/status.d/zlib", stanza("zlib1g", "1:1.2.13")),
        ]),
        Layer::gzip(vec![
            Entry::opaque("var/lib/dpkg/status.d"),
            Entry::file("var/lib/dpkg/status.d/libssl3", stanza("libssl3", "3.0.11-1~deb12u2")),
        ]),
        Layer::plain(vec![Entry::file("var/lib/dpkg/status", format!("{}{}", stanza("a", "1.0"), stanza("b", "2.0")))]),
    ])
}

fn assert_layered_result(result: &ScanResult, layers: &[String]) {
    assert_complete(result);
    assert_layered_packages(result, layers);
}

fn assert_layered_packages(result: &ScanResult, layers: &[String]) {
    assert_eq!(result.packages(), pairs(&[("a", "1.0"), ("b", "2.0"), ("libssl3", "3.0.11-1~deb12u2")]));
    assert_eq!(result.package("a")["layer"], layers[0].as_str());
    assert_eq!(result.package("libssl3")["layer"], layers[2].as_str());
    assert_eq!(result.package("libssl3")["path"], "var/lib/dpkg/status.d/libssl3");
    assert_eq!(result.package("b")["layer"], layers[3].as_str(), "the upgrade introduced b 2.0");
}

#[test]
fn oci_layout_gzip_zstd_whiteouts_and_opaque_dirs() {
    let spec = layered_spec();
    let dir = tempfile::tempdir().unwrap();
    let built = write_oci_layout(&[(&spec, Some("v1"))], dir.path(), false);
    let result = cli::scan(&format!("oci:{}:v1", dir.path().display()), &[]);
    assert_layered_result(&result, &built[0].layer_digests);
    assert_eq!(result.report["image"]["digest"], built[0].manifest_digest);
    assert_eq!(result.report["image"]["platform"], "linux/amd64");
    let layers = result.report["image"]["layers"].as_array().unwrap();
    for (layer, diff_id) in layers.iter().zip(&built[0].diff_ids) {
        assert_eq!(&layer["diff_id"], diff_id);
    }
}

#[test]
fn oci_archive_and_bare_paths_give_the_same_result() {
    let spec = layered_spec();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image-oci.tar");
    let built = write_oci_archive(&[(&spec, Some("v1"))], &archive, false);
    let result = cli::scan(&cli::target("oci-archive", &archive), &[]);
    assert_layered_result(&result, &built[0].layer_digests);
    // A bare path is sniffed: the archive by its index.json, the layout directory by oci-layout.
    let bare = cli::scan(archive.to_str().unwrap(), &[]);
    assert_layered_result(&bare, &built[0].layer_digests);
    let layout = dir.path().join("layout");
    write_oci_layout(&[(&spec, Some("v1"))], &layout, false);
    assert_layered_result(&cli::scan(layout.to_str().unwrap(), &[]), &built[0].layer_digests);
}

#[test]
fn docker_25_archive_with_compressed_layers() {
    let spec = layered_spec();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("docker25.tar");
    let built = write_docker_archive_oci(&spec, &["example/layered:2"], &archive);
    let result = cli::scan(&format!("docker-archive:{}:example/layered:2", archive.display()), &[]);
    assert_layered_result(&result, &built.layer_digests);
    let missing = cli::scan(&format!("docker-archive:{}:example/other:1", archive.display()), &[]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("example/layered:2"), "{}", missing.stderr);
}

#[test]
fn multi_platform_index_resolves_the_asked_platform() {
    let amd = ImageSpec::new(vec![Layer::gzip(vec![Entry::file("var/lib/dpkg/status", stanza("on-amd64", "1"))])]);
    let arm = ImageSpec::new(vec![Layer::gzip(vec![Entry::file(
        "var/lib/dpkg/status",
        dpkg_status_stanza("on-arm64", "1", "arm64", None, "install ok installed"),
    )])])
    .with_platform("linux", "arm64", Some("v8"));
    let dir = tempfile::tempdir().unwrap();
    write_oci_layout(&[(&amd, Some("latest")), (&arm, Some("latest"))], dir.path(), true);
    let target = format!("oci:{}:latest", dir.path().display());

    let default = cli::scan(&target, &[]);
    assert_complete(&default);
    assert_eq!(default.packages(), pairs(&[("on-amd64", "1")]));
    let arm64 = cli::scan(&target, &["--platform", "linux/arm64"]);
    assert_complete(&arm64);
    assert_eq!(arm64.packages(), pairs(&[("on-arm64", "1")]));
    assert_eq!(arm64.report["image"]["platform"], "linux/arm64/v8");
    let missing = cli::scan(&target, &["--platform", "linux/s390x"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("linux/amd64") && missing.stderr.contains("linux/arm64/v8"),
        "names the platforms there are: {}",
        missing.stderr
    );
}

#[test]
fn unpacked_root_filesystem_resolves_links_inside_it() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::create_dir_all(r.join("usr/lib")).unwrap();
    std::fs::create_dir_all(r.join("var/lib/dpkg/status.d")).unwrap();
    // An absolute link names the root's own file, never the scanning host's.
    std::fs::write(r.join("usr/lib/os-release"), os_release("testos", "7", "Test OS 7")).unwrap();
    std::os::unix::fs::symlink("/usr/lib/os-release", r.join("etc/os-release")).unwrap();
    std::fs::write(r.join("var/lib/dpkg/status"), stanza("rootfs-pkg", "2.1-3")).unwrap();
    // status.d entries that are the status file under another name (a symlink, a hard link): one
    // database, read once under its own path.
    std::os::unix::fs::symlink("/var/lib/dpkg/status", r.join("var/lib/dpkg/status.d/alias")).unwrap();
    std::fs::hard_link(r.join("var/lib/dpkg/status"), r.join("var/lib/dpkg/status.d/same")).unwrap();
    // A link that climbs out stops at the root: it names the root's etc/hostname, which is absent.
    std::os::unix::fs::symlink("../../../../../../../etc/hostname", r.join("var/lib/dpkg/status.d/escape")).unwrap();

    let result = cli::scan(&cli::target("dir", r), &[]);
    assert_complete(&result);
    assert_eq!(result.report["image"]["os"]["id"], "testos");
    let packages = result.report["packages"].as_array().unwrap();
    let found: BTreeSet<(&str, &str)> =
        packages.iter().map(|p| (p["name"].as_str().unwrap(), p["path"].as_str().unwrap())).collect();
    assert_eq!(packages.len(), 1, "{packages:?}");
    assert_eq!(found, BTreeSet::from([("rootfs-pkg", "var/lib/dpkg/status")]));
    assert!(packages.iter().all(|p| p["layer"].is_null()));
    assert_eq!(result.package("rootfs-pkg")["purl"], "pkg:deb/testos/rootfs-pkg@2.1-3?arch=amd64&distro=testos-7");
}

#[test]
fn image_links_never_reach_the_host() {
    // The host has /var/lib/dpkg/status; an image whose database is only a link to that absolute
    // path must resolve it inside the image (a loop here) and report nothing.
    let spec = ImageSpec::new(vec![Layer::gzip(vec![
        Entry::symlink("var/lib/dpkg/status", "/var/lib/dpkg/status"),
        Entry::symlink("etc/os-release", "../../../../../../usr/lib/os-release"),
        Entry::file("usr/lib/os-release", os_release("inside", "1", "Inside 1")),
    ])]);
    let dir = tempfile::tempdir().unwrap();
    write_oci_layout(&[(&spec, None)], dir.path(), false);
    let result = cli::scan(&cli::target("oci", dir.path()), &[]);
    assert_complete(&result);
    assert_eq!(result.packages(), vec![]);
    assert_eq!(result.report["image"]["os"]["id"], "inside");
}

#[test]
fn table_output_is_the_default() {
    let spec = layered_spec();
    let dir = tempfile::tempdir().unwrap();
    write_oci_layout(&[(&spec, None)], dir.path(), false);
    let output = cli::command()
        .args(["scan", &cli::target("oci", dir.path()), "--plugins-dir", dir.path().join("none").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success());
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.contains(DEBIAN), "{table}");
    assert!(table.contains("Packages: 3 (deb 3)"), "{table}");
    assert!(table.lines().any(|l| l.contains("libssl3") && l.contains("3.0.11-1~deb12u2")), "{table}");
    assert!(table.lines().any(|l| l.trim_start().starts_with("dpkg") && l.contains("ok")), "{table}");
    // --output writes the same report to a file.
    let out = dir.path().join("report.json");
    let status = cli::command()
        .args(["scan", &cli::target("oci", dir.path()), "-f", "json", "-o", out.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(report["packages"].as_array().unwrap().len(), 3);
}

use ecr_test_guests::TEST_GUESTS;

fn guest(name: &str) -> &'static str {
    TEST_GUESTS.iter().find(|(n, _)| *n == name).map(|(_, path)| *path).expect("test guest")
}

/// Broken plugins beside the built-in ones, in a real scan: each is reported with its own status,
/// the scan is marked incomplete, and the dpkg analyzer's packages are all there.
#[test]
fn broken_plugins_do_not_take_the_scan_down() {
    let spec = layered_spec();
    let dir = tempfile::tempdir().unwrap();
    let built = write_oci_layout(&[(&spec, None)], dir.path(), false);
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    for name in ["trap", "spin", "hog", "fail", "snoop", "future"] {
        std::fs::copy(guest(name), plugins.join(format!("{name}.wasm"))).unwrap();
    }
    let result = cli::scan(
        &cli::target("oci", dir.path()),
        &["--plugins-dir", plugins.to_str().unwrap(), "--plugin-timeout", "1", "--plugin-memory", "64M"],
    );
    assert_eq!(result.code, 3, "{}", result.stderr);
    assert_eq!(result.report["complete"], false);
    assert_layered_packages(&result, &built[0].layer_digests);
    assert_eq!(result.plugin("dpkg")["status"], "ok");
    for (name, status, needle) in [
        ("trap", "trap", "unreachable"),
        ("spin", "timeout", ""),
        ("hog", "out-of-memory", "memory limit"),
        ("fail", "error", "returned an error"),
        ("future", "incompatible", "built for contract 2.0.0, this host speaks 1.x"),
    ] {
        let plugin = result.plugin(name);
        assert_eq!(plugin["status"], status, "{name}: {plugin}");
        assert!(plugin["error"].as_str().unwrap().contains(needle), "{name}: {plugin}");
    }
    // Spin was stopped once it had used its 1 s of CPU time; the report shows both times.
    let spin = result.plugin("spin");
    assert!(spin["error"].as_str().unwrap().contains("exceeded the CPU time limit of 1.0 s"), "{spin}");
    let cpu_ms = spin["cpu_ms"].as_u64().unwrap();
    assert!(cpu_ms >= 1000 && spin["duration_ms"].as_u64().unwrap() >= cpu_ms, "{spin}");
    // The snoop plugin ran fine and saw nothing of the host: no files, no environment, no clock.
    assert_eq!(result.plugin("snoop")["status"], "ok");
    let issues = result.report["issues"].as_array().unwrap();
    let probe = |id: &str| -> String {
        let issue = issues.iter().find(|i| i["id"] == id).unwrap_or_else(|| panic!("no {id} in {issues:?}"));
        issue["description"].as_str().unwrap().to_string()
    };
    for id in ["SNOOP-FS-PASSWD", "SNOOP-FS-ROOT", "SNOOP-ENV", "SNOOP-NET-TCP", "SNOOP-NET-DNS"] {
        assert!(probe(id).starts_with("denied: "), "{id}: {}", probe(id));
    }
    assert_eq!(probe("SNOOP-CLOCK-WALL"), "nanos since epoch: ok: 0");
}
