//! Test guest: a Rust panic with a distinctive message, which must reach the host's error text.

use ecr_plugin_kit::{Analyzer, File, Findings, ImageInfo};

struct Panic;

impl Analyzer for Panic {
    const NAME: &'static str = "panic";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "panics on purpose";

    fn patterns() -> Vec<String> {
        vec![]
    }

    fn analyze(_image: &ImageInfo, files: &[File]) -> Result<Findings, String> {
        panic!("ECR-TEST-PANIC: the panic guest gave up after {} files", files.len())
    }
}

ecr_plugin_kit::export!(Panic);
