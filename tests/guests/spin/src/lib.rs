//! Test guest: never returns from `analyze` (a busy loop the optimizer cannot remove).

use ecr_plugin_kit::{Analyzer, File, Findings, ImageInfo};

struct Spin;

impl Analyzer for Spin {
    const NAME: &'static str = "spin";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "loops forever";

    fn patterns() -> Vec<String> {
        vec![]
    }

    fn analyze(_image: &ImageInfo, _files: &[File]) -> Result<Findings, String> {
        let mut counter = 0u64;
        loop {
            counter = std::hint::black_box(counter.wrapping_add(1));
        }
    }
}

ecr_plugin_kit::export!(Spin);
