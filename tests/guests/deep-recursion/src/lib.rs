//! Test guest: recurses without bound, exhausting the wasm call stack.

use ecr_plugin_kit::{File, Finding, Guest, ImageInfo, PluginInfo};

struct DeepRecursion;

/// `black_box` around the argument and the result keeps this a real (non-tail) recursion.
fn depth(n: u64) -> u64 {
    if std::hint::black_box(n) == u64::MAX {
        return 0;
    }
    std::hint::black_box(depth(n + 1)) + 1
}

impl Guest for DeepRecursion {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "deep-recursion".into(),
            version: "1.0.0".into(),
            description: "recurses until the stack runs out".into(),
            patterns: vec![],
        }
    }

    fn analyze(_image: ImageInfo, _files: Vec<File>) -> Result<Vec<Finding>, String> {
        Err(format!("unexpectedly returned from depth {}", depth(0)))
    }
}

ecr_plugin_kit::export!(DeepRecursion);
