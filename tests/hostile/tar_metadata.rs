//! Tar metadata that would size allocations: GNU long names and links, PAX extended headers,
//! sparse maps, and layers that keep too many symlinks and whiteouts. Each is refused with an
//! error naming the layer (or archive) and the limit, before its data is read, while the healthy
//! layer's package is still reported; peak memory of the real binary stays small.

use crate::common::cli::{self, Measured, ScanResult};
use crate::common::image::*;
use std::path::Path;

/// The scanner's own memory plus a layer's worth of buffers; far below what any of these inputs
/// cost before the ceilings (1.3 to 3.6 GB).
const PEAK_RSS_BOUND_MIB: u64 = 300;

fn stanza(name: &str, version: &str) -> String {
    dpkg_status_stanza(name, version, "amd64", None, "install ok installed")
}

fn scan_measured(target: &str) -> (Measured, ScanResult) {
    let plugins = tempfile::tempdir().unwrap();
    let mut command = cli::command();
    command.args(["scan", target, "--format", "json", "--plugins-dir"]).arg(plugins.path());
    let measured = cli::run_measured(&command);
    eprintln!("{target}: exit {}, peak RSS {} MiB, {:.1} s", measured.code, measured.peak_rss_mib, measured.seconds);
    let report = if measured.stdout.is_empty() { serde_json::Value::Null } else { measured.report() };
    let result = ScanResult { code: measured.code, report, stderr: measured.stderr.clone() };
    (measured, result)
}

/// A healthy gzip layer with package `kept`, then a layer with package `victim` followed by
/// `hostile` entries.
fn two_layers(hostile: Vec<Entry>) -> ImageSpec {
    let mut second = vec![Entry::file("var/lib/dpkg/status.d/victim", stanza("victim", "2.0"))];
    second.extend(hostile);
    ImageSpec::new(vec![
        Layer::gzip(vec![Entry::file("var/lib/dpkg/status", stanza("kept", "1.0"))]),
        Layer::gzip(second),
    ])
}

/// Scans `spec` as an OCI layout: the second layer fails with an error naming it and containing
/// each of `needles`, the first layer's package is reported, exit 3, memory bounded.
fn assert_second_layer_refused(spec: &ImageSpec, needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let built = write_oci_layout(&[(spec, None)], dir.path(), false).remove(0);
    let (measured, result) = scan_measured(&cli::target("oci", dir.path()));
    let fixed = ["layer 2", built.layer_digests[1].as_str(), "the layer is not scanned"];
    result.assert_second_layer_failed(&[&fixed[..], needles].concat());
    assert!(measured.peak_rss_mib < PEAK_RSS_BOUND_MIB, "peak RSS {} MiB", measured.peak_rss_mib);
}

/// A header declaring `size` bytes of metadata, and nothing after it: refused before reading.
fn declared_only(kind: u8, name: &[u8], size: u64) -> Entry {
    Entry::Verbatim(tar_header(kind, name, size).as_bytes().to_vec())
}

#[test]
fn gnu_long_name_declaring_1gb() {
    let spec = two_layers(vec![declared_only(b'L', b"././@LongLink", 1 << 30)]);
    assert_second_layer_refused(&spec, &["GNU long name of 1073741824 bytes", "4096-byte limit for tar entry names"]);
}

#[test]
fn gnu_long_link_declaring_1gb() {
    let spec = two_layers(vec![declared_only(b'K', b"././@LongLink", 1 << 30)]);
    assert_second_layer_refused(&spec, &["GNU long link of 1073741824 bytes", "4096-byte limit for link targets"]);
}

#[test]
fn pax_path_record_of_1gb() {
    // The header announces a 1 GB `path` record; only its first bytes follow.
    let record_length = (1u64 << 30) + 16;
    let mut bytes = tar_header(b'x', b"PaxHeader", record_length).as_bytes().to_vec();
    bytes.extend_from_slice(format!("{record_length} path=").as_bytes());
    bytes.extend_from_slice(&[b'a'; 4096]);
    let spec = two_layers(vec![Entry::Verbatim(bytes)]);
    assert_second_layer_refused(
        &spec,
        &["PAX extended header of 1073741840 bytes", "1048576-byte limit for PAX headers"],
    );
}

#[test]
fn pax_path_record_over_the_name_limit() {
    let records = pax_record("path", "p/".repeat(32 << 10).as_bytes());
    let mut bytes = tar_header(b'x', b"PaxHeader", records.len() as u64).as_bytes().to_vec();
    bytes.extend_from_slice(&records);
    bytes.resize(bytes.len().next_multiple_of(512), 0);
    bytes.extend_from_slice(tar_header(b'0', b"short", 0).as_bytes());
    let spec = two_layers(vec![Entry::Verbatim(bytes)]);
    assert_second_layer_refused(&spec, &["entry name of 65536 bytes (from a PAX path record)", "4096-byte limit"]);
}

#[test]
fn pax_header_records_totalling_over_the_limit() {
    // 2 MiB of small, well-formed records, all present.
    let record = pax_record("comment", &[b'c'; 1000]);
    let records = record.repeat((2 << 20) / record.len());
    let mut bytes = tar_header(b'x', b"PaxHeader", records.len() as u64).as_bytes().to_vec();
    bytes.extend_from_slice(&records);
    bytes.resize(bytes.len().next_multiple_of(512), 0);
    bytes.extend_from_slice(tar_header(b'0', b"described", 0).as_bytes());
    let spec = two_layers(vec![Entry::Verbatim(bytes)]);
    assert_second_layer_refused(&spec, &["PAX extended header of", "1048576-byte limit for PAX headers"]);
}

/// A GNU sparse entry ('S') named `name` whose map lists `regions` empty regions (one byte
/// apart) in its header and extension blocks: a map that costs nothing in the stream per region
/// but a list entry in memory.
fn sparse_map(name: &[u8], regions: u64) -> Entry {
    let mut header = tar_header(b'S', name, 0);
    let gnu = header.as_gnu_mut().unwrap();
    let slots = gnu.sparse.len() as u64;
    for (index, slot) in gnu.sparse.iter_mut().enumerate() {
        slot.set_offset(index as u64);
        slot.set_length(0);
    }
    gnu.set_real_size(regions - 1);
    gnu.set_is_extended(true);
    header.set_cksum();
    let mut bytes = header.as_bytes().to_vec();
    let mut next = slots;
    while next < regions {
        let mut extension = tar::GnuExtSparseHeader::new();
        let in_block = (regions - next).min(extension.sparse().len() as u64);
        for (slot, offset) in extension.sparse_mut().iter_mut().zip(next..next + in_block) {
            slot.set_offset(offset);
            slot.set_length(0);
        }
        next += in_block;
        extension.set_is_extended(next < regions);
        bytes.extend_from_slice(extension.as_bytes());
    }
    Entry::Verbatim(bytes)
}

#[test]
fn sparse_map_over_the_region_limit() {
    let spec = two_layers(vec![sparse_map(b"var/lib/dpkg/status.d/holes", 200_000)]);
    assert_second_layer_refused(&spec, &["sparse file map of more than 65536 regions", "limit for sparse maps"]);
}

#[test]
fn sparse_file_larger_than_the_file_limit_is_skipped_unread() {
    // 512 stored bytes that would expand to 64 GiB: the file is skipped like any oversized file.
    let real_size = 64u64 << 30;
    let mut header = tar_header(b'S', b"var/lib/dpkg/status.d/amplified", 512);
    let gnu = header.as_gnu_mut().unwrap();
    gnu.sparse[0].set_offset(real_size - 512);
    gnu.sparse[0].set_length(512);
    gnu.set_real_size(real_size);
    header.set_cksum();
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(stanza("amplified", "6.6").as_bytes());
    let spec = ImageSpec::new(vec![Layer::gzip(vec![
        Entry::file("var/lib/dpkg/status", stanza("kept", "1.0")),
        Entry::Verbatim(bytes),
    ])]);
    let dir = tempfile::tempdir().unwrap();
    write_oci_layout(&[(&spec, None)], dir.path(), false);
    let (measured, result) = scan_measured(&cli::target("oci", dir.path()));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.packages(), vec![("kept".to_string(), "1.0".to_string())]);
    let warnings = result.warnings();
    assert!(
        warnings.contains("status.d/amplified' is 68719476736 bytes") && warnings.contains("--max-file-size"),
        "{warnings}"
    );
    assert!(measured.peak_rss_mib < PEAK_RSS_BOUND_MIB, "peak RSS {} MiB", measured.peak_rss_mib);
}

#[test]
fn many_long_symlink_targets_and_whiteout_names() {
    // Each under the 4096-byte ceilings, together over the 64 MiB a layer may keep.
    let target = "t/".repeat(2000);
    let hostile = (0..18_000).map(|n| {
        if n % 2 == 0 {
            Entry::raw(format!("links/{n}").into_bytes(), Vec::new(), b'2', Some(target.as_bytes()))
        } else {
            Entry::raw(format!("gone/.wh.{n}{}", "w".repeat(3990)).into_bytes(), Vec::new(), b'0', None)
        }
    });
    let spec = two_layers(hostile.collect());
    assert_second_layer_refused(
        &spec,
        &["symlinks, whiteouts and opaque directories take more than 67108864 bytes, the limit for one layer"],
    );
}

#[test]
fn huge_long_name_in_image_archives() {
    let spec = ImageSpec::new(vec![Layer::gzip(vec![Entry::file("var/lib/dpkg/status", stanza("kept", "1.0"))])]);
    let dir = tempfile::tempdir().unwrap();
    let docker = dir.path().join("docker.tar");
    write_docker_archive(&spec, &["app:1"], &docker);
    let oci = dir.path().join("oci.tar");
    write_oci_archive(&[(&spec, None)], &oci, false);
    for (transport, archive) in [("docker-archive", &docker), ("oci-archive", &oci)] {
        let (measured, result) = scan_measured(&cli::target(transport, &prepend_long_name_of_1gb(archive)));
        assert_eq!(result.code, 1, "{}", result.stderr);
        for needle in ["cannot index the tar archive", "GNU long name of 1073741824 bytes", "4096-byte limit"] {
            assert!(result.stderr.contains(needle), "{transport}: stderr mentions {needle:?}: {}", result.stderr);
        }
        assert!(measured.peak_rss_mib < PEAK_RSS_BOUND_MIB, "{transport}: peak RSS {} MiB", measured.peak_rss_mib);
    }
}

/// The archive with a GNU long-name header in front that claims the next 1 GB as a name.
fn prepend_long_name_of_1gb(archive: &Path) -> std::path::PathBuf {
    let mut bytes = tar_header(b'L', b"././@LongLink", 1 << 30).as_bytes().to_vec();
    bytes.extend_from_slice(&std::fs::read(archive).unwrap());
    let hostile = archive.with_extension("hostile.tar");
    std::fs::write(&hostile, bytes).unwrap();
    hostile
}
