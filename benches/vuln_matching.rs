//! Vulnerability data: import speed (records per second into the store) and matching speed
//! (an image of 1,000 packages against a warm store of 40,000 advisories).
//!
//! Run: `cargo bench --bench vuln_matching`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ecr_engine::report::PackageEntry;
use ecr_engine::store::Store;
use ecr_engine::vuln::import::import_paths;
use ecr_engine::vuln::matcher::{MatchOptions, match_packages};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const ADVISORIES: usize = 40_000;
const SOURCE_PACKAGES: usize = 4_000;

/// OSV records shaped like Debian's: a CVE per record, a source package, a fixed version, a
/// CVSS vector on some.
fn write_records(dir: &Path, count: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..count {
        let package = format!("src{}", i % SOURCE_PACKAGES);
        let mut record = json!({
            "id": format!("DEBIAN-CVE-2024-{i:05}"),
            "modified": "2024-06-01T00:00:00Z",
            "upstream": [format!("CVE-2024-{i:05}")],
            "details": "A flaw was found in the parser that allows a remote attacker to cause a denial of service via a crafted input.",
            "affected": [{"package": {"ecosystem": "Debian:12", "name": package},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": format!("1.{}-{}+deb12u1", i % 7, i % 5)}]}]}]
        });
        if i % 3 == 0 {
            record["severity"] = json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}]);
        }
        std::fs::write(dir.join(format!("{i}.json")), record.to_string()).unwrap();
    }
}

fn packages(count: usize) -> Vec<PackageEntry> {
    (0..count)
        .map(|i| PackageEntry {
            name: format!("bin{i}"),
            version: format!("1.{}-1", i % 9),
            ecosystem: "deb".into(),
            source_name: Some(format!("src{}", i * 3 % SOURCE_PACKAGES)),
            source_version: Some(format!("1.{}-1", i % 9)),
            arch: Some("amd64".into()),
            licenses: Vec::new(),
            purl: None,
            path: "var/lib/dpkg/status".into(),
            layer: None,
            plugin: "dpkg".into(),
            properties: BTreeMap::new(),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("records");
    write_records(&records, ADVISORIES);

    let mut group = c.benchmark_group("vuln");
    group.sample_size(10).measurement_time(Duration::from_secs(20)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(ADVISORIES as u64));
    let mut round = 0;
    group.bench_function("import-40k-records", |b| {
        b.iter(|| {
            round += 1;
            let mut store = Store::open(&dir.path().join(format!("import-{round}.db"))).unwrap();
            let report = import_paths(&mut store, std::slice::from_ref(&records)).unwrap();
            assert_eq!(report.stored as usize, ADVISORIES);
        })
    });

    let mut store = Store::open(&dir.path().join("warm.db")).unwrap();
    import_paths(&mut store, std::slice::from_ref(&records)).unwrap();
    let image = packages(1_000);
    group.throughput(Throughput::Elements(image.len() as u64));
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("match-1000-packages", |b| {
        b.iter(|| {
            let found = match_packages(&store, &image, Some(("debian", "12")), MatchOptions::default())
                .unwrap()
                .vulnerabilities;
            assert!(!found.is_empty());
            found.len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
