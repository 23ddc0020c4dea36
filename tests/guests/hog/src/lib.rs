//! Test guest: allocates (and touches) memory without bound.

use ecr_plugin_kit::{File, Finding, Guest, ImageInfo, PluginInfo};

struct Hog;

impl Guest for Hog {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "hog".into(),
            version: "1.0.0".into(),
            description: "allocates until it is stopped".into(),
            patterns: vec![],
        }
    }

    fn analyze(_image: ImageInfo, _files: Vec<File>) -> Result<Vec<Finding>, String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // 1 MiB at a time, filled so the pages are really used.
            hoard.push(std::hint::black_box(vec![0xA5; 1 << 20]));
        }
    }
}

ecr_plugin_kit::export!(Hog);
