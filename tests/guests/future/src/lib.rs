//! Test guest: built against contract 2.0.0 (its own copy of the WIT in `wit/`), so it exports
//! `ecr-engine:plugin/analyzer@2.0.0`. A 1.x host must refuse it with a clear message.

wit_bindgen::generate!({
    world: "plugin",
    path: "wit",
});

use ecr_engine::plugin::types::{File, Finding, ImageInfo, PluginInfo};
use exports::ecr_engine::plugin::analyzer::Guest;

struct Future;

impl Guest for Future {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "future".into(),
            version: "9.0.0".into(),
            description: "built for a newer contract".into(),
            patterns: vec![],
        }
    }

    fn analyze(_image: ImageInfo, _files: Vec<File>) -> Result<Vec<Finding>, String> {
        Ok(vec![])
    }
}

export!(Future);
