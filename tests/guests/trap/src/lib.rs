//! Test guest: executes an explicit trap (`unreachable`) in `analyze`.

use ecr_plugin_kit::{File, Finding, Guest, ImageInfo, PluginInfo};

struct Trap;

impl Guest for Trap {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "trap".into(),
            version: "1.0.0".into(),
            description: "traps on purpose".into(),
            patterns: vec!["etc/os-release".into()],
        }
    }

    fn analyze(_image: ImageInfo, _files: Vec<File>) -> Result<Vec<Finding>, String> {
        // On wasm32 `abort` is the `unreachable` instruction: a trap, with no panic message.
        std::process::abort()
    }
}

ecr_plugin_kit::export!(Trap);
