//! Layer throughput: the whole pipeline (sha256 of the blob + decode + tar walk + selection)
//! against the raw decoder alone on the same bytes, for gzip, zstd and uncompressed layers, and
//! several layers at once. Throughput is in bytes of uncompressed tar.
//!
//! Run: `cargo bench --bench layer_throughput`. Layer size: ECR_BENCH_LAYER_MB (default 128).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ecr_engine::digest::Digest;
use ecr_engine::image::{Compression, LayerRef};
use ecr_engine::layer::{LayerLimits, Selector, read_layer};
use rayon::prelude::*;
use std::io::{self, Read, Write};
use std::time::Duration;

mod data;
use data::{Rng, binary_file, text_file};

/// A layer tar of about `target` bytes with a realistic mix of small and large files, plus the
/// dpkg database analyzers select.
fn realistic_tar(target: usize) -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut builder = tar::Builder::new(Vec::with_capacity(target + (1 << 20)));
    let add = |builder: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, data).expect("append");
    };
    let status = std::fs::read("/var/lib/dpkg/status").unwrap_or_else(|_| text_file(&mut rng, 400_000));
    add(&mut builder, "var/lib/dpkg/status", &status);
    let mut written = status.len();
    let mut n = 0;
    while written < target {
        // Log-uniform sizes from 256 B to 2 MiB: many small files, most bytes in large ones.
        let size = (256f64 * (8192f64).powf((rng.below(10_000) as f64) / 10_000.0)) as usize;
        let data = if rng.below(10) < 6 { text_file(&mut rng, size) } else { binary_file(&mut rng, size) };
        add(&mut builder, &format!("usr/lib/pkg{}/file{n}.dat", n % 97), &data);
        written += data.len();
        n += 1;
    }
    builder.into_inner().expect("tar")
}

fn compress(tar: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::None => tar.to_vec(),
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            encoder.write_all(tar).expect("gzip");
            encoder.finish().expect("gzip")
        }
        Compression::Zstd => zstd::encode_all(tar, 3).expect("zstd"),
    }
}

/// The raw decoder alone, the ceiling the pipeline is measured against.
fn raw_decode(blob: &[u8], compression: Compression) -> u64 {
    match compression {
        Compression::None => drain(Reader(blob)),
        Compression::Gzip => drain(flate2::bufread::MultiGzDecoder::new(blob)),
        Compression::Zstd => drain(zstd::stream::read::Decoder::with_buffer(blob).expect("zstd")),
    }
}

/// Reads everything into a buffer the optimizer cannot see through (copying into `io::sink`
/// can be skipped altogether for some readers).
fn drain(mut reader: impl Read) -> u64 {
    let mut buffer = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = reader.read(std::hint::black_box(&mut buffer)).expect("decode");
        if n == 0 {
            return total;
        }
        total += n as u64;
    }
}

fn layer_ref(blob: &[u8], compression: Compression) -> LayerRef {
    let digest = Digest::of(blob);
    LayerRef {
        digest: digest.clone(),
        blob_digest: Some(digest.clone()),
        diff_id: None,
        size: Some(blob.len() as u64),
        media_type: None,
        compression: Some(compression),
        location: String::new(),
    }
}

fn pipeline(blob: &[u8], layer: &LayerRef, selector: &Selector) -> u64 {
    let contents = read_layer(Reader(blob), layer, selector, &LayerLimits::default(), "bench layer").expect("layer");
    assert_eq!(contents.entries.len(), 1, "the dpkg database is selected");
    contents.tar_bytes
}

/// A plain `Read` over the blob, so the pipeline cannot take shortcuts a slice would allow.
struct Reader<'a>(&'a [u8]);

impl Read for Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

fn bench(c: &mut Criterion) {
    let mb: usize = std::env::var("ECR_BENCH_LAYER_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(128);
    let tar = realistic_tar(mb << 20);
    let selector =
        Selector::new(&["var/lib/dpkg/status".to_string(), "var/lib/dpkg/status.d/*".to_string()]).expect("selector");
    for (name, compression) in [("gzip", Compression::Gzip), ("zstd", Compression::Zstd), ("none", Compression::None)] {
        let blob = compress(&tar, compression);
        let layer = layer_ref(&blob, compression);
        eprintln!(
            "{name}: {} MB tar, {} MB blob ({:.2}x)",
            tar.len() >> 20,
            blob.len() >> 20,
            tar.len() as f64 / blob.len() as f64
        );
        let mut group = c.benchmark_group(format!("layer/{name}"));
        group.sample_size(10).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(1));
        group.throughput(Throughput::Bytes(tar.len() as u64));
        group.bench_function("raw-decoder", |b| b.iter(|| raw_decode(&blob, compression)));
        group.bench_function("pipeline", |b| b.iter(|| pipeline(&blob, &layer, &selector)));
        // Two layers at once: the pipeline should use both cores of this machine. The raw
        // decoder run the same way shows what the machine itself allows.
        group.throughput(Throughput::Bytes((tar.len() * 2) as u64));
        group.bench_function(BenchmarkId::new("raw-decoder-parallel", 2), |b| {
            b.iter(|| (0..2).into_par_iter().map(|_| raw_decode(&blob, compression)).sum::<u64>())
        });
        group.bench_function(BenchmarkId::new("pipeline-parallel", 2), |b| {
            b.iter(|| (0..2).into_par_iter().map(|_| pipeline(&blob, &layer, &selector)).sum::<u64>())
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
