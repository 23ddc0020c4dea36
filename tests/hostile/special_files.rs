//! Files that are not regular files where the tool expects one: a FIFO blocks `open()` and
//! `read()` until a writer comes, and `/dev/zero` never ends. Each is refused before it is read,
//! with a message naming it and what it is, in bounded time (every command here runs under a
//! deadline, so a regression fails instead of hanging the suite) and bounded memory.

use crate::common::cli::{self, KILLED_AT_DEADLINE, Measured, ScanResult};
use crate::common::image::*;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Output;

/// Far below what reading `/dev/zero` into memory would cost; these runs take about 35 MiB.
const MAX_PEAK_RSS_MIB: u64 = 100;

fn make_fifo(path: &Path) {
    rustix::fs::mkfifoat(rustix::fs::CWD, path, rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR).unwrap();
}

/// Replaces the file at `path` with a FIFO.
fn fifo_instead(path: &Path) {
    fs::remove_file(path).unwrap();
    make_fifo(path);
}

/// Replaces the file at `path` with a link to `/dev/zero`.
fn dev_zero_instead(path: &Path) {
    fs::remove_file(path).unwrap();
    symlink("/dev/zero", path).unwrap();
}

fn stanza(name: &str, version: &str) -> String {
    dpkg_status_stanza(name, version, "amd64", None, "install ok installed")
}

/// Two layers: `kept` in the first, `victim` in the second (the one made hostile).
fn two_layer_layout() -> (tempfile::TempDir, BuiltImage) {
    let spec = ImageSpec::new(vec![
        Layer::gzip(vec![Entry::file("var/lib/dpkg/status", stanza("kept", "1.0"))]),
        Layer::gzip(vec![Entry::file("var/lib/dpkg/status.d/victim", stanza("victim", "2.0"))]),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let built = write_oci_layout(&[(&spec, None)], dir.path(), false).remove(0);
    (dir, built)
}

fn assert_finished(code: i32, stderr: &str) {
    assert_ne!(code, KILLED_AT_DEADLINE, "killed after {} s: it hung; stderr: {stderr}", cli::DEADLINE_SECONDS);
}

fn scan(target: &str, extra: &[&str]) -> ScanResult {
    let result = cli::run_scan(cli::with_deadline(&cli::command()), target, extra);
    assert_finished(result.code, &result.stderr);
    result
}

fn run(args: &[&str]) -> Output {
    let output = cli::with_deadline(&cli::command()).args(args).output().expect("run ecr-engine");
    assert_finished(output.status.code().unwrap_or(-1), &String::from_utf8_lossy(&output.stderr));
    output
}

fn measured(args: &[&str]) -> Measured {
    let mut command = cli::command();
    command.args(args);
    let measured = cli::run_measured(&cli::with_deadline(&command));
    assert_finished(measured.code, &measured.stderr);
    assert!(
        measured.peak_rss_mib < MAX_PEAK_RSS_MIB,
        "peak RSS {} MiB; stderr: {}",
        measured.peak_rss_mib,
        measured.stderr
    );
    measured
}

fn assert_contains(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} missing from: {text}");
    }
}

#[test]
fn a_layer_blob_that_is_a_fifo_fails_that_layer_only() {
    let (dir, built) = two_layer_layout();
    fifo_instead(&blob_path(dir.path(), &built.layer_digests[1]));
    let result = scan(&cli::target("oci", dir.path()), &[]);
    result
        .assert_second_layer_failed(&[digest_hex(&built.layer_digests[1]), "a FIFO (named pipe), not a regular file"]);
}

#[test]
fn a_manifest_config_or_index_that_is_a_fifo_stops_the_scan() {
    for victim in ["manifest", "config", "index.json"] {
        let (dir, built) = two_layer_layout();
        let (path, named) = match victim {
            "manifest" => (blob_path(dir.path(), &built.manifest_digest), built.manifest_digest.clone()),
            "config" => (blob_path(dir.path(), &built.config_digest), built.config_digest.clone()),
            _ => (dir.path().join("index.json"), "index.json".to_string()),
        };
        fifo_instead(&path);
        let result = scan(&cli::target("oci", dir.path()), &[]);
        assert_eq!(result.code, 1, "{victim}: {}", result.stderr);
        assert_contains(&result.stderr, &[&named, "a FIFO (named pipe), not a regular file"]);
    }
}

/// A blob linked to `/dev/zero` is refused without a byte read, whether its descriptor bounds it
/// (a size) or not (no size: nothing but the refusal would stop the read).
#[test]
fn a_layer_blob_linked_to_dev_zero_is_never_read() {
    for with_size in [true, false] {
        let (dir, built) = two_layer_layout();
        if !with_size {
            rewrite_manifest(dir.path(), &built.manifest_digest, |manifest| {
                manifest["layers"][1].as_object_mut().unwrap().remove("size");
            });
        }
        dev_zero_instead(&blob_path(dir.path(), &built.layer_digests[1]));
        let target = cli::target("oci", dir.path());
        let run = measured(&["scan", &target, "--format", "json"]);
        let result = ScanResult { code: run.code, report: run.report(), stderr: run.stderr.clone() };
        result.assert_second_layer_failed(&[
            digest_hex(&built.layer_digests[1]),
            "a character device, not a regular file",
        ]);
        eprintln!("blob -> /dev/zero (descriptor size: {with_size}): {} MiB, {:.1} s", run.peak_rss_mib, run.seconds);
    }
}

/// The archive itself, named with its transport or bare, and a layer member that is a link to
/// `/dev/zero` (archives are read in place, and a docker-archive's layers come without sizes).
#[test]
fn archives_that_are_not_regular_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("zero.tar");
    symlink("/dev/zero", &zero).unwrap();
    let fifo = dir.path().join("fifo.tar");
    make_fifo(&fifo);
    for (target, what) in [
        (cli::target("docker-archive", &zero), "a character device"),
        (zero.display().to_string(), "a character device"),
        (cli::target("oci-archive", &fifo), "a FIFO (named pipe)"),
        (fifo.display().to_string(), "a FIFO (named pipe)"),
    ] {
        let result = scan(&target, &[]);
        assert_eq!(result.code, 1, "{target}: {}", result.stderr);
        assert_contains(&result.stderr, &[&format!("{what}, not a regular file")]);
    }

    let spec = ImageSpec::new(vec![Layer::plain(vec![Entry::file("var/lib/dpkg/status", stanza("victim", "2.0"))])]);
    let unpacked = dir.path().join("unpacked");
    write_docker_archive_dir(&spec, &["victim:1"], &unpacked, DockerArchiveStyle::Classic);
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(unpacked.join("manifest.json")).unwrap()).unwrap();
    let layer = manifest[0]["Layers"][0].as_str().unwrap().to_string();
    dev_zero_instead(&unpacked.join(&layer));
    let archive = dir.path().join("linked-layer.tar");
    tar_dir(&unpacked, &archive);
    let run = measured(&["scan", &cli::target("docker-archive", &archive), "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_contains(&run.stderr, &[&layer, "missing from the archive"]);
}

/// In a `dir:` root filesystem a selected FIFO is skipped with a warning, never opened; the
/// rest is read.
#[test]
fn a_fifo_in_a_root_filesystem_is_skipped_with_a_warning() {
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join("var/lib/dpkg")).unwrap();
    fs::write(root.path().join("var/lib/dpkg/status"), stanza("kept", "1.0")).unwrap();
    fs::create_dir_all(root.path().join("etc")).unwrap();
    let fifo = root.path().join("etc/os-release");
    make_fifo(&fifo);
    let result = scan(&cli::target("dir", root.path()), &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.packages(), vec![("kept".to_string(), "1.0".to_string())]);
    assert_contains(
        &result.warnings(),
        &[&format!(
            "{}: a FIFO (named pipe), not a regular file; only regular files are read; skipped",
            fifo.display()
        )],
    );
}

#[test]
fn a_plugins_config_that_is_a_fifo_or_dev_zero_is_refused() {
    let plugins = tempfile::tempdir().unwrap();
    let config = plugins.path().join("plugins.toml");
    make_fifo(&config);
    let output = run(&["plugins", "list", "--plugins-dir", plugins.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_contains(
        &stderr,
        &[&format!("cannot read the plugins config {}: a FIFO (named pipe), not a regular file", config.display())],
    );

    let zero = plugins.path().join("zero.toml");
    symlink("/dev/zero", &zero).unwrap();
    let run = measured(&["plugins", "list", "--plugins-config", zero.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_contains(&run.stderr, &[&zero.display().to_string(), "a character device, not a regular file"]);
    eprintln!("plugins.toml -> /dev/zero: {} MiB, {:.1} s", run.peak_rss_mib, run.seconds);
}

/// A `.wasm` that is not a regular file is a load error that `plugins list` shows and a scan
/// reports, not a plugin silently missing.
#[test]
fn a_wasm_that_is_not_a_regular_file_is_a_load_error() {
    let plugins = tempfile::tempdir().unwrap();
    make_fifo(&plugins.path().join("fifo.wasm"));
    symlink("/dev/zero", plugins.path().join("zero.wasm")).unwrap();
    symlink("gone", plugins.path().join("dangling.wasm")).unwrap();
    let dir = plugins.path().to_str().unwrap();
    let output = run(&["plugins", "list", "--plugins-dir", dir, "--no-builtin-plugins"]);
    let listing = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_contains(
        &listing,
        &[
            "fifo.wasm): load-error: cannot read",
            "fifo.wasm: a FIFO (named pipe), not a regular file",
            "zero.wasm: a character device, not a regular file",
            "dangling.wasm): load-error: cannot read",
        ],
    );

    let root = tempfile::tempdir().unwrap();
    let result = scan(&cli::target("dir", root.path()), &["--plugins-dir", dir]);
    assert_ne!(result.report, serde_json::Value::Null, "{}", result.stderr);
    let fifo = result.plugin("fifo");
    assert_eq!(fifo["status"], "load-error", "{fifo:#}");
    assert_contains(&fifo.to_string(), &["a FIFO (named pipe), not a regular file"]);
}

#[test]
fn a_store_that_is_not_a_regular_file_is_refused_before_sqlite_touches_it() {
    let journal = Path::new("/dev/null-journal");
    // What a build before this check left behind.
    let _ = fs::remove_file(journal);
    let root = tempfile::tempdir().unwrap();
    let target = cli::target("dir", root.path());
    for args in [vec!["db", "status", "--db", "/dev/null"], vec!["scan", &target, "--db", "/dev/null"]] {
        let output = run(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert_contains(
            &stderr,
            &["/dev/null cannot be the store", "a character device, not a regular file", "pass --db"],
        );
        assert!(!journal.exists(), "{args:?} left {} behind", journal.display());
    }

    let file = root.path().join("file");
    fs::write(&file, "").unwrap();
    let inside_a_file = file.join("store.db");
    let output = run(&["scan", &target, "--db", inside_a_file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_contains(&stderr, &[&format!("{} cannot hold the store", file.display()), "not a directory"]);
}

/// A valid store on a read-only filesystem: the message says so and what to do, and the store is
/// left intact. The read-only filesystem is a read-only bind mount in a mount namespace of its
/// own (`unshare`), which needs root: under CI (root) failing to set it up fails the test.
#[test]
fn a_store_on_a_read_only_filesystem_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.db");
    let empty_root = tempfile::tempdir().unwrap();
    let created = run(&["scan", &cli::target("dir", empty_root.path()), "--db", store.to_str().unwrap()]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let before = fs::read(&store).unwrap();

    // The script's exit code when the mount could not be made.
    const NO_MOUNT: i32 = 97;
    let mut engine = cli::command();
    engine.args(["db", "status", "--db", store.to_str().unwrap()]);
    let engine = cli::with_deadline(&engine);
    let mut read_only = cli::wrapped("unshare", &engine);
    read_only
        .args([
            "--mount",
            "sh",
            "-c",
            r#"mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" || exit 97; exec "$@""#,
        ])
        .arg(dir.path())
        .arg(engine.get_program())
        .args(engine.get_args());
    let output = match read_only.output() {
        Ok(output) if output.status.code() != Some(NO_MOUNT) => output,
        failed => {
            let why = format!("cannot make a read-only bind mount with unshare (needs root): {failed:?}");
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            eprintln!("skipped: {why}");
            return;
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_finished(output.status.code().unwrap_or(-1), &stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_contains(
        &stderr,
        &[&store.display().to_string(), "is on a read-only filesystem", "remount the filesystem read-write"],
    );
    assert!(!stderr.contains("not an ecr-engine store"), "{stderr}");
    assert_eq!(fs::read(&store).unwrap(), before, "the store was left as it was");
    let status = run(&["db", "status", "--db", store.to_str().unwrap()]);
    assert!(status.status.success(), "still a store: {}", String::from_utf8_lossy(&status.stderr));
}
