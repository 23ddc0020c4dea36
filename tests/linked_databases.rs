//! Package databases reached through links, scanned by the real `ecr-engine` binary: a database
//! that a symlink or hard link makes visible under a second selected path is read once, under its
//! real path, and its packages are attributed to the layer that holds the database's bytes, not
//! the layer that added the link. Layouts from real images: Fedora/RHEL 9's
//! `var/lib/rpm -> ../../usr/lib/sysimage/rpm`, distroless `status.d` entries linked to a status
//! file, a virtualenv's site-packages linked into `/usr/local`.

mod common;

use common::cli::{self, ScanResult};
use common::image::*;
use serde_json::Value;
use std::collections::BTreeMap;

fn assert_complete(result: &ScanResult) {
    assert_eq!(result.code, 0, "exit code; errors: {}; stderr: {}", result.errors(), result.stderr);
    assert_eq!(result.report["complete"], true);
}

/// Every package of the report as `name -> [(path, layer)]`: a package listed twice shows two
/// entries.
fn sightings(result: &ScanResult) -> BTreeMap<String, Vec<(String, Value)>> {
    let mut out: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
    for p in result.report["packages"].as_array().expect("packages") {
        let name = p["name"].as_str().unwrap().to_string();
        out.entry(name).or_default().push((p["path"].as_str().unwrap().to_string(), p["layer"].clone()));
    }
    out
}

fn once_each(names: &[&str], path: &str, layer: &str) -> BTreeMap<String, Vec<(String, Value)>> {
    names.iter().map(|n| (n.to_string(), vec![(path.to_string(), Value::from(layer))])).collect()
}

/// Layer 1: a Rocky 9 rootfs, its rpmdb in usr/lib/sysimage/rpm and the usual directory link
/// var/lib/rpm -> ../../usr/lib/sysimage/rpm. Layer 2 links the old SUSE location to the same
/// database with a symlink and a hard link: three selected paths, one database.
#[test]
fn rpmdb_behind_links_from_a_later_layer_is_read_once() {
    let db = "usr/lib/sysimage/rpm/rpmdb.sqlite";
    let spec = ImageSpec::new(vec![
        Layer::gzip(vec![
            Entry::file("etc/os-release", ROCKY_OS_RELEASE),
            Entry::symlink("var/lib/rpm", "../../usr/lib/sysimage/rpm"),
            Entry::file(db, rpm_testdata("v2/rpmdb.sqlite")),
        ]),
        Layer::gzip(vec![
            Entry::symlink("usr/share/rpm/rpmdb.sqlite", "/var/lib/rpm/rpmdb.sqlite"),
            Entry::hardlink("usr/share/rpm/Packages.db", db),
        ]),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let built = write_oci_layout(&[(&spec, None)], dir.path(), false).remove(0);
    let store_dir = tempfile::tempdir().unwrap();
    let store = store_dir.path().join("store.db");
    let store_arg = ["--db", store.to_str().unwrap()];
    let expected = once_each(&["ecr-alpha", "ecr-beta", "ecr-big", "ecr-libs"], db, &built.layer_digests[0]);
    // The second scan takes both layers from the layer cache: the same answer.
    for cached_layers in [0, 2] {
        let result = cli::scan(&cli::target("oci", dir.path()), &store_arg);
        assert_complete(&result);
        assert_eq!(result.report["stats"]["cached_layers"], cached_layers);
        assert_eq!(
            sightings(&result),
            expected,
            "each package once, at the database's real path, from the layer holding its bytes"
        );
    }
}

/// A distroless-style `status.d` entry that is a link to the status file: dpkg's patterns select
/// both paths. The link comes first (layer 1, dangling until layer 2 adds the status file), so
/// the packages belong to layer 2.
#[test]
fn dpkg_status_linked_from_status_d_is_read_once() {
    let status = "var/lib/dpkg/status";
    let stanzas = |names: &[&str]| -> String {
        names.iter().map(|n| dpkg_status_stanza(n, "1.0", "amd64", None, "install ok installed")).collect()
    };
    let spec = ImageSpec::new(vec![
        Layer::gzip(vec![
            Entry::file("etc/os-release", os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)")),
            Entry::symlink("var/lib/dpkg/status.d/core", "../status"),
        ]),
        Layer::gzip(vec![Entry::file(status, stanzas(&["base-files", "libc6"]))]),
        Layer::gzip(vec![Entry::file("srv/app.txt", "unrelated")]),
    ]);
    let (result, built) = cli::scan_oci(&spec);
    assert_complete(&result);
    assert_eq!(sightings(&result), once_each(&["base-files", "libc6"], status, &built.layer_digests[1]));
}

/// Layer 1 has a classic Berkeley DB at var/lib/rpm/Packages; layer 2 replaces the directory
/// var/lib/rpm with a link to usr/lib/sysimage/rpm holding a SQLite database (the rpm 4.16
/// move). A container sees only the new database: the old directory's contents are gone.
#[test]
fn directory_replaced_by_a_link_hides_what_it_held() {
    let db = "usr/lib/sysimage/rpm/rpmdb.sqlite";
    let spec = ImageSpec::new(vec![
        Layer::gzip(vec![
            Entry::file("etc/os-release", ROCKY_OS_RELEASE),
            Entry::file("var/lib/rpm/Packages", rpm_testdata("v2/Packages")),
        ]),
        Layer::gzip(vec![
            Entry::symlink("var/lib/rpm", "../../usr/lib/sysimage/rpm"),
            Entry::file(db, rpm_testdata("v1/rpmdb.sqlite")),
        ]),
    ]);
    let (result, built) = cli::scan_oci(&spec);
    assert_complete(&result);
    assert_eq!(sightings(&result), once_each(&["ecr-alpha", "ecr-beta"], db, &built.layer_digests[1]));
    assert_eq!(result.package("ecr-alpha")["version"], "1.0-1.el9", "the new database's version");
}

/// /usr/local/lib/python3.12/site-packages is a link to a virtualenv's, and a dist-packages
/// METADATA file is a link to the virtualenv's: the distribution is listed once, under the
/// virtualenv.
#[test]
fn linked_site_packages_is_read_once() {
    let metadata = "opt/venv/lib/python3.12/site-packages/demo-1.0.dist-info/METADATA";
    let spec = ImageSpec::new(vec![Layer::gzip(vec![
        Entry::file(metadata, "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"),
        Entry::symlink("usr/local/lib/python3.12/site-packages", "/opt/venv/lib/python3.12/site-packages"),
        Entry::symlink("usr/lib/python3/dist-packages/demo-1.0.dist-info/METADATA", &format!("/{metadata}")),
    ])]);
    let (result, built) = cli::scan_oci(&spec);
    assert_complete(&result);
    assert_eq!(sightings(&result), once_each(&["demo"], metadata, &built.layer_digests[0]));
}

/// The same layout unpacked (`dir:`): var/lib/rpm is a directory link, usr/share/rpm/rpmdb.sqlite
/// a file link and usr/share/rpm/Packages.db a hard link to the database.
#[test]
fn unpacked_root_filesystem_reads_a_linked_rpmdb_once() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let db = "usr/lib/sysimage/rpm/rpmdb.sqlite";
    for dir in ["etc", "var/lib", "usr/lib/sysimage/rpm", "usr/share/rpm"] {
        std::fs::create_dir_all(r.join(dir)).unwrap();
    }
    std::fs::write(r.join("etc/os-release"), ROCKY_OS_RELEASE).unwrap();
    std::fs::write(r.join(db), rpm_testdata("v2/rpmdb.sqlite")).unwrap();
    std::os::unix::fs::symlink("../../usr/lib/sysimage/rpm", r.join("var/lib/rpm")).unwrap();
    std::os::unix::fs::symlink("/var/lib/rpm/rpmdb.sqlite", r.join("usr/share/rpm/rpmdb.sqlite")).unwrap();
    std::fs::hard_link(r.join(db), r.join("usr/share/rpm/Packages.db")).unwrap();

    let result = cli::scan(&cli::target("dir", r), &[]);
    assert_complete(&result);
    let mut expected = once_each(&["ecr-alpha", "ecr-beta", "ecr-big", "ecr-libs"], db, "");
    expected.values_mut().for_each(|seen| seen[0].1 = Value::Null);
    assert_eq!(sightings(&result), expected);
}
