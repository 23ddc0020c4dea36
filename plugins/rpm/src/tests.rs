use super::*;
// The integration tests' rule for missing tools and fixtures (skip, or fail under CI=true).
#[path = "../../../tests/common/require.rs"]
#[allow(dead_code)] // each crate uses part of it
mod require;
use ecr_plugin_kit::findings::{distro, file_errors, packages};
use ecr_plugin_kit::{Finding, MAX_ERRORS_PER_FILE};
use require::{require, require_fixture};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const RHEL9_OS_RELEASE: &str = "NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"9.3 (Plow)\"\nID=\"rhel\"\n\
ID_LIKE=\"fedora\"\nVERSION_ID=\"9.3\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 9.3 (Plow)\"\n";

/// (name, epoch, version, release, arch, source rpm): the columns of the fixtures' TSVs.
type Row = (String, String, String, String, String, String);

fn row(p: &Package) -> Row {
    let epoch = p.property("epoch").unwrap_or("").to_string();
    let (_, bare) = purl::split_epoch(&p.version);
    let release = p.property("release").expect("release property").to_string();
    let version = bare.strip_suffix(&format!("-{release}")).expect("version ends in -release").to_string();
    // The SRPM file name, rebuilt from the split fields (source version without the epoch).
    let srpm = match (&p.source_name, &p.source_version) {
        (Some(n), Some(v)) => format!("{n}-{}.src.rpm", purl::split_epoch(v).1),
        _ => String::new(),
    };
    (p.name.clone(), epoch, version, release, p.arch.clone().unwrap_or_default(), srpm)
}

fn sorted_rows(findings: &[Finding]) -> Vec<Row> {
    let mut rows: Vec<Row> = packages(findings).into_iter().map(row).collect();
    rows.sort();
    rows
}

fn testdata(rel: &str) -> Vec<u8> {
    std::fs::read(testdata_path(rel)).expect("plugins/rpm/testdata (made by testdata/make.sh)")
}

fn testdata_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
}

fn tsv_rows(tsv: &str) -> Vec<Row> {
    let mut rows: Vec<Row> = tsv
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<String> = l.split('\t').map(str::to_string).collect();
            assert_eq!(f.len(), 6, "{l}");
            (f[0].clone(), f[1].clone(), f[2].clone(), f[3].clone(), f[4].clone(), f[5].clone())
        })
        .collect();
    rows.sort();
    rows
}

fn r(n: &str, e: &str, v: &str, rel: &str, a: &str, s: &str) -> Row {
    (n.into(), e.into(), v.into(), rel.into(), a.into(), s.into())
}

#[test]
fn describe_patterns() {
    assert_eq!(Rpm::NAME, "rpm");
    let patterns = Rpm::patterns();
    for want in
        ["var/lib/rpm/Packages", "usr/lib/sysimage/rpm/rpmdb.sqlite", "usr/share/rpm/Packages.db", "etc/system-release"]
    {
        assert!(patterns.iter().any(|p| p == want), "{want}");
    }
    assert_eq!(patterns.iter().filter(|p| p.contains("rpm/")).count(), 9);
}

/// The correctness bar: each real-world database gives exactly the package set of its TSV.
#[test]
fn shared_fixtures_match_their_expected_package_sets() {
    let cases = [
        ("rpm/bdb-libuuid-Packages", "var/lib/rpm/Packages", 1),
        ("rpm/ndb-sle15-bci-Packages.db", "usr/lib/sysimage/rpm/Packages.db", 35),
        ("rpm/sqlite-cbl-mariner-2.0-rpmdb.sqlite", "var/lib/rpm/rpmdb.sqlite", 129),
    ];
    for (fixture, path, count) in cases {
        let Some(db) = require_fixture(fixture) else { return };
        let Some(tsv) = require_fixture(&format!("{fixture}.expected.tsv")) else { return };
        let findings = analyze_files(&[File::new(path, db.as_slice())]);
        assert!(file_errors(&findings).is_empty(), "{fixture}: {:?}", file_errors(&findings));
        let want = tsv_rows(&String::from_utf8(tsv).unwrap());
        assert_eq!(want.len(), count, "{fixture}");
        assert_eq!(sorted_rows(&findings), want, "{fixture}");
        assert!(packages(&findings).iter().all(|p| p.path == path && p.ecosystem == "rpm"));
    }
}

#[test]
fn shared_fixture_details() {
    let Some(db) = require_fixture("rpm/bdb-libuuid-Packages") else { return };
    let findings = analyze_files(&[
        File::new("var/lib/rpm/Packages", db.as_slice()),
        File::new("etc/os-release", RHEL9_OS_RELEASE.as_bytes()),
    ]);
    let p = packages(&findings)[0];
    assert_eq!(p.name, "libuuid");
    assert_eq!(p.version, "2.32.1-42.el8_8");
    assert_eq!(p.licenses, vec!["BSD".to_string()]);
    assert_eq!(p.property("vendor"), Some("Red Hat, Inc."));
    assert_eq!(p.purl.as_deref(), Some("pkg:rpm/redhat/libuuid@2.32.1-42.el8_8?arch=x86_64&distro=rhel-9.3"));
    assert!(p.installed_files.contains(&"/usr/lib64/libuuid.so.1".to_string()), "{:?}", p.installed_files);

    let Some(db) = require_fixture("rpm/sqlite-cbl-mariner-2.0-rpmdb.sqlite") else { return };
    let os = "NAME=\"Common Base Linux Mariner\"\nVERSION=\"2.0.20230630\"\nID=mariner\nVERSION_ID=\"2.0\"\n";
    let findings = analyze_files(&[
        File::new("var/lib/rpm/rpmdb.sqlite", db.as_slice()),
        File::new("etc/os-release", os.as_bytes()),
    ]);
    let ca = packages(&findings).into_iter().find(|p| p.name == "ca-certificates-base").unwrap();
    assert_eq!(ca.version, "1:2.0.0-1.cm2");
    assert_eq!(ca.source_name.as_deref(), Some("ca-certificates"));
    assert_eq!(ca.source_version.as_deref(), Some("1:2.0.0-1.cm2"));
    assert_eq!(
        ca.purl.as_deref(),
        Some("pkg:rpm/mariner/ca-certificates-base@2.0.0-1.cm2?arch=noarch&distro=mariner-2.0&epoch=1")
    );
    assert_eq!(ca.property("epoch"), Some("1"));
    assert_eq!(ca.property("vendor"), Some("Microsoft Corporation"));
}

/// Databases made by real rpm (testdata/make.sh); the expected values are rpm's own `-qa` output.
#[test]
fn own_databases_sqlite_and_bdb() {
    let v1 = vec![
        r("ecr-alpha", "", "1.0", "1.el9", "noarch", "ecr-alpha-1.0-1.el9.src.rpm"),
        r("ecr-beta", "2", "3.4.5", "6.el9", "x86_64", "ecr-beta-3.4.5-6.el9.src.rpm"),
    ];
    let v2 = vec![
        r("ecr-alpha", "", "1.1", "2.el9", "noarch", "ecr-alpha-1.1-2.el9.src.rpm"),
        r("ecr-beta", "2", "3.4.5", "6.el9", "x86_64", "ecr-beta-3.4.5-6.el9.src.rpm"),
        r("ecr-big", "", "0.9", "1", "noarch", "ecr-big-0.9-1.src.rpm"),
        r(
            "ecr-libs",
            "",
            "1.2",
            "3.module+el9.1.0+123+abcdef",
            "noarch",
            "ecr-src-1.2-3.module+el9.1.0+123+abcdef.src.rpm",
        ),
    ];
    for (rel, path, want) in [
        ("v1/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite", &v1),
        ("v2/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite", &v2),
        ("v2/Packages", "var/lib/rpm/Packages", &v2),
    ] {
        let findings =
            analyze_files(&[File::new(path, testdata(rel)), File::new("etc/os-release", RHEL9_OS_RELEASE.as_bytes())]);
        assert!(file_errors(&findings).is_empty(), "{rel}: {:?}", file_errors(&findings));
        assert_eq!(&sorted_rows(&findings), want, "{rel}");
    }
    let findings = analyze_files(&[File::new("var/lib/rpm/Packages", testdata("v2/Packages"))]);
    let pkgs = packages(&findings);
    let beta = pkgs.iter().find(|p| p.name == "ecr-beta").unwrap();
    assert_eq!(beta.version, "2:3.4.5-6.el9");
    assert_eq!(beta.licenses, vec!["GPL-2.0-or-later AND BSD-3-Clause".to_string()]);
    assert_eq!(beta.property("vendor"), Some("ECR Test Vendor"));
    assert_eq!(beta.installed_files, vec!["/usr/share/ecr-beta".to_string(), "/usr/share/ecr-beta/README".to_string()]);
    // No OS detected: no namespace, no distro qualifier.
    assert_eq!(beta.purl.as_deref(), Some("pkg:rpm/ecr-beta@3.4.5-6.el9?arch=x86_64&epoch=2"));
    let libs = pkgs.iter().find(|p| p.name == "ecr-libs").unwrap();
    assert_eq!(libs.property("modularitylabel"), Some("ecr:el9:9010020230101:abcdef12"));
    assert_eq!(libs.source_name.as_deref(), Some("ecr-src"));
    assert_eq!(libs.source_version.as_deref(), Some("1.2-3.module+el9.1.0+123+abcdef"));
    // ecr-big's 62 KB header spans Berkeley DB overflow pages.
    let big = pkgs.iter().find(|p| p.name == "ecr-big").unwrap();
    assert_eq!(big.installed_files.len(), 402);
    assert!(big.installed_files.contains(&"/usr/share/ecr-big/sub/file-with-a-longish-name-400.txt".to_string()));
}

/// Runs `rpm -qa` on a copy of `db` (named `file_name`) with `backend`; `None` without rpm (the
/// test is then skipped, or fails under CI=true).
fn rpm_query(db: &[u8], file_name: &str, backend: &str, format: &str) -> Option<Vec<String>> {
    let dir = std::env::temp_dir().join(format!("ecr-rpm-oracle-{}-{file_name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file_name), db).unwrap();
    let out = Command::new("rpm")
        .arg("--dbpath")
        .arg(&dir)
        .args(["--define", &format!("_db_backend {backend}"), "-qa", "--qf", format])
        .output()
        .map_err(|e| format!("rpm cannot run ({e})"));
    let _ = std::fs::remove_dir_all(&dir);
    let out = require(out, "install the Debian package rpm (scripts/test installs it)")?;
    assert!(out.status.success(), "rpm -qa failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut lines: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    lines.sort();
    Some(lines)
}

/// Debian's rpm reads SQLite and (read-only) Berkeley DB databases: every field and every file of
/// every package must agree with it.
#[test]
fn rpm_itself_agrees_on_every_field() {
    const QF: &str = "%{NAME}|%|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE}|%{ARCH}|%{SOURCERPM}|%{LICENSE}|%{VENDOR}|\
                      %{MODULARITYLABEL}|[%{FILENAMES},]\\n";
    let mut cases = vec![
        (testdata("v1/rpmdb.sqlite"), "rpmdb.sqlite", "sqlite"),
        (testdata("v2/rpmdb.sqlite"), "rpmdb.sqlite", "sqlite"),
        (testdata("v2/Packages"), "Packages", "bdb_ro"),
    ];
    if let Some(db) = require_fixture("rpm/sqlite-cbl-mariner-2.0-rpmdb.sqlite") {
        cases.push((db, "rpmdb.sqlite", "sqlite"));
    }
    if let Some(db) = require_fixture("rpm/bdb-libuuid-Packages") {
        cases.push((db, "Packages", "bdb_ro"));
    }
    for (db, name, backend) in cases {
        let Some(want) = rpm_query(&db, name, backend, QF) else { return };
        let want: Vec<String> = want.into_iter().filter(|l| !l.starts_with("gpg-pubkey|")).collect();
        let (pkgs, errors) = analyze_database(name, &db, None, &mut FILE_LIST_BUDGET.clone());
        assert!(errors.is_empty(), "{errors:?}");
        let none = |s: Option<&str>| s.unwrap_or("(none)").to_string();
        let mut got: Vec<String> = pkgs
            .iter()
            .map(|p| {
                let srpm = match (&p.source_name, &p.source_version) {
                    (Some(n), Some(v)) => format!("{n}-{}.src.rpm", purl::split_epoch(v).1),
                    _ => "(none)".to_string(),
                };
                let files: String = p.installed_files.iter().map(|f| format!("{f},")).collect();
                format!(
                    "{}|{}|{}|{}|{}|{}|{}|{}",
                    p.name,
                    p.version,
                    none(p.arch.as_deref()),
                    srpm,
                    none(p.licenses.first().map(String::as_str)),
                    none(p.property("vendor")),
                    none(p.property("modularitylabel")),
                    files
                )
            })
            .collect();
        got.sort();
        assert_eq!(got.len(), want.len(), "{name} ({backend})");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{name} ({backend})");
        }
    }
}

#[test]
fn gpg_pubkeys_are_not_packages() {
    // v1 holds an imported key (rpm -qa lists a gpg-pubkey there).
    let db = testdata("v1/rpmdb.sqlite");
    let records = sqlite::read(&db).unwrap();
    assert_eq!(records.blobs.len(), 3);
    let names: Vec<String> =
        records.blobs.iter().map(|(_, b)| header::parse(b, &mut usize::MAX.clone()).unwrap().name).collect();
    assert!(names.contains(&"gpg-pubkey".to_string()));
    let (pkgs, errors) = analyze_database("rpmdb.sqlite", &db, None, &mut FILE_LIST_BUDGET.clone());
    assert!(errors.is_empty());
    assert_eq!(pkgs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), vec!["ecr-beta", "ecr-alpha"]);
}

#[test]
fn os_identity_and_purls() {
    let db = testdata("v1/rpmdb.sqlite");
    let beta = |os_files: &[(&str, &str)]| -> (Option<Distro>, String) {
        let mut files = vec![File::new("var/lib/rpm/rpmdb.sqlite", db.as_slice())];
        files.extend(os_files.iter().map(|(p, c)| File::new(p, c.as_bytes())));
        let findings = analyze_files(&files);
        let distro = distro(&findings).cloned();
        let purl = packages(&findings).into_iter().find(|p| p.name == "ecr-beta").unwrap().purl.clone().unwrap();
        (distro, purl)
    };
    let (d, purl) = beta(&[("etc/os-release", RHEL9_OS_RELEASE)]);
    assert_eq!(d.map(|d| (d.id, d.version_id)), Some(("rhel".into(), "9.3".into())));
    assert_eq!(purl, "pkg:rpm/redhat/ecr-beta@3.4.5-6.el9?arch=x86_64&distro=rhel-9.3&epoch=2");
    let (d, purl) = beta(&[("etc/system-release", "Amazon Linux release 2 (Karoo)\n")]);
    assert_eq!(d.map(|d| (d.id, d.version_id)), Some(("amzn".into(), "2".into())));
    assert_eq!(purl, "pkg:rpm/amzn/ecr-beta@3.4.5-6.el9?arch=x86_64&distro=amzn-2&epoch=2");
    let (_, purl) = beta(&[("etc/redhat-release", "CentOS Linux release 7.9.2009 (Core)\n")]);
    assert_eq!(purl, "pkg:rpm/centos/ecr-beta@3.4.5-6.el9?arch=x86_64&distro=centos-7.9.2009&epoch=2");
    let (_, purl) = beta(&[("usr/lib/os-release", "ID=\"sles\"\nVERSION_ID=\"15.5\"\n")]);
    assert_eq!(purl, "pkg:rpm/suse/ecr-beta@3.4.5-6.el9?arch=x86_64&distro=sles-15.5&epoch=2");
    // An rpmdb under a Debian OS: still the rpm ecosystem, no vendor namespace, distro is the OS.
    let (_, purl) = beta(&[("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n")]);
    assert_eq!(purl, "pkg:rpm/ecr-beta@3.4.5-6.el9?arch=x86_64&distro=debian-12&epoch=2");
}

#[test]
fn namespaces() {
    let cases = [
        ("rhel", Some("redhat")),
        ("centos", Some("centos")),
        ("rocky", Some("rocky")),
        ("almalinux", Some("almalinux")),
        ("amzn", Some("amzn")),
        ("fedora", Some("fedora")),
        ("mariner", Some("mariner")),
        ("ol", Some("oracle")),
        ("sles", Some("suse")),
        ("opensuse-leap", Some("opensuse")),
        ("debian", None),
        ("alpine", None),
    ];
    for (id, want) in cases {
        assert_eq!(namespace(id), want, "{id}");
    }
}

#[test]
fn source_rpm_names() {
    assert_eq!(split_source_rpm("util-linux-2.32.1-42.el8_8.src.rpm"), Some(("util-linux", "2.32.1", "42.el8_8")));
    assert_eq!(split_source_rpm("foo-1-2.nosrc.rpm"), Some(("foo", "1", "2")));
    assert_eq!(split_source_rpm("foo-1.src.rpm"), None);
    assert_eq!(split_source_rpm("foo-1-2.rpm"), None);
    assert_eq!(split_source_rpm("-1-2.src.rpm"), None);
}

#[test]
fn database_order_and_empty_files() {
    let v1 = testdata("v1/rpmdb.sqlite");
    let v2 = testdata("v2/Packages");
    let findings = analyze_files(&[
        File::new("var/lib/rpm/Packages", v2.as_slice()),
        File::new("usr/lib/sysimage/rpm/rpmdb.sqlite", v1.as_slice()),
        File::new("usr/share/rpm/Packages.db", b""),
        File::new("var/lib/rpm/unrelated", b"x"),
    ]);
    assert!(file_errors(&findings).is_empty());
    let got: Vec<(&str, &str)> = packages(&findings).iter().map(|p| (p.path.as_str(), p.name.as_str())).collect();
    let sys = "usr/lib/sysimage/rpm/rpmdb.sqlite";
    let var = "var/lib/rpm/Packages";
    // Directory preference first, then header number (install order) within a database.
    assert_eq!(
        got,
        vec![
            (sys, "ecr-beta"),
            (sys, "ecr-alpha"),
            (var, "ecr-beta"),
            (var, "ecr-alpha"),
            (var, "ecr-big"),
            (var, "ecr-libs")
        ]
    );
}

/// Parsing is re-run for every layer that changes a database, so it has to be quick: report the
/// speed and hold it to a generous bound (debug builds included).
#[test]
fn parse_speed() {
    let mut cases = vec![
        ("own bdb", testdata("v2/Packages"), "Packages"),
        ("own sqlite", testdata("v2/rpmdb.sqlite"), "rpmdb.sqlite"),
    ];
    for (name, fixture, file) in [
        ("mariner sqlite", "rpm/sqlite-cbl-mariner-2.0-rpmdb.sqlite", "rpmdb.sqlite"),
        ("sle15 ndb", "rpm/ndb-sle15-bci-Packages.db", "Packages.db"),
        ("libuuid bdb", "rpm/bdb-libuuid-Packages", "Packages"),
    ] {
        if let Some(db) = require_fixture(fixture) {
            cases.push((name, db, file));
        }
    }
    for (name, db, file) in cases {
        let started = Instant::now();
        let rounds = 5;
        for _ in 0..rounds {
            let (pkgs, errors) = analyze_database(file, &db, None, &mut FILE_LIST_BUDGET.clone());
            assert!(!pkgs.is_empty() && errors.is_empty(), "{name}");
        }
        let each = started.elapsed() / rounds;
        let mb_s = db.len() as f64 / each.as_secs_f64() / 1e6;
        println!("parse {name}: {} bytes in {each:?} ({mb_s:.0} MB/s)", db.len());
        assert!(each < Duration::from_secs(2), "{name}: {each:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile and broken input
// ---------------------------------------------------------------------------------------------

fn errors_of(path: &str, content: &[u8]) -> (Vec<String>, Vec<String>) {
    let findings = analyze_files(&[File::new(path, content)]);
    let names = packages(&findings).iter().map(|p| p.name.clone()).collect();
    let errors: Vec<String> = file_errors(&findings).iter().map(|e| e.message.clone()).collect();
    assert!(file_errors(&findings).iter().all(|e| e.path == path));
    (names, errors)
}

fn assert_error(errors: &[String], needle: &str) {
    assert!(errors.iter().any(|e| e.contains(needle)), "no error mentions {needle:?}: {errors:?}");
}

/// A minimal header blob from (tag, type, offset, count) entries and a data store.
fn blob(entries: &[(u32, u32, u32, u32)], data: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    b.extend_from_slice(&(data.len() as u32).to_be_bytes());
    for &(tag, ty, off, count) in entries {
        for v in [tag, ty, off, count] {
            b.extend_from_slice(&v.to_be_bytes());
        }
    }
    b.extend_from_slice(data);
    b
}

#[test]
fn header_blob_with_lying_offsets_and_counts() {
    let data = b"bash\x005.2\x001.el9\x00";
    let good = [(1000, 6, 0, 1), (1001, 6, 5, 1), (1002, 6, 9, 1)];
    let h = header::parse(&blob(&good, data), &mut 1000).unwrap();
    assert_eq!((h.name.as_str(), h.version.as_str(), h.release.as_str(), h.epoch), ("bash", "5.2", "1.el9", None));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (blob(&[(1000, 6, 0, 1), (1001, 6, 500, 1), (1002, 6, 9, 1)], data), "offset 500, past the 15-byte data"),
        (
            blob(&[(1000, 6, 0, 1), (1001, 6, 5, 1), (1002, 6, 9, 1), (1003, 4, 4, 1_000_000)], data),
            "claims 1000000 values",
        ),
        (
            blob(&[(1000, 6, 0, 1), (1001, 6, 5, 1), (1002, 6, 9, 1), (1117, 8, 0, 4_000_000_000)], data),
            "claims 4000000000 strings",
        ),
        (blob(&[(1000, 6, 0, 1), (1001, 6, 5, 1), (1002, 6, 9, 1), (1003, 4, 2, 1)], data), "not aligned"),
        (blob(&[(1000, 6, 0, 1), (1001, 6, 5, 1), (1002, 6, 9, 1), (1003, 77, 0, 1)], data), "unknown type 77"),
        (blob(&[(1000, 6, 0, 1), (1001, 6, 5, 1)], data), "no RELEASE tag"),
        (blob(&[(1000, 6, 0, 1), (1001, 6, 5, 1), (1002, 6, 9, 1)], b"bash\x005.2\x001.el9"), "no terminating NUL"),
        (blob(&[(1000, 6, 0, 1), (1001, 6, 5, 1), (1002, 6, 9, 1), (1000, 6, 0xffff_fff0, 1)], data), "past the"),
        (blob(&[(1000, 4, 0, 1), (1001, 6, 5, 1), (1002, 6, 9, 1)], data), "where a string was expected"),
        (vec![0, 0, 0, 9, 0, 0, 0, 4], "needs 156 bytes"),
        (vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 4], "4294967295 index entries"),
        (vec![0, 0, 0, 1], "shorter than its 8-byte preamble"),
        // Files: a directory index past the DIRNAMES.
        (
            blob(
                &[
                    (1000, 6, 0, 1),
                    (1001, 6, 5, 1),
                    (1002, 6, 9, 1),
                    (1116, 4, 16, 1),
                    (1117, 8, 0, 1),
                    (1118, 8, 5, 1),
                ],
                b"bash\x005.2\x001.el9\x00\x00\x00\x00\x00\x07",
            ),
            "names directory 7 of 1",
        ),
    ];
    for (b, needle) in cases {
        let e = header::parse(&b, &mut 1000).expect_err(needle);
        assert!(e.contains(needle), "{needle:?} not in {e:?}");
    }
}

#[test]
fn header_file_list_is_bounded() {
    // 2000 files all naming one 1000-byte directory: 2 MB of paths from a 5 KB blob.
    let mut data = b"x\x001\x001\x00".to_vec();
    let dir_off = data.len();
    data.extend(std::iter::repeat_n(b'd', 1000));
    data.push(0);
    let base_off = data.len();
    data.extend(std::iter::repeat_n(*b"f\0", 2000).flatten());
    while !data.len().is_multiple_of(4) {
        data.push(0);
    }
    let idx_off = data.len();
    data.extend(std::iter::repeat_n(0u8, 2000 * 4));
    let b = blob(
        &[
            (1000, 6, 0, 1),
            (1001, 6, 2, 1),
            (1002, 6, 4, 1),
            (1116, 4, idx_off as u32, 2000),
            (1117, 8, base_off as u32, 2000),
            (1118, 8, dir_off as u32, 1),
        ],
        &data,
    );
    let mut budget = 100_000;
    let h = header::parse(&b, &mut budget).unwrap();
    assert!(h.files_truncated);
    assert_eq!(h.files.len(), 99);
    let mut budget = usize::MAX;
    assert_eq!(header::parse(&b, &mut budget).unwrap().files.len(), 2000);
}

fn bdb_page_size(db: &[u8]) -> usize {
    u32::from_le_bytes(db[20..24].try_into().unwrap()) as usize
}

/// Overflow pages of a Berkeley DB file (page type 7), in page order.
fn bdb_overflow_pages(db: &[u8]) -> Vec<usize> {
    let ps = bdb_page_size(db);
    (1..db.len() / ps).filter(|&p| db[p * ps + 25] == 7).collect()
}

#[test]
fn bdb_overflow_loop_and_truncation() {
    let db = testdata("v2/Packages");
    let ps = bdb_page_size(&db);
    let ov = bdb_overflow_pages(&db);
    assert!(ov.len() > 10, "ecr-big's header spans overflow pages: {ov:?}");
    // Point an overflow page's next-page link back at itself.
    let mut looped = db.clone();
    // A page in the middle of a chain (its next link is set).
    let p = *ov.iter().find(|&&p| db[p * ps + 16..p * ps + 20] != [0; 4]).unwrap();
    looped[p * ps + 16..p * ps + 20].copy_from_slice(&(p as u32).to_le_bytes());
    let started = Instant::now();
    let (names, errors) = errors_of("var/lib/rpm/Packages", &looped);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_error(&errors, "a second time (loop or shared page)");
    assert_eq!(names.len(), 3, "the other packages are still read: {names:?}");
    assert!(!names.contains(&"ecr-big".to_string()));

    // Cut off in the middle of the overflow pages.
    let cut = &db[..ov[5] * ps + 100];
    let (names, errors) = errors_of("var/lib/rpm/Packages", cut);
    assert_error(&errors, "truncated: the metadata page says the file has 23 pages of 4096 bytes, it holds");
    assert!(!names.contains(&"ecr-big".to_string()), "{names:?}");
    // Too short for a metadata page.
    let (names, errors) = errors_of("var/lib/rpm/Packages", &db[..300]);
    assert!(names.is_empty());
    assert_error(&errors, "too short for a Berkeley DB metadata page");
}

#[test]
fn bdb_corrupt_item_offsets() {
    let db = testdata("v2/Packages");
    let ps = bdb_page_size(&db);
    let hash_page = (1..db.len() / ps).find(|&p| db[p * ps + 25] == 13).unwrap();
    let mut bad = db.clone();
    // First item offset beyond the page.
    bad[hash_page * ps + 26..hash_page * ps + 28].copy_from_slice(&0xfff0u16.to_le_bytes());
    let (_, errors) = errors_of("var/lib/rpm/Packages", &bad);
    assert_error(&errors, &format!("hash page {hash_page} item 0: offsets out of order or outside the page"));
}

#[test]
fn ndb_shared_fixture_corrupted() {
    let Some(db) = require_fixture("rpm/ndb-sle15-bci-Packages.db") else { return };
    let path = "usr/lib/sysimage/rpm/Packages.db";
    // Truncated: the last packages' blobs are gone, the others are kept.
    let (names, errors) = errors_of(path, &db[..db.len() / 2]);
    assert!(!names.is_empty() && names.len() < 35, "{}", names.len());
    assert_error(&errors, "are outside the blob area");
    // Truncated inside the slot page.
    let (names, errors) = errors_of(path, &db[..2000]);
    assert!(names.is_empty());
    assert_error(&errors, "truncated or corrupt: 1 slot pages of 4096 bytes claimed, the file has 2000 bytes");
    // Slot 1 pointing at slot 0's blocks: overlap.
    let mut bad = db.clone();
    let first_blocks = bad[32 + 8..32 + 16].to_vec();
    bad[48 + 8..48 + 16].copy_from_slice(&first_blocks);
    let (names, errors) = errors_of(path, &bad);
    assert_eq!(names.len(), 34);
    assert_error(&errors, "package #2: its blocks overlap another package's");
    // A blob whose length is a lie.
    let mut bad = db.clone();
    let off = u32::from_le_bytes(bad[40..44].try_into().unwrap()) as usize * 16;
    bad[off + 12..off + 16].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let (names, errors) = errors_of(path, &bad);
    assert_eq!(names.len(), 34);
    assert_error(&errors, "package #1: blob length 2147483647 does not fit");
    // A broken slot magic.
    let mut bad = db.clone();
    bad[48] = b'X';
    let (names, errors) = errors_of(path, &bad);
    assert_eq!(names.len(), 34);
    assert_error(&errors, "slot 1 at byte 48 has no \"Slot\" magic");
}

fn sqlite_page_size(db: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([db[16], db[17]]))
}

#[test]
fn sqlite_truncated_and_looped() {
    let db = testdata("v2/rpmdb.sqlite");
    let path = "var/lib/rpm/rpmdb.sqlite";
    let ps = sqlite_page_size(&db);
    // Truncated to half: a clear message, and whatever pages are left are still read.
    let (_, errors) = errors_of(path, &db[..db.len() / 2]);
    assert_error(&errors, &format!("truncated: the header says {} pages", db.len() / ps));
    // Cut inside the schema page.
    let (names, errors) = errors_of(path, &db[..1000]);
    assert!(names.is_empty());
    assert_error(&errors, "no Packages table found");
    // The Packages table's root page (from the schema) made an interior page that points at itself.
    let root = packages_root(&db);
    let mut looped = db.clone();
    let base = (root - 1) * ps;
    looped[base] = 0x05;
    looped[base + 3..base + 5].copy_from_slice(&0u16.to_be_bytes());
    looped[base + 8..base + 12].copy_from_slice(&(root as u32).to_be_bytes());
    let started = Instant::now();
    let (names, errors) = errors_of(path, &looped);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(names.is_empty());
    assert_error(&errors, &format!("b-tree page {root} is reached a second time (loop or shared page)"));
}

/// The Packages table's root page, read with the sqlite3 CLI when available, else found by
/// scanning for the only table leaf/interior page whose cells hold rpm header blobs.
fn packages_root(db: &[u8]) -> usize {
    let tmp = std::env::temp_dir().join(format!("ecr-rpm-root-{}.sqlite", std::process::id()));
    std::fs::write(&tmp, db).unwrap();
    let out =
        Command::new("sqlite3").arg(&tmp).arg("SELECT rootpage FROM sqlite_master WHERE name='Packages'").output();
    let _ = std::fs::remove_file(&tmp);
    match out {
        Ok(o) if o.status.success() => String::from_utf8(o.stdout).unwrap().trim().parse().unwrap(),
        _ => {
            println!("sqlite3 CLI absent: using the root page this test data is known to have");
            3
        }
    }
}

#[test]
fn sqlite_overflow_loop() {
    let db = testdata("v2/rpmdb.sqlite");
    let ps = sqlite_page_size(&db);
    // ecr-big's 62 KB blob overflows: find an overflow chain page (its first 4 bytes link to the
    // next page and the content is header data) by following the chain from its leaf cell is
    // what the reader does; here, link every page whose next-pointer names the following page
    // back to itself, which turns the chain into a loop.
    let mut looped = db.clone();
    let mut patched = 0;
    for p in 2..=db.len() / ps {
        let at = (p - 1) * ps;
        let next = u32::from_be_bytes(db[at..at + 4].try_into().unwrap()) as usize;
        if next == p + 1 && db[at] == 0 {
            looped[at..at + 4].copy_from_slice(&(p as u32).to_be_bytes());
            patched += 1;
            break;
        }
    }
    assert_eq!(patched, 1, "an overflow chain of consecutive pages exists");
    let (names, errors) = errors_of("var/lib/rpm/rpmdb.sqlite", &looped);
    assert_error(&errors, "overflow page");
    assert_error(&errors, "a second time");
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(!names.contains(&"ecr-big".to_string()));
}

#[test]
fn not_a_database() {
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect();
    for (path, needle) in [
        (
            "var/lib/rpm/Packages",
            "unrecognized database format: not a Berkeley DB hash database (bad magic at byte 12)",
        ),
        ("var/lib/rpm/Packages.db", "unrecognized database format: not an rpm NDB database (no \"RpmP\" magic)"),
        ("var/lib/rpm/rpmdb.sqlite", "unrecognized database format: not an SQLite database (bad magic)"),
    ] {
        let (names, errors) = errors_of(path, &garbage);
        assert!(names.is_empty());
        assert_eq!(errors, vec![needle.to_string()]);
    }
}

#[test]
fn one_bad_database_does_not_hide_another() {
    let good = testdata("v1/rpmdb.sqlite");
    let findings = analyze_files(&[
        File::new("usr/lib/sysimage/rpm/rpmdb.sqlite", good.as_slice()),
        File::new("var/lib/rpm/Packages", b"garbage, not a database"),
    ]);
    assert_eq!(packages(&findings).len(), 2);
    let errors = file_errors(&findings);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path, "var/lib/rpm/Packages");
}

// ---------------------------------------------------------------------------------------------
// Deterministic mutation fuzzing
// ---------------------------------------------------------------------------------------------

/// xorshift64*: a fixed seed gives the same mutations on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One random mutation of `seed_input`: byte flips, interesting 16/32-bit values (counts,
/// offsets, page numbers) in either byte order, truncation, duplication of a region, or a
/// page-sized block copied over another (to make links point at live pages).
fn mutate(rng: &mut Rng, input: &[u8], page: usize) -> Vec<u8> {
    const INTERESTING: [u32; 10] = [0, 1, 2, 0x7f, 0xff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1000];
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            break;
        }
        match rng.below(7) {
            0 => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            2 | 3 => {
                let i = rng.below(b.len().saturating_sub(4));
                let v = INTERESTING[rng.below(INTERESTING.len())];
                let bytes = if rng.below(2) == 0 { v.to_le_bytes() } else { v.to_be_bytes() };
                let n = if rng.below(2) == 0 { 2 } else { 4 };
                for (k, byte) in bytes.iter().take(n).enumerate() {
                    if let Some(slot) = b.get_mut(i + k) {
                        *slot = *byte;
                    }
                }
            }
            4 => b.truncate(rng.below(b.len())),
            5 => {
                let start = rng.below(b.len());
                let len = rng.below(64.min(b.len() - start));
                let chunk = b[start..start + len].to_vec();
                let at = rng.below(b.len());
                b.splice(at..at, chunk);
            }
            _ => {
                let pages = b.len() / page.max(1);
                if pages >= 2 {
                    let (from, to) = (rng.below(pages), rng.below(pages));
                    let chunk = b[from * page..(from + 1) * page].to_vec();
                    b[to * page..(to + 1) * page].copy_from_slice(&chunk);
                }
            }
        }
    }
    b
}

/// `ECR_RPM_FUZZ_ITERS` (default 300, a quick run) and `ECR_RPM_FUZZ_SEED` (mixed into each
/// fuzzer's fixed seed, default 0) set the length and the mutations of a longer campaign.
fn fuzz_iterations() -> usize {
    std::env::var("ECR_RPM_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

fn fuzz_seed() -> u64 {
    std::env::var("ECR_RPM_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Mutates `seed_input` `iterations` times and runs `parse` on each; a panic fails the test,
/// and each run must finish quickly.
fn fuzz(name: &str, seed: u64, seed_input: &[u8], page: usize, parse: impl Fn(&[u8])) {
    // xorshift needs a non-zero state.
    let mut rng = Rng((seed ^ fuzz_seed().wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1);
    let iterations = fuzz_iterations();
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for _ in 0..iterations {
        let input = mutate(&mut rng, seed_input, page);
        let t = Instant::now();
        parse(&input);
        slowest = slowest.max(t.elapsed());
    }
    println!("fuzz {name}: {iterations} inputs in {:?}, slowest {slowest:?}", started.elapsed());
    assert!(slowest < Duration::from_secs(5), "{name}: one input took {slowest:?}");
}

/// Parses everything the analyzer would: the database and every blob's header.
fn full(content: &[u8], name: &str) {
    let (pkgs, errors) = analyze_database(name, content, None, &mut FILE_LIST_BUDGET.clone());
    // Everything found is well-formed enough to be reported.
    assert!(pkgs.iter().all(|p| !p.version.is_empty()));
    assert!(errors.len() <= MAX_ERRORS_PER_FILE + 2);
}

#[test]
fn fuzz_bdb() {
    let db = testdata("v2/Packages");
    fuzz("bdb", 0x5eed_0001, &db, 4096, |b| full(b, "Packages"));
    if let Some(db) = require_fixture("rpm/bdb-libuuid-Packages") {
        fuzz("bdb-libuuid", 0x5eed_0002, &db, 4096, |b| full(b, "Packages"));
    }
}

#[test]
fn fuzz_ndb() {
    let Some(db) = require_fixture("rpm/ndb-sle15-bci-Packages.db") else { return };
    fuzz("ndb", 0x5eed_0003, &db, 4096, |b| full(b, "Packages.db"));
}

#[test]
fn fuzz_sqlite() {
    let db = testdata("v2/rpmdb.sqlite");
    fuzz("sqlite", 0x5eed_0004, &db, 4096, |b| full(b, "rpmdb.sqlite"));
}

#[test]
fn fuzz_header_blobs() {
    let db = testdata("v2/rpmdb.sqlite");
    let records = sqlite::read(&db).unwrap();
    for (i, (_, blob)) in records.blobs.iter().enumerate() {
        fuzz(&format!("header #{i}"), 0x5eed_0100 + i as u64, blob, 16, |b| {
            let _ = header::parse(b, &mut FILE_LIST_BUDGET.clone());
        });
    }
}
