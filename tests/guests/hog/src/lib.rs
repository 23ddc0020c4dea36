//! Test guest: allocates (and touches) memory without bound.

use ecr_plugin_kit::{Analyzer, File, Findings, ImageInfo};

struct Hog;

impl Analyzer for Hog {
    const NAME: &'static str = "hog";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "allocates until it is stopped";

    fn patterns() -> Vec<String> {
        vec![]
    }

    fn analyze(_image: &ImageInfo, _files: &[File]) -> Result<Findings, String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // 1 MiB at a time, filled so the pages are really used.
            hoard.push(std::hint::black_box(vec![0xA5; 1 << 20]));
        }
    }
}

ecr_plugin_kit::export!(Hog);
