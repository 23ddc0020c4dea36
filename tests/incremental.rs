//! Incremental scans and history with the real binary: the layer cache (cold, warm, shared base
//! layers, plugin changes, a scan killed mid-layer), `rescan` (with the output policy),
//! `history`, `diff` and `cache`, the store's layout version; and one `Scanner` shared by
//! several threads reading each layer once.

mod common;

use common::cli::{self, ScanResult};
use common::image::*;
use common::osv::*;
use ecr_engine::layer::LayerContents;
use ecr_engine::plugin::{Limits, PluginHost, PluginOptions};
use ecr_engine::scan::{ScanOptions, Scanner};
use ecr_engine::store::cache::{LayerCache, LayerKey, SqliteLayerCache};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ecr_test_guests::TEST_GUESTS;

fn guest_path(name: &str) -> &'static str {
    TEST_GUESTS.iter().find(|(guest, _)| *guest == name).map(|(_, path)| *path).expect("test guest")
}

fn run(args: &[&str]) -> Value {
    let out = cli::command().args(args).output().expect("run ecr-engine");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e})"))
}

fn run_text(args: &[&str]) -> String {
    let out = cli::command().args(args).output().expect("run ecr-engine");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn stats(result: &ScanResult) -> (u64, u64) {
    let stats = &result.report["stats"];
    (stats["cached_layers"].as_u64().unwrap(), stats["cached_bytes"].as_u64().unwrap())
}

fn dpkg_layer(packages: &[(&str, &str, &str)]) -> Layer {
    let status: String = packages
        .iter()
        .map(|(name, version, source)| dpkg_status_stanza(name, version, "amd64", Some(source), "install ok installed"))
        .collect();
    Layer::gzip(vec![Entry::file("var/lib/dpkg/status", status)])
}

fn os_layer() -> Layer {
    Layer::gzip(vec![Entry::file("etc/os-release", os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)"))])
}

/// Deterministic bytes that do not compress, so layers have a real size.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed * 2 + 1; // odd and distinct per seed (xorshift needs a non-zero state)
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn base_layers() -> Vec<Layer> {
    vec![
        os_layer(),
        dpkg_layer(&[("libc6", "2.36-9+deb12u3", "glibc"), ("bash", "5.2.15-2+b2", "bash")]),
        Layer::gzip(vec![Entry::file("usr/lib/base/blob.bin", noise(2 << 20, 7))]),
    ]
}

fn layout(spec: &ImageSpec, dir: &Path) -> (String, BuiltImage) {
    let built = write_oci_layout(&[(spec, None)], dir, false).remove(0);
    (cli::target("oci", dir), built)
}

#[test]
fn warm_scans_read_no_cached_layer_and_images_share_base_layers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let db_arg = db.to_str().unwrap();
    let mut layers = base_layers();
    layers.push(Layer::gzip(vec![Entry::file("app/one.txt", noise(1 << 20, 1))]));
    let (target, built) = layout(&ImageSpec::new(layers), &dir.path().join("a"));

    let cold = scan_with_db(&target, &db, &[]);
    assert_eq!(cold.code, 0, "{}", cold.stderr);
    assert_eq!(stats(&cold), (0, 0), "nothing cached yet");
    assert_eq!(cli::command().args(["cache", "status", "--db", db_arg]).output().unwrap().status.code(), Some(0));
    let status = run(&["cache", "status", "--format", "json", "--db", db_arg]);
    assert_eq!(status["entries"], 4);
    let total: u64 = built.layer_sizes.iter().sum();
    assert_eq!(status["blob_bytes"], total);

    let warm = scan_with_db(&target, &db, &[]);
    assert_eq!(warm.code, 0, "{}", warm.stderr);
    assert_eq!(stats(&warm), (4, total), "every layer from the cache");
    // Same packages, attributed to the same layers, same warnings.
    assert_eq!(warm.report["packages"], cold.report["packages"]);
    assert_eq!(warm.report["image"], cold.report["image"]);
    assert_eq!(warm.report["warnings"], cold.report["warnings"]);
    assert_eq!(warm.report["stats"]["blob_bytes"], cold.report["stats"]["blob_bytes"]);
    assert_eq!(warm.package("bash")["layer"], built.layer_digests[1].as_str());

    let uncached = scan_with_db(&target, &db, &["--no-cache"]);
    assert_eq!(stats(&uncached), (0, 0));
    assert_eq!(uncached.report["packages"], cold.report["packages"]);

    // Another image on the same base: only its own new layer is read.
    let mut layers = base_layers();
    layers.push(Layer::gzip(vec![Entry::file("app/two.txt", noise(1 << 20, 2))]));
    let (other_target, other) = layout(&ImageSpec::new(layers), &dir.path().join("b"));
    assert_eq!(other.layer_digests[..3], built.layer_digests[..3]);
    assert_ne!(other.layer_digests[3], built.layer_digests[3]);
    let other_scan = scan_with_db(&other_target, &db, &[]);
    assert_eq!(other_scan.code, 0, "{}", other_scan.stderr);
    assert_eq!(stats(&other_scan), (3, built.layer_sizes[..3].iter().sum()));
    assert_eq!(other_scan.packages(), cold.packages());

    // Pruning: by age keeps what was just used; by size 0 empties the cache.
    run_text(&["cache", "prune", "--older-than", "1d", "--db", db_arg]);
    assert_eq!(run(&["cache", "status", "--format", "json", "--db", db_arg])["entries"], 5);
    let pruned = run_text(&["cache", "prune", "--max-size", "0", "--db", db_arg]);
    assert!(pruned.contains("removed 5 cached layers"), "{pruned}");
    assert_eq!(stats(&scan_with_db(&target, &db, &[])), (0, 0));
    let refused = cli::command().args(["cache", "prune", "--db", db_arg]).output().unwrap();
    assert!(!refused.status.success(), "prune needs a rule");
}

/// The same component with a custom section appended: another build (another hash) of the
/// same plugin, asking for the same paths.
fn rebuilt(wasm: &[u8]) -> Vec<u8> {
    let name = b"rebuild";
    let payload = b"2";
    let mut out = wasm.to_vec();
    out.push(0); // custom section
    out.push((1 + name.len() + payload.len()) as u8);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(payload);
    out
}

#[test]
fn plugin_changes_invalidate_exactly_what_they_must() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let mut layers = base_layers();
    layers.push(Layer::gzip(vec![Entry::file("srv/echo.txt", "hello")]));
    let (target, _) = layout(&ImageSpec::new(layers), &dir.path().join("image"));
    let builtins_only = dir.path().join("none");
    let with_echo = dir.path().join("echo");
    let with_rebuilt_echo = dir.path().join("echo2");
    for d in [&builtins_only, &with_echo, &with_rebuilt_echo] {
        std::fs::create_dir_all(d).unwrap();
    }
    let echo = std::fs::read(guest_path("echo")).unwrap();
    std::fs::write(with_echo.join("echo.wasm"), &echo).unwrap();
    std::fs::write(with_rebuilt_echo.join("echo.wasm"), rebuilt(&echo)).unwrap();
    let scan = |plugins: &PathBuf| scan_with_db(&target, &db, &["--plugins-dir", plugins.to_str().unwrap()]);
    let echoed = |result: &ScanResult| -> Vec<String> {
        result.report["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["plugin"] == "echo")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };

    let first = scan(&builtins_only);
    assert_eq!(stats(&first).0, 0);
    // A new plugin asks for new paths: every layer must be read again for it.
    let added = scan(&with_echo);
    assert_eq!(stats(&added).0, 0, "a plugin with new patterns invalidates the layers");
    assert_eq!(echoed(&added), vec!["etc/os-release", "srv/echo.txt"]);
    let again = scan(&with_echo);
    assert_eq!(stats(&again).0, 4);
    assert_eq!(echoed(&again), echoed(&added), "the plugin sees the same files from the cache");
    // A new build of the same plugin with the same patterns: nothing to re-read.
    let rebuilt = scan(&with_rebuilt_echo);
    assert_eq!(rebuilt.code, 0, "{}", rebuilt.stderr);
    assert_eq!(rebuilt.plugin("echo")["status"], "ok");
    assert_eq!(stats(&rebuilt).0, 4);
    assert_eq!(rebuilt.report["packages"], again.report["packages"]);
    // Removing the plugin goes back to the first selection, still cached.
    let back = scan(&builtins_only);
    assert_eq!(stats(&back).0, 4);
    assert_eq!(back.report["packages"], first.report["packages"]);
    // Other size limits shape the selection differently.
    let limited =
        scan_with_db(&target, &db, &["--plugins-dir", builtins_only.to_str().unwrap(), "--max-file-size", "1M"]);
    assert_eq!(stats(&limited).0, 0);
    assert_eq!(limited.report["packages"], first.report["packages"]);
}

/// Bytes read so far by a process (Linux `/proc/PID/io`).
fn bytes_read(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines().find_map(|line| line.strip_prefix("rchar: ")).and_then(|n| n.trim().parse().ok())
}

#[test]
fn a_scan_killed_mid_layer_leaves_no_trace_and_the_next_scan_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let records = vec![json!({"id": "DEBIAN-CVE-2099-0100", "modified": "2024-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "bash"},
                      "ranges": range(json!([{"introduced": "0"}, {"fixed": "5.2.21-2"}]))}]})];
    import_into(&db, &dir.path().join("osv"), &records);
    let big = 128usize << 20;
    let mut layers = base_layers();
    layers.push(Layer::plain(vec![Entry::file("opt/big.bin", noise(big, 3))]));
    let (target, built) = layout(&ImageSpec::new(layers), &dir.path().join("image"));
    let empty_plugins = tempfile::tempdir().unwrap();

    let mut child = cli::command()
        .args(["scan", &target, "--format", "json", "--db", db.to_str().unwrap(), "--plugins-dir"])
        .arg(empty_plugins.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has read a good part of the big layer (the other blobs are small).
    let read_at_kill = loop {
        assert!(child.try_wait().unwrap().is_none(), "the scan finished before it could be killed");
        let read = bytes_read(child.id()).unwrap_or(0);
        if read > (big as u64) / 4 {
            child.kill().unwrap(); // SIGKILL
            break read;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    child.wait().unwrap();
    assert!(read_at_kill < big as u64, "killed mid-layer ({read_at_kill} bytes read)");

    let conn = rusqlite::Connection::open(&db).unwrap();
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    let scans: i64 = conn.query_row("SELECT count(*) FROM scans", [], |r| r.get(0)).unwrap();
    assert_eq!(scans, 0, "no half-recorded scan");
    let big_cached: i64 = conn
        .query_row("SELECT count(*) FROM layer_cache WHERE digest = ?1", [&built.layer_digests[3]], |r| r.get(0))
        .unwrap();
    assert_eq!(big_cached, 0, "the interrupted layer is not cached");

    let clean = scan_with_db(&target, &db, &[]);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    let reference_db = dir.path().join("reference.db");
    import_into(&reference_db, &dir.path().join("osv"), &records);
    let reference = scan_with_db(&target, &reference_db, &["--no-cache"]);
    assert!(stats(&clean).0 < 4, "the killed layer was read again");
    for section in ["packages", "vulnerabilities", "image", "issues", "warnings"] {
        assert_eq!(clean.report[section], reference.report[section], "{section}");
    }
    assert_eq!(clean.report["vulnerabilities"][0]["id"], "DEBIAN-CVE-2099-0100");
    let history = run(&["history", "--format", "json", "--db", db.to_str().unwrap()]);
    assert_eq!(history.as_array().unwrap().len(), 1);
    let big_cached: i64 = conn
        .query_row("SELECT count(*) FROM layer_cache WHERE digest = ?1", [&built.layer_digests[3]], |r| r.get(0))
        .unwrap();
    assert_eq!(big_cached, 1);
}

#[test]
fn a_layer_whose_digest_does_not_verify_is_never_cached() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let image_dir = dir.path().join("image");
    let (target, built) = layout(&ImageSpec::new(base_layers()), &image_dir);
    let pristine = std::fs::read(blob_path(&image_dir, &built.layer_digests[2])).unwrap();
    corrupt_blob(&image_dir, &built.layer_digests[2]);
    let bad = scan_with_db(&target, &db, &[]);
    assert_eq!(bad.code, 3, "{}", bad.stderr);
    assert!(bad.errors().contains("digest mismatch"), "{}", bad.errors());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let cached: Vec<String> = conn
        .prepare("SELECT digest FROM layer_cache ORDER BY digest")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut expected = built.layer_digests[..2].to_vec();
    expected.sort();
    assert_eq!(cached, expected, "only the layers that verified");
    // Repaired, the layer is read (not served from some earlier attempt) and the scan is whole.
    std::fs::write(blob_path(&image_dir, &built.layer_digests[2]), pristine).unwrap();
    let good = scan_with_db(&target, &db, &[]);
    assert_eq!(good.code, 0, "{}", good.stderr);
    assert_eq!(stats(&good).0, 2);
}

const GLIBC_CVSS: &str = "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H";

fn app_records() -> Vec<Value> {
    vec![
        json!({"id": "DEBIAN-CVE-2023-4911", "modified": "2023-10-04T00:00:00Z", "upstream": ["CVE-2023-4911"],
               "severity": [{"type": "CVSS_V3", "score": GLIBC_CVSS}],
               "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
                             "ranges": range(json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}]))}]}),
        json!({"id": "DEBIAN-CVE-2099-0001", "modified": "2024-01-01T00:00:00Z",
               "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                             "ranges": range(json!([{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]))}],
               "database_specific": {"severity": "low"}}),
        json!({"id": "DEBIAN-CVE-2099-0003", "modified": "2024-01-01T00:00:00Z",
               "affected": [{"package": {"ecosystem": "Debian:12", "name": "curl"},
                             "ranges": range(json!([{"introduced": "0"}]))}],
               "database_specific": {"severity": "medium"}}),
    ]
}

/// Version 1: vulnerable glibc and openssl. 2: glibc fixed, curl added (vulnerable). 3: openssl
/// fixed, bash removed.
fn app_version(version: u32) -> ImageSpec {
    let glibc = if version == 1 { "2.36-9+deb12u1" } else { "2.36-9+deb12u3" };
    let openssl = if version < 3 { "3.0.11-1~deb12u1" } else { "3.0.11-1~deb12u2" };
    let mut packages = vec![("libc6", glibc, "glibc"), ("libc-bin", glibc, "glibc"), ("libssl3", openssl, "openssl")];
    if version < 3 {
        packages.push(("bash", "5.2.15-2+b2", "bash"));
    }
    if version >= 2 {
        packages.push(("curl", "7.88.1-10+deb12u5", "curl"));
    }
    ImageSpec::new(vec![os_layer(), dpkg_layer(&packages)])
}

fn ids(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            format!("{} {}", v["id"].as_str().or(v["name"].as_str()).unwrap(), v["package"].as_str().unwrap_or(""))
        })
        .map(|s| s.trim().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn history_diff_and_rescan_across_three_versions() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let db_arg = db.to_str().unwrap();
    import_into(&db, &dir.path().join("osv"), &app_records());
    let mut digests = Vec::new();
    for version in 1..=3 {
        let archive = dir.path().join(format!("app-{version}.tar"));
        write_docker_archive(&app_version(version), &[&format!("example/app:{version}")], &archive);
        let result = scan_with_db(&cli::target("docker-archive", &archive), &db, &[]);
        assert_eq!(result.code, 0, "{}", result.stderr);
        digests.push(result.report["image"]["digest"].as_str().unwrap().to_string());
        std::fs::remove_file(&archive).unwrap(); // history, diff and rescan never need the image
    }
    // Another repository's scan is not listed under example/app.
    let (other, _) = layout(&ImageSpec::new(base_layers()), &dir.path().join("other"));
    assert_eq!(scan_with_db(&other, &db, &[]).code, 0);

    let history = run(&["history", "example/app", "--format", "json", "--db", db_arg]);
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 3);
    let counts: Vec<(u64, u64, u64)> = history
        .iter()
        .map(|s| {
            let c = &s["vulnerabilities"];
            (c["high"].as_u64().unwrap(), c["medium"].as_u64().unwrap(), c["low"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(counts, vec![(2, 0, 1), (0, 1, 1), (0, 1, 0)]);
    assert_eq!(history[0]["tags"], json!(["example/app:1"]));
    assert_eq!(history[2]["image_digest"], digests[2].as_str());
    assert!(history[0]["data_version"].is_string());
    assert_eq!(run(&["history", "--format", "json", "--db", db_arg]).as_array().unwrap().len(), 4);
    let table = run_text(&["history", "example/app", "--db", db_arg]);
    assert_eq!(table.lines().count(), 4, "{table}");
    assert!(table.contains("example/app:2"), "{table}");

    // 1 -> 2 by tag: glibc fixed (two binary packages), curl added with its vulnerability.
    let diff = run(&["diff", "example/app:1", "example/app:2", "--format", "json", "--db", db_arg]);
    assert_eq!(ids(&diff["vulnerabilities_fixed"]), vec!["CVE-2023-4911 libc-bin", "CVE-2023-4911 libc6"]);
    assert_eq!(ids(&diff["vulnerabilities_introduced"]), vec!["DEBIAN-CVE-2099-0003 curl"]);
    assert_eq!(ids(&diff["packages_added"]), vec!["curl"]);
    assert!(diff["packages_removed"].as_array().unwrap().is_empty());
    assert_eq!(diff["from"]["data_version"], history[0]["data_version"]);
    assert!(diff["to"]["analyzers"].as_array().unwrap().iter().any(|a| a[0] == "dpkg"), "{}", diff["to"]);
    let changed = diff["packages_changed"].as_array().unwrap();
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert!(changed.iter().all(|c| c["from"] == "2.36-9+deb12u1" && c["to"] == "2.36-9+deb12u3"));
    assert!(changed.iter().all(|c| c["direction"] == "upgraded"));

    // 2 -> 3 by image digest: openssl fixed, bash removed.
    let diff = run(&["diff", &digests[1], &digests[2], "--format", "json", "--db", db_arg]);
    assert_eq!(ids(&diff["vulnerabilities_fixed"]), vec!["DEBIAN-CVE-2099-0001 libssl3"]);
    assert!(diff["vulnerabilities_introduced"].as_array().unwrap().is_empty());
    assert_eq!(ids(&diff["packages_removed"]), vec!["bash"]);
    // 3 -> 1 by scan id: everything in reverse, a downgrade.
    let ids_of = |i: usize| history[i]["id"].as_i64().unwrap().to_string();
    let diff = run(&["diff", &ids_of(2), &ids_of(0), "--format", "json", "--db", db_arg]);
    assert_eq!(ids(&diff["vulnerabilities_introduced"]).len(), 3);
    assert!(diff["packages_changed"].as_array().unwrap().iter().any(|c| c["direction"] == "downgraded"));
    let table = run_text(&["diff", "example/app:1", "example/app:3", "--db", db_arg]);
    assert!(table.contains("- CVE-2023-4911"), "{table}");
    assert!(table.contains("~ libssl3 3.0.11-1~deb12u1 -> 3.0.11-1~deb12u2 (upgraded)"), "{table}");
    let missing = cli::command().args(["diff", "example/app:9", "1", "--db", db_arg]).output().unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no recorded scan matches 'example/app:9'"));

    // New data after the scans: bash turns out vulnerable. Rescan re-matches the stored
    // inventories (the archives are gone) and records the results.
    import_into(
        &db,
        &dir.path().join("osv-new"),
        &[json!({"id": "DEBIAN-CVE-2099-0004", "modified": "2024-02-01T00:00:00Z",
                 "affected": [{"package": {"ecosystem": "Debian:12", "name": "bash"},
                               "ranges": range(json!([{"introduced": "0"}, {"fixed": "5.2.21-2"}]))}],
                 "database_specific": {"severity": "critical"}})],
    );
    let rescanned = run(&["rescan", "example/app", "--format", "json", "--db", db_arg]);
    let rescanned = rescanned.as_array().unwrap();
    assert_eq!(rescanned.len(), 3);
    let introduced: Vec<&Value> = rescanned.iter().map(|r| &r["introduced"]).collect();
    assert_eq!(introduced, vec![&json!(["DEBIAN-CVE-2099-0004"]), &json!(["DEBIAN-CVE-2099-0004"]), &json!([])]);
    assert_eq!(rescanned[0]["after"]["critical"], 1);
    let history = run(&["history", "example/app", "--format", "json", "--db", db_arg]);
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 6);
    assert_eq!(history[3]["kind"], "rescan");
    assert_eq!(history[3]["tags"], json!(["example/app:1"]));
    assert_eq!(history[3]["vulnerabilities"]["critical"], 1);
    // The latest record of version 1 is now the rescan: diff by tag sees the new finding.
    let diff = run(&["diff", &ids_of(0), "example/app:1", "--format", "json", "--db", db_arg]);
    assert_eq!(ids(&diff["vulnerabilities_introduced"]), vec!["DEBIAN-CVE-2099-0004 bash"]);
}

/// `ecr-engine rescan --format json` in `cwd`: (exit code, results, stderr).
fn rescan(db: &Path, cwd: &Path, extra: &[&str]) -> (i32, Vec<Value>, String) {
    let out = cli::command()
        .args(["rescan", "--format", "json", "--db", db.to_str().unwrap()])
        .args(extra)
        .current_dir(cwd)
        .output()
        .expect("run ecr-engine");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let results: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stderr}"));
    (out.status.code().expect("exit code"), results.as_array().unwrap().clone(), stderr)
}

/// The result for the image scanned from `archive`.
fn rescanned<'a>(results: &'a [Value], archive: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["target"].as_str().unwrap().ends_with(archive))
        .unwrap_or_else(|| panic!("no rescan of {archive} in {results:#?}"))
}

/// (critical, high, medium, low) of a rescan side.
fn counts(side: &Value) -> (u64, u64, u64, u64) {
    let n = |s: &str| side[s].as_u64().unwrap();
    (n("critical"), n("high"), n("medium"), n("low"))
}

#[test]
fn rescan_applies_the_output_policy_and_records_everything() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    import_into(&db, &dir.path().join("osv"), &app_records());
    // Version 1: two HIGH (glibc), one LOW (openssl); version 3: one MEDIUM without a fix (curl).
    for version in [1, 3] {
        let archive = dir.path().join(format!("app-{version}.tar"));
        write_docker_archive(&app_version(version), &[&format!("example/app:{version}")], &archive);
        assert_eq!(scan_with_db(&cli::target("docker-archive", &archive), &db, &[]).code, 0);
    }
    // New data: bash (in version 1 only) is critically vulnerable.
    import_into(
        &db,
        &dir.path().join("osv-new"),
        &[json!({"id": "DEBIAN-CVE-2099-0004", "modified": "2024-02-01T00:00:00Z",
                 "affected": [{"package": {"ecosystem": "Debian:12", "name": "bash"},
                               "ranges": range(json!([{"introduced": "0"}, {"fixed": "5.2.21-2"}]))}],
                 "database_specific": {"severity": "critical"}})],
    );
    let cwd = tempfile::tempdir().unwrap(); // no default ignore file here

    let (code, results, stderr) = rescan(&db, cwd.path(), &["--severity", "HIGH,CRITICAL"]);
    assert_eq!(code, 0, "{stderr}");
    let one = rescanned(&results, "app-1.tar");
    assert_eq!(counts(&one["before"]), (0, 2, 0, 0), "the LOW one is left out on both sides");
    assert_eq!(counts(&one["after"]), (1, 2, 0, 0));
    assert_eq!(one["introduced"], json!(["DEBIAN-CVE-2099-0004"]));
    assert_eq!(one["fixed"], json!([]));
    assert_eq!(one["suppressed"]["vulnerabilities"], 1);
    let three = rescanned(&results, "app-3.tar");
    assert_eq!(counts(&three["after"]), (0, 0, 0, 0));
    assert_eq!(three["suppressed"]["vulnerabilities"], 1);
    // The history has every finding, whatever was shown.
    let history = run(&["history", "example/app", "--format", "json", "--db", db.to_str().unwrap()]);
    let recorded = history.as_array().unwrap().iter().find(|s| s["id"] == one["scan_id"]).expect("recorded");
    assert_eq!(recorded["kind"], "rescan");
    assert_eq!(counts(&recorded["vulnerabilities"]), (1, 2, 0, 1));

    // An ignore entry hides its id; an expired one hides nothing and says so.
    let ignore = dir.path().join("ignore");
    std::fs::write(&ignore, "CVE-2023-4911 # accepted\nDEBIAN-CVE-2099-0004 exp:2001-01-01 # was accepted\n").unwrap();
    let (code, results, stderr) =
        rescan(&db, cwd.path(), &["--ignore-file", ignore.to_str().unwrap(), "--exit-code", "4"]);
    assert_eq!(code, 4, "findings remain: {stderr}");
    let one = rescanned(&results, "app-1.tar");
    assert_eq!(counts(&one["after"]), (1, 0, 0, 1));
    assert_eq!(counts(&one["before"]), (1, 0, 0, 1));
    assert_eq!(one["fixed"], json!([]), "an ignored finding is not reported as fixed");
    assert!(stderr.contains("ignore entry DEBIAN-CVE-2099-0004 expired on 2001-01-01"), "{stderr}");
    assert_eq!(counts(&rescanned(&results, "app-3.tar")["after"]), (0, 0, 1, 0));

    // The default ignore file in the current directory, and --ignore-unfixed for curl's finding:
    // nothing remains in any image, so --exit-code does not fire.
    std::fs::write(
        cwd.path().join(".ecr-engine-ignore"),
        "CVE-2023-4911\nDEBIAN-CVE-2099-0004\nDEBIAN-CVE-2099-0001\n",
    )
    .unwrap();
    let (code, results, stderr) = rescan(&db, cwd.path(), &["--ignore-unfixed", "--exit-code", "4"]);
    assert_eq!(code, 0, "everything filtered: {stderr}");
    assert!(results.iter().all(|r| counts(&r["after"]) == (0, 0, 0, 0)), "{results:#?}");
    assert_eq!(rescanned(&results, "app-3.tar")["suppressed"]["vulnerabilities"], 1);
    // One image with a finding left is enough to fail.
    let (code, results, _) = rescan(&db, cwd.path(), &["--exit-code", "4"]);
    assert_eq!(code, 4);
    assert_eq!(counts(&rescanned(&results, "app-1.tar")["after"]), (0, 0, 0, 0));
    assert_eq!(counts(&rescanned(&results, "app-3.tar")["after"]), (0, 0, 1, 0));

    let table = run_text(&["rescan", "--severity", "CRITICAL", "--db", db.to_str().unwrap()]);
    let line = table.lines().find(|l| l.contains("app-1.tar")).unwrap_or_else(|| panic!("{table}"));
    assert!(line.contains("-> C:1 H:0 M:0 L:0 U:0"), "{line}");
    assert!(line.ends_with("(3 suppressed)"), "{line}");
}

#[test]
fn a_store_of_a_newer_layout_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let (target, _) = layout(&ImageSpec::new(base_layers()), &dir.path().join("image"));
    assert_eq!(scan_with_db(&target, &db, &[]).code, 0);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 3, "a new store is stamped with this build's layout version");
    // What a later release with another layout would leave.
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(conn);
    let before = std::fs::read(&db).unwrap();

    let history = cli::command().args(["history", "--db", db.to_str().unwrap()]).output().unwrap();
    let scan = scan_with_db(&target, &db, &[]);
    for (code, stderr) in
        [(history.status.code(), String::from_utf8_lossy(&history.stderr).into_owned()), (Some(scan.code), scan.stderr)]
    {
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains(&format!("{} is a store of layout version 99", db.display())), "{stderr}");
        assert!(stderr.contains("this one knows version 3 at most"), "{stderr}");
        assert!(stderr.contains("Upgrade ecr-engine, or pass another --db"), "{stderr}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "the store is as it was");
}

#[test]
fn two_scans_at_once_on_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let (target, _) = layout(&ImageSpec::new(base_layers()), &dir.path().join("image"));
    let scans: Vec<ScanResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2).map(|_| scope.spawn(|| scan_with_db(&target, &db, &[]))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for scan in &scans {
        assert_eq!(scan.code, 0, "{}", scan.stderr);
        assert!(scan.report["stats"]["duration_ms"].as_u64().unwrap() < 10_000, "neither waited long for the other");
    }
    assert_eq!(scans[0].report["packages"], scans[1].report["packages"]);
    assert_eq!(run(&["history", "--format", "json", "--db", db.to_str().unwrap()]).as_array().unwrap().len(), 2);
    assert_eq!(run(&["cache", "status", "--format", "json", "--db", db.to_str().unwrap()])["entries"], 3);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
}

/// The SQLite cache, counting what is put into it: every put is a layer some scan read.
struct CountingCache {
    inner: SqliteLayerCache,
    puts: AtomicUsize,
}

impl LayerCache for CountingCache {
    fn get(&self, key: &LayerKey) -> anyhow::Result<Option<LayerContents>> {
        self.inner.get(key)
    }
    fn put(&self, key: &LayerKey, contents: &LayerContents) -> anyhow::Result<()> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put(key, contents)
    }
}

#[test]
fn one_scanner_in_many_threads_reads_each_layer_once() {
    let dir = tempfile::tempdir().unwrap();
    // A large shared layer keeps the scans overlapping: all of them want it at the same time.
    let mut shared = base_layers();
    shared.push(Layer::gzip(vec![Entry::file("opt/shared.bin", noise(48 << 20, 5))]));
    let mut targets = Vec::new();
    for app in 0..2u64 {
        let mut layers = shared.clone();
        layers.push(Layer::gzip(vec![Entry::file("app/own.bin", noise(1 << 20, 10 * (app + 1)))]));
        targets.push(layout(&ImageSpec::new(layers), &dir.path().join(format!("app{app}"))).0);
    }
    let host = PluginHost::load(&PluginOptions {
        plugins_dir: Some(dir.path().join("no-plugins")),
        builtin: true,
        files: Vec::new(),
        cache_dir: cli::cache_dir(),
        limits: Limits::default(),
        plugin_limits: Default::default(),
    })
    .unwrap();
    let cache = CountingCache {
        inner: SqliteLayerCache::open(&dir.path().join("store.db")).unwrap(),
        puts: AtomicUsize::new(0),
    };
    let scanner = Scanner::new(&host, Some(&cache));
    let start = Barrier::new(4);
    let reports: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (scanner, start, target) = (&scanner, &start, &targets[i % 2]);
                scope.spawn(move || {
                    start.wait();
                    scanner.scan(target, &ScanOptions::default()).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // 4 shared layers + 1 own layer per image: 6 distinct layers, each read exactly once.
    assert_eq!(cache.puts.load(Ordering::SeqCst), 6);
    let read: usize = reports.iter().map(|r| r.stats.layers - r.stats.cached_layers).sum();
    assert_eq!(read, 6, "the other scans waited for the read in flight or found it cached");
    for report in &reports {
        assert!(report.complete, "{:?}", report.errors);
        assert_eq!(report.packages.len(), 2);
    }
}
