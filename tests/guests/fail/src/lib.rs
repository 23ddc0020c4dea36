//! Test guest: returns `err` from `analyze`, the contract's way to say "could not do my job".

use ecr_plugin_kit::{File, Finding, Guest, ImageInfo, PluginInfo};

struct Fail;

impl Guest for Fail {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "fail".into(),
            version: "1.0.0".into(),
            description: "always returns an error".into(),
            patterns: vec![],
        }
    }

    fn analyze(_image: ImageInfo, _files: Vec<File>) -> Result<Vec<Finding>, String> {
        Err("fail guest: database format not recognised".into())
    }
}

ecr_plugin_kit::export!(Fail);
