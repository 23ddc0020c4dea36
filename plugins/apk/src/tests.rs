use super::*;
// The integration tests' rule for missing tools and fixtures (skip, or fail under CI=true).
#[path = "../../../tests/common/require.rs"]
#[allow(dead_code)] // each crate uses part of it
mod require;
use ecr_plugin_kit::findings::{distro, file_errors, packages};
use require::require_fixture;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const ALPINE_OS_RELEASE: &str = "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n\
PRETTY_NAME=\"Alpine Linux v3.19\"\nHOME_URL=\"https://alpinelinux.org/\"\n";
const DEBIAN12_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n\
NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n";
const DB: &str = "lib/apk/db/installed";
const DB_USR: &str = "usr/lib/apk/db/installed";

fn names(parsed: &installed::Parsed) -> Vec<&str> {
    parsed.entries.iter().map(|e| e.name.as_str()).collect()
}

/// A minimal entry as apk writes it.
fn entry(name: &str, version: &str, origin: &str) -> String {
    format!("C:Q1abc=\nP:{name}\nV:{version}\nA:x86_64\nS:100\nI:200\nT:test {name}\nL:MIT\no:{origin}\n\n")
}

/// (name, origin) of every entry that has both `P:` and `V:`, found by scanning the text for the
/// "\nP:" / "\nV:" / "\no:" byte sequences inside each blank-line-separated block: a different
/// method from the parser's line walk.
fn independent_entries(text: &str) -> (usize, Vec<(String, String)>) {
    let p_lines = format!("\n{text}").matches("\nP:").count();
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let block = format!("\n{block}\n");
        let value = |key: &str| {
            let start = block.find(key)? + key.len();
            block.get(start..).and_then(|rest| rest.split('\n').next()).map(str::to_string)
        };
        if let (Some(name), Some(_)) = (value("\nP:"), value("\nV:")) {
            out.push((name.clone(), value("\no:").unwrap_or(name)));
        }
    }
    (p_lines, out)
}

#[test]
fn describe_patterns() {
    let patterns = Apk::patterns();
    assert_eq!(Apk::NAME, "apk");
    for want in [
        "lib/apk/db/installed",
        "usr/lib/apk/db/installed",
        "etc/os-release",
        "usr/lib/os-release",
        "etc/alpine-release",
    ] {
        assert!(patterns.iter().any(|p| p == want), "{want} in {:?}", patterns);
    }
    assert!(patterns.iter().all(|p| !p.starts_with('/')));
}

#[test]
fn fixture_installed_multi() {
    let Some(bytes) = require_fixture("apk/installed-multi") else { return };
    let text = String::from_utf8(bytes.clone()).unwrap();
    let (p_lines, expected) = independent_entries(&text);
    assert_eq!(p_lines, 15);
    assert_eq!(expected.len(), 15);

    let findings =
        analyze_files(&[File::new("etc/os-release", ALPINE_OS_RELEASE.as_bytes()), File::new(DB, bytes.as_slice())]);
    assert!(file_errors(&findings).is_empty(), "{:?}", file_errors(&findings));
    let pkgs = packages(&findings);
    let got: Vec<(String, String)> = pkgs.iter().map(|p| (p.name.clone(), p.source_name.clone().unwrap())).collect();
    assert_eq!(got, expected);
    assert!(pkgs.iter().all(|p| p.ecosystem == "apk" && p.path == DB && p.arch.as_deref() == Some("x86_64")));
    assert!(pkgs.iter().all(|p| p.source_version.as_deref() == Some(p.version.as_str())));

    // Known entries, read from the fixture by hand.
    let find = |n: &str| *pkgs.iter().find(|p| p.name == n).unwrap();
    let ssl = find("ssl_client");
    assert_eq!(ssl.version, "1.36.0-r9");
    assert_eq!(ssl.source_name.as_deref(), Some("busybox"));
    assert_eq!(ssl.licenses, ["GPL-2.0-only"]);
    assert_eq!(ssl.installed_files, ["usr/bin/ssl_client"]);
    assert_eq!(ssl.purl.as_deref(), Some("pkg:apk/alpine/ssl_client@1.36.0-r9?arch=x86_64&distro=alpine-3.19.1"));
    let props: Vec<(&str, &str)> = ssl.properties.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        props,
        [
            ("maintainer", "Sören Tempel <soeren+alpine@soeren-tempel.net>"),
            ("commit", "b5c719c244319df3c72ab1f1ee994c2143cab7f0"),
            ("build-time", "1683268909"),
            ("checksum", "Q11TSZ9b3e+tcUKLyjh08V4vkWJYU="),
        ]
    );
    let zlib = find("zlib");
    assert_eq!((zlib.version.as_str(), zlib.source_name.as_deref()), ("1.2.13-r1", Some("zlib")));
    assert_eq!(zlib.installed_files, ["lib/libz.so.1", "lib/libz.so.1.2.13"]);
    assert_eq!(find("libcrypto3").source_name.as_deref(), Some("openssl"));
    assert_eq!(find("libc-utils").source_name.as_deref(), Some("libc-dev"));
    assert_eq!(find("scanelf").source_name.as_deref(), Some("pax-utils"));
    assert_eq!(find("scanelf").installed_files, ["usr/bin/scanelf"]);
    assert_eq!(find("ca-certificates-bundle").licenses, ["MPL-2.0 AND MIT"]);
    assert_eq!(find("musl-utils").licenses, ["MIT AND BSD-2-Clause AND GPL-2.0-or-later"]);
    // Every R: line of the fixture is one installed file of some package.
    let r_lines = text.lines().filter(|l| l.starts_with("R:")).count();
    assert_eq!(pkgs.iter().map(|p| p.installed_files.len()).sum::<usize>(), r_lines);
}

#[test]
fn fixture_installed_trivy() {
    let Some(bytes) = require_fixture("apk/installed-trivy") else { return };
    let text = String::from_utf8(bytes.clone()).unwrap();
    let (p_lines, expected) = independent_entries(&text);
    assert_eq!(p_lines, 16);
    // One entry of this fixture is deliberately broken: a name and no version.
    assert_eq!(expected.len(), 15);

    let findings = analyze_files(&[File::new("etc/alpine-release", b"3.19.1\n"), File::new(DB, bytes.as_slice())]);
    let pkgs = packages(&findings);
    let got: Vec<(String, String)> = pkgs.iter().map(|p| (p.name.clone(), p.source_name.clone().unwrap())).collect();
    assert_eq!(got, expected);
    let errs = file_errors(&findings);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].path, DB);
    assert_eq!(errs[0].message, "line 23: package 'invalidPackageWithoutAVersion' has no V: (version) field; skipped");

    let find = |n: &str| *pkgs.iter().find(|p| p.name == n).unwrap();
    assert_eq!(find("ada-libs").licenses, ["(Apache-2.0 OR MIT) AND MPL-2.0"]);
    assert_eq!(find("musl-utils").licenses, ["MIT", "BSD", "GPL2+"]);
    let test = find("test");
    assert_eq!(test.version, "2.9.11_pre20061021-r2");
    assert_eq!(test.source_name.as_deref(), Some("test-parent"));
    assert_eq!(
        test.installed_files,
        ["usr/lib/libsqlite3.so", "usr/lib/pkgconfig/sqlite3.pc", "usr/include/sqlite3ext.h", "usr/include/sqlite3.h"]
    );
    assert_eq!(
        find("libssl1.0").purl.as_deref(),
        Some("pkg:apk/alpine/libssl1.0@1.0.2h-r1?arch=x86_64&distro=alpine-3.19.1")
    );
    assert_eq!(distro(&findings).map(|d| (d.id.as_str(), d.version_id.as_str())), Some(("alpine", "3.19.1")));
}

#[test]
fn purl_namespace_and_distro_follow_the_image_os() {
    let db = entry("musl", "1.2.4-r2", "musl");
    let purl_with = |os: &[(&str, &str)]| {
        let mut files: Vec<File> = os.iter().map(|(p, c)| File::new(p, c.as_bytes())).collect();
        files.push(File::new(DB, db.as_bytes()));
        let findings = analyze_files(&files);
        let p = packages(&findings)[0].clone();
        assert_eq!(p.ecosystem, "apk");
        p.purl.unwrap()
    };
    assert_eq!(
        purl_with(&[("etc/os-release", ALPINE_OS_RELEASE)]),
        "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1"
    );
    // An apk database in a Debian image: still apk, alpine family, the image's distro.
    assert_eq!(
        purl_with(&[("etc/os-release", DEBIAN12_OS_RELEASE)]),
        "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=debian-12"
    );
    assert_eq!(
        purl_with(&[("etc/os-release", "ID=wolfi\nNAME=\"Wolfi\"\nVERSION_ID=20230201\n")]),
        "pkg:apk/wolfi/musl@1.2.4-r2?arch=x86_64&distro=wolfi-20230201"
    );
    assert_eq!(
        purl_with(&[("etc/alpine-release", "3.18.4\n")]),
        "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.18.4"
    );
    assert_eq!(purl_with(&[]), "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64");
}

#[test]
fn origin_defaults_to_the_package_and_missing_fields_stay_empty() {
    let p = installed::parse(b"P:lonely\nV:1.0-r0\n\n");
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let findings = analyze_files(&[File::new(DB, b"P:lonely\nV:1.0-r0\n\n")]);
    let pkg = packages(&findings)[0];
    assert_eq!(pkg.source_name.as_deref(), Some("lonely"));
    assert_eq!(pkg.source_version.as_deref(), Some("1.0-r0"));
    assert_eq!(pkg.arch, None);
    assert!(pkg.licenses.is_empty() && pkg.properties.is_empty() && pkg.installed_files.is_empty());
    assert_eq!(pkg.purl.as_deref(), Some("pkg:apk/alpine/lonely@1.0-r0"));
}

#[test]
fn both_database_paths() {
    let a = entry("a", "1-r0", "a");
    let b = entry("b", "2-r0", "b");
    // The same bytes at both paths (one links to the other): read once, under lib/.
    let findings = analyze_files(&[File::new(DB_USR, a.as_bytes()), File::new(DB, a.as_bytes())]);
    let got: Vec<(&str, &str)> = packages(&findings).iter().map(|p| (p.name.as_str(), p.path.as_str())).collect();
    assert_eq!(got, [("a", DB)]);
    // Different databases: both read, in path order.
    let findings = analyze_files(&[File::new(DB_USR, b.as_bytes()), File::new(DB, a.as_bytes())]);
    let got: Vec<(&str, &str)> = packages(&findings).iter().map(|p| (p.name.as_str(), p.path.as_str())).collect();
    assert_eq!(got, [("a", DB), ("b", DB_USR)]);
    // Only the apk-tools 3 path.
    let findings = analyze_files(&[File::new(&format!("/{DB_USR}"), b.as_bytes())]);
    assert_eq!(packages(&findings)[0].path, DB_USR);
    // Other files, and a database path that is not a regular file, are not read.
    let mut dir = File::new(DB, a.as_bytes());
    dir.mode = 0o040755;
    assert!(analyze_files(&[dir, File::new("lib/apk/db/installed.old", a.as_bytes())]).is_empty());
}

#[test]
fn missing_name_or_version_is_reported_and_others_kept() {
    let db = format!(
        "{}C:Q1x=\nP:nover\nA:x86_64\n\nC:Q1y=\nV:1.0\nA:x86_64\n\nP:emptyver\nV:\n\n{}",
        entry("good1", "1-r0", "g"),
        entry("good2", "2-r0", "g")
    );
    let findings = analyze_files(&[File::new(DB, db.as_bytes())]);
    let got: Vec<&str> = packages(&findings).iter().map(|p| p.name.as_str()).collect();
    assert_eq!(got, ["good1", "good2"]);
    let msgs: Vec<&str> = file_errors(&findings).iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "line 11: package 'nover' has no V: (version) field; skipped",
            "line 15: package entry has no P: (name) field; skipped",
            "line 19: package 'emptyver' has no V: (version) field; skipped",
        ]
    );
    assert!(file_errors(&findings).iter().all(|e| e.path == DB));
}

#[test]
fn truncated_database() {
    let full = format!("{}{}", entry("musl", "1.2.4-r2", "musl"), entry("zlib", "1.3.1-r0", "zlib"));
    // Cut in the middle of zlib's V: line: the cut version is never trusted.
    let cut = full.find("V:1.3.1").unwrap() + "V:1.3".len();
    let p = installed::parse(&full.as_bytes()[..cut]);
    assert_eq!(names(&p), ["musl"]);
    assert_eq!(
        p.errors,
        [
            "line 13: no newline at the end of the file, so the database looks truncated; the cut line is ignored",
            "line 11: package 'zlib' has no V: (version) field; skipped",
        ]
    );
    // Cut in the middle of the A: line: the package is kept without the cut field.
    let cut = full.find("A:x86_64\nS:100\nI:200\nT:test zlib").unwrap() + 4;
    let p = installed::parse(&full.as_bytes()[..cut]);
    assert_eq!(names(&p), ["musl", "zlib"]);
    assert_eq!(p.entries[1].version, "1.3.1-r0");
    assert_eq!(p.entries[1].arch, None);
    assert_eq!(p.errors.len(), 1);
    assert!(p.errors[0].starts_with("line 14: no newline"), "{:?}", p.errors);
    // Cut at a line end: nothing to notice, both read.
    let cut = full.find("S:100\nI:200\nT:test zlib").unwrap();
    let p = installed::parse(&full.as_bytes()[..cut]);
    assert_eq!(names(&p), ["musl", "zlib"]);
    assert!(p.errors.is_empty());
    // Zero-filled tail (a file cut by a crash): reading stops at the NUL, earlier entries kept.
    let mut zeroed = full.as_bytes()[..cut].to_vec();
    zeroed.extend_from_slice(&[0; 4096]);
    let p = installed::parse(&zeroed);
    assert_eq!(names(&p), ["musl", "zlib"]);
    assert_eq!(p.errors, ["line 15: binary data (NUL byte); file truncated or corrupt, stopped reading there"]);
}

#[test]
fn binary_garbage_is_one_file_error() {
    let mut garbage = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..200_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        garbage.push((x >> 16) as u8);
    }
    let findings =
        analyze_files(&[File::new(DB, garbage.as_slice()), File::new(DB_USR, entry("ok", "1-r0", "ok").as_bytes())]);
    let got: Vec<&str> = packages(&findings).iter().map(|p| p.name.as_str()).collect();
    assert_eq!(got, ["ok"]);
    let errs = file_errors(&findings);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].path, DB);
    assert!(errs[0].message.starts_with("not an apk installed database: binary data (NUL byte) at line "), "{errs:?}");

    // Text that is not an apk database at all: one message naming the first bad line.
    let p = installed::parse("hello world\nthis is not\nan apk database\n".repeat(1000).as_bytes());
    assert!(p.entries.is_empty());
    assert_eq!(
        p.errors,
        [
            "not an apk installed database: line 1: expected 'K:value' (a field letter, a colon, the value), found 'hello world'"
        ]
    );
}

#[test]
fn enormous_lines_are_bounded() {
    let huge = "x".repeat(16 << 20);
    let db = format!(
        "{}P:big\nV:1-r0\nT:{huge}\no:bigorigin\n\nR:{huge}\n\n{}",
        entry("a", "1-r0", "a"),
        entry("b", "2-r0", "b")
    );
    let t = Instant::now();
    let p = installed::parse(db.as_bytes());
    let took = t.elapsed();
    println!("16 MiB lines parsed in {took:?}");
    // Linear: far under the 10 s plugin deadline even unoptimized (quadratic would take hours).
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(names(&p), ["a", "big", "b"]);
    assert_eq!(p.entries[1].origin.as_deref(), Some("bigorigin"));
    let long = format!("line is {} bytes long, over the 65536-byte limit; ignored", huge.len() + 2);
    assert_eq!(p.errors, [format!("line 13: {long}"), format!("line 16: {long}")]);

    // A file that is one enormous line: one message.
    let p = installed::parse(huge.as_bytes());
    assert_eq!(
        p.errors,
        [format!(
            "not an apk installed database: line 1: line is {} bytes long, over the 65536-byte limit; ignored",
            huge.len()
        )]
    );
}

#[test]
fn installed_files() {
    let db = "P:pkg\nV:1\nR:orphan\nF:/usr/bin/\nR:tool\na:0:0:755\nZ:Q1=\nR:other\nF:\nR:atroot\nF:etc\nM:0:0:755\nF:etc/empty\nF:var/lib\nR:\nR:state\n\n\
P:next\nV:2\nR:no-dir-carried-over\n";
    let p = installed::parse(db.as_bytes());
    assert_eq!(names(&p), ["pkg", "next"]);
    assert_eq!(p.entries[0].files, ["usr/bin/tool", "usr/bin/other", "atroot", "var/lib/state"]);
    assert!(p.entries[1].files.is_empty());
    assert_eq!(
        p.errors,
        [
            "line 3: R: (file) entry before any F: (directory) entry; ignored",
            "line 15: R: (file) entry with an empty name; ignored",
            "line 20: R: (file) entry before any F: (directory) entry; ignored",
        ]
    );
}

#[test]
fn installed_file_paths_and_budget_are_bounded() {
    let long_dir = "d".repeat(installed::MAX_PATH_BYTES + 1);
    let db = format!("P:a\nV:1\nF:{long_dir}\nR:x\nR:y\nF:ok\nR:{}\nR:fine\n\n", "n".repeat(installed::MAX_PATH_BYTES));
    let p = installed::parse(db.as_bytes());
    assert_eq!(p.entries[0].files, ["ok/fine"]);
    assert_eq!(
        p.errors,
        [
            "line 3: F: directory is 4097 bytes long, over the 4096-byte path limit; its files are not listed",
            "line 7: file path is 4099 bytes long, over the 4096-byte path limit; ignored",
        ]
    );

    // Short R: lines under a long F: line would multiply memory; the byte budget stops them.
    let dir = "d".repeat(4000);
    let mut db = format!("P:amplifier\nV:1\nF:{dir}\n");
    for _ in 0..10_000 {
        db.push_str("R:x\n");
    }
    db.push_str("\nP:after\nV:2\nF:usr\nR:kept-out\n\n");
    let p = installed::parse(db.as_bytes());
    assert_eq!(names(&p), ["amplifier", "after"]);
    let path_len = dir.len() + 2;
    let fit = installed::MAX_INSTALLED_FILE_BYTES / path_len;
    assert_eq!(p.entries[0].files.len(), fit);
    assert!(p.entries[1].files.is_empty(), "the budget is per database file");
    assert_eq!(p.errors.len(), 1);
    assert_eq!(
        p.errors[0],
        format!(
            "line {}: more than 500000 installed files or 24 MiB of file paths; installed-file lists are cut from here \
             (packages are still read)",
            fit + 4
        )
    );
}

#[test]
fn duplicate_fields_and_stray_lines() {
    let db = "P:one\nV:1\nV:9\nbad line\nx\n1:digit key\n\t\nP:two\nV:2\nP:three\nV:3\n\n";
    let p = installed::parse(db.as_bytes());
    let got: Vec<(&str, &str)> = p.entries.iter().map(|e| (e.name.as_str(), e.version.as_str())).collect();
    assert_eq!(got, [("one", "1"), ("two", "2")]);
    assert_eq!(
        p.errors,
        [
            "line 3: second V: field in the package entry that starts at line 1; the first (line 2) is kept (a missing blank line between two packages?)",
            "line 4: expected 'K:value' (a field letter, a colon, the value), found 'bad line'",
            "line 5: expected 'K:value' (a field letter, a colon, the value), found 'x'",
            "line 6: expected 'K:value' (a field letter, a colon, the value), found '1:digit key'",
            "line 10: second P: field in the package entry that starts at line 8; the first (line 8) is kept (a missing blank line between two packages?)",
            "line 11: second V: field in the package entry that starts at line 8; the first (line 9) is kept (a missing blank line between two packages?)",
        ]
    );
}

#[test]
fn syntax_variants() {
    // CRLF, whitespace-only separators, several blank lines, values trimmed, no trailing blank.
    let db = "P:one\r\nV: 1.0-r0 \r\nA:aarch64\r\n \t\r\n\n\nP:two\nV:2\n";
    let p = installed::parse(db.as_bytes());
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let got: Vec<(&str, &str, Option<&str>, usize)> =
        p.entries.iter().map(|e| (e.name.as_str(), e.version.as_str(), e.arch.as_deref(), e.line)).collect();
    assert_eq!(got, [("one", "1.0-r0", Some("aarch64"), 1), ("two", "2", None, 7)]);
    for empty in [&b""[..], b"\n\n", b" \r\n\t\n"] {
        let p = installed::parse(empty);
        assert!(p.entries.is_empty() && p.errors.is_empty(), "{empty:?}: {p:?}");
    }
}

#[test]
fn invalid_utf8() {
    // In a field that only becomes a property or is skipped: kept, lossy. In P/V/A/o: skipped.
    let db = b"P:a\nV:1\nT:caf\xe9\nm:J\xf6rg\n\nP:b\nV:2\xff\n\nP:c\nV:3\no:or\xffigin\n\nP:d\nV:4\n\n";
    let p = installed::parse(db);
    assert_eq!(names(&p), ["a", "d"]);
    assert_eq!(p.entries[0].maintainer.as_deref(), Some("J\u{fffd}rg"));
    assert_eq!(
        p.errors,
        [
            "line 7: V: field is not valid UTF-8; package 'b' skipped",
            "line 11: o: field is not valid UTF-8; package 'c' skipped",
        ]
    );
}

#[test]
fn error_flood_is_capped() {
    let mut db = entry("a", "1", "a");
    for _ in 0..10_000 {
        db.push_str("junk line\n");
    }
    let p = installed::parse(db.as_bytes());
    assert_eq!(names(&p), ["a"]);
    assert_eq!(p.errors.len(), installed::MAX_ERRORS_PER_FILE + 1);
    assert_eq!(p.errors.last().unwrap(), "9980 more problems not listed");
}

#[test]
fn large_database_is_linear() {
    let mut db = String::new();
    for i in 0..50_000 {
        db.push_str(&format!(
            "C:Q1{i}=\nP:pkg{i}\nV:1.{i}-r0\nA:x86_64\nT:d\nL:MIT\no:origin{i}\nF:usr/lib\nR:lib{i}.so\nZ:Q1=\n\n"
        ));
    }
    let t = Instant::now();
    let p = installed::parse(db.as_bytes());
    let took = t.elapsed();
    assert_eq!(p.entries.len(), 50_000);
    assert!(p.errors.is_empty());
    assert_eq!(p.entries[49_999].files, ["usr/lib/lib49999.so"]);
    println!("parsed {} bytes ({} packages) in {took:?}", db.len(), p.entries.len());
}

/// xorshift64: deterministic, so a failure reproduces from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn word(&mut self, alphabet: &[u8], min: usize, max: usize) -> String {
        let len = min + self.below(max - min + 1);
        (0..len).map(|_| char::from(alphabet[self.below(alphabet.len())])).collect()
    }
}

/// Longer runs: `APK_FUZZ_ITERS=N APK_FUZZ_SEED=S cargo test --release -p ecr-plugin-apk`.
fn iterations(default: usize) -> usize {
    std::env::var("APK_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn seed(default: u64) -> u64 {
    std::env::var("APK_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Property: any database written the way apk writes one reads back as exactly the packages
/// it was written from (a model-based round trip over random databases).
#[test]
fn random_databases_round_trip() {
    const NAME: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_.+";
    const VER: &[u8] = b"0123456789.abpr_-";
    const PATHC: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_.+@ ";
    let runs = iterations(2_000);
    let mut rng = Rng(seed(0x5eed_1234_abcd_0001) | 1);
    for run in 0..runs {
        let mut text = String::new();
        let mut want = Vec::new();
        let mut line = 1;
        for _ in 0..rng.below(12) {
            let name = rng.word(NAME, 1, 20);
            let version = format!("{}-r{}", rng.word(VER, 1, 12), rng.below(30));
            let origin = (rng.below(3) > 0).then(|| rng.word(NAME, 1, 20));
            let license = ["MIT", "GPL-2.0-only", "MPL-2.0 AND MIT", "GPL2 BSD"][rng.below(4)];
            let mut lines = vec![
                format!("C:Q1{}=", rng.word(NAME, 27, 27)),
                format!("P:{name}"),
                format!("V:{version}"),
                "A:x86_64".to_string(),
                format!("S:{}", rng.below(100_000)),
                format!("T:{}", rng.word(PATHC, 0, 60)),
                format!("L:{license}"),
            ];
            if let Some(o) = &origin {
                lines.push(format!("o:{o}"));
            }
            lines.push(format!("D:so:libc.musl-x86_64.so.1 {}", rng.word(NAME, 0, 10)));
            let mut files = Vec::new();
            for _ in 0..rng.below(4) {
                let dir = format!("{}/{}", rng.word(NAME, 1, 8), rng.word(NAME, 1, 8));
                lines.push(format!("F:{dir}"));
                lines.push("M:0:0:755".to_string());
                for _ in 0..rng.below(4) {
                    let f = rng.word(PATHC, 1, 20);
                    lines.push(format!("R:{f}"));
                    lines.push(format!("Z:Q1{}=", rng.word(NAME, 27, 27)));
                    files.push(format!("{dir}/{f}"));
                }
            }
            // Lines apk writes in a fixed order; the reader must not depend on it.
            let n = lines.len().min(9);
            let head = &mut lines[..n];
            for i in (1..head.len()).rev() {
                head.swap(i, rng.below(i + 1));
            }
            want.push(installed::Entry {
                name: name.clone(),
                version,
                arch: Some("x86_64".to_string()),
                origin: origin.clone(),
                license: Some(license.to_string()),
                checksum: lines.iter().find(|l| l.starts_with("C:")).map(|l| l[2..].to_string()),
                files,
                line,
                ..Default::default()
            });
            line += lines.len() + 1;
            text.push_str(&lines.join("\n"));
            text.push_str("\n\n");
        }
        let p = installed::parse(text.as_bytes());
        assert!(p.errors.is_empty(), "run {run}: {:?}\n{text}", p.errors);
        assert_eq!(p.entries, want, "run {run}:\n{text}");
    }
    println!("{runs} random databases round-tripped");
}

/// Mutation fuzzing of the real fixtures (or a built-in database): no input may panic, take
/// unbounded time, or produce a package that the input does not name; errors always say where.
#[test]
fn mutated_inputs_never_panic() {
    let mut bases: Vec<Vec<u8>> =
        ["apk/installed-multi", "apk/installed-trivy"].iter().filter_map(|f| require_fixture(f)).collect();
    if bases.is_empty() {
        bases.push(format!("{}{}", entry("musl", "1.2.4-r2", "musl"), entry("zlib", "1.3.1-r0", "zlib")).into_bytes());
    }
    let specials = [b'\n', b'\r', b' ', b'\t', b':', b'P', b'V', b'F', b'R', b'o', 0, 0xff, 0xc3, b'('];
    let runs = iterations(5_000);
    let seed = seed(0x9e37_79b9_7f4a_7c15) | 1;
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for run in 0..runs {
        let mut m = bases[run % bases.len()].clone();
        for _ in 0..=rng.below(8) {
            if m.is_empty() {
                break;
            }
            let i = rng.below(m.len());
            match rng.below(6) {
                0 => m[i] = specials[rng.below(specials.len())],
                1 => {
                    m.remove(i);
                }
                2 => m.truncate(i),
                3 => m.insert(i, rng.next() as u8),
                4 => {
                    // Duplicate a slice (repeated lines, entries, fields).
                    let end = (i + rng.below(200)).min(m.len());
                    let chunk = m[i..end].to_vec();
                    m.splice(i..i, chunk);
                }
                _ => {
                    let j = rng.below(m.len());
                    m.swap(i, j);
                }
            }
        }
        let t = Instant::now();
        let findings = analyze_files(&[
            File::new(DB, m.as_slice()),
            File::new("etc/os-release", m.as_slice()),
            File::new("etc/alpine-release", m.as_slice()),
        ]);
        slowest = slowest.max(t.elapsed());
        let text = String::from_utf8_lossy(&m);
        let p_values: BTreeSet<&str> =
            text.split('\n').filter_map(|l| l.trim_end_matches('\r').strip_prefix("P:")).map(str::trim).collect();
        for p in packages(&findings) {
            assert!(!p.name.is_empty() && !p.version.is_empty(), "run {run}");
            assert!(p_values.contains(p.name.as_str()), "run {run}: {} is not named in the input", p.name);
            assert!(p.purl.as_deref().is_some_and(|u| u.starts_with("pkg:apk/")), "run {run}");
        }
        for e in file_errors(&findings) {
            assert_eq!(e.path, DB);
            assert!(
                e.message.starts_with("line ")
                    || e.message.starts_with("not an apk installed database")
                    || e.message.ends_with("more problems not listed"),
                "run {run}: {}",
                e.message
            );
        }
        // Deterministic: the host re-runs analyzers per layer and compares results.
        let again = analyze_files(&[
            File::new(DB, m.as_slice()),
            File::new("etc/os-release", m.as_slice()),
            File::new("etc/alpine-release", m.as_slice()),
        ]);
        assert_eq!(format!("{findings:?}"), format!("{again:?}"), "run {run}");
    }
    println!("{runs} mutated databases (seed {seed:#x}) in {:?}; slowest {slowest:?}", started.elapsed());
}
