//! Hostile and broken images: each gives a clear error naming the part at fault, no panic, and
//! whatever else the image holds is still reported (marked incomplete where something is missing).

mod common;

use common::cli::{self, ScanResult};
use common::image::*;
use std::path::Path;

fn stanza(name: &str, version: &str) -> String {
    dpkg_status_stanza(name, version, "amd64", None, "install ok installed")
}

/// Two layers: a healthy one with package `kept`, and the layer under test (index 1) with
/// `victim` in a status.d file.
fn two_layer_spec(second: Compression) -> ImageSpec {
    ImageSpec::new(vec![
        Layer::gzip(vec![Entry::file("var/lib/dpkg/status", stanza("kept", "1.0"))]),
        Layer::new(second, vec![Entry::file("var/lib/dpkg/status.d/victim", stanza("victim", "2.0"))]),
    ])
}

fn layout(spec: &ImageSpec) -> (tempfile::TempDir, BuiltImage) {
    let dir = tempfile::tempdir().unwrap();
    let built = write_oci_layout(&[(spec, None)], dir.path(), false).remove(0);
    (dir, built)
}

fn scan_layout(dir: &Path, extra: &[&str]) -> ScanResult {
    cli::scan(&cli::target("oci", dir), extra)
}

#[test]
fn truncated_gzip_layer() {
    let (dir, built) = layout(&two_layer_spec(Compression::Gzip));
    let size = built.layer_sizes[1] as usize;
    let manifest = truncate_layer(dir.path(), &built.manifest_digest, 1, size / 2);
    let new_digest = read_json_blob(dir.path(), &manifest)["layers"][1]["digest"].as_str().unwrap().to_string();
    let result = scan_layout(dir.path(), &[]);
    result.assert_second_layer_failed(&["layer 2", &new_digest, "not a valid gzip-compressed tar", "truncated"]);
}

#[test]
fn truncated_zstd_layer() {
    let (dir, built) = layout(&two_layer_spec(Compression::Zstd));
    let size = built.layer_sizes[1] as usize;
    truncate_layer(dir.path(), &built.manifest_digest, 1, size - 7);
    let result = scan_layout(dir.path(), &[]);
    result.assert_second_layer_failed(&["layer 2", "not a valid zstd-compressed tar"]);
}

#[test]
fn layer_that_is_not_a_tar() {
    let (dir, built) = layout(&two_layer_spec(Compression::None));
    let garbage: Vec<u8> = (0..10_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    replace_layer_blob(dir.path(), &built.manifest_digest, 1, &garbage);
    let result = scan_layout(dir.path(), &[]);
    result.assert_second_layer_failed(&["layer 2", "not a valid uncompressed tar"]);
}

#[test]
fn layer_digest_mismatch() {
    let (dir, built) = layout(&two_layer_spec(Compression::Gzip));
    corrupt_blob(dir.path(), &built.layer_digests[1]);
    let result = scan_layout(dir.path(), &[]);
    result.assert_second_layer_failed(&["digest mismatch", &built.layer_digests[1]]);
}

#[test]
fn uncompressed_layer_that_does_not_match_its_diff_id() {
    let (dir, built) = layout(&two_layer_spec(Compression::None));
    // A valid tar, correctly described by the manifest, but not the layer the config names.
    let other = Layer::plain(vec![Entry::file("var/lib/dpkg/status.d/victim", stanza("intruder", "6.6"))]);
    replace_layer_blob(dir.path(), &built.manifest_digest, 1, &other.blob_bytes());
    let result = scan_layout(dir.path(), &[]);
    result.assert_second_layer_failed(&["diff_id", &built.diff_ids[1]]);
}

#[test]
fn config_digest_mismatch_stops_the_scan() {
    let (dir, built) = layout(&two_layer_spec(Compression::Gzip));
    corrupt_blob(dir.path(), &built.config_digest);
    let result = scan_layout(dir.path(), &[]);
    assert_eq!(result.code, 1);
    assert!(result.stderr.contains("config") && result.stderr.contains("digest mismatch"), "{}", result.stderr);
    assert!(result.stderr.contains(&built.config_digest), "{}", result.stderr);
}

#[test]
fn manifest_naming_a_missing_layer_blob() {
    let (dir, built) = layout(&two_layer_spec(Compression::Gzip));
    remove_blob(dir.path(), &built.layer_digests[1]);
    let result = scan_layout(dir.path(), &[]);
    result.assert_second_layer_failed(&["layer 2", &built.layer_digests[1]]);
}

#[test]
fn manifest_naming_a_missing_config() {
    let (dir, built) = layout(&two_layer_spec(Compression::Gzip));
    remove_blob(dir.path(), &built.config_digest);
    let result = scan_layout(dir.path(), &[]);
    assert_eq!(result.code, 1);
    assert!(result.stderr.contains("missing") && result.stderr.contains(&built.config_digest), "{}", result.stderr);
}

#[test]
fn unknown_layer_media_type() {
    let (dir, built) = layout(&two_layer_spec(Compression::Gzip));
    set_layer_media_type(dir.path(), &built.manifest_digest, 1, "application/vnd.example.secret+lz4");
    let result = scan_layout(dir.path(), &[]);
    assert_eq!(result.code, 1);
    assert!(
        result.stderr.contains("layer 2") && result.stderr.contains("application/vnd.example.secret+lz4"),
        "{}",
        result.stderr
    );
}

#[test]
fn decompression_bomb_hits_the_ceiling() {
    // 64 MiB of zeros compress to a few tens of KiB.
    let bomb = ImageSpec::new(vec![
        Layer::gzip(vec![Entry::file("var/lib/dpkg/status", stanza("kept", "1.0"))]),
        Layer::gzip(vec![Entry::file("bomb.bin", vec![0u8; 64 << 20])]),
    ]);
    let (dir, built) = layout(&bomb);
    assert!(built.layer_sizes[1] < 1 << 20);
    let result = scan_layout(dir.path(), &["--max-layer-size", "16M"]);
    result.assert_second_layer_failed(&["layer 2", "decompression bomb", "--max-layer-size"]);
    // Under the default ceiling the same image scans completely.
    assert_eq!(scan_layout(dir.path(), &[]).code, 0);
}

#[test]
fn hostile_entry_names_are_skipped_with_a_warning() {
    let spec = ImageSpec::new(vec![Layer::gzip(vec![
        Entry::raw(b"../../var/lib/dpkg/status".to_vec(), stanza("escaped", "6.6").into_bytes(), b'0', None),
        Entry::raw(b"/var/lib/dpkg/status".to_vec(), stanza("absolute", "1.0").into_bytes(), b'0', None),
        Entry::raw(b"var/lib/dpkg/status.d/evil".to_vec(), Vec::new(), b'1', Some(b"../../../../etc/shadow")),
    ])]);
    let (dir, _) = layout(&spec);
    let result = scan_layout(dir.path(), &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.packages(), vec![("absolute".to_string(), "1.0".to_string())]);
    let warnings = result.warnings();
    assert!(warnings.contains("../../var/lib/dpkg/status") && warnings.contains("climbs out"), "{warnings}");
    assert!(warnings.contains("absolute path"), "{warnings}");
    assert!(warnings.contains("hard link") && warnings.contains("outside the image"), "{warnings}");
}

#[test]
fn oversized_file_is_skipped_with_a_reason() {
    let spec = ImageSpec::new(vec![Layer::gzip(vec![
        Entry::file("var/lib/dpkg/status", stanza("kept", "1.0")),
        Entry::file("var/lib/dpkg/status.d/huge", vec![b'x'; 3 << 20]),
    ])]);
    let (dir, _) = layout(&spec);
    let result = scan_layout(dir.path(), &["--max-file-size", "1M"]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.packages(), vec![("kept".to_string(), "1.0".to_string())]);
    assert!(result.warnings().contains("var/lib/dpkg/status.d/huge"), "{}", result.warnings());
}

#[test]
fn corrupt_dpkg_database_is_reported_and_the_rest_kept() {
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect();
    let spec = ImageSpec::new(vec![Layer::gzip(vec![
        Entry::file("var/lib/dpkg/status", garbage),
        Entry::file("var/lib/dpkg/status.d/fine", stanza("fine", "1.0")),
    ])]);
    let (dir, _) = layout(&spec);
    let result = scan_layout(dir.path(), &[]);
    assert_eq!(result.code, 3, "{}", result.stderr);
    assert_eq!(result.packages(), vec![("fine".to_string(), "1.0".to_string())]);
    assert_eq!(result.plugin("dpkg")["status"], "incomplete");
    assert!(result.errors().contains("var/lib/dpkg/status"), "{}", result.errors());
}

#[test]
fn not_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.tar");
    std::fs::write(&file, b"just some text, not a tar archive at all").unwrap();
    let result = cli::scan(&cli::target("docker-archive", &file), &[]);
    assert_eq!(result.code, 1);
    assert!(result.stderr.contains("notes.tar"), "{}", result.stderr);
    let compressed = dir.path().join("image.tar.gz");
    std::fs::write(&compressed, compress(b"whatever", Compression::Gzip)).unwrap();
    let result = cli::scan(compressed.to_str().unwrap(), &[]);
    assert_eq!(result.code, 1);
    assert!(result.stderr.contains("compressed"), "{}", result.stderr);
}
