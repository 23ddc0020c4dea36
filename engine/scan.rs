//! One scan, start to finish: target -> image -> layers in parallel -> merged view -> analyzers
//! -> report. Failures of one layer or one plugin are recorded and the rest goes on.

use crate::image::{self, Platform, ResolvedImage};
use crate::layer::{self, LayerContents, LayerLimits, Selector};
use crate::model::{Finding, ImageFile, ImageInfo, Package};
use crate::plugin::{PluginHost, PluginRun, RunStatus};
use crate::registry::{self, RegistryOptions};
use crate::report::Report;
use crate::rootfs;
use crate::source::Target;
use crate::view::MergedView;
use anyhow::{Context, Result};
use rayon::prelude::*;
use std::collections::HashMap;
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// `None`: linux/amd64, or the only platform the image has.
    pub platform: Option<Platform>,
    pub limits: LayerLimits,
    /// How to reach and log in to registries.
    pub registry: RegistryOptions,
    /// AWS access for ECR targets (connected on first use, shared by a run's images).
    pub ecr: Option<std::sync::Arc<crate::aws::EcrAccess>>,
}

/// What the analyzers saw and said, before it is shaped into a report.
pub struct Analysis {
    /// The runs over the final merged view: the image as a container sees it.
    pub runs: Vec<PluginRun>,
    /// The final view's files (contents dropped), to attribute issues to layers by path.
    pub file_layers: HashMap<String, String>,
    /// For each package, the lowest layer whose view already had it (see `PackageKey`).
    pub package_layers: HashMap<PackageKey, String>,
}

/// A package as seen in one view of the image: DESIGN.md attributes a package to the lowest
/// layer whose copy of its database already listed the same name and version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageKey {
    plugin: String,
    ecosystem: String,
    name: String,
    version: String,
    path: String,
}

impl PackageKey {
    pub fn new(plugin: &str, package: &Package) -> Self {
        PackageKey {
            plugin: plugin.to_string(),
            ecosystem: package.ecosystem.clone(),
            name: package.name.clone(),
            version: package.version.clone(),
            path: package.path.clone(),
        }
    }
}

pub fn scan(target_text: &str, host: &PluginHost, options: &ScanOptions) -> Result<Report> {
    let started = Instant::now();
    let target = Target::parse(target_text)?;
    let selector = Selector::new(&host.patterns()).context("plugin path patterns")?;
    let mut report = match &target {
        Target::RootFs { path } => {
            let found = rootfs::collect(path, &selector, &options.limits)?;
            let info = ImageInfo {
                config_json: "{}".to_string(),
                os: std::env::consts::OS.to_string(),
                architecture: Platform::new("linux", std::env::consts::ARCH, None).architecture,
            };
            let analysis = analyze_files(host, &info, &found.files);
            let mut report = Report::new(target_text);
            report.add_warnings(found.warnings);
            report.add_analysis(analysis, None);
            report
        }
        _ => {
            let image = match &target {
                Target::Registry(reference) => {
                    registry::resolve(reference, &options.registry, options.platform.as_ref())?
                }
                Target::Ecr(reference) => {
                    let access = options.ecr.as_deref().context("scanning from ECR needs AWS settings")?;
                    crate::aws::pull::resolve(reference, access, options.platform.as_ref())?
                }
                local => image::resolve(local, options.platform.as_ref())?,
            };
            scan_image(target_text, &image, host, &selector, options)
        }
    };
    report.stats.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

fn analyze_files(host: &PluginHost, info: &ImageInfo, files: &[ImageFile]) -> Analysis {
    let runs = host.analyze(info, files);
    let file_layers = files.iter().map(|f| (f.path.clone(), f.layer.clone())).collect();
    Analysis { runs, file_layers, package_layers: HashMap::new() }
}

fn scan_image(
    target_text: &str,
    image: &ResolvedImage,
    host: &PluginHost,
    selector: &Selector,
    options: &ScanOptions,
) -> Report {
    let mut report = Report::new(target_text);
    report.set_image(image);
    let read: Vec<Result<LayerContents>> = image
        .layers
        .par_iter()
        .enumerate()
        .map(|(index, layer)| {
            let what = format!("layer {} ({})", index + 1, layer.digest);
            let blob = image.files.open(&layer.location).with_context(|| format!("{what}: cannot open the blob"))?;
            layer::read_layer(blob, layer, selector, &options.limits, &what)
        })
        .collect();
    let mut layers = Vec::with_capacity(read.len());
    for (index, result) in read.into_iter().enumerate() {
        match result {
            Ok(contents) => {
                report.layer_read(index, &contents);
                layers.push(contents);
            }
            Err(error) => {
                // The layer's files are missing from the view: say so, keep the rest.
                report.layer_failed(index, format!("{error:#}"));
                layers.push(LayerContents::default());
            }
        }
    }
    let info = ImageInfo {
        config_json: image.config_json.clone(),
        os: image.platform.os.clone(),
        architecture: image.platform.architecture.clone(),
    };
    let digests: Vec<String> = image.layers.iter().map(|l| l.digest.to_string()).collect();
    let analysis = analyze_layers(host, &info, &layers, &digests, selector);
    report.add_analysis(analysis, Some(&image.config));
    report
}

/// Runs the analyzers on the image's merged view, then, for attribution, re-runs those that
/// found packages on the view after each earlier layer that changed a selected path: a package
/// belongs to the lowest layer whose view already had it.
fn analyze_layers(
    host: &PluginHost,
    info: &ImageInfo,
    layers: &[LayerContents],
    digests: &[String],
    selector: &Selector,
) -> Analysis {
    let mut view = MergedView::new(layers, digests);
    let mut changed = Vec::new();
    while view.layers_applied() < layers.len() {
        let layer = view.layers_applied();
        if view.apply_next(selector) {
            changed.push(layer);
        }
    }
    let files = view.files(selector);
    let runs = host.analyze(info, &files);
    let mut package_layers: HashMap<PackageKey, String> = HashMap::new();
    let found_packages: Vec<&str> = runs
        .iter()
        .filter(|run| run.status == RunStatus::Ok && run.findings.iter().any(|f| matches!(f, Finding::Package(_))))
        .map(|run| run.name.as_str())
        .collect();
    if let Some((&last, earlier)) = changed.split_last()
        && !found_packages.is_empty()
    {
        let mut view = MergedView::new(layers, digests);
        for &layer in earlier {
            while view.layers_applied() <= layer {
                view.apply_next(selector);
            }
            let snapshot = host.analyze_only(info, &view.files(selector), |name| found_packages.contains(&name));
            record_packages(&mut package_layers, &snapshot, &digests[layer]);
        }
        record_packages(&mut package_layers, &runs, &digests[last]);
    }
    let file_layers = files.into_iter().map(|f| (f.path, f.layer)).collect();
    Analysis { runs, file_layers, package_layers }
}

/// Views are recorded bottom-up, so the first layer recorded for a package is the lowest.
fn record_packages(package_layers: &mut HashMap<PackageKey, String>, runs: &[PluginRun], layer: &str) {
    for run in runs {
        for finding in &run.findings {
            if let Finding::Package(package) = finding {
                package_layers.entry(PackageKey::new(&run.name, package)).or_insert_with(|| layer.to_string());
            }
        }
    }
}
