//! Test guest: returns a gigantic result, 500,000 packages with 80-byte names (about 75 MB of
//! findings by the host's measure, over the default 64 MiB result cap), built within the
//! default 256 MiB memory cap, so the host must lift it, measure it and refuse it without its
//! own memory running away.

use ecr_plugin_kit::{Analyzer, File, Findings, ImageInfo, Package};

const COUNT: usize = 500_000;

struct Flood;

impl Analyzer for Flood {
    const NAME: &'static str = "flood";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "returns far too many findings";

    fn patterns() -> Vec<String> {
        Vec::new()
    }

    fn analyze(_image: &ImageInfo, _files: &[File]) -> Result<Findings, String> {
        let mut findings = Findings::new();
        for i in 0..COUNT {
            findings.package(Package::new("flood", format!("{i:080}"), "1", ""));
        }
        Ok(findings)
    }
}

ecr_plugin_kit::export!(Flood);
