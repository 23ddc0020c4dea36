use super::*;
// The integration tests' rule for missing tools and fixtures (skip, or fail under CI=true).
#[path = "../../../tests/common/require.rs"]
#[allow(dead_code)] // each crate uses part of it
mod require;
use ecr_plugin_kit::findings::{distro, file_errors, packages};
use require::{require, require_fixture};
use std::collections::BTreeSet;

const DEBIAN12_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n\
NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\n\
VERSION_CODENAME=bookworm\nID=debian\n";

/// (name, version, arch, source name, source version)
type Row<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);

fn names(parsed: &status::Parsed) -> Vec<&str> {
    parsed.entries.iter().map(|e| e.name.as_str()).collect()
}

#[test]
fn describe_patterns() {
    let patterns = Dpkg::patterns();
    assert_eq!(Dpkg::NAME, "dpkg");
    assert!(patterns.iter().any(|p| p == "var/lib/dpkg/status"));
    assert!(patterns.iter().any(|p| p == "var/lib/dpkg/status.d/*"));
    assert!(patterns.iter().any(|p| p == "etc/os-release"));
    assert!(patterns.iter().all(|p| !p.starts_with('/')));
}

#[test]
fn fixture_status_valid() {
    let Some(bytes) = require_fixture("dpkg/status-valid") else { return };
    let findings = analyze_files(&[
        File::new("var/lib/dpkg/status", bytes.as_slice()),
        File::new("etc/os-release", DEBIAN12_OS_RELEASE.as_bytes()),
    ]);
    assert!(file_errors(&findings).is_empty(), "{:?}", file_errors(&findings));
    let d = distro(&findings).expect("distro");
    assert_eq!((d.id.as_str(), d.version_id.as_str()), ("debian", "12"));
    let pkgs = packages(&findings);
    let got: Vec<Row> = pkgs
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.version.as_str(),
                p.arch.as_deref(),
                p.source_name.as_deref(),
                p.source_version.as_deref(),
            )
        })
        .collect();
    // What the file itself says: seven stanzas, all "install ok installed".
    assert_eq!(
        got,
        vec![
            ("accountsservice", "22.08.8-6", Some("amd64"), Some("accountsservice"), Some("22.08.8-6")),
            ("acl", "2.3.1-3", Some("amd64"), Some("acl"), Some("2.3.1-3")),
            ("adduser", "3.131", Some("all"), Some("adduser"), Some("3.131")),
            (
                "admin-session",
                "2023.06.26.c543406313-00",
                Some("amd64"),
                Some("admin-session"),
                Some("2023.06.26.c543406313-00")
            ),
            ("attr", "1:2.5.1-4", Some("amd64"), Some("attr"), Some("1:2.5.1-4")),
            ("libacl1", "2.3.1-3", Some("amd64"), Some("acl"), Some("2.3.1-3")),
            ("util-linux-extra", "2.38.1-5+b1", Some("amd64"), Some("util-linux"), Some("2.38.1-5")),
        ]
    );
    for p in &pkgs {
        assert_eq!(p.ecosystem, "deb");
        assert_eq!(p.path, "var/lib/dpkg/status");
        assert!(p.licenses.is_empty());
    }
    let purl = |n: &str| pkgs.iter().find(|p| p.name == n).and_then(|p| p.purl.clone()).unwrap();
    assert_eq!(purl("attr"), "pkg:deb/debian/attr@2.5.1-4?arch=amd64&distro=debian-12&epoch=1");
    assert_eq!(purl("util-linux-extra"), "pkg:deb/debian/util-linux-extra@2.38.1-5%2Bb1?arch=amd64&distro=debian-12");
    assert_eq!(purl("adduser"), "pkg:deb/debian/adduser@3.131?arch=all&distro=debian-12");
    let attr = pkgs.iter().find(|p| p.name == "attr").unwrap();
    assert_eq!(attr.properties, vec![("epoch".to_string(), "1".to_string())]);
}

/// This machine's real database against dpkg-query, the real tool, as the oracle.
#[test]
fn real_status_matches_dpkg_query() {
    let read = std::fs::read("/var/lib/dpkg/status").map_err(|e| format!("/var/lib/dpkg/status cannot be read ({e})"));
    let Some(bytes) = require(read, "this test needs a Debian machine's own dpkg database") else { return };
    let out = std::process::Command::new("dpkg-query")
        .args([
            "-W",
            "-f=${Package}\\t${Version}\\t${Architecture}\\t${source:Package}\\t${source:Version}\\t${db:Status-Status}\\n",
        ])
        .output()
        .expect("dpkg-query runs where /var/lib/dpkg/status is");
    assert!(out.status.success(), "dpkg-query: {}", String::from_utf8_lossy(&out.stderr));
    let mut want = BTreeSet::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 6, "{line}");
        if !status::KEPT_STATES.contains(&cols[5]) {
            continue;
        }
        let arch = (!cols[2].is_empty()).then(|| cols[2].to_string());
        want.insert((cols[0].to_string(), cols[1].to_string(), arch, cols[3].to_string(), cols[4].to_string()));
    }
    assert!(!want.is_empty());

    let mut files = vec![File::new("var/lib/dpkg/status", bytes.as_slice())];
    if let Ok(osr) = std::fs::read("/etc/os-release") {
        files.push(File::new("etc/os-release", osr.as_slice()));
    }
    let findings = analyze_files(&files);
    assert!(file_errors(&findings).is_empty(), "{:?}", file_errors(&findings));
    let pkgs = packages(&findings);
    let got: BTreeSet<_> = pkgs
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.version.clone(),
                p.arch.clone(),
                p.source_name.clone().unwrap(),
                p.source_version.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), pkgs.len(), "duplicate packages");
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}\nextra {extra:?}");
    println!("real status: {} packages equal to dpkg-query", got.len());
    if files.len() == 2 {
        assert!(distro(&findings).is_some());
    }
    for p in pkgs {
        let purl = p.purl.as_deref().unwrap();
        assert!(purl.starts_with("pkg:deb/"), "{purl}");
        assert!(!purl.contains('+') && !purl.contains(' '), "{purl}");
    }
}

#[test]
fn distroless_status_d() {
    let files = vec![
        File::new("etc/os-release", DEBIAN12_OS_RELEASE.as_bytes()),
        File::new(
            "var/lib/dpkg/status.d/libc6",
            b"Package: libc6\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\nSource: glibc\n\
              Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\n\
              Installed-Size: 12985\nMulti-Arch: same\nDescription: GNU C Library: Shared libraries\n \
              Contains the standard libraries.\n",
        ),
        File::new(
            "var/lib/dpkg/status.d/libc6.md5sums",
            b"3d5f3e7a5b1b0b7f6a8f7c2b9a1e4d6c  lib/x86_64-linux-gnu/libc.so.6\n",
        ),
        File::new("var/lib/dpkg/status.d/tzdata", b"Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n"),
        File::new(
            "var/lib/dpkg/status.d/base-files",
            b"Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n",
        ),
        File::new("var/lib/dpkg/status.d/.hidden", b"garbage"),
        File::new("var/lib/dpkg/status.d/netbase.list", b"/etc/protocols\n"),
    ];
    let findings = analyze_files(&files);
    assert!(file_errors(&findings).is_empty(), "{:?}", file_errors(&findings));
    let pkgs = packages(&findings);
    let got: Vec<(&str, &str, &str)> =
        pkgs.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.path.as_str())).collect();
    assert_eq!(
        got,
        vec![
            ("base-files", "12.4+deb12u5", "var/lib/dpkg/status.d/base-files"),
            ("libc6", "2.36-9+deb12u4", "var/lib/dpkg/status.d/libc6"),
            ("tzdata", "2024a-0+deb12u1", "var/lib/dpkg/status.d/tzdata"),
        ]
    );
    let libc = pkgs[1];
    assert_eq!(libc.source_name.as_deref(), Some("glibc"));
    assert_eq!(libc.source_version.as_deref(), Some("2.36-9+deb12u4"));
    assert_eq!(libc.purl.as_deref(), Some("pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"));
    assert!(libc.properties.is_empty());
}

#[test]
fn path_selection() {
    assert!(is_database("var/lib/dpkg/status"));
    assert!(is_database("/var/lib/dpkg/status"));
    assert!(is_database("var/lib/dpkg/status.d/libc6"));
    assert!(!is_database("var/lib/dpkg/status.d/libc6.md5sums"));
    assert!(!is_database("var/lib/dpkg/status.d/"));
    assert!(!is_database("var/lib/dpkg/status.d/sub/x"));
    assert!(!is_database("var/lib/dpkg/status-old"));
    assert!(!is_database("var/lib/dpkg/status.dx/y"));
    // A directory entry is not read.
    let mut dir = File::new("var/lib/dpkg/status.d/weird", b"not a stanza");
    dir.mode = 0o040755;
    assert!(analyze_files(&[dir]).is_empty());
}

#[test]
fn installed_states() {
    let db = "\
Package: ok\nStatus: install ok installed\nVersion: 1\n\n\
Package: tp\nStatus: install ok triggers-pending\nVersion: 1\n\n\
Package: ta\nStatus: install ok triggers-awaited\nVersion: 1\n\n\
Package: hc\nStatus: install reinstreq half-configured\nVersion: 1\n\n\
Package: un\nStatus: install ok unpacked\nVersion: 1\n\n\
Package: hi\nStatus: install reinstreq half-installed\nVersion: 1\n\n\
Package: cf\nStatus: deinstall ok config-files\nVersion: 1\n\n\
Package: ni\nStatus: purge ok not-installed\n\n\
Package: de\nStatus: deinstall ok installed\nVersion: 1\n\n\
Package: nostatus\nVersion: 1\n\n\
Package: weird\nStatus: something\nVersion: 1\n";
    let p = status::parse(db.as_bytes());
    assert_eq!(names(&p), vec!["ok", "tp", "ta", "hc", "un", "de", "nostatus", "weird"]);
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    assert!(p.errors[0].contains("line 40") && p.errors[0].contains("Status"), "{:?}", p.errors);
    let findings = analyze_files(&[File::new("var/lib/dpkg/status", db.as_bytes())]);
    let hc = packages(&findings).into_iter().find(|p| p.name == "hc").unwrap();
    assert_eq!(hc.properties, vec![("dpkg-status".to_string(), "half-configured".to_string())]);
    // No OS files: namespace defaults to debian and there is no distro qualifier.
    assert_eq!(hc.purl.as_deref(), Some("pkg:deb/debian/hc@1"));
    assert!(distro(&findings).is_none());
}

#[test]
fn source_field_forms() {
    let db = "\
Package: a\nVersion: 1:2.0-1+b2\nSource: srca (1:2.0-1)\n\n\
Package: b\nVersion: 3.0-1\nSource: srcb\n\n\
Package: c\nVersion: 4.0\n\n\
Package: d\nVersion: 5\nSource:   srcd   (  5-0  )  \n\n\
Package: e\nVersion: 6\nSource: srce(6-1)\n\n\
Package: f\nVersion: 7\nSource:\n";
    let p = status::parse(db.as_bytes());
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let src: Vec<(&str, &str)> =
        p.entries.iter().map(|e| (e.source_name.as_str(), e.source_version.as_str())).collect();
    assert_eq!(
        src,
        vec![("srca", "1:2.0-1"), ("srcb", "3.0-1"), ("c", "4.0"), ("srcd", "5-0"), ("srce", "6-1"), ("f", "7")]
    );
}

#[test]
fn deb822_syntax() {
    // CRLF, case-insensitive names, whitespace-only separators, comments, continuation lines,
    // first occurrence of a duplicate field wins, no trailing newline.
    let db = "# a comment\r\npackage: one\r\nVERSION: 1.0\r\nArchitecture: arm64\r\n\
Description: x\r\n y\r\n .\r\n z\r\n \t \r\n\
Package: two\nVersion: 2.0\nVersion: 9.9\nDescription: a\n\tb\n   \n\n\n\
Package: three\nVersion: 3.0";
    let p = status::parse(db.as_bytes());
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let got: Vec<(&str, &str, Option<&str>, usize)> =
        p.entries.iter().map(|e| (e.name.as_str(), e.version.as_str(), e.arch.as_deref(), e.line)).collect();
    assert_eq!(got, vec![("one", "1.0", Some("arm64"), 2), ("two", "2.0", None, 10), ("three", "3.0", None, 18)]);
}

#[test]
fn missing_package_or_version_is_reported_and_others_kept() {
    let db = "Package: good1\nVersion: 1\n\nVersion: 2\nArchitecture: all\n\n\
Package: nover\nArchitecture: all\n\nPackage: good2\nVersion: 3\n\nPackage:\nVersion: 4\n";
    let findings = analyze_files(&[File::new("var/lib/dpkg/status", db.as_bytes())]);
    let names: Vec<&str> = packages(&findings).iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["good1", "good2"]);
    let errs = file_errors(&findings);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(errs.iter().all(|e| e.path == "var/lib/dpkg/status"));
    assert!(errs[0].message.contains("line 4") && errs[0].message.contains("Package"), "{errs:?}");
    assert!(
        errs[1].message.contains("line 7") && errs[1].message.contains("Version") && errs[1].message.contains("nover"),
        "{errs:?}"
    );
    assert!(errs[2].message.contains("line 13"), "{errs:?}");
}

#[test]
fn binary_garbage_is_one_file_error() {
    let mut garbage = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..100_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        garbage.push((x >> 16) as u8);
    }
    let findings = analyze_files(&[File::new("var/lib/dpkg/status", garbage.as_slice())]);
    assert!(packages(&findings).is_empty());
    let errs = file_errors(&findings);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].message.contains("not a dpkg status database"), "{errs:?}");
    assert!(errs[0].message.contains("line "), "{errs:?}");

    // Text that is not deb822 at all: one message, not one per line.
    let text = "hello world\nthis is not\na status file\n".repeat(1000);
    let p = status::parse(text.as_bytes());
    assert!(p.entries.is_empty());
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    assert!(p.errors[0].contains("not a dpkg status database") && p.errors[0].contains("line 1"));
}

#[test]
fn empty_files_are_empty_databases() {
    for content in [&b""[..], b"\n\n", b"  \r\n\t\n"] {
        let p = status::parse(content);
        assert!(p.entries.is_empty() && p.errors.is_empty(), "{content:?}: {p:?}");
    }
}

#[test]
fn truncated_by_nul_keeps_earlier_packages() {
    let mut db = b"Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\n".to_vec();
    db.extend_from_slice(&[0u8; 64]);
    db.extend_from_slice(b"\nPackage: c\nVersion: 3\n");
    let p = status::parse(&db);
    assert_eq!(names(&p), vec!["a", "b"]);
    assert_eq!(p.errors.len(), 1);
    assert!(p.errors[0].contains("line 6") && p.errors[0].contains("NUL"), "{:?}", p.errors);
}

#[test]
fn invalid_utf8() {
    // In a field that is not read: lossy is safe, no error.
    let db = b"Package: a\nVersion: 1\nDescription: caf\xe9\n more \xff\n\nPackage: b\nVersion: 2\xff\n\n\
Package: c\nVersion: 3\nMaintainer: J\xf6rg\n";
    let p = status::parse(db);
    assert_eq!(names(&p), vec!["a", "c"]);
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    assert!(p.errors[0].contains("line 7") && p.errors[0].contains("UTF-8"), "{:?}", p.errors);
}

#[test]
fn stray_lines_are_reported_with_line_numbers() {
    let db = " leading continuation\nPackage: a\nVersion: 1\nno colon here\n: empty name\nbad name: x\n\nPackage: b\nVersion: 2\n";
    let p = status::parse(db.as_bytes());
    assert_eq!(names(&p), vec!["a", "b"]);
    assert_eq!(p.errors.len(), 4, "{:?}", p.errors);
    for (e, l) in p.errors.iter().zip([1, 4, 5, 6]) {
        assert!(e.starts_with(&format!("line {l}:")), "{e}");
    }
}

#[test]
fn error_flood_is_capped() {
    let mut db = String::from("Package: a\nVersion: 1\n\n");
    for _ in 0..10_000 {
        db.push_str("junk line\n");
    }
    let p = status::parse(db.as_bytes());
    assert_eq!(names(&p), vec!["a"]);
    assert_eq!(p.errors.len(), status::MAX_ERRORS_PER_FILE + 1);
    assert!(p.errors.last().unwrap().contains("9980 more"), "{:?}", p.errors.last());
}

#[test]
fn mutated_inputs_never_panic() {
    let base: Vec<u8> = require_fixture("dpkg/status-valid").unwrap_or_else(|| {
        b"Package: a\nStatus: install ok installed\nVersion: 1:2-3\nSource: s (1)\nArchitecture: all\n\n".to_vec()
    });
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let specials = [b'\n', b'\r', b' ', b'\t', b':', b'(', b')', 0, 0xff, 0xc3, b'#'];
    for _ in 0..2_000 {
        let mut m = base.clone();
        for _ in 0..(next() % 8 + 1) {
            if m.is_empty() {
                break;
            }
            let i = (next() % m.len() as u64) as usize;
            match next() % 4 {
                0 => m[i] = specials[(next() % specials.len() as u64) as usize],
                1 => {
                    m.remove(i);
                }
                2 => m.truncate(i),
                _ => m.insert(i, (next() & 0xff) as u8),
            }
        }
        let findings = analyze_files(&[
            File::new("var/lib/dpkg/status", m.as_slice()),
            File::new("etc/os-release", m.as_slice()),
            File::new("etc/debian_version", m.as_slice()),
        ]);
        for p in packages(&findings) {
            assert!(!p.name.is_empty() && !p.version.is_empty());
        }
    }
}

#[test]
fn large_database_is_linear() {
    let mut db = String::new();
    for i in 0..50_000 {
        db.push_str(&format!(
            "Package: pkg{i}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.{i}-1\n\
             Description: d\n line one\n line two\n\n"
        ));
    }
    let t = std::time::Instant::now();
    let p = status::parse(db.as_bytes());
    assert_eq!(p.entries.len(), 50_000);
    assert!(p.errors.is_empty());
    println!("parsed {} bytes in {:?}", db.len(), t.elapsed());
}

#[test]
fn ubuntu_namespace_and_distro() {
    let findings = analyze_files(&[
        File::new(
            "etc/os-release",
            b"NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\n",
        ),
        File::new(
            "var/lib/dpkg/status",
            b"Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.11.dfsg-2ubuntu9.2\n",
        ),
    ]);
    let d = distro(&findings).unwrap();
    assert_eq!((d.id.as_str(), d.version_id.as_str()), ("ubuntu", "22.04"));
    let p = packages(&findings)[0];
    assert_eq!(
        p.purl.as_deref(),
        Some("pkg:deb/ubuntu/zlib1g@1.2.11.dfsg-2ubuntu9.2?arch=amd64&distro=ubuntu-22.04&epoch=1")
    );
    assert_eq!(p.source_version.as_deref(), Some("1:1.2.11.dfsg-2ubuntu9.2"));
}
