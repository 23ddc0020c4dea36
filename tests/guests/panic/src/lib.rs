//! Test guest: a Rust panic with a distinctive message, which must reach the host's error text.

use ecr_plugin_kit::{File, Finding, Guest, ImageInfo, PluginInfo};

struct Panic;

impl Guest for Panic {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "panic".into(),
            version: "1.0.0".into(),
            description: "panics on purpose".into(),
            patterns: vec![],
        }
    }

    fn analyze(_image: ImageInfo, files: Vec<File>) -> Result<Vec<Finding>, String> {
        panic!("ECR-TEST-PANIC: the panic guest gave up after {} files", files.len())
    }
}

ecr_plugin_kit::export!(Panic);
