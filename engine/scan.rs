//! One scan, start to finish: target -> image -> layers in parallel (or from the layer cache) ->
//! merged view -> analyzers -> report. Failures of one layer or one plugin are recorded and the
//! rest goes on.

use crate::image::{self, Platform, ResolvedImage};
use crate::layer::{self, LayerContents, LayerLimits, Selector};
use crate::model::{Finding, ImageFile, ImageInfo, Package};
use crate::plugin::{PluginHost, PluginRun, RunStatus};
use crate::registry::{self, RegistryOptions};
use crate::report::Report;
use crate::rootfs;
use crate::source::Target;
use crate::store::cache::{self, LayerCache, LayerKey};
use crate::view::MergedView;
use anyhow::{Context, Result};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// `None`: linux/amd64, or the only platform the image has.
    pub platform: Option<Platform>,
    pub limits: LayerLimits,
    /// How to reach and log in to registries.
    pub registry: RegistryOptions,
    /// AWS access for ECR targets (connected on first use, shared by a run's images).
    pub ecr: Option<Arc<crate::aws::EcrAccess>>,
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

/// A package as seen in one view of the image: a package is attributed to the lowest layer whose
/// copy of its database already listed the same name and version.
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

/// Scans one target without a layer cache.
pub fn scan(target_text: &str, host: &PluginHost, options: &ScanOptions) -> Result<Report> {
    Scanner::new(host, None).scan(target_text, options)
}

/// [`scan`], plus (when `keep_runs`) the analyzers' runs on the final view exactly as they
/// returned them, before they are shaped into the report: what `plugins test` prints.
pub fn scan_keeping_runs(
    target_text: &str,
    host: &PluginHost,
    options: &ScanOptions,
    keep_runs: bool,
) -> Result<(Report, Vec<PluginRun>)> {
    Scanner::new(host, None).scan_keeping_runs(target_text, options, keep_runs)
}

/// A reusable scan context: the analyzers and the layer cache. `scan` can be called from several
/// threads at once (many images in one run); a layer that several scans want at the same time
/// is read by one of them while the others wait for its result, and with a cache, a layer read
/// once is never read again.
pub struct Scanner<'a> {
    host: &'a PluginHost,
    cache: Option<&'a dyn LayerCache>,
    /// Layers being read right now, so a second scan wanting one waits instead of reading it too.
    in_flight: Mutex<HashMap<LayerKey, Arc<OnceLock<Fetched>>>>,
}

/// One layer as a scan got it.
#[derive(Clone)]
struct Fetched {
    /// The error is text so that every scan waiting on the layer gets it.
    contents: Result<LayerContents, String>,
    /// Not read by this scan: from the cache, or read by a concurrent scan.
    from_cache: bool,
    /// Why the cache could not be used, if it could not (the scan itself is unaffected).
    cache_problem: Option<String>,
}

impl<'a> Scanner<'a> {
    pub fn new(host: &'a PluginHost, cache: Option<&'a dyn LayerCache>) -> Scanner<'a> {
        Scanner { host, cache, in_flight: Mutex::new(HashMap::new()) }
    }

    pub fn scan(&self, target_text: &str, options: &ScanOptions) -> Result<Report> {
        self.scan_keeping_runs(target_text, options, false).map(|(report, _)| report)
    }

    /// [`Scanner::scan`], plus (when `keep_runs`) the analyzers' raw runs on the final view.
    pub fn scan_keeping_runs(
        &self,
        target_text: &str,
        options: &ScanOptions,
        keep_runs: bool,
    ) -> Result<(Report, Vec<PluginRun>)> {
        let kept = |analysis: &Analysis| if keep_runs { analysis.runs.clone() } else { Vec::new() };
        let started = Instant::now();
        let target = Target::parse(target_text)?;
        let patterns = self.host.patterns();
        let selector = Selector::new(&patterns).context("plugin path patterns")?;
        let (mut report, runs) = match &target {
            Target::RootFs { path } => {
                let found = rootfs::collect(path, &selector, &options.limits)?;
                let info = ImageInfo {
                    config_json: "{}".to_string(),
                    os: std::env::consts::OS.to_string(),
                    architecture: Platform::new("linux", std::env::consts::ARCH, None).architecture,
                };
                let analysis = analyze_files(self.host, &info, &found.files);
                let runs = kept(&analysis);
                let mut report = Report::new(target_text);
                report.add_warnings(found.warnings);
                report.add_analysis(analysis, None);
                (report, runs)
            }
            _ => {
                let image = match &target {
                    Target::Registry(reference) => {
                        registry::resolve(reference, &options.registry, options.platform.as_ref())?
                    }
                    Target::Ecr(reference) => {
                        let access = options.ecr.as_deref().context("scanning from ECR needs AWS settings")?;
                        crate::aws::pull::resolve(
                            reference,
                            access,
                            options.platform.as_ref(),
                            &options.registry.retry,
                        )?
                    }
                    local => image::resolve(local, options.platform.as_ref())?,
                };
                let selection = cache::selection_fingerprint(
                    &patterns,
                    options.limits.max_file_bytes,
                    options.limits.max_layer_bytes,
                );
                self.scan_image(target_text, &image, &selector, &selection, options, kept)
            }
        };
        report.stats.duration_ms = started.elapsed().as_millis() as u64;
        Ok((report, runs))
    }

    fn scan_image(
        &self,
        target_text: &str,
        image: &ResolvedImage,
        selector: &Selector,
        selection: &str,
        options: &ScanOptions,
        kept: impl Fn(&Analysis) -> Vec<PluginRun>,
    ) -> (Report, Vec<PluginRun>) {
        let mut report = Report::new(target_text);
        report.set_image(image);
        let fetched: Vec<Fetched> = image
            .layers
            .par_iter()
            .enumerate()
            .map(|(index, layer)| {
                let key = LayerKey {
                    digest: layer.digest.to_string(),
                    diff_id: layer.diff_id.as_ref().map(|d| d.to_string()).unwrap_or_default(),
                    selection: selection.to_string(),
                };
                self.fetch_layer(key, || {
                    let what = format!("layer {} ({})", index + 1, layer.digest);
                    let blob =
                        image.files.open(&layer.location).with_context(|| format!("{what}: cannot open the blob"))?;
                    layer::read_layer(blob, layer, selector, &options.limits, &what)
                })
            })
            .collect();
        let mut layers = Vec::with_capacity(fetched.len());
        for (index, fetched) in fetched.into_iter().enumerate() {
            report.add_warnings(fetched.cache_problem.into_iter().collect());
            match fetched.contents {
                Ok(contents) => {
                    report.layer_read(index, &contents, fetched.from_cache);
                    layers.push(contents);
                }
                Err(error) => {
                    // The layer's files are missing from the view: say so, keep the rest.
                    report.layer_failed(index, error);
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
        let analysis = analyze_layers(self.host, &info, &layers, &digests, selector);
        let runs = kept(&analysis);
        report.add_analysis(analysis, Some(&image.config));
        (report, runs)
    }

    /// One layer: from the cache, from a concurrent scan reading it, or read here. Only a read
    /// that succeeded (every digest verified) is cached: a failed or interrupted read leaves
    /// nothing behind.
    fn fetch_layer(&self, key: LayerKey, read: impl FnOnce() -> Result<LayerContents>) -> Fetched {
        let lock = || self.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let cell = lock().entry(key.clone()).or_default().clone();
        let mut fetched_here = false;
        let fetched = cell
            .get_or_init(|| {
                fetched_here = true;
                self.read_through_cache(&key, read)
            })
            .clone();
        if fetched_here {
            // Later scans find the layer in the cache (or read it again when there is none).
            lock().remove(&key);
            fetched
        } else {
            Fetched { from_cache: true, ..fetched }
        }
    }

    fn read_through_cache(&self, key: &LayerKey, read: impl FnOnce() -> Result<LayerContents>) -> Fetched {
        let Some(cache) = self.cache else {
            return Fetched { contents: read().map_err(|e| format!("{e:#}")), from_cache: false, cache_problem: None };
        };
        let mut cache_problem = None;
        match cache.get(key) {
            Ok(Some(contents)) => return Fetched { contents: Ok(contents), from_cache: true, cache_problem },
            Ok(None) => {}
            Err(error) => cache_problem = Some(format!("layer cache unavailable for {}: {error:#}", key.digest)),
        }
        let contents = read().map_err(|e| format!("{e:#}"));
        if let Ok(contents) = &contents
            && let Err(error) = cache.put(key, contents)
        {
            cache_problem = Some(format!("layer {} could not be cached: {error:#}", key.digest));
        }
        Fetched { contents, from_cache: false, cache_problem }
    }
}

fn analyze_files(host: &PluginHost, info: &ImageInfo, files: &[ImageFile]) -> Analysis {
    let runs = host.analyze(info, files);
    let file_layers = files.iter().map(|f| (f.path.clone(), f.layer.clone())).collect();
    Analysis { runs, file_layers, package_layers: HashMap::new() }
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
