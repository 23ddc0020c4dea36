//! Incremental scans: an image with ECR_BENCH_IMAGE_MB (default 256) MB of layers scanned cold
//! (empty layer cache) and warm, and a second image sharing its base layers scanned with only
//! the base cached. Prints the wall and CPU time of one scan of each kind after criterion's
//! numbers (CPU time counts every thread, so contention from other processes shows as a gap).
//!
//! Run: `cargo bench --bench incremental`.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ecr_engine::plugin::{Limits, PluginHost, PluginOptions};
use ecr_engine::scan::{ScanOptions, Scanner};
use ecr_engine::store::cache::SqliteLayerCache;
use std::path::Path;
use std::time::{Duration, Instant};

mod data;
#[path = "../tests/common/image.rs"]
#[allow(dead_code)]
mod image;

use data::{Rng, binary_file, text_file};
use image::{Entry, ImageSpec, Layer, dpkg_status_stanza, os_release, write_oci_layout};

/// A layer of about `megabytes` MB: files of 1 MB, alternately text and binary-like.
fn bulk_layer(rng: &mut Rng, dir: &str, megabytes: usize) -> Layer {
    let entries = (0..megabytes)
        .map(|i| {
            let content = if i % 2 == 0 { text_file(rng, 1 << 20) } else { binary_file(rng, 1 << 20) };
            Entry::file(&format!("{dir}/file{i}.bin"), content)
        })
        .collect();
    Layer::gzip(entries)
}

struct Images {
    base_app: String,
    other_app: String,
    /// Uncompressed layer bytes of the first image, and its blobs' total size.
    tar_mb: usize,
    blob_bytes: u64,
    app_blob_bytes: u64,
}

fn build_images(dir: &Path) -> Images {
    let total_mb: usize = std::env::var("ECR_BENCH_IMAGE_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let status: String = (0..200)
        .map(|i| dpkg_status_stanza(&format!("package{i}"), "1.0-1", "amd64", None, "install ok installed"))
        .collect();
    let app_mb = total_mb / 8;
    let base_mb = (total_mb - app_mb) / 3;
    let mut base = vec![Layer::gzip(vec![
        Entry::file("etc/os-release", os_release("debian", "12", "Debian GNU/Linux 12 (bookworm)")),
        Entry::file("var/lib/dpkg/status", status),
    ])];
    for (i, dir) in ["usr/lib", "usr/share", "opt/runtime"].iter().enumerate() {
        base.push(bulk_layer(&mut rng, &format!("{dir}/{i}"), base_mb));
    }
    let mut first = base.clone();
    first.push(bulk_layer(&mut rng, "app", app_mb));
    let mut second = base;
    second.push(bulk_layer(&mut rng, "app", app_mb));
    let first_built = write_oci_layout(&[(&ImageSpec::new(first), None)], &dir.join("first"), false).remove(0);
    write_oci_layout(&[(&ImageSpec::new(second), None)], &dir.join("second"), false);
    Images {
        base_app: format!("oci:{}", dir.join("first").display()),
        other_app: format!("oci:{}", dir.join("second").display()),
        tar_mb: base_mb * 3 + app_mb,
        blob_bytes: first_built.layer_sizes.iter().sum(),
        app_blob_bytes: *first_built.layer_sizes.last().unwrap(),
    }
}

/// User + system CPU time of this process so far (all threads), from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state; utime and stime
    // are the 14th and 15th fields of the line, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = rest.split_whitespace().skip(11).take(2).filter_map(|f| f.parse().ok()).collect();
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let images = build_images(dir.path());
    let host = PluginHost::load(&PluginOptions {
        plugins_dir: Some(dir.path().join("no-plugins")),
        builtin: true,
        files: Vec::new(),
        cache_dir: dir.path().join("plugin-cache"),
        limits: Limits::default(),
        plugin_limits: Default::default(),
    })
    .unwrap();
    let options = ScanOptions::default();
    let fresh_cache = |name: &str| {
        let path = dir.path().join(name);
        let _ = std::fs::remove_file(&path);
        SqliteLayerCache::open(&path).unwrap()
    };
    let scan = |cache: &SqliteLayerCache, target: &str| {
        let report = Scanner::new(&host, Some(cache)).scan(target, &options).unwrap();
        assert!(report.complete, "{:?}", report.errors);
        report
    };

    let mut group = c.benchmark_group(format!("incremental/{}MB", images.tar_mb));
    group.sample_size(10).measurement_time(Duration::from_secs(30)).warm_up_time(Duration::from_secs(1));
    group.bench_function("cold", |b| {
        b.iter_batched(|| fresh_cache("cold.db"), |cache| scan(&cache, &images.base_app), BatchSize::PerIteration)
    });
    let warm_cache = fresh_cache("warm.db");
    scan(&warm_cache, &images.base_app);
    group.bench_function("warm", |b| b.iter(|| scan(&warm_cache, &images.base_app)));
    group.bench_function("shared-base", |b| {
        b.iter_batched(
            || {
                let cache = fresh_cache("shared.db");
                scan(&cache, &images.base_app);
                cache
            },
            |cache| scan(&cache, &images.other_app),
            BatchSize::PerIteration,
        )
    });
    group.finish();

    // One scan of each kind, wall and CPU time.
    let measure = |label: &str, cache: &SqliteLayerCache, target: &str| {
        let (wall, cpu) = (Instant::now(), cpu_time());
        let report = scan(cache, target);
        eprintln!(
            "{label:<12} wall {:>7.0} ms  cpu {:>7.0} ms  layers read {} of {}, {} MB from cache",
            wall.elapsed().as_secs_f64() * 1000.0,
            (cpu_time() - cpu).as_secs_f64() * 1000.0,
            report.stats.layers - report.stats.cached_layers,
            report.stats.layers,
            report.stats.cached_bytes >> 20
        );
    };
    eprintln!(
        "image: {} MB of layers uncompressed, {} MB of blobs ({} MB in the app layer)",
        images.tar_mb,
        images.blob_bytes >> 20,
        images.app_blob_bytes >> 20
    );
    let cache = fresh_cache("once.db");
    measure("cold", &cache, &images.base_app);
    measure("warm", &cache, &images.base_app);
    measure("shared-base", &cache, &images.other_app);
}

criterion_group!(benches, bench);
criterion_main!(benches);
