//! Test guest: recurses without bound, exhausting the wasm call stack.

use ecr_plugin_kit::{Analyzer, File, Findings, ImageInfo};

struct DeepRecursion;

/// `black_box` around the argument and the result keeps this a real (non-tail) recursion.
fn depth(n: u64) -> u64 {
    if std::hint::black_box(n) == u64::MAX {
        return 0;
    }
    std::hint::black_box(depth(n + 1)) + 1
}

impl Analyzer for DeepRecursion {
    const NAME: &'static str = "deep-recursion";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "recurses until the stack runs out";

    fn patterns() -> Vec<String> {
        vec![]
    }

    fn analyze(_image: &ImageInfo, _files: &[File]) -> Result<Findings, String> {
        Err(format!("unexpectedly returned from depth {}", depth(0)))
    }
}

ecr_plugin_kit::export!(DeepRecursion);
