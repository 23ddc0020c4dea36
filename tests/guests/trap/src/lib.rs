//! Test guest: executes an explicit trap (`unreachable`) in `analyze`.

use ecr_plugin_kit::{Analyzer, File, Findings, ImageInfo};

struct Trap;

impl Analyzer for Trap {
    const NAME: &'static str = "trap";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "traps on purpose";

    fn patterns() -> Vec<String> {
        vec!["etc/os-release".to_string()]
    }

    fn analyze(_image: &ImageInfo, _files: &[File]) -> Result<Findings, String> {
        // On wasm32 `abort` is the `unreachable` instruction: a trap, with no panic message.
        std::process::abort()
    }
}

ecr_plugin_kit::export!(Trap);
