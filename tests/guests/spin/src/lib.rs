//! Test guest: never returns from `analyze` (a busy loop the optimizer cannot remove).

use ecr_plugin_kit::{File, Finding, Guest, ImageInfo, PluginInfo};

struct Spin;

impl Guest for Spin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "spin".into(),
            version: "1.0.0".into(),
            description: "loops forever".into(),
            patterns: vec![],
        }
    }

    fn analyze(_image: ImageInfo, _files: Vec<File>) -> Result<Vec<Finding>, String> {
        let mut counter = 0u64;
        loop {
            counter = std::hint::black_box(counter.wrapping_add(1));
        }
    }
}

ecr_plugin_kit::export!(Spin);
